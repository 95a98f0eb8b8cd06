"""Gemini CLI OAuth accounts through Code Assist (`cloudcode-pa.googleapis.com/v1internal`).

The canonical call is wrapped in Code Assist's envelope and the answer unwrapped, so every dialect
works over accounts as over keys:

    generateContent        {model, project, user_prompt_id, request: <GenerateContentRequest>}
                           -> {response: <GenerateContentResponse>, traceId}
    streamGenerateContent  the same, as SSE; every event unwrapped on its way through
    countTokens            {request: {model: "models/<id>", contents}} -> {totalTokens}
    models.list / .get     answered from the models the accounts may use; the gateway's model list
                           is the union over every kind in the pool (model_catalog.py)

Tokens and projects come from `OAuthManager` (refreshed and discovered once per account). A 401
from Code Assist means the session was revoked before the token's expiry: the token is refreshed
and the call made once more on the same account before the dispatcher sees an error. A 403 saying
the client is no longer supported (the 2026-06-18 cut-off of consumer accounts) makes the manager
ask `loadCodeAssist` again, which names the account's tier in the reason it is disabled with.

Antigravity accounts use the same calls with their own envelope (backends/antigravity.py).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from typing import ClassVar

import orjson

from gemini_gateway.backends.api_key import SSEStream
from gemini_gateway.backends.base import UpstreamCall, UpstreamReply
from gemini_gateway.errors import RequestError, UpstreamError, google_error_body, is_error_event
from gemini_gateway.oauth.account import KIND, OAuthAccount, OAuthCredential
from gemini_gateway.oauth.manager import OAuthManager
from gemini_gateway.oauth.tiers import is_unsupported_client
from gemini_gateway.pool.credential import Credential
from gemini_gateway.transport.base import Streamed, Transport, error_of

JSON = "application/json"
_RPCS = frozenset({"generateContent", "streamGenerateContent", "countTokens"})
_LISTS = frozenset({"models.list", "models.get"})


class CodeAssistBackend:
    kind: ClassVar[str] = KIND

    def __init__(self, manager: OAuthManager, via: Callable[[str], Transport] | None = None) -> None:
        self.manager = manager
        self.via = via  # the transport through an account's own proxy (model calls; tokens go direct)

    async def aclose(self) -> None:
        """Nothing of its own to close: the HTTP session belongs to the app."""

    def supports(self, method: str) -> bool:
        return method in _RPCS or method in _LISTS

    def envelope(self, call: UpstreamCall, project: str) -> bytes:
        """The body of a generate call: Gemini CLI's wrapping (Antigravity overrides it)."""
        return generate_envelope(call, project)

    def headers(self, token: str, call: UpstreamCall) -> dict[str, str]:
        endpoint = self.manager.endpoint
        assert endpoint is not None
        return endpoint.headers(token)

    async def unary(self, call: UpstreamCall, credential: Credential) -> UpstreamReply:
        if call.method in _LISTS:
            return UpstreamReply(200, self._models(call))
        body = await (await self._open(call, _account(credential), credential.proxy)).read()
        return UpstreamReply(200, body if call.method == "countTokens" else unwrap(body))

    async def stream(self, call: UpstreamCall, credential: Credential) -> UnwrappedStream:
        return UnwrappedStream(SSEStream(await self._open(call, _account(credential), credential.proxy)))

    async def _open(self, call: UpstreamCall, account: OAuthAccount, proxy: str | None = None) -> Streamed:
        """Send the call; returns the 200 response (unread), raises the upstream's error otherwise."""
        manager = self.manager
        endpoint = manager.endpoint
        assert endpoint is not None
        transport = endpoint.transport if proxy is None or self.via is None else self.via(proxy)
        url = f"{endpoint.base_url}:{call.method}" + ("?alt=sse" if call.stream else "")
        for attempt in range(2):
            token = await manager.access_token(account)
            if call.method == "countTokens":
                body = count_tokens_envelope(call)
            else:
                body = self.envelope(call, await manager.project(account))
            answer = await transport.stream("POST", url, self.headers(token, call), body)
            if answer.status < 400:
                return answer
            error = await error_of(answer)
            if error.status_code == 401 and attempt == 0:
                account.invalidate_access_token()
                continue
            if error.status_code == 403 and is_unsupported_client(error.payload):
                await manager.recheck_tier(account)  # raises the refusal, naming the tier
            raise error
        raise AssertionError("unreachable")  # the loop returns or raises on its second pass

    def _models(self, call: UpstreamCall) -> bytes:
        return models_answer(call, self.manager.models)


class UnwrappedStream:
    """Code Assist's SSE events with their `response` envelope taken off."""

    def __init__(self, inner: SSEStream) -> None:
        self.inner = inner

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._events()

    async def _events(self) -> AsyncIterator[bytes]:
        async for payload in self.inner:
            yield unwrap(payload)

    async def aclose(self) -> None:
        await self.inner.aclose()


def generate_envelope(call: UpstreamCall, project: str) -> bytes:
    """The request spliced in as bytes: a pass-through body is never parsed and re-encoded."""
    inner = call.body.strip() or b"{}"
    if not inner.startswith(b"{"):
        raise RequestError("the request body must be a JSON object")
    head = {"model": call.model, "project": project, "user_prompt_id": uuid.uuid4().hex}
    return orjson.dumps(head)[:-1] + b',"request":' + inner + b"}"


def count_tokens_envelope(call: UpstreamCall) -> bytes:
    """Gemini's countTokens body (`contents`, or a whole `generateContentRequest`) as Code Assist's."""
    try:
        body = orjson.loads(call.body or b"{}")
    except orjson.JSONDecodeError:
        raise RequestError("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    inner = body.get("generateContentRequest") or body.get("generate_content_request")  # proto3 JSON: both
    contents = inner.get("contents") if isinstance(inner, dict) else body.get("contents")
    return orjson.dumps({"request": {"model": f"models/{call.model}", "contents": contents or []}})


def unwrap(payload: bytes) -> bytes:
    """`{response: {...}, traceId}` -> the GenerateContentResponse; anything else passes unchanged."""
    if is_error_event(payload):
        return payload
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload
    if not isinstance(data, dict) or not isinstance(data.get("response"), dict):
        return payload
    response = data["response"]
    if "responseId" not in response and isinstance(data.get("traceId"), str):
        response["responseId"] = data["traceId"]  # as Gemini CLI does: clients expect an id
    return orjson.dumps(response)


def _account(credential: Credential) -> OAuthAccount:
    if not isinstance(credential, OAuthCredential):
        raise TypeError(f"the Code Assist backend got a {credential.kind} credential")
    return credential.account


def models_answer(call: UpstreamCall, models: Iterable[str]) -> bytes:
    """models.list / models.get answered as the Developer API does, from the ids an OAuth flavour
    serves: neither Code Assist nor Antigravity has a models endpoint a client could be sent to,
    so both backends answer these calls themselves, the same way."""
    listed = sorted(models)
    if call.method == "models.get":
        if call.model not in listed:
            raise UpstreamError(404, google_error_body(404, f"models/{call.model} is not found"))
        return orjson.dumps(_model(str(call.model)))
    return orjson.dumps({"models": [_model(m) for m in listed]})


def _model(model_id: str) -> dict[str, object]:
    return {
        "name": f"models/{model_id}",
        "displayName": model_id,
        "supportedGenerationMethods": ["generateContent", "countTokens"],
        # Both flavours serve the Gemini CLI's models, which all think from 2.5 on.
        "thinking": model_id.startswith(("gemini-2.5", "gemini-3")),
    }
