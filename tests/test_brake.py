"""The brake on guessed tokens: the right token always works, wrong ones are braked on every door
(admin API, admin sign-in, model API, executor socket, /metrics), per address and per token
prefix, with a table a spray from many addresses cannot flush. Time is an injected clock, never a sleep."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import openai
import pytest

from gemini_gateway.brake import Brake
from tests.admin.helpers import USER_TOKEN, bearer, from_address
from tests.backends.test_executor_protocol import TOKEN as EXECUTOR_TOKEN
from tests.backends.test_executor_protocol import executor
from tests.conftest import ADMIN_TOKEN, GatewayFactory, RunningGateway

MODEL = "gemini-2.5-flash"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def braked_gateway(running: RunningGateway) -> tuple[RunningGateway, Clock]:
    """The gateway with its brake on a clock the test moves."""
    clock = Clock()
    running.gateway.auth.brake.clock = clock
    return running, clock


# Over real HTTP, door by door --------------------------------------------------------------


def test_the_right_admin_token_works_however_many_wrong_ones_came_first(
    gateway_factory: GatewayFactory, fake: Any
) -> None:
    with (
        gateway_factory(gateway_tokens=[USER_TOKEN]) as started,
        httpx.Client(base_url=started.url) as client,
    ):
        running, clock = braked_gateway(started)
        statuses = [client.post("/api/session", json={"token": f"guess-{i}"}).status_code for i in range(6)]
        assert statuses[:4] == [401] * 4 and statuses[4:] == [429, 429]
        # Behind a reverse proxy every user has this address: the admin must still get in.
        assert client.post("/api/session", json={"token": ADMIN_TOKEN}).status_code == 200
        client.cookies.clear()  # the rest goes by token, not by the session just opened
        assert client.get("/api/keys", headers=bearer(ADMIN_TOKEN)).status_code == 200
        wrong = client.get("/api/keys", headers=bearer("guess-bearer-1"))
        assert wrong.status_code == 429 and int(wrong.headers["retry-after"]) > 0
        assert client.get("/api/keys", headers=bearer(USER_TOKEN)).status_code == 403  # valid, not admin
        clock.now += 301  # the window has passed: a wrong token is just wrong again
        assert client.post("/api/session", json={"token": "guess-late"}).status_code == 401
        assert client.get("/api/keys", headers=bearer("guess-bearer-2")).status_code == 403
    assert "guess-" not in repr(vars(running.gateway.auth.brake))  # no wrong token is kept


def test_wrong_client_tokens_on_the_model_api_are_braked_in_each_dialect(
    gateway_factory: GatewayFactory, fake: Any
) -> None:
    with gateway_factory(gateway_tokens=[USER_TOKEN]) as running:
        wrong = openai.OpenAI(api_key="sk-wrong-guess-0001", base_url=f"{running.url}/v1", max_retries=0)
        for _ in range(4):
            with pytest.raises(openai.PermissionDeniedError):
                wrong.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        with pytest.raises(openai.RateLimitError) as braked:
            wrong.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        assert "too many wrong tokens" in braked.value.message
        assert int(braked.value.response.headers["retry-after"]) > 0
        right = openai.OpenAI(api_key=USER_TOKEN, base_url=f"{running.url}/v1", max_retries=0)
        assert right.chat.completions.create(**CHAT).choices[0].message.content  # type: ignore[call-overload]
        claude = anthropic.Anthropic(
            api_key="sk-wrong-guess-0002", base_url=f"{running.url}/anthropic", max_retries=0
        )
        with pytest.raises(anthropic.RateLimitError):
            claude.messages.create(model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "hi"}])
        gemini = httpx.post(
            f"{running.url}/v1beta/models/{MODEL}:generateContent",
            headers={"x-goog-api-key": "wrong-guess-0003"},
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        )
        assert gemini.status_code == 429 and gemini.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
        fine = httpx.post(
            f"{running.url}/v1beta/models/{MODEL}:generateContent",
            headers={"x-goog-api-key": USER_TOKEN},
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        )
        assert fine.status_code == 200


async def test_wrong_executor_tokens_are_braked_and_the_right_one_still_registers(
    gateway_factory: GatewayFactory, fake_url: str
) -> None:
    with gateway_factory(executor_tokens=[EXECUTOR_TOKEN]) as running:
        codes = []
        for i in range(5):
            async with executor(running.url, fake_url, token=f"wrong-executor-{i}") as tab:
                code, reason, _ = await tab.refusal()
                codes.append(code)
        assert codes == [4403] * 4 + [4429] and "too many wrong tokens" in reason
        async with executor(running.url, fake_url, "tab-ok") as tab:
            assert tab.registered["type"] == "registered"


@pytest.mark.parametrize("metrics_token", [None, "scraper-only-token-31f"])
def test_wrong_tokens_on_metrics_are_braked_and_the_right_one_still_scrapes(
    gateway_factory: GatewayFactory, fake: Any, metrics_token: str | None
) -> None:
    """`/metrics` takes the admin token (or METRICS_TOKEN): a door where the admin token could
    otherwise be guessed without end."""
    right = metrics_token or ADMIN_TOKEN
    with (
        gateway_factory(metrics_token=metrics_token) as started,
        httpx.Client(base_url=started.url) as client,
    ):
        running, clock = braked_gateway(started)
        statuses = [client.get("/metrics", headers=bearer(f"guess-{i}")).status_code for i in range(6)]
        assert statuses == [401] * 4 + [429] * 2
        braked = client.get("/metrics", headers=bearer("guess-6"))
        assert int(braked.headers["retry-after"]) > 0 and "too many wrong tokens" in braked.text
        assert client.get("/metrics", headers=bearer(right)).status_code == 200  # same address
        assert client.get("/metrics").status_code == 401  # no token is no guess
        # The same brake as every other door: the admin API now refuses this address's guesses too.
        assert client.get("/api/keys", headers=bearer("guess-admin")).status_code == 429
        clock.now += 301
        assert client.get("/metrics", headers=bearer("guess-late")).status_code == 401
    assert "guess-" not in repr(vars(running.gateway.auth.brake))


def test_one_token_prefix_guessed_from_many_addresses_is_braked(
    gateway_factory: GatewayFactory, fake: Any
) -> None:
    with gateway_factory(gateway_tokens=[USER_TOKEN]) as running:
        statuses = []
        for n in range(2, 7):  # five addresses, one guess each, all on the same prefix
            with from_address(running.url, f"127.0.0.{n}") as client:
                statuses.append(
                    client.post("/v1/chat/completions", json=CHAT, headers=bearer(f"sk-gw-ab{n}"))
                )
        assert [s.status_code for s in statuses] == [403] * 4 + [429]
        assert "too many wrong tokens" in statuses[-1].json()["error"]["message"]
        with from_address(running.url, "127.0.0.9") as client:
            other = client.post("/v1/chat/completions", json=CHAT, headers=bearer("another-guess"))
            assert other.status_code == 403  # a new address with another prefix is not braked
        with from_address(running.url, "127.0.0.6") as client:
            assert (
                client.post("/v1/chat/completions", json=CHAT, headers=bearer(USER_TOKEN)).status_code == 200
            )


# The table itself --------------------------------------------------------------------------


def test_a_spray_from_ten_thousand_addresses_does_not_flush_the_worst_offender() -> None:
    clock = Clock()
    brake = Brake(global_limit=1_000_000, clock=clock)  # the per-key table alone
    for i in range(5):
        brake.wrong("203.0.113.7", f"guess-{i}-attacker")
    assert brake.wrong("203.0.113.7", "guess-5-attacker") is not None
    for i in range(10_050):
        clock.now += 0.001
        address = f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
        assert brake.wrong(address, f"{i:08d}-spray") is None
    assert len(brake) <= brake.capacity
    braked = brake.wrong("203.0.113.7", "guess-6-attacker")
    assert braked is not None and "203.0.113.7" in braked.message and braked.wait > 0


def test_the_global_budget_brakes_a_spray_then_lets_go() -> None:
    clock = Clock()
    brake = Brake(global_limit=100, global_window=60.0, clock=clock)
    answers = [brake.wrong(f"10.0.{i // 256}.{i % 256}", f"{i:08d}-spray") for i in range(101)]
    assert all(a is None for a in answers[:99]) and all(a is not None for a in answers[99:])
    assert answers[-1] is not None and 0 < answers[-1].wait <= 60
    clock.now += 61
    assert brake.wrong("10.9.9.9", "fresh-guess") is None


def test_an_ipv6_network_counts_as_one_address() -> None:
    brake = Brake(clock=Clock())
    answers = [brake.wrong(f"2001:db8:0:1::{i:x}", f"{i:08d}-six") for i in range(1, 6)]
    assert answers[:4] == [None] * 4 and answers[4] is not None
    assert brake.wrong("2001:db8:0:2::1", "00000009-six") is None
