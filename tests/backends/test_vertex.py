"""Vertex AI express: the fake's Vertex routes over raw HTTP, the backend's URL shapes, and
google-genai through a gateway whose pool holds express keys."""

from __future__ import annotations

import httpx
import orjson
import pytest
from google import genai

from gemini_gateway.backends.base import UpstreamCall
from gemini_gateway.backends.vertex import VertexExpressBackend, _vertex_body, gemini_count_body
from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.redaction import REDACTOR
from tests.conftest import KEYS, GatewayFactory
from tests.routes.test_files import upload, with_file

MODEL = "gemini-2.5-flash"
VERTEX_KEYS = ["vertex-express-key-0001", "vertex-express-key-0002"]
HELLO = {"contents": [{"role": "user", "parts": [{"text": "Tell me about kingfishers"}]}]}


def vertex_path(version: str, method: str, model: str = MODEL) -> str:
    return f"/{version}/publishers/google/models/{model}:{method}"


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_the_fake_answers_in_vertex_express_shape(fake: FakeState, fake_url: str, version: str) -> None:
    in_query = httpx.post(
        fake_url + vertex_path(version, "generateContent"), params={"key": "vx"}, json=HELLO
    )
    assert in_query.status_code == 200, in_query.text
    assert "kingfishers" in in_query.json()["candidates"][0]["content"]["parts"][0]["text"].lower()
    in_header = httpx.post(
        fake_url + vertex_path(version, "streamGenerateContent"),
        params={"alt": "sse"},
        headers={"x-goog-api-key": "vx"},
        json=HELLO,
    )
    assert in_header.status_code == 200 and in_header.text.startswith("data: ")
    counted = httpx.post(
        fake_url + vertex_path(version, "countTokens"), headers={"x-goog-api-key": "vx"}, json=HELLO
    )
    assert counted.status_code == 200 and counted.json()["totalTokens"] > 0
    calls = [(c.version, c.method, c.key_in_query) for c in fake.projects.vertex_calls]
    assert calls == [
        (version, "generateContent", True),
        (version, "streamGenerateContent", False),
        (version, "countTokens", False),
    ]
    assert (
        httpx.post(
            fake_url + vertex_path(version, "embedContent"), params={"key": "vx"}, json=HELLO
        ).status_code
        == 404
    )
    assert (
        httpx.post(fake_url + f"/{version}/publishers/google/other", params={"key": "vx"}).status_code == 404
    )
    assert httpx.post(fake_url + vertex_path(version, "generateContent"), json=HELLO).status_code == 403


def test_google_genai_in_vertex_mode_matches_the_fake(fake: FakeState, fake_url: str) -> None:
    sdk = genai.Client(vertexai=True, api_key="vx-sdk", http_options={"base_url": fake_url})
    response = sdk.models.generate_content(model=MODEL, contents="Describe a kingfisher")
    assert response.text and "kingfisher" in response.text.lower()
    seen = fake.projects.vertex_calls[-1]
    assert (seen.key, seen.method, seen.key_in_query) == ("vx-sdk", "generateContent", False)


def test_the_backend_builds_vertex_urls_and_serves_only_its_methods() -> None:
    backend = VertexExpressBackend(models=None, resources=None, base_url="https://aiplatform.googleapis.com")  # type: ignore[arg-type]
    assert backend.url(UpstreamCall("generateContent", MODEL, api_version="v1")) == (
        "https://aiplatform.googleapis.com/v1/publishers/google/models/gemini-2.5-flash:generateContent"
    )
    assert backend.url(UpstreamCall("streamGenerateContent", MODEL)) == (
        "https://aiplatform.googleapis.com/v1beta1/publishers/google/models/gemini-2.5-flash"
        ":streamGenerateContent?alt=sse"
    )
    assert [m for m in ("generateContent", "streamGenerateContent", "countTokens") if backend.supports(m)]
    for method in (
        "embedContent",
        "batchEmbedContents",
        "models.list",
        "predict",
        "files.upload",
        "cachedContents.create",
    ):
        assert not backend.supports(method)


