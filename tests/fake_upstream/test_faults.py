"""Scripted faults, set in-process or through the /_fake control API."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.fake_upstream.testing import RunningFake
from tests.fake_upstream.conftest import GENERATE, KEY, STREAM, user

RPC = "type.googleapis.com/google.rpc."


def details_by_type(response: httpx.Response) -> dict[str, dict[str, object]]:
    return {d["@type"].removeprefix(RPC): d for d in response.json()["error"].get("details", [])}


def test_429_has_quota_failure_help_and_retry_info(http: httpx.Client, state: FakeState) -> None:
    state.add_fault(
        KEY, "429", count=2, retry_delay="7s", quota_id="GenerateRequestsPerDayPerProjectPerModel-FreeTier"
    )
    for _ in range(2):
        response = http.post(GENERATE, json=user("hi"))
        error = response.json()["error"]
        assert response.status_code == 429 and error["status"] == "RESOURCE_EXHAUSTED"
        assert error["message"].endswith("Please retry in 7s.")
        details = details_by_type(response)
        assert details["RetryInfo"]["retryDelay"] == "7s"
        (violation,) = details["QuotaFailure"]["violations"]  # type: ignore[misc]
        assert violation["quotaId"] == "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
        assert violation["quotaDimensions"]["model"] == "gemini-2.5-flash"
        assert "Help" in details
    assert http.post(GENERATE, json=user("hi")).status_code == 200  # count used up


def test_429_defaults_and_no_retry_info(http: httpx.Client, state: FakeState) -> None:
    state.add_fault(KEY, "429", count=1, retry_delay=None)
    response = http.post(GENERATE, json=user("hi"))
    details = details_by_type(response)
    assert "RetryInfo" not in details and "Please retry" not in response.text
    (violation,) = details["QuotaFailure"]["violations"]  # type: ignore[misc]
    assert violation["quotaId"] == "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"


@pytest.mark.parametrize(
    ("fault", "status", "google_status", "text"),
    [
        ("500", 500, "INTERNAL", "internal error"),
        ("502", 502, "UNAVAILABLE", "Bad Gateway"),
        ("503", 503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        ("504", 504, "DEADLINE_EXCEEDED", "Deadline"),
        ("invalid_key", 400, "INVALID_ARGUMENT", "API key not valid"),
        ("blocked", 403, "PERMISSION_DENIED", "are blocked"),
        ("bad_request", 400, "INVALID_ARGUMENT", "invalid argument"),
    ],
)
def test_error_faults(
    http: httpx.Client, state: FakeState, fault: str, status: int, google_status: str, text: str
) -> None:
    state.add_fault(KEY, fault, count=1)
    response = http.post(GENERATE, json=user("hi"))
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (status, google_status) and text in error["message"]
    reasons = {d.get("reason") for d in error.get("details", [])}
    if fault == "invalid_key":
        assert "API_KEY_INVALID" in reasons
    if fault == "blocked":
        assert "API_KEY_SERVICE_BLOCKED" in reasons
    if fault == "bad_request":
        assert details_by_type(response)["BadRequest"]["fieldViolations"]


def test_suspended_names_the_calling_key_as_google_does(http: httpx.Client, state: FakeState) -> None:
    state.add_fault(KEY, "suspended", count=1)
    response = http.post(GENERATE, json=user("hi"))
    error = response.json()["error"]
    assert (response.status_code, error["status"]) == (403, "PERMISSION_DENIED")
    assert error["message"] == f"Permission denied: Consumer 'api_key:{KEY}' has been suspended."
    details = details_by_type(response)
    assert details["ErrorInfo"]["reason"] == "CONSUMER_SUSPENDED"
    assert details["ErrorInfo"]["metadata"]["consumer"].startswith("projects/")  # type: ignore[index]
    assert details["LocalizedMessage"]["message"] == error["message"]


def test_faults_are_per_key_and_model(http: httpx.Client, state: FakeState) -> None:
    state.add_fault("other", "503")
    state.add_fault(KEY, "503", model="gemini-2.5-pro")
    assert http.post(GENERATE, json=user("hi")).status_code == 200
    assert http.post("/v1beta/models/gemini-2.5-pro:generateContent", json=user("hi")).status_code == 503
    assert http.post(GENERATE, json=user("hi"), headers={"x-goog-api-key": "other"}).status_code == 503
    assert (
        http.post(GENERATE, json=user("hi"), headers={"x-goog-api-key": "other"}).status_code == 503
    )  # no count
    state.reset()
    assert http.post(GENERATE, json=user("hi"), headers={"x-goog-api-key": "other"}).status_code == 200


def test_slow_delays_the_first_byte(http: httpx.Client, state: FakeState) -> None:
    state.add_fault(KEY, "slow", count=1, delay_ms=300)
    started = time.monotonic()
    assert http.post(GENERATE, json=user("hi")).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_cut_stream_after_chunks(http: httpx.Client, state: FakeState) -> None:
    state.add_fault(KEY, "cut", count=1, after_chunks=2)
    received: list[bytes] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        http.stream("POST", STREAM, params={"alt": "sse"}, json=user("cut me")) as response,
    ):
        assert response.status_code == 200
        received.extend(response.iter_bytes())
    events = [e for e in b"".join(received).split(b"\r\n\r\n") if e]
    assert len(events) == 2 and all(orjson.loads(e[6:])["candidates"] for e in events)


def test_cut_plain_answer(http: httpx.Client, state: FakeState) -> None:
    state.add_fault(KEY, "cut", count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(GENERATE, json=user("hi"))
    assert http.post(GENERATE, json=user("hi")).status_code == 200


def test_hang_until_the_client_gives_up(server: RunningFake, state: FakeState) -> None:
    state.add_fault(KEY, "hang", count=1)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(server.url + GENERATE, json=user("hi"), headers={"x-goog-api-key": KEY}, timeout=0.3)
    assert state.calls[-1].method == "generateContent"


def test_latency_and_chunk_delay_config(http: httpx.Client, state: FakeState) -> None:
    state.config.merge({"latency_ms": 100, "chunk_delay_ms": 50, "stream_chunks": 3})
    started = time.monotonic()
    assert http.post(STREAM, params={"alt": "sse"}, json=user("slow stream")).content.count(b"data: ") == 3
    assert time.monotonic() - started >= 0.2


def test_control_api_round_trip(http: httpx.Client, state: FakeState) -> None:
    added = http.post(
        "/_fake/faults",
        json={"key": "k1", "fault": "429", "count": 1, "retry_delay": "7s", "model": None},
    )
    assert added.status_code == 200 and added.json()[0]["fault"] == "429"
    assert [f.kind for f in state.faults] == ["429"]
    assert http.post(GENERATE, json=user("hi")).status_code == 429
    assert http.get("/_fake/faults").json() == []  # its one call used it up
    http.get("/v1beta/models", params={"key": "k2"}, headers={"x-goog-api-key": ""})
    calls = http.get("/_fake/calls").json()
    assert [(c["key"], c["method"], c["model"], c["stream"]) for c in calls] == [
        ("k1", "generateContent", "gemini-2.5-flash", False),
        ("k2", "listModels", None, False),
    ]
    assert isinstance(calls[0]["time"], float)
    config = http.post("/_fake/config", json={"stream_chunks": 20, "chunk_delay_ms": 1}).json()
    assert config["stream_chunks"] == 20 and state.config.chunk_delay_ms == 1
    assert http.post(STREAM, params={"alt": "sse"}, json=user("twenty")).content.count(b"data: ") == 20
    assert http.post("/_fake/reset").json() == {"ok": True}
    assert http.get("/_fake/calls").json() == [] and http.get("/_fake/faults").json() == []
    assert state.config.stream_chunks == 20  # reset keeps the config unless asked
    http.post("/_fake/reset", json={"config": True})
    assert state.config.stream_chunks == 4


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/_fake/faults", {"fault": "teapot"}),
        ("/_fake/faults", [{"fault": "429"}, {"fault": "429", "count": 0}]),
        ("/_fake/faults", {"fault": "429", "retry_delay": "soon"}),
        ("/_fake/faults", {"fault": "429", "colour": "red"}),
        ("/_fake/config", {"stream_chunks": 0}),
        ("/_fake/config", {"no_such_knob": 1}),
    ],
)
def test_control_api_rejects_bad_input(
    http: httpx.Client, state: FakeState, route: str, body: object
) -> None:
    response = http.post(route, json=body)
    assert response.status_code == 400 and response.json()["error"]["message"]
    assert not state.faults and state.config.stream_chunks == 4


def test_in_process_validation(state: FakeState) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        state.add_fault("k", "teapot")
    assert state.add_fault("*", "503").key is None
    assert state.add_fault("k", "429", retry_delay=2.5).retry_delay == "2.5s"


def test_reply_sends_the_scripted_answer(http: httpx.Client, state: FakeState) -> None:
    events = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Scripted "}]}, "index": 0}]},
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": "answer"}]}, "finishReason": "SPII"}
            ]
        },
    ]
    state.add_fault(KEY, "reply", count=2, answer=events)
    assert http.post(GENERATE, json=user("hi")).json() == events[0]
    body = http.post(STREAM, params={"alt": "sse"}, json=user("hi")).content
    assert [orjson.loads(e[6:]) for e in body.split(b"\r\n\r\n") if e] == events
    assert "Scripted" not in http.post(GENERATE, json=user("hi")).text  # count used up
    with pytest.raises(ValueError, match="answer"):
        state.add_fault(KEY, "reply")
    added = http.post("/_fake/faults", json={"fault": "reply", "count": 1, "answer": events[:1]})
    assert added.status_code == 200 and http.post(GENERATE, json=user("hi")).json() == events[0]


def test_empty_answers_a_candidate_without_parts(http: httpx.Client, state: FakeState) -> None:
    state.add_fault(KEY, "empty", count=2)
    (candidate,) = http.post(GENERATE, json=user("hi")).json()["candidates"]
    assert candidate["finishReason"] == "STOP" and "parts" not in candidate["content"]
    body = http.post(STREAM, params={"alt": "sse"}, json=user("hi")).content
    events = [orjson.loads(e[6:]) for e in body.split(b"\r\n\r\n") if e]
    assert len(events) == 1 and "parts" not in events[0]["candidates"][0]["content"]
    assert http.post(GENERATE, json=user("hi")).json()["candidates"][0]["content"]["parts"]  # count used up
