import pytest

from gemini_gateway.errors import NoCredentialAvailable
from gemini_gateway.pool.classify import Verdict
from gemini_gateway.pool.credential import Credential, mask_secret
from gemini_gateway.pool.pool import CredentialPool


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def make_pool(n: int = 3, strategy: str = "least_busy") -> tuple[CredentialPool, Clock]:
    clock = Clock()
    pool = CredentialPool(strategy, clock=clock)  # type: ignore[arg-type]
    pool.replace("api_key", [Credential("api_key", f"key-number-{i}-secret") for i in range(n)])
    return pool, clock


def test_least_busy_prefers_idle_and_rotates_ties() -> None:
    pool, _ = make_pool(3)
    first = pool.acquire("m")
    second = pool.acquire("m")
    third = pool.acquire("m")
    assert len({first.id, second.id, third.id}) == 3  # ties broken in rotation, not first-always
    pool.release(second, "m", None)
    assert pool.acquire("m") is second  # the only idle one


def test_round_robin_cycles() -> None:
    pool, _ = make_pool(3, "round_robin")
    picks = []
    for _ in range(6):
        credential = pool.acquire("m")
        pool.release(credential, "m", None)
        picks.append(credential.id)
    assert picks[:3] == picks[3:] and len(set(picks[:3])) == 3


def test_cooldown_is_per_model() -> None:
    pool, clock = make_pool(1)
    credential = pool.acquire("gemini-2.5-pro")
    pool.release(
        credential,
        "gemini-2.5-pro",
        Verdict(retry=True, counts_as_failure=True, cooldown_until=clock.now + 30),
    )
    with pytest.raises(NoCredentialAvailable) as info:
        pool.acquire("gemini-2.5-pro")
    assert info.value.status_code == 429 and info.value.retry_after == pytest.approx(30)
    assert pool.acquire("gemini-2.5-flash") is credential  # other models unaffected
    clock.now += 31
    pool.release(credential, "gemini-2.5-flash", None)
    assert pool.acquire("gemini-2.5-pro") is credential


def test_all_cooling_reports_the_earliest_recovery() -> None:
    pool, clock = make_pool(2)
    a = pool.acquire("m")
    b = pool.acquire("m")
    pool.release(a, "m", Verdict(True, True, cooldown_until=clock.now + 50))
    pool.release(b, "m", Verdict(True, True, cooldown_until=clock.now + 20))
    with pytest.raises(NoCredentialAvailable) as info:
        pool.acquire("m")
    assert info.value.retry_after == pytest.approx(20)
    assert info.value.headers() == {"retry-after": "20"}


def test_disabled_credential_is_skipped_and_reported() -> None:
    pool, _ = make_pool(1)
    credential = pool.acquire("m")
    pool.release(credential, "m", Verdict(True, True, disable_reason="API_KEY_INVALID: bad"))
    with pytest.raises(NoCredentialAvailable) as info:
        pool.acquire("m")
    assert info.value.status_code == 503
    assert pool.view()[0]["disabled_reason"] == "API_KEY_INVALID: bad"
    assert pool.set_enabled(credential.id, True)
    assert pool.acquire("m") is credential


def test_no_credentials_is_a_clear_503() -> None:
    pool = CredentialPool()
    with pytest.raises(NoCredentialAvailable) as info:
        pool.acquire("m")
    assert info.value.status_code == 503 and "GEMINI_API_KEYS" in info.value.message


def test_replace_keeps_state_of_kept_keys() -> None:
    pool, _ = make_pool(2)
    kept = pool.acquire("m")
    pool.release(kept, "m", None)
    pool.replace(
        "api_key", [Credential("api_key", kept.secret), Credential("api_key", "a-brand-new-key-1234")]
    )
    assert len(pool) == 2
    assert pool.get(kept.id) is kept and kept.successes == 1


def test_state_round_trips_for_restarts() -> None:
    pool, clock = make_pool(2)
    a = pool.acquire("m")
    pool.release(a, "m", Verdict(True, True, cooldown_until=clock.now + 100), "quota")
    saved = pool.export_state()
    fresh, _ = make_pool(2)
    fresh.clock = clock
    fresh.restore_state(saved)
    restored = fresh.get(a.id)
    assert restored is not None and restored.failures == 1 and restored.last_error == "quota"
    assert restored.cooling_until("m", clock.now) == clock.now + 100


def test_views_never_show_the_secret() -> None:
    pool, _ = make_pool(2)
    text = repr(pool.view()) + repr(list(pool))
    for credential in pool:
        assert credential.secret not in text
    assert mask_secret("AIzaSyA1234567890abcdefghijklmnop") == "AIza...mnop"


def test_max_concurrency_limits_a_credential() -> None:
    pool, _ = make_pool(1)
    only = next(iter(pool))
    only.max_concurrency = 1
    pool.acquire("m")
    with pytest.raises(NoCredentialAvailable) as info:
        pool.acquire("m")
    assert "busy" in info.value.message


def test_least_busy_counts_the_calls_other_replicas_have_in_flight() -> None:
    pool, _ = make_pool(3)
    first, second, third = list(pool)
    pool.busy_elsewhere = {first.id: 2, second.id: 1}
    assert pool.acquire("m") is third
    assert pool.acquire("m") is second  # 1 elsewhere ties with third's 1 here; picked longer ago
    assert pool.view()[0]["in_flight_elsewhere"] == 2


def test_turns_taken_on_other_replicas_wait_their_turn_here() -> None:
    pool, _ = make_pool(3, "round_robin")
    first, second, third = list(pool)
    pool.saw_turns({first.id: 7, "api_key:unknown": 9})  # another replica's picks, numbered its way
    picks = [pool.acquire("m") for _ in range(3)]
    assert picks == [second, third, first]
    assert first.last_pick > 9  # this pool's numbers went on from the highest seen
