"""Pool behaviour under every fault the fake upstream injects, over real HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.pool.credential import mask_secret
from tests.conftest import ADMIN_TOKEN, KEYS, GatewayFactory, RunningGateway

BODY = {"contents": [{"role": "user", "parts": [{"text": "Tell me about failover"}]}]}
MODEL = "gemini-2.5-flash"
GEN = f"/v1beta/models/{MODEL}:generateContent"
STREAM = f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def pool_of(running: RunningGateway) -> dict[str, dict]:
    credentials = httpx.get(running.url + "/api/pool", headers=ADMIN).json()["credentials"]
    return {c["label"]: c for c in credentials}


def served_by(response: httpx.Response) -> str:
    return response.headers["x-gateway-credential"]


@pytest.mark.parametrize("fault", ["429", "500", "502", "503", "504"])
def test_retryable_faults_fail_over_to_a_healthy_key(
    gateway: RunningGateway, fake: FakeState, fault: str
) -> None:
    for key in KEYS[:2]:
        fake.add_fault(key, fault)
    response = httpx.post(gateway.url + GEN, json=BODY)
    assert response.status_code == 200, response.text
    assert served_by(response) == mask_secret(KEYS[2])
    keys_tried = [c.key for c in fake.calls]
    assert keys_tried[-1] == KEYS[2] and len(keys_tried) == len(set(keys_tried))  # never the same key twice


def test_429_cools_the_key_for_that_model_only(gateway: RunningGateway, fake: FakeState) -> None:
    fake.add_fault(KEYS[0], "429", retry_delay="45s", model=MODEL)
    for _ in range(4):
        assert httpx.post(gateway.url + GEN, json=BODY).status_code == 200
    cooled = pool_of(gateway)[mask_secret(KEYS[0])]
    assert 40 <= cooled["cooldowns"][MODEL] <= 45
    assert [c.key for c in fake.calls].count(KEYS[0]) == 1  # not tried again while cooling
    other = httpx.post(gateway.url + "/v1beta/models/gemini-2.5-pro:generateContent", json=BODY)
    assert other.status_code == 200  # other models still use the cooled key


def test_daily_quota_cools_until_the_pacific_reset(gateway: RunningGateway, fake: FakeState) -> None:
    fake.add_fault(
        KEYS[0], "429", quota_id="GenerateRequestsPerDayPerProjectPerModel-FreeTier", retry_delay="20s"
    )
    assert httpx.post(gateway.url + GEN, json=BODY).status_code == 200
    remaining = pool_of(gateway)[mask_secret(KEYS[0])]["cooldowns"][MODEL]
    assert remaining > 60  # not the 20 s RetryInfo: the daily quota holds until midnight Pacific


def test_every_key_cooling_gives_429_with_retry_after(gateway: RunningGateway, fake: FakeState) -> None:
    for key, delay in zip(KEYS, ["50s", "12s", "30s"], strict=True):
        fake.add_fault(key, "429", retry_delay=delay)
    response = httpx.post(gateway.url + GEN, json=BODY)
    assert response.status_code == 429
    assert response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert 10 <= int(response.headers["retry-after"]) <= 12
    again = httpx.post(gateway.url + GEN, json=BODY)
    assert again.status_code == 429 and len(fake.calls) == 3  # cooling keys are not called


@pytest.mark.parametrize("fault", ["invalid_key", "blocked"])
def test_a_bad_key_is_disabled_with_its_reason(gateway: RunningGateway, fake: FakeState, fault: str) -> None:
    fake.add_fault(KEYS[0], fault)
    for _ in range(3):
        assert httpx.post(gateway.url + GEN, json=BODY).status_code == 200
    bad = pool_of(gateway)[mask_secret(KEYS[0])]
    assert bad["disabled_reason"] and (
        "API_KEY_INVALID" in bad["disabled_reason"] or "BLOCKED" in bad["disabled_reason"]
    )
    assert [c.key for c in fake.calls].count(KEYS[0]) == 1


def test_request_errors_are_not_retried_nor_held_against_the_key(
    gateway: RunningGateway, fake: FakeState
) -> None:
    fake.add_fault(None, "bad_request", count=1)
    response = httpx.post(gateway.url + GEN, json=BODY)
    assert response.status_code == 400 and response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert len(fake.calls) == 1
    assert all(c["failures"] == 0 and not c["disabled_reason"] for c in pool_of(gateway).values())


def test_timeouts_retry_and_never_disable(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    with gateway_factory(upstream_timeout=0.3) as running:
        fake.add_fault(KEYS[0], "slow", delay_ms=2000)
        response = httpx.post(running.url + GEN, json=BODY, timeout=10)
        assert response.status_code == 200 and served_by(response) != mask_secret(KEYS[0])
        slow = pool_of(running)[mask_secret(KEYS[0])]
        assert slow["disabled_reason"] is None and not slow["cooldowns"] and slow["failures"] == 1


def test_retries_are_bounded_by_the_setting(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    with gateway_factory(max_retries=1) as running:
        fake.add_fault(None, "503")
        response = httpx.post(running.url + GEN, json=BODY)
        assert response.status_code == 503 and response.json()["error"]["status"] == "UNAVAILABLE"
        assert len(fake.calls) == 2


def test_stream_fails_over_before_the_first_byte(gateway: RunningGateway, fake: FakeState) -> None:
    fake.add_fault(KEYS[0], "503")
    fake.add_fault(KEYS[1], "cut", after_chunks=0)
    response = httpx.post(gateway.url + STREAM, json=BODY)
    assert response.status_code == 200 and served_by(response) == mask_secret(KEYS[2])
    assert b'"finishReason"' in response.content


def test_a_stream_cut_mid_way_ends_as_an_error(gateway: RunningGateway, fake: FakeState) -> None:
    fake.config.stream_chunks = 6
    fake.add_fault(None, "cut", after_chunks=2)
    received = b""
    with pytest.raises(httpx.HTTPError), httpx.stream("POST", gateway.url + STREAM, json=BODY) as response:
        assert response.status_code == 200
        for chunk in response.iter_raw():
            received += chunk
    assert received.count(b"data: ") == 3  # two events, then the error event
    assert b'"error"' in received and b'"finishReason"' not in received
    assert len(fake.calls) == 1  # bytes reached the client, so no retry


def test_client_disconnect_cancels_the_upstream_call(gateway: RunningGateway, fake: FakeState) -> None:
    fake.add_fault(None, "hang")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(gateway.url + GEN, json=BODY, timeout=0.5)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(c["in_flight"] == 0 for c in pool_of(gateway).values()):
            break
        time.sleep(0.05)
    credentials = pool_of(gateway).values()
    assert all(c["in_flight"] == 0 for c in credentials)
    assert all(c["failures"] == 0 for c in credentials)  # a client leaving says nothing about the key


def test_pool_state_survives_a_restart(gateway_factory: GatewayFactory, fake: FakeState, tmp_path) -> None:
    data = tmp_path / "kept"
    with gateway_factory(data_dir=data) as first:
        assert httpx.post(first.url + GEN, json=BODY).status_code == 200
        fake.add_fault(KEYS[0], "invalid_key")
        fake.add_fault(KEYS[1], "429", retry_delay="300s")
        fake.add_fault(KEYS[2], "429", retry_delay="300s")
        assert httpx.post(first.url + GEN, json=BODY).status_code == 429
    fake.reset()
    with gateway_factory(data_dir=data) as second:
        pool = pool_of(second)
        assert "API_KEY_INVALID" in (pool[mask_secret(KEYS[0])]["disabled_reason"] or "")
        assert pool[mask_secret(KEYS[1])]["cooldowns"][MODEL] > 250
        assert pool[mask_secret(KEYS[2])]["cooldowns"][MODEL] > 250
        assert (
            sum(c["successes"] for c in pool.values()) == 1 and sum(c["failures"] for c in pool.values()) == 3
        )
        response = httpx.post(second.url + GEN, json=BODY)
        assert response.status_code == 429 and not fake.calls  # still cooling after the restart
        other = httpx.post(second.url + "/v1beta/models/gemini-2.5-pro:generateContent", json=BODY)
        assert other.status_code == 200 and fake.calls[-1].key != KEYS[0]  # still disabled
