"""A fake Code Assist service (`cloudcode-pa.googleapis.com/v1internal`), as Gemini CLI logins use it.

    POST /v1internal:loadCodeAssist                 tiers and the account's project, if onboarded
    POST /v1internal:onboardUser                    starts a long-running operation
    GET  /v1internal/operations/{id}                that operation; done after `oauth.onboard_polls` GETs
    POST /v1internal:generateContent                {model, project, request} -> {response, traceId}
    POST /v1internal:streamGenerateContent?alt=sse  SSE of {response, traceId}
    POST /v1internal:countTokens                    {request: {model: "models/..", contents}} -> {totalTokens}
    POST /v1internal:fetchAvailableModels           {project} -> {models: {id: {displayName, quotaInfo}}}

Antigravity clients and the 2026-06-18 refusal of consumer accounts: see `antigravity.py`.

Every call needs `Authorization: Bearer <access token issued by the fake OAuth server>`. Answers
come from the fake's own generation engine; scripted faults apply per account, keyed by its email
(`state.add_fault("ann@example.com", "429")`), and calls are logged with the email as their key.
A model in an account's `denied_models` answers 404 NOT_FOUND, as Code Assist does for preview
models the account's tier does not include.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any
from urllib.parse import parse_qsl

import orjson

from gemini_gateway.fake_upstream import antigravity, asgi
from gemini_gateway.fake_upstream.asgi import Receive, Scope, Send
from gemini_gateway.fake_upstream.errors import FakeApiError, Json, error_info, invalid_argument
from gemini_gateway.fake_upstream.faults import empty_answer, fault_error
from gemini_gateway.fake_upstream.generation import plan_answer
from gemini_gateway.fake_upstream.handlers import count_tokens
from gemini_gateway.fake_upstream.models import ModelInfo, find_model
from gemini_gateway.fake_upstream.oauth import FakeAccount, FakeOAuth, project_of
from gemini_gateway.fake_upstream.proto_json import GENERATE_CONTENT_REQUEST, parse_body
from gemini_gateway.fake_upstream.responses import render_response, sse_event, stream_events
from gemini_gateway.fake_upstream.state import CallRecord, FakeState

PREFIX = "/v1internal"
VERSION = "v1internal"
_MODEL_RPCS = frozenset({"generateContent", "streamGenerateContent", "countTokens"})
_TIERS: list[Json] = [
    {"id": "free-tier", "name": "Gemini Code Assist for individuals", "isDefault": True},
    {"id": "standard-tier", "name": "Gemini Code Assist", "userDefinedCloudaicompanionProject": True},
]
_PAID = antigravity.PAID_TIER_NAMES


async def handle_code_assist(state: FakeState, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one request under /v1internal."""
    oauth: FakeOAuth = state.oauth
    rest = scope["path"][len(PREFIX) :]
    body = await asgi.read_body(receive)
    query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
    account = oauth.account_of(_bearer(scope))
    try:
        if account is None:
            raise _unauthenticated()
        if scope["method"] == "GET" and rest.startswith("/operations/"):
            await _json(send, _operation(oauth, rest[1:]))
            return
        rpc = rest[1:] if rest.startswith(":") and scope["method"] == "POST" else ""
        if rpc == "loadCodeAssist":
            oauth.load_calls += 1
            await _json(send, _load(oauth, account, _object(body)))
        elif rpc == "fetchAvailableModels":
            await _json(send, antigravity.available_models(oauth, account, _object(body)))
        elif rpc == "onboardUser":
            oauth.onboard_calls += 1
            await _json(send, _onboard(oauth, account, _object(body)))
        elif rpc in _MODEL_RPCS:
            await _model_call(state, account, rpc, body, query, receive, send)
        else:
            raise FakeApiError(404, "Method not found.")
    except FakeApiError as error:
        await asgi.send_json(send, error.code, error.body())


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def _unauthenticated() -> FakeApiError:
    return FakeApiError(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
        "other valid authentication credential. "
        "See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        details=[error_info("ACCESS_TOKEN_EXPIRED", method="google.internal.cloudcode.v1internal")],
    )


