"""Antigravity accounts through Code Assist (`v1internal`), in the Antigravity client's envelope.

The calls and answers are Code Assist's (backends/code_assist.py: the same unwrapping, the same
SSE); what differs is the request the Antigravity client sends (docs/antigravity.md):

    {"project": "<id>", "model": "<model>", "userAgent": "antigravity", "requestType": "agent",
     "requestId": "agent-<uuid>", "request": {<GenerateContentRequest>, "sessionId": "<id>"}}

with `Accept: text/event-stream` on streams. The request itself is passed through as bytes, as for
Gemini CLI accounts: nothing in it is rewritten, added or removed but the session id.

Before each call the manager may refresh the account's models and quota in the background
(oauth/antigravity.py): a model whose quota is spent rests until its reset, per account.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import ClassVar

import orjson

from gemini_gateway.backends.base import UpstreamCall, UpstreamReply
from gemini_gateway.backends.code_assist import CodeAssistBackend, UnwrappedStream, models_answer
from gemini_gateway.errors import RequestError
from gemini_gateway.oauth.account import OAuthCredential
from gemini_gateway.oauth.antigravity import AntigravityManager
from gemini_gateway.oauth.flavors import ANTIGRAVITY
from gemini_gateway.pool.credential import Credential
from gemini_gateway.transport.base import Transport

SSE = "text/event-stream"


class AntigravityBackend(CodeAssistBackend):
    kind: ClassVar[str] = ANTIGRAVITY

    def __init__(self, manager: AntigravityManager, via: Callable[[str], Transport] | None = None) -> None:
        super().__init__(manager, via)
        self.antigravity = manager
        self._sessions: dict[str, str] = {}  # project -> the session id its calls carry

    def envelope(self, call: UpstreamCall, project: str) -> bytes:
        return antigravity_envelope(call, project, self._session(project))

    def headers(self, token: str, call: UpstreamCall) -> dict[str, str]:
        headers = super().headers(token, call)
        if call.stream:
            headers["accept"] = SSE
        return headers

    async def unary(self, call: UpstreamCall, credential: Credential) -> UpstreamReply:
        self._refresh(credential)
        return await super().unary(call, credential)

    async def stream(self, call: UpstreamCall, credential: Credential) -> UnwrappedStream:
        self._refresh(credential)
        return await super().stream(call, credential)

    def _refresh(self, credential: Credential) -> None:
        if isinstance(credential, OAuthCredential):
            self.antigravity.refresh_models_soon(credential.account)

    def _session(self, project: str) -> str:
        # One session per project (one per account) while the gateway runs, as one client keeps it.
        return self._sessions.setdefault(project, str(uuid.uuid4()))

    def _models(self, call: UpstreamCall) -> bytes:
        """models.list / .get from what the accounts said they may use (else the configured list)."""
        known: set[str] = set()
        for account in self.antigravity.accounts.values():
            known.update(account.available or ())
        return models_answer(call, known or self.antigravity.models)


def antigravity_envelope(call: UpstreamCall, project: str, session_id: str) -> bytes:
    """The request spliced in as bytes, with the session id added at its front."""
    inner = call.body.strip() or b"{}"
    if not inner.startswith(b"{"):
        raise RequestError("the request body must be a JSON object")
    session = b'"sessionId":' + orjson.dumps(session_id)
    rest = inner[1:].lstrip()
    inner = b"{" + session + (b"}" if rest.startswith(b"}") else b"," + rest)
    head = {
        "project": project,
        "model": call.model,
        "userAgent": "antigravity",
        "requestType": "agent",
        "requestId": f"agent-{uuid.uuid4()}",
    }
    return orjson.dumps(head)[:-1] + b',"request":' + inner + b"}"
