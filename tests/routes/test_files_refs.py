"""Pure parts of credential affinity: what a body names, page tokens, upload sessions, readiness."""

from __future__ import annotations

import time

import orjson
import pytest

from gemini_gateway.affinity.binder import check_ready
from gemini_gateway.affinity.refs import cache_name, file_name, named_resources
from gemini_gateway.affinity.resources import decode_token, encode_token, page_size
from gemini_gateway.affinity.uploads import UploadSessions
from gemini_gateway.errors import NoCredentialAvailable, RequestError
from gemini_gateway.pool.credential import Credential

URI = "https://generativelanguage.googleapis.com/v1beta/files/abc123"


def body(data: object) -> bytes:
    return orjson.dumps(data)


@pytest.mark.parametrize(
    ("uri", "name"),
    [
        (URI, "files/abc123"),
        ("http://127.0.0.1:8090/v1/files/x-1", "files/x-1"),
        ("files/abc123", "files/abc123"),
        ("gs://bucket/files/abc123", None),
        ("https://www.youtube.com/watch?v=files/abc", None),
        ("https://example.com/v1beta/files/abc/extra", None),
    ],
)
def test_file_name_from_uri(uri: str, name: str | None) -> None:
    assert file_name(uri) == name


def test_cache_names_with_or_without_prefix() -> None:
    assert cache_name("cachedContents/xyz") == "cachedContents/xyz"
    assert cache_name("xyz") == "cachedContents/xyz"
    assert cache_name("cachedContents/bad name") is None


def test_named_resources_in_every_spelling_and_place() -> None:
    camel = {
        "contents": [{"parts": [{"text": "hi"}, {"fileData": {"fileUri": URI}}]}],
        "cachedContent": "cachedContents/c1",
    }
    snake = {"contents": [{"parts": [{"file_data": {"file_uri": "files/def"}}]}], "cached_content": "c2"}
    nested = {"generateContentRequest": {"model": "models/m", "contents": camel["contents"]}}
    system = {"contents": [], "systemInstruction": {"parts": [{"fileData": {"fileUri": "files/sys"}}]}}
    assert named_resources(body(camel)) == {"files/abc123", "cachedContents/c1"}
    assert named_resources(body(snake)) == {"files/def", "cachedContents/c2"}
    assert named_resources(body(nested)) == {"files/abc123"}
    assert named_resources(body(system)) == {"files/sys"}


def test_bodies_naming_nothing_are_not_parsed() -> None:
    assert named_resources(b'{"contents": [{"parts": [{"text": "no references"}]}]}') == set()
    assert named_resources(b"not json but files/abc") == set()
    assert named_resources(body({"contents": [{"parts": [{"text": "see files/abc in the text"}]}]})) == set()
    assert named_resources(body(["files/abc"])) == set()


def test_combined_page_tokens_round_trip_and_reject_garbage() -> None:
    token = encode_token("api_key:0123456789ab", "upstream-token")
    assert decode_token(token) == ("api_key:0123456789ab", "upstream-token")
    assert decode_token(encode_token("api_key:x", None)) == ("api_key:x", None)
    for bad in ("garbage!", encode_token("a", "b")[:-3] + "@@@"):
        with pytest.raises(RequestError):
            decode_token(bad)


def test_page_size_defaults_and_clamps() -> None:
    assert page_size({}, 10, 100) == 10
    assert page_size({"pageSize": "500"}, 10, 100) == 100
    assert page_size({"page_size": "3"}, 10, 100) == 3
    with pytest.raises(RequestError):
        page_size({"pageSize": "many"}, 10, 100)


def test_upload_sessions_expire_and_stay_bounded() -> None:
    sessions = UploadSessions(lifetime=60, limit=3)
    opened = [sessions.open(f"https://up/{i}", "api_key:a", "client") for i in range(5)]
    assert len(sessions) == 3 and sessions.get(opened[0].id) is None  # oldest dropped
    assert sessions.get(opened[-1].id) is not None
    assert len({s.id for s in opened}) == 5 and all(len(s.id) >= 32 for s in opened)
    expired = UploadSessions(lifetime=-1)
    assert expired.get(expired.open("https://up", "c", "client").id) is None


def test_readiness_of_an_owner() -> None:
    now = time.time()
    credential = Credential(kind="api_key", secret="secret-key-for-tests-0001")
    check_ready(credential, "gemini-2.5-flash", "files/a", now)
    credential.cooldowns["gemini-2.5-flash"] = now + 12
    with pytest.raises(NoCredentialAvailable) as cooling:
        check_ready(credential, "gemini-2.5-flash", "files/a", now)
    assert cooling.value.status_code == 429 and cooling.value.headers() == {"retry-after": "12"}
    assert "files/a" in cooling.value.message and credential.secret not in cooling.value.message
    check_ready(credential, "gemini-2.5-pro", "files/a", now)  # another model is not cooling
    credential.disabled_reason = "API_KEY_INVALID"
    with pytest.raises(NoCredentialAvailable) as disabled:
        check_ready(credential, "gemini-2.5-pro", "files/a", now)
    assert disabled.value.status_code == 503
