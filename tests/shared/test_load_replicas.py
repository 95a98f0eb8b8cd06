"""Replicas on one Redis balance as one pool: calls in flight on one steer the others' least-busy
picks, round-robin turns are taken across replicas, and wrong tokens sent to one are braked on all.

Real gateways on loopback (tests/shared/conftest.py) and the fake upstream; waits are polls with
deadlines. Turns and in-flight counts reach the other replicas in batches (every ~100 ms), so the
tests wait for a replica to know before asserting what it picks.
"""

from __future__ import annotations

import http.client
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.pool.credential import credential_id, mask_secret
from tests.admin.helpers import USER_TOKEN, bearer, from_address
from tests.conftest import ADMIN_TOKEN, KEYS
from tests.shared.test_replicas import ADMIN, BODY, GEN, MODEL, eventually, pool_row

BY_MASK = {mask_secret(key): credential_id("api_key", key) for key in KEYS}


def hold_call(url: str) -> http.client.HTTPConnection:
    """Send a call and leave its answer unread: closing the connection ends it (the gateway
    cancels the upstream call when its client goes)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    connection.request("POST", GEN, body=orjson.dumps(BODY), headers={"content-type": "application/json"})
    return connection


def served_by(url: str) -> str:
    response = httpx.post(url + GEN, json=BODY, timeout=30)
    assert response.status_code == 200, response.text
    return response.headers["x-gateway-credential"]


def test_calls_in_flight_on_one_replica_steer_the_least_busy_picks_of_the_others(
    replicas: Any, redis_url: str, fake: FakeState
) -> None:
    fake.add_fault(None, "hang", model=MODEL, count=1)  # the next call, whichever key it takes
    with replicas(2, redis_url=redis_url, pool_strategy="least_busy") as (a, b):
        held = hold_call(a.url)
        try:
            cid = eventually(lambda: busy_on(a.url), "a call held on A")
            mask = next(m for m, i in BY_MASK.items() if i == cid)
            eventually(lambda: pool_row(b.url, cid).get("in_flight_elsewhere") == 1, "B knowing of it")
            served = [served_by(b.url) for _ in range(6)]
            assert mask not in served, served
            assert set(served) == set(BY_MASK) - {mask}
            assert pool_row(a.url, cid)["in_flight"] == 1  # held all along: B's picks were informed
        finally:
            held.close()
        eventually(lambda: pool_row(a.url, cid)["in_flight"] == 0, "the held call ended on A")
        eventually(lambda: pool_row(b.url, cid)["in_flight_elsewhere"] == 0, "B knowing it ended")
        assert mask in {served_by(b.url) for _ in range(3)}  # in B's turns again


def busy_on(url: str) -> str | None:
    rows = httpx.get(url + "/api/pool", headers=ADMIN).json()["credentials"]
    return next((row["id"] for row in rows if row["in_flight"] == 1), None)


def test_round_robin_turns_are_taken_across_replicas(replicas: Any, redis_url: str, fake: FakeState) -> None:
    with replicas(2, redis_url=redis_url, pool_strategy="round_robin") as (a, b):
        served: list[str] = []
        for i in range(3 * len(KEYS)):
            here, there = (a, b) if i % 2 == 0 else (b, a)
            served.append(served_by(here.url))
            cid = BY_MASK[served[-1]]
            turn = here.gateway.pool.get(cid).last_pick
            eventually(
                lambda there=there, cid=cid, turn=turn: there.gateway.pool.get(cid).last_pick >= turn,
                "the other replica knowing of the turn",
            )
        # Alternating replicas still go round the keys once per len(KEYS) calls: not k1, k1, k2, k2...
        for start in range(0, len(served), len(KEYS)):
            assert sorted(served[start : start + len(KEYS)]) == sorted(BY_MASK), served
        assert Counter(served) == dict.fromkeys(BY_MASK, 3)


def test_wrong_tokens_sent_to_one_replica_are_braked_on_the_others(replicas: Any, redis_url: str) -> None:
    stale = "stale-token-one"  # its first characters are what the prefix key counts
    with replicas(2, redis_url=redis_url, gateway_tokens=[USER_TOKEN]) as (a, b):
        for _ in range(4):  # one short of the brake's limit (5 in its window)
            assert httpx.post(a.url + GEN, json=BODY, headers=bearer(stale)).status_code == 403
        brake = b.gateway.auth.brake
        eventually(lambda: brake.failures("127.0.0.1") == 4, "B counting the wrong tokens A was sent")
        # The same prefix from another address: its 5th wrong token, all replicas counted.
        with from_address(b.url, "127.0.0.2") as elsewhere:
            like = elsewhere.post(GEN, json=BODY, headers=bearer("stale-token-two"))
        assert like.status_code == 429 and "like this one" in like.text, like.text
        assert int(like.headers["retry-after"]) > 0
        # Another prefix from the first address: that address's 5th.
        other = httpx.post(b.url + GEN, json=BODY, headers=bearer("quite-another-guess"))
        assert other.status_code == 429 and "from 127.0.0.1" in other.text, other.text
        # B's wrong tokens reach A too, and the right tokens still work on both.
        eventually(lambda: a.gateway.auth.brake.failures("127.0.0.1") == 5, "A counting B's")
        assert httpx.post(a.url + GEN, json=BODY, headers=bearer("a-new-guess-again")).status_code == 429
        for running in (a, b):
            assert httpx.post(running.url + GEN, json=BODY, headers=bearer(USER_TOKEN)).status_code == 200
            assert httpx.get(running.url + "/api/keys", headers=bearer(ADMIN_TOKEN)).status_code == 200