def test_count_tokens_moves_the_wrapped_request_to_the_top_level() -> None:
    wrapped = {
        "generateContentRequest": {
            "model": f"models/{MODEL}",
            "contents": HELLO["contents"],
            "system_instruction": {"parts": [{"text": "be brief"}]},
        }
    }
    call = _vertex_body(UpstreamCall("countTokens", MODEL, orjson.dumps(wrapped)))
    assert orjson.loads(call.body) == {
        "contents": HELLO["contents"],
        "systemInstruction": {"parts": [{"text": "be brief"}]},
    }
    plain = UpstreamCall("countTokens", MODEL, orjson.dumps(HELLO))
    assert _vertex_body(plain) is plain


@pytest.mark.parametrize(("version", "upstream"), [("v1", "v1"), ("v1beta", "v1beta1")])
def test_google_genai_through_a_gateway_of_express_keys(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, version: str, upstream: str
) -> None:
    with gateway_factory(
        gemini_api_keys=[], vertex_express_keys=VERTEX_KEYS, vertex_base_url=fake_url
    ) as running:
        sdk = genai.Client(
            api_key="client-token", http_options={"base_url": running.url, "api_version": version}
        )
        texts = [sdk.models.generate_content(model=MODEL, contents="Kingfishers dive").text for _ in range(4)]
        assert all(t and "kingfishers" in t.lower() for t in texts)
        chunks = list(sdk.models.generate_content_stream(model=MODEL, contents="Stream on kingfishers"))
        assert "kingfishers" in "".join(c.text or "" for c in chunks).lower()
        assert (sdk.models.count_tokens(model=MODEL, contents="one two three").total_tokens or 0) > 0
        # Express mode has no Files API or caches: a clear answer, not a call that cannot work.
        for method, path in (
            ("GET", "/v1beta/files"),
            ("POST", "/upload/v1beta/files"),
            ("POST", "/v1/cachedContents"),
        ):
            refused = httpx.request(method, running.url + path, json={"model": f"models/{MODEL}"})
            assert refused.status_code == 501 and "GEMINI_API_KEYS" in refused.json()["error"]["message"]
    calls = fake.projects.vertex_calls
    assert [c.method for c in calls] == ["generateContent"] * 4 + ["streamGenerateContent", "countTokens"]
    assert {c.version for c in calls} == {upstream}
    assert {c.key for c in calls} == set(VERTEX_KEYS)  # balanced over both express keys
    assert not any(c.key_in_query for c in calls)  # the key travels in a header, never in the URL
    assert all(REDACTOR.redact(f"key {k}") != f"key {k}" for k in VERTEX_KEYS)  # masked in logs