def _object(body: bytes) -> Json:
    try:
        data = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        raise invalid_argument("Invalid JSON payload received.") from None
    if not isinstance(data, dict):
        raise invalid_argument("Invalid JSON payload received. Expected an object.")
    return data


async def _json(send: Send, answer: Json) -> None:
    await asgi.send_json(send, 200, orjson.dumps(answer))


def _load(oauth: FakeOAuth, account: FakeAccount, request: Json) -> Json:
    metadata = request.get("metadata")
    if not isinstance(metadata, dict):
        raise invalid_argument("metadata is required", "metadata")
    if antigravity.refused(oauth, account, metadata.get("ideType") == antigravity.ANTIGRAVITY_IDE):
        return antigravity.refused_load(account, _TIERS)
    if account.validation_required:
        return {
            "allowedTiers": _TIERS,
            "ineligibleTiers": [
                {
                    "reasonCode": "VALIDATION_REQUIRED",
                    "reasonMessage": "Verify your account to continue.",
                    "tierId": "free-tier",
                    "validationUrl": "https://accounts.google.com/signin/continue?fake=1",
                }
            ],
        }
    paid = {"paidTier": {"id": account.tier, "name": _PAID[account.tier]}} if account.tier in _PAID else {}
    if not account.onboarded:
        return {"allowedTiers": _TIERS, **paid}
    if paid:  # a Google One subscription on top of the individuals tier
        answer: Json = {"currentTier": _TIERS[0], **paid}
    else:
        answer = {"currentTier": next((t for t in _TIERS if t["id"] == account.tier), {"id": account.tier})}
    return {**answer, "allowedTiers": _TIERS, "cloudaicompanionProject": account.project}


def _onboard(oauth: FakeOAuth, account: FakeAccount, request: Json) -> Json:
    tier = request.get("tierId")
    project = request.get("cloudaicompanionProject")
    if tier not in {t["id"] for t in _TIERS}:
        raise invalid_argument(f"unknown tier {tier!r}", "tier_id")
    if tier != "free-tier":
        if not project:
            raise invalid_argument("this tier needs cloudaicompanionProject", "cloudaicompanion_project")
        account.user_projects.add(str(project))
    name = "operations/onboard-" + secrets.token_hex(6)
    oauth.operations[name] = [account.email, oauth.onboard_polls, tier, project or project_of(account.email)]
    return _operation(oauth, name, poll=False)


def _operation(oauth: FakeOAuth, name: str, *, poll: bool = True) -> Json:
    entry = oauth.operations.get(name)
    if entry is None:
        raise FakeApiError(404, f"Operation {name} not found.")
    if poll:
        oauth.operation_polls += 1
        entry[1] -= 1
    if entry[1] > 0:
        return {"name": name, "done": False}
    account = oauth.accounts[entry[0]]
    paid = account.tier in _PAID and entry[2] == "free-tier"  # the subscription stays on top
    account.onboarded, account.tier, account.project = True, account.tier if paid else entry[2], entry[3]
    return {
        "name": name,
        "done": True,
        "response": {
            "@type": "type.googleapis.com/google.internal.cloud.code.v1internal.OnboardUserResponse",
            "cloudaicompanionProject": {"id": entry[3], "name": entry[3]},
        },
    }


