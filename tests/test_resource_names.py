"""The grammar of model names and resource ids that may go into an upstream URL."""

from __future__ import annotations

import pytest

from gemini_gateway.errors import RequestError
from gemini_gateway.resource_names import (
    api_version,
    bare_model_id,
    model_id,
    model_segment,
    resource_id,
    resource_path,
    segment,
)

REAL_MODELS = [
    "gemini-2.5-flash",
    "gemini-2.5-flash-preview-05-20",
    "gemini-2.5-flash-lite",
    "gemini-3-pro-preview",
    "gemini-2.5-flash-preview-tts",
    "gemma-3-27b-it",
    "imagen-4.0-generate-001",
    "text-embedding-004",
    "gemini-embedding-001",
    "learnlm-2.0-flash-experimental",
    "gemini-2.5-flash-search-nothinking",  # the gateway's own suffixes, before they are resolved
    "gemini_custom.v2",
    "Gemini-2.5-Flash",  # Google judges case (a 404), it cannot reshape a URL
]
REFUSED = [
    "",
    ".",
    "..",
    "../../v1beta/files#",
    "gemini-2.5-flash?x=1#",
    "gemini-2.5-flash#",
    "gemini 2.5 flash",
    " gemini-2.5-flash",
    "gemini-2.5-flash\t",
    "gemini-2.5-flash\n",
    "gemini-2.5-flash\x00",
    "gemini-2.5-flash%2F..",
    "gemini-2.5-flash/x",
    "gemini-2.5-flash:generateContent",
    "gemini-2.5-fl\u00e4sh",
    "gemini-\u2713",
    "-gemini",
    "tunedModels/x",  # only `models/` names go to `models/{id}`
    "g" * 129,
]


@pytest.mark.parametrize("model", REAL_MODELS)
def test_real_model_names_pass_unchanged(model: str) -> None:
    assert model_id(model) == model
    assert model_id(f"models/{model}") == model
    assert model_id(f"publishers/google/models/{model}") == model
    assert model_segment(model_id(model)) == model  # nothing in the grammar needs encoding


@pytest.mark.parametrize("model", REFUSED)
def test_names_that_could_reshape_a_url_are_a_400(model: str) -> None:
    for name in (model, f"models/{model}"):
        with pytest.raises(RequestError) as raised:
            model_id(name)
        assert raised.value.status_code == 400
    with pytest.raises(RequestError):
        bare_model_id(model)


def test_a_call_that_names_no_model_gets_the_400_of_an_empty_name() -> None:
    with pytest.raises(RequestError) as raised:
        model_segment(None)
    assert raised.value.status_code == 400 and "is not a model name" in raised.value.message


def test_a_prefix_is_taken_off_once() -> None:
    with pytest.raises(RequestError):
        model_id("models/models/gemini-2.5-flash")
    with pytest.raises(RequestError):
        bare_model_id("models/gemini-2.5-flash")  # a call carries the bare id


def test_the_error_quotes_the_name_escaped_and_short() -> None:
    with pytest.raises(RequestError) as raised:
        model_id("bad\r\nname\u2713" + "x" * 500)
    message = raised.value.message
    assert "\r" not in message and "\n" not in message and "\u2713" not in message
    assert len(message) < 300


@pytest.mark.parametrize("file_id", ["abc", "123-456", "a", "a" * 40, "x9-y8-z7"])
def test_file_ids_follow_googles_rule(file_id: str) -> None:
    assert resource_id("files", file_id) == file_id


@pytest.mark.parametrize("file_id", ["", "-abc", "abc-", "ABC", "a_b", "a.b", "a" * 41, "..", "a?b", "a b"])
def test_other_file_ids_are_refused(file_id: str) -> None:
    with pytest.raises(RequestError):
        resource_id("files", file_id)


@pytest.mark.parametrize("value", ["abc123", "lr8ky4xhk1eu", "Ab_c.d-e"])
def test_other_ids_are_single_inert_segments(value: str) -> None:
    assert resource_id("cachedContents", value) == value
    assert segment(value) == value


@pytest.mark.parametrize("value", ["", ".", "..", "abc?x=1", "abc#", "a%3F", "a/b", "a b", "\u00e9"])
def test_cache_ids_that_could_reshape_a_url_are_refused(value: str) -> None:
    with pytest.raises(RequestError):
        resource_id("cachedContents", value)


def test_resource_paths_are_checked_segment_by_segment() -> None:
    assert resource_path("v1beta/files/abc-1") == "v1beta/files/abc-1"
    assert resource_path("operations/onboard-1a2b") == "operations/onboard-1a2b"
    for bad in ("v1beta/files/..", "v1beta//files", "/v1beta/files", "operations/a?b", "v1beta/files/a b"):
        with pytest.raises(RequestError):
            resource_path(bad)


def test_segment_encodes_everything_that_is_not_unreserved() -> None:
    assert segment("a/b?c#d e%") == "a%2Fb%3Fc%23d%20e%25"


@pytest.mark.parametrize(
    ("path", "version"),
    [
        ("/v1/models/m:generateContent", "v1"),
        ("/v1beta/models/m:generateContent", "v1beta"),
        ("/gemini/v1/models/m:generateContent", "v1"),
        ("/gemini/v1beta/models", "v1beta"),
        ("/upload/v1/files", "v1"),
        ("/v1beta/files/v1", "v1beta"),
    ],
)
def test_api_version_is_the_first_version_segment(path: str, version: str) -> None:
    assert api_version(path) == version