def test_a_mixed_pool_keeps_express_keys_to_what_they_can_serve(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str
) -> None:
    with gateway_factory(vertex_express_keys=VERTEX_KEYS, vertex_base_url=fake_url) as running:
        for _ in range(10):
            assert (
                httpx.post(f"{running.url}/v1beta/models/{MODEL}:generateContent", json=HELLO).status_code
                == 200
            )
        embed = httpx.post(
            f"{running.url}/v1beta/models/gemini-embedding-001:batchEmbedContents",
            json={
                "requests": [{"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "x"}]}}]
            },
        )
        assert embed.status_code == 200, embed.text
        assert httpx.get(f"{running.url}/v1beta/models").status_code == 200
        file = upload(running.url, b"for api keys only")
        assert fake.projects.owner_of(file["name"]) in KEYS
        assert httpx.get(f"{running.url}/v1beta/files").status_code == 200
    generation_keys = {c.key for c in fake.calls if c.method == "generateContent"}
    assert generation_keys & set(VERTEX_KEYS) and generation_keys & set(KEYS)  # one pool, both kinds
    others = {c.key for c in fake.calls if c.method != "generateContent"}
    assert not others & set(VERTEX_KEYS)  # embeddings, model lists and files never reach Vertex


def test_calls_naming_a_file_the_gateway_never_saw_stay_off_express_keys(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str
) -> None:
    file = upload(fake_url, b"uploaded behind the gateway's back", **{"x-goog-api-key": KEYS[0]})
    body = with_file(file)
    with gateway_factory(
        gemini_api_keys=[KEYS[0]], vertex_express_keys=VERTEX_KEYS, vertex_base_url=fake_url
    ) as running:
        for path in (f"/v1beta/models/{MODEL}:generateContent", f"/v1beta/models/{MODEL}:countTokens"):
            for _ in range(4):
                response = httpx.post(running.url + path, json=body)
                assert response.status_code == 200, response.text
                assert fake.calls[-1].key == KEYS[0]
    assert not fake.projects.vertex_calls  # Vertex cannot read a Files API file


def test_an_express_only_pool_says_why_it_cannot_use_a_file(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str
) -> None:
    file = upload(fake_url, b"a Gemini API file", **{"x-goog-api-key": KEYS[0]})
    with gateway_factory(
        gemini_api_keys=[], vertex_express_keys=VERTEX_KEYS, vertex_base_url=fake_url
    ) as running:
        refused = httpx.post(f"{running.url}/v1beta/models/{MODEL}:generateContent", json=with_file(file))
        assert refused.status_code == 501
        assert file["name"] in refused.json()["error"]["message"]
        assert "GEMINI_API_KEYS" in refused.json()["error"]["message"]
        openai_refused = httpx.post(
            f"{running.url}/v1/chat/completions",
            json={
                "model": MODEL,
                "messages": [
                    {"role": "user", "content": [{"type": "file", "file": {"file_id": file["name"]}}]}
                ],
            },
        )
        assert openai_refused.status_code == 501 and "error" in openai_refused.json()
    assert not fake.projects.vertex_calls


def test_google_genai_in_vertex_mode_through_the_gateway(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str
) -> None:
    with gateway_factory(vertex_express_keys=VERTEX_KEYS, vertex_base_url=fake_url) as running:
        sdk = genai.Client(vertexai=True, api_key="client-token", http_options={"base_url": running.url})
        for _ in range(5):
            answer = sdk.models.generate_content(model=MODEL, contents="Kingfishers dive")
            assert answer.text and "kingfishers" in answer.text.lower()
        chunks = list(sdk.models.generate_content_stream(model=MODEL, contents="Stream on kingfishers"))
        assert "kingfishers" in "".join(c.text or "" for c in chunks).lower()
        config = genai.types.CountTokensConfig(system_instruction="Be brief.")
        for _ in range(5):
            counted = sdk.models.count_tokens(model=MODEL, contents="one two three", config=config)
            assert (counted.total_tokens or 0) > 0
    used = {c.key for c in fake.calls if c.method in ("generateContent", "countTokens")}
    assert used & set(KEYS) and used & set(VERTEX_KEYS)  # Vertex's shape in, any credential out
    assert {c.version for c in fake.projects.vertex_calls} == {"v1beta1"}


def test_vertex_count_tokens_takes_its_fields_at_the_top(fake: FakeState, fake_url: str) -> None:
    url = fake_url + vertex_path("v1beta1", "countTokens")
    system = {"parts": [{"text": "be brief"}]}
    flat = httpx.post(url, headers={"x-goog-api-key": "vx"}, json={**HELLO, "systemInstruction": system})
    assert flat.status_code == 200 and flat.json()["totalTokens"] > 0
    wrapped = {"generateContentRequest": {"model": f"models/{MODEL}", **HELLO}}
    refused = httpx.post(url, headers={"x-goog-api-key": "vx"}, json=wrapped)
    assert refused.status_code == 400 and "generateContentRequest" in refused.json()["error"]["message"]
    # Arriving in Vertex's shape, the same call is folded into Gemini's form for an API key.
    folded = orjson.loads(gemini_count_body(orjson.dumps({**HELLO, "system_instruction": system}), MODEL))
    assert folded == {
        "generateContentRequest": {"model": f"models/{MODEL}", **HELLO, "systemInstruction": system}
    }
    assert gemini_count_body(orjson.dumps(HELLO), MODEL) == orjson.dumps(HELLO)
