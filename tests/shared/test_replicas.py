"""Several gateways on one store and one Redis act as one gateway (issue 20), over real HTTP.

Each test starts 2-3 replicas in this process (uvicorn threads) on one SQLite file and data
folder, with REDIS_URL pointing at a real Redis (tests/shared/redisserver.py). What one replica
learns or is told must hold on the others: waits are polls with deadlines, never sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.pool.credential import credential_id, mask_secret
from tests.conftest import ADMIN_TOKEN, KEYS
from tests.routes.test_files import start_upload

MODEL = "gemini-2.5-flash"
GEN = f"/v1beta/models/{MODEL}:generateContent"
BODY = {"contents": [{"role": "user", "parts": [{"text": "Tell me about replicas"}]}]}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
DEADLINE = 60.0  # a busy test machine; the waits end as soon as their condition holds
K1 = credential_id("api_key", KEYS[0])


def eventually(check: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    """Poll `check` until it returns something truthy; fail saying `what` did not happen."""
    end = time.monotonic() + deadline
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"not within {deadline:.0f}s: {what}")
        time.sleep(0.02)


def pool_row(url: str, cid: str) -> dict[str, Any]:
    rows = httpx.get(url + "/api/pool", headers=ADMIN).json()["credentials"]
    return next(r for r in rows if r["id"] == cid)


def k1_calls(fake: FakeState) -> int:
    return sum(1 for c in fake.calls if c.key == KEYS[0])


def test_a_429_seen_by_one_replica_is_honoured_by_the_others(
    replicas: Any, redis_url: str, fake: FakeState
) -> None:
    with replicas(3, redis_url=redis_url) as (a, b, c):
        fake.add_fault(KEYS[0], "429", retry_delay="60s", model=MODEL, count=1)
        for _ in range(3):  # least-busy with equal keys: k1 is tried within the first calls
            assert httpx.post(a.url + GEN, json=BODY).status_code == 200
        assert k1_calls(fake) == 1
        for other in (b, c):
            eventually(lambda o=other: MODEL in pool_row(o.url, K1)["cooldowns"], "k1 cooling on B and C")
        for other in (b, c):
            for _ in range(6):
                response = httpx.post(other.url + GEN, json=BODY)
                assert response.status_code == 200
                assert response.headers["x-gateway-credential"] != mask_secret(KEYS[0])
        assert k1_calls(fake) == 1  # B and C never sent k1 a call while it cooled


def test_an_operators_disable_holds_on_every_replica_and_across_restarts(
    replicas: Any, redis_url: str, fake: FakeState
) -> None:
    settings = {"redis_url": redis_url, "pool_state_flush_seconds": 0.1}
    with replicas(3, **settings) as (a, b, c):
        for running in (a, b, c):  # every replica has a snapshot with k1 enabled to write back
            assert httpx.post(running.url + GEN, json=BODY).status_code == 200
        assert httpx.post(f"{a.url}/api/keys/{K1}/disable", headers=ADMIN).status_code == 200
        for other in (b, c):
            eventually(lambda o=other: not pool_row(o.url, K1)["enabled"], "k1 disabled on B and C")
        before = k1_calls(fake)
        for _ in range(4):
            for running in (a, b, c):
                assert httpx.post(running.url + GEN, json=BODY).status_code == 200
        assert k1_calls(fake) == before
        # Let B and C write their snapshots (flushed every 0.1 s) after the disable.
        eventually(lambda: _saved_after(b), "B saving its pool state")
    with replicas(1, **settings) as (again,):
        assert pool_row(again.url, K1)["enabled"] is False


def _saved_after(running: Any) -> bool:
    gateway = running.gateway
    return not gateway.pool.dirty


def test_a_token_created_or_revoked_on_one_replica_applies_on_all(replicas: Any, redis_url: str) -> None:
    with replicas(3, redis_url=redis_url) as (a, b, c):
        made = httpx.post(f"{a.url}/api/tokens", headers=ADMIN, json={"name": "team"}).json()
        # A second one, so that revoking the first leaves the API closed (no token left opens it).
        assert httpx.post(f"{a.url}/api/tokens", headers=ADMIN, json={"name": "other"}).status_code == 201
        token = {"Authorization": f"Bearer {made['token']}"}
        for other in (b, c):
            eventually(
                lambda o=other: httpx.post(o.url + GEN, json=BODY, headers=token).status_code == 200,
                "the new token accepted on B and C",
            )
            # The first user token made the API closed there too: anonymous callers get 401.
            assert httpx.post(other.url + GEN, json=BODY).status_code == 401
        assert httpx.delete(f"{a.url}/api/tokens/{made['id']}", headers=ADMIN).status_code == 200
        for other in (b, c):
            eventually(
                lambda o=other: httpx.post(o.url + GEN, json=BODY, headers=token).status_code == 403,
                "the revoked token refused on B and C",
            )


def test_a_setting_edited_or_reset_on_one_replica_applies_on_the_other(replicas: Any) -> None:
    # Without Redis: the other replica finds the change by polling the store's change stamps.
    with replicas(2, max_retries=2) as (a, b):
        values = {"max_retries": 6, "model_aliases": {"house-model": MODEL}}
        assert httpx.put(f"{a.url}/api/settings", headers=ADMIN, json={"values": values}).status_code == 200
        eventually(lambda: b.gateway.dispatcher.max_retries == 6, "max_retries applied on B")
        assert b.gateway.settings.model_aliases == {"house-model": MODEL}
        house = {"model": "house-model", "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(f"{b.url}/v1/chat/completions", json=house).status_code == 200
        assert httpx.delete(f"{a.url}/api/settings/max_retries", headers=ADMIN).status_code == 200
        eventually(lambda: b.gateway.dispatcher.max_retries == 2, "the reset applied on B")
        after = b.gateway.settings
        assert (after.max_retries, after.model_aliases) == (2, {"house-model": MODEL})


def test_a_rate_limit_counts_calls_on_every_replica(replicas: Any, redis_url: str) -> None:
    with replicas(3, redis_url=redis_url) as running:
        made = httpx.post(
            f"{running[0].url}/api/tokens", headers=ADMIN, json={"name": "limited", "rate_limit": 30}
        ).json()
        token = {"Authorization": f"Bearer {made['token']}"}
        for other in running[1:]:
            eventually(
                lambda o=other: httpx.get(o.url + "/v1beta/models", headers=token).status_code != 403,
                "the token known on every replica",
            )
        started = time.monotonic()
        answers = [
            httpx.post(running[i % 3].url + GEN, json=BODY, headers=token).status_code for i in range(90)
        ]
        elapsed = time.monotonic() - started
    # 30 a minute in one bucket: the 2 probes above and the 90 calls share it; the bucket refills
    # half a call a second, so a slow run lets a few more through, never 3 x 30.
    refilled = int(elapsed / 2) + 1
    assert answers.count(200) <= 30 + refilled, answers
    assert answers.count(429) >= 60 - refilled - 2


def test_an_admin_session_from_one_replica_works_on_the_others(replicas: Any, redis_url: str) -> None:
    with replicas(2, redis_url=redis_url) as (a, b):
        login = httpx.post(f"{a.url}/api/session", json={"token": ADMIN_TOKEN})
        assert login.status_code == 200
        cookies = dict(login.cookies)
        answer = httpx.get(f"{b.url}/api/session", cookies=cookies)
        assert answer.status_code == 200, answer.text
        assert httpx.get(f"{b.url}/api/keys", cookies=cookies).status_code == 200
        logout = httpx.delete(
            f"{a.url}/api/session", cookies=cookies, headers={"x-csrf-token": login.json()["csrf_token"]}
        )
        assert logout.status_code == 200
        eventually(
            lambda: httpx.get(f"{b.url}/api/keys", cookies=cookies).status_code == 401,
            "the ended session refused on B",
        )


def test_a_resumable_upload_started_on_one_replica_finishes_on_another(
    replicas: Any, redis_url: str, fake: FakeState
) -> None:
    data = b"replicated bytes " * 100
    with replicas(2, redis_url=redis_url) as (a, b):
        url = start_upload(a.url, len(data))
        assert url.startswith(a.url)
        on_b = b.url + url.removeprefix(a.url)
        answer = httpx.post(
            on_b,
            headers={"x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0"},
            content=data,
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-goog-upload-status"] == "final"
        name = answer.json()["file"]["name"]
        assert httpx.get(f"{a.url}/v1beta/{name}").status_code == 200


def test_replicas_keep_serving_while_redis_is_gone_and_resynchronise_after(
    replicas: Any, redis_base: str, fake: FakeState
) -> None:
    from tests.recorder.tcpproxy import TcpProxy

    port = int(redis_base.rsplit(":", 1)[1].split("/")[0])
    proxy = TcpProxy(port)
    proxy.start()
    url = f"redis://127.0.0.1:{proxy.port}/0?prefix=gwtest-outage-{time.monotonic_ns()}"
    try:
        with replicas(2, redis_url=url) as (a, b):
            assert httpx.get(a.url + "/health/ready").status_code == 200
            eventually(
                lambda: a.gateway.shared is not None and a.gateway.shared.state.replicas == 2,
                "A counting 2 replicas",
            )
            proxy.cut()

            def degraded() -> bool:
                ready = httpx.get(a.url + "/health/ready")
                return ready.status_code == 503 and "Redis unreachable" in " ".join(ready.json()["problems"])

            for running in (a, b):  # no client failure while Redis is gone
                assert httpx.post(running.url + GEN, json=BODY).status_code == 200
            eventually(degraded, "A saying Redis is gone in /health/ready")
            assert a.gateway.auth.limiter.divisor == 2  # limits divided by the replicas last seen
            proxy.start()
            eventually(lambda: httpx.get(a.url + "/health/ready").status_code == 200, "A ready again")
            eventually(lambda: httpx.get(b.url + "/health/ready").status_code == 200, "B ready again")
            assert a.gateway.auth.limiter.divisor == 1
            fake.add_fault(KEYS[0], "429", retry_delay="60s", model=MODEL, count=1)
            for _ in range(3):
                assert httpx.post(a.url + GEN, json=BODY).status_code == 200
            eventually(lambda: MODEL in pool_row(b.url, K1)["cooldowns"], "k1 cooling on B after the outage")
    finally:
        proxy.close()


def test_a_limit_learned_from_a_429_holds_on_every_replica(
    replicas: Any, redis_url: str, fake: FakeState, gateway_factory: Any, tmp_path: Path
) -> None:
    def learned(url: str) -> Any:
        quota = pool_row(url, K1).get("quota", {}).get(MODEL, {})
        rpm = quota.get("rpm") or {}
        return rpm.get("source") == "learned" and rpm.get("limit") == 10

    with replicas(2, redis_url=redis_url) as (a, b):
        # The fake's 429 names the per-minute quota with its value (10), as Google's does.
        fake.add_fault(KEYS[0], "429", retry_delay="1s", model=MODEL, count=1)
        for _ in range(3):
            assert httpx.post(a.url + GEN, json=BODY).status_code == 200
        assert learned(a.url)
        eventually(lambda: learned(b.url), "the learned limit on B")
        store = f"sqlite:///{tmp_path / 'shared.db'}"
        # A replica started afterwards finds it in Redis.
        with gateway_factory(replica_id="late", database_url=store, redis_url=redis_url) as later:
            eventually(lambda: learned(later.url), "the learned limit on a replica started later")
