"""How API keys and OAuth accounts share one pool: `OAUTH_ROUTING` as a pure step, with a fake clock."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from gemini_gateway.errors import NoCredentialAvailable
from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.pool.classify import Verdict
from gemini_gateway.pool.credential import Credential
from gemini_gateway.pool.pool import CredentialPool
from gemini_gateway.pool.strategy import route
from tests.admin.helpers import admin_client
from tests.conftest import KEYS, GatewayFactory
from tests.oauth.helpers import (
    MODEL,
    account_json,
    credential_by_label,
    generate,
    oauth_settings,
    write_account,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Account(Credential):
    """An OAuth account that serves only some models, like the Code Assist backend's credentials."""

    __slots__ = ()

    def serves(self, model: str | None) -> bool:
        return model in (None, "gemini-2.5-flash")


def mixed_pool(routing: str, weight: float = 0.5) -> tuple[CredentialPool, Clock]:
    clock = Clock()
    pool = CredentialPool("round_robin", clock=clock)
    pool.routing, pool.account_weight = routing, weight  # type: ignore[assignment]
    pool.replace("api_key", [Credential("api_key", f"key-{i}-secret-value") for i in range(2)])
    pool.replace("oauth", [Account("oauth", f"account-{i}-refresh", label=f"a{i}@x.org") for i in range(2)])
    return pool, clock


def kinds(pool: CredentialPool, n: int, model: str = "gemini-2.5-flash") -> Counter[str]:
    seen: Counter[str] = Counter()
    for _ in range(n):
        credential = pool.acquire(model)
        pool.release(credential, model, None)
        seen[credential.kind] += 1
    return seen


def test_route_only_chooses_when_both_groups_can_serve() -> None:
    keys = [Credential("api_key", "key-one-secret-x")]
    accounts = [Credential("oauth", "refresh-one-secret")]
    assert route(keys, "prefer_accounts", 0.5, (0, 0)) == (keys, None)
    assert route(accounts, "prefer_keys", 0.5, (0, 0)) == (accounts, None)
    assert route(keys + accounts, "prefer_keys", 0.5, (0, 0)) == (keys, 0)
    assert route(keys + accounts, "prefer_accounts", 0.5, (0, 0)) == (accounts, 1)


@pytest.mark.parametrize(("weight", "expected"), [(0.5, 50), (0.25, 25), (0.0, 0), (1.0, 100)])
def test_weighted_mix_is_exact(weight: float, expected: int) -> None:
    pool, _ = mixed_pool("weighted", weight)
    assert kinds(pool, 100)["oauth"] == expected


def test_prefer_keys_overflows_to_accounts_while_keys_cool_down() -> None:
    pool, clock = mixed_pool("prefer_keys")
    assert kinds(pool, 10) == {"api_key": 10}
    for key in [c for c in pool if c.kind == "api_key"]:
        pool.acquire("gemini-2.5-flash", exclude={c.id for c in pool if c is not key})
        pool.release(key, "gemini-2.5-flash", Verdict(True, True, cooldown_until=clock.now + 30))
    assert kinds(pool, 4) == {"oauth": 4}
    clock.now += 31
    assert kinds(pool, 4) == {"api_key": 4}


def test_prefer_accounts_falls_back_to_keys_for_models_accounts_lack() -> None:
    pool, _ = mixed_pool("prefer_accounts")
    assert kinds(pool, 6) == {"oauth": 6}
    assert kinds(pool, 6, model="gemini-embedding-001") == {"api_key": 6}


def test_accept_hook_and_unservable_model() -> None:
    pool, _ = mixed_pool("prefer_accounts")
    only_keys = pool.acquire("gemini-2.5-flash", accept=lambda c: c.kind == "api_key")
    assert only_keys.kind == "api_key"
    pool.replace("api_key", [])
    with pytest.raises(NoCredentialAvailable) as caught:
        pool.acquire("gemini-embedding-001")
    assert caught.value.status_code == 404 and "gemini-embedding-001" in caught.value.message


