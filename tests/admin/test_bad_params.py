"""Bad query parameters and bodies on the admin API: a 400 naming the problem, never a 500."""

from __future__ import annotations

import httpx
import pytest

from gemini_gateway.fake_upstream import FakeState
from tests.admin.helpers import bearer
from tests.conftest import ADMIN_TOKEN, RunningGateway

BAD_QUERIES = [
    ("/api/logs", {"until": "2.3e203"}),
    ("/api/logs", {"since": "-2.3e203"}),
    ("/api/logs", {"since": "inf"}),
    ("/api/logs", {"until": "nan"}),
    ("/api/logs", {"status": "99999999999999999999999"}),
    ("/api/logs", {"status": "axx"}),
    ("/api/logs", {"status": "\u00b2\u00b2\u00b2"}),  # str.isdigit() says yes, int() says no
    ("/api/logs", {"cursor": "99999999999999999999999999_abc"}),
    ("/api/logs", {"cursor": "\u0663_abc"}),
    ("/api/stats", {"since": "1e300"}),
    ("/api/logs/export", {"until": "-inf"}),
    ("/api/audit", {"before": str(2**70)}),
    ("/api/audit", {"before": "-1"}),
]


@pytest.mark.parametrize(("path", "params"), BAD_QUERIES, ids=[f"{p} {q}" for p, q in BAD_QUERIES])
def test_bad_admin_query_parameters_are_a_400(
    shared_gateway: RunningGateway, path: str, params: dict[str, str]
) -> None:
    response = httpx.get(shared_gateway.url + path, params=params, headers=bearer(ADMIN_TOKEN))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_good_admin_query_parameters_still_work(shared_gateway: RunningGateway) -> None:
    admin = bearer(ADMIN_TOKEN)
    for params in (
        {"since": "0", "until": "4102444800", "status": "2xx"},
        {"since": "2026-01-01T00:00:00Z", "status": "429"},
        {"cursor": "1796566712000_abc123"},
    ):
        response = httpx.get(shared_gateway.url + "/api/logs", params=params, headers=admin)
        assert response.status_code == 200, (params, response.text)
    assert (
        httpx.get(shared_gateway.url + "/api/audit", params={"before": "5"}, headers=admin).status_code == 200
    )


@pytest.mark.parametrize("key", ["abc\x01defghij", "abc\ndefghij", "abc defghij", "ключ-ключ-ключ"])
def test_validating_a_key_with_characters_no_key_holds_is_a_400_without_an_upstream_call(
    shared_gateway: RunningGateway, fake: FakeState, key: str
) -> None:
    response = httpx.post(
        shared_gateway.url + "/api/keys/validate", json={"key": key}, headers=bearer(ADMIN_TOKEN)
    )
    assert response.status_code == 400, response.text
    assert "key" in response.json()["error"]["message"]
    assert fake.calls == []
