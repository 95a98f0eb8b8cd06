"""How API keys and OAuth accounts share one pool: `OAUTH_ROUTING` as a pure step, with a fake clock."""

from __future__ import annotations

from collections import Counter

import pytest

from gemini_gateway.errors import NoCredentialAvailable
from gemini_gateway.pool.classify import Verdict
from gemini_gateway.pool.credential import Credential
from gemini_gateway.pool.pool import CredentialPool
from gemini_gateway.pool.strategy import route


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