def test_routing_edited_in_the_settings_takes_effect_at_once_and_after_a_restart(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    write_account(tmp_path / "creds", account_json(fake, "mix@example.com"))
    settings = oauth_settings(
        fake_url, tmp_path / "creds", gemini_api_keys=[KEYS[0]], oauth_routing="prefer_keys"
    )

    def served_by(url: str, calls: int) -> Counter[str]:
        before = len(fake.calls)
        for _ in range(calls):
            assert generate(url).status_code == 200
        return Counter("account" if c.key == "mix@example.com" else "key" for c in fake.calls[before:])

    with gateway_factory(**settings) as running:
        assert served_by(running.url, 4) == {"key": 4}
        client = admin_client(running.url)
        response = client.put("/api/settings", json={"values": {"oauth_routing": "prefer_accounts"}})
        assert response.json()["changed"] == [
            {"name": "oauth_routing", "applied_now": True, "restart_needed": False}
        ]
        assert served_by(running.url, 4) == {"account": 4}
        client.put("/api/settings", json={"values": {"oauth_routing": "weighted", "oauth_weight": 0.25}})
        assert served_by(running.url, 8) == {"key": 6, "account": 2}
        refused = client.put("/api/settings", json={"values": {"oauth_routing": "random"}})
        assert refused.status_code == 422 and "oauth_routing" in refused.json()["error"]["message"]
        item = next(s for s in client.get("/api/settings").json()["settings"] if s["name"] == "oauth_routing")
        assert item == item | {"group": "Pool", "editable": True, "live": True, "source": "stored"}

    with gateway_factory(**settings) as restarted:  # the stored value wins over OAUTH_ROUTING
        assert restarted.gateway.pool.routing == "weighted"
        assert restarted.gateway.pool.account_weight == 0.25


@pytest.mark.parametrize("strategy", ["least_busy", "round_robin"])
def test_every_member_of_each_group_serves_in_a_weighted_mix(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path, strategy: str
) -> None:
    emails = [f"rota{i}@example.com" for i in range(4)]
    for email in emails:
        write_account(tmp_path / "creds", account_json(fake, email))
    settings = oauth_settings(
        fake_url,
        tmp_path / "creds",
        gemini_api_keys=KEYS[:2],
        oauth_routing="weighted",
        oauth_weight=0.5,
        pool_strategy=strategy,
    )
    with gateway_factory(**settings) as running:
        for _ in range(24):
            assert generate(running.url).status_code == 200
    served = Counter(c.key for c in fake.calls)
    assert {who: served[who] for who in [*KEYS[:2], *emails]} == {
        KEYS[0]: 6,
        KEYS[1]: 6,
        **{email: 3 for email in emails},
    }


def test_a_model_one_account_is_not_entitled_to_fails_over_to_one_that_is(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    preview = "gemini-3-pro-preview"
    for email in ("plain@example.com", "entitled@example.com"):
        write_account(tmp_path / "creds", account_json(fake, email))
    fake.oauth.account("plain@example.com").denied_models.add(preview)
    settings = oauth_settings(fake_url, tmp_path / "creds", pool_strategy="round_robin")
    with gateway_factory(**settings) as running:
        for _ in range(3):
            answer = generate(running.url, model=preview)
            assert answer.status_code == 200, answer.text
        # the account without the model was tried once, whatever the order, then no more
        tried = Counter(c.key for c in fake.calls if c.model == preview)
        assert tried == {"plain@example.com": 1, "entitled@example.com": 3}
        plain = credential_by_label(running.url, "plain@example.com")
        assert list(plain["unentitled"]) == [preview] and plain["unentitled"][preview] > 0
        assert plain["failures"] == 0 and plain["cooldowns"] == {}
        assert generate(running.url).status_code == 200  # other models still go to it in turn
        assert generate(running.url).status_code == 200
        assert {c.key for c in fake.calls if c.model == MODEL} == {
            "plain@example.com",
            "entitled@example.com",
        }


def test_a_model_no_account_is_entitled_to_is_a_404(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    preview = "gemini-3-flash-preview"
    write_account(tmp_path / "creds", account_json(fake, "only@example.com"))
    fake.oauth.account("only@example.com").denied_models.add(preview)
    with gateway_factory(**oauth_settings(fake_url, tmp_path / "creds")) as running:
        first = generate(running.url, model=preview)  # upstream's own answer
        again = generate(running.url, model=preview)  # known now: not sent upstream
    assert (first.status_code, first.json()["error"]["status"]) == (404, "NOT_FOUND")
    assert again.status_code == 404 and "entitled" in again.json()["error"]["message"]
    assert sum(1 for c in fake.calls if c.model == preview) == 1