async def _model_call(
    state: FakeState,
    account: FakeAccount,
    rpc: str,
    body: bytes,
    query: dict[str, str],
    receive: Receive,
    send: Send,
) -> None:
    envelope = _object(body)
    request = envelope.get("request")
    if not isinstance(request, dict):
        raise invalid_argument("request is required", "request")
    model_id = str(envelope.get("model") or request.get("model") or "")
    if rpc == "countTokens":
        if not model_id.startswith("models/"):
            raise invalid_argument("model must look like models/{model}", "request.model")
        model_id = model_id[7:]
    state.record(CallRecord(account.email, rpc, model_id, rpc == "streamGenerateContent", VERSION))
    agent = antigravity.antigravity_envelope(envelope)
    if antigravity.refused(state.oauth, account, agent):
        raise antigravity.refused_call()
    model = _model(model_id, rpc)
    if model_id in account.denied_models:
        raise FakeApiError(404, "Requested entity was not found.")
    if rpc != "countTokens":
        _check_project(account, envelope.get("project"))
    if agent and rpc != "countTokens":
        antigravity.spend(state.oauth, account, model_id)
    config = state.config
    if config.latency_ms:
        await asyncio.sleep(config.latency_ms / 1000)
    fault = state.take_fault(account.email, model_id)
    cut_after: int | None = None
    if fault is not None:
        if fault.kind == "hang":
            await asgi.wait_for_disconnect(receive)
            return
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay_ms / 1000)
        elif fault.kind == "cut":
            cut_after = fault.after_chunks
        elif fault.kind == "empty" and rpc != "countTokens":
            await _send_empty(send, model_id, rpc == "streamGenerateContent", query.get("alt") == "sse")
            return
        else:
            raise fault_error(fault, model_id, VERSION, rpc)
    if rpc == "countTokens":
        inner = {k: v for k, v in request.items() if k != "model"}
        await _json(send, count_tokens(model, orjson.dumps(inner)))
        return
    # Code Assist's request carries a session id beside Gemini's fields (snake_case from Gemini CLI,
    # camelCase from Antigravity); the generation engine knows only Gemini's fields.
    inner_body = orjson.dumps({k: v for k, v in request.items() if k not in ("sessionId", "session_id")})
    plan = plan_answer(
        model, parse_body(inner_body, GENERATE_CONTENT_REQUEST), inner_body, min_chars=config.min_answer_chars
    )
    trace = secrets.token_hex(8)
    if rpc == "generateContent":
        await _json(send, {"response": render_response(plan), "traceId": trace})
        return
    events = stream_events(plan, config.stream_chunks)
    await asgi.start_stream(send, sse=query.get("alt") == "sse")
    for index, event in enumerate(events):
        if cut_after is not None and index >= cut_after:
            return  # no final empty body: uvicorn drops the connection, as a cut upstream would
        if index and config.chunk_delay_ms:
            await asyncio.sleep(config.chunk_delay_ms / 1000)
        await asgi.send_piece(send, sse_event({"response": event, "traceId": trace}))
    await asgi.send_piece(send, b"", last=True)


async def _send_empty(send: Send, model_id: str, stream: bool, sse: bool) -> None:
    """The empty answer of the "empty" fault in Code Assist's envelope."""
    wrapped = {"response": empty_answer(model_id), "traceId": secrets.token_hex(8)}
    if not stream:
        await _json(send, wrapped)
        return
    await asgi.start_stream(send, sse=sse)
    await asgi.send_piece(send, sse_event(wrapped))
    await asgi.send_piece(send, b"", last=True)


def _model(model_id: str, rpc: str) -> ModelInfo:
    model = find_model(model_id)
    if model is None or model.kind != "text" or not model.supports("generateContent"):
        raise FakeApiError(404, f"Requested entity was not found. (model {model_id!r}, {rpc})")
    return model


def _check_project(account: FakeAccount, project: Any) -> None:
    if not project or not isinstance(project, str):
        raise invalid_argument("project is required", "project")
    if project != account.project and project not in account.user_projects:
        raise FakeApiError(
            403,
            f"Permission 'cloudaicompanion.companions.generateChat' denied on resource "
            f"'//cloudaicompanion.googleapis.com/projects/{project}/locations/global' (or it may not exist).",
            details=[
                error_info("IAM_PERMISSION_DENIED", permission="cloudaicompanion.companions.generateChat")
            ],
        )
