"""The models the whole pool serves: the union of every backend kind's list.

A pool can mix credential kinds that know different models: API keys list Google's full catalogue,
Gemini CLI and Antigravity accounts the models their tier may use (Antigravity's include models
keys never list), executors what their tabs offer. `GET /v1/models` (OpenAI) and the native models
list answer for the gateway as a whole, so each kind present is asked once (on one of its
credentials, failover within the kind) and the lists are merged by name, API keys first (theirs
carry the richest metadata). A kind that cannot answer now is left out; only when none can does
the client get an error. A `models.get` asks the kinds in the same order until one knows it.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

import orjson

from gemini_gateway.backends.base import UpstreamCall, UpstreamReply
from gemini_gateway.context import Gateway
from gemini_gateway.errors import GatewayError, RequestError, UpstreamError
from gemini_gateway.exchange import Exchange
from gemini_gateway.resource_names import ModelId

log = logging.getLogger("gemini_gateway.models")
LIST_PAGE = "1000"  # one page holds every model Google lists
_FIRST_KINDS = ("api_key",)  # whose lists lead the union


def listing_kinds(gateway: Gateway, method: str = "models.list") -> list[tuple[str, frozenset[str]]]:
    """(kind, its credential ids) for every kind in the pool whose backend answers `method`,
    API keys first, then in the pool's order."""
    by_kind: dict[str, set[str]] = {}
    for credential in gateway.pool:
        backend = gateway.dispatcher.backends.get(credential.kind)
        if backend is not None and backend.supports(method):
            by_kind.setdefault(credential.kind, set()).add(credential.id)
    order = [k for k in _FIRST_KINDS if k in by_kind] + [k for k in by_kind if k not in _FIRST_KINDS]
    return [(kind, frozenset(by_kind[kind])) for kind in order]


async def _ask(gateway: Gateway, exchange: Exchange, call: UpstreamCall) -> UpstreamReply:
    return await gateway.dispatcher.unary(call, exchange)


async def all_models(
    gateway: Gateway, exchange: Exchange, api_version: str = "v1beta"
) -> list[dict[str, Any]]:
    """Every model some credential kind lists, merged by name (the first kind's entry wins)."""
    kinds = listing_kinds(gateway)
    if not kinds:
        # No kind lists models: the dispatcher's own refusal says why.
        await _ask(gateway, exchange, UpstreamCall("models.list", api_version=api_version))
        return []
    merged: dict[str, dict[str, Any]] = {}
    failure: GatewayError | None = None
    for kind, ids in kinds:
        call = UpstreamCall(
            "models.list", params={"pageSize": LIST_PAGE}, api_version=api_version, allowed=ids
        )
        try:
            reply = await _ask(gateway, exchange, call)
        except GatewayError as exc:
            log.warning("models of %s credentials left out: %s", kind, exc.message[:200])
            failure = failure or exc
            continue
        for model in _models_of(reply.body):
            merged.setdefault(str(model.get("name", "")), model)
    if failure is not None and not merged:
        raise failure
    return list(merged.values())


async def one_model(
    gateway: Gateway, exchange: Exchange, model: ModelId, api_version: str = "v1beta"
) -> UpstreamReply:
    """`models.get` on the first kind that knows the model; the first kind's 404 when none does."""
    kinds = listing_kinds(gateway, "models.get")
    if len(kinds) <= 1:
        return await _ask(gateway, exchange, UpstreamCall("models.get", model=model, api_version=api_version))
    first: GatewayError | None = None
    for _, ids in kinds:
        call = UpstreamCall("models.get", model=model, api_version=api_version, allowed=ids)
        try:
            return await _ask(gateway, exchange, call)
        except GatewayError as exc:
            first = first or exc
            if isinstance(exc, UpstreamError) and exc.status_code not in (403, 404):
                raise
    assert first is not None
    raise first


def models_page(models: list[dict[str, Any]], size: str | None, token: str | None) -> dict[str, Any]:
    """One page of a merged list: `pageSize` models (all when not given) from the offset the
    `pageToken` names, as Google pages its own list."""
    try:
        start = int(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) if token else 0
        count = int(size) if size else 0
    except (ValueError, binascii.Error):
        raise RequestError("Invalid page token or page size.") from None
    if start < 0 or count < 0:
        raise RequestError("Invalid page token or page size.")
    end = start + count if count else len(models)
    page: dict[str, Any] = {"models": models[start:end]}
    if end < len(models):
        page["nextPageToken"] = base64.urlsafe_b64encode(str(end).encode()).decode().rstrip("=")
    return page


def _models_of(body: bytes) -> list[dict[str, Any]]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []
    models = data.get("models") if isinstance(data, dict) else None
    return [m for m in models if isinstance(m, dict) and m.get("name")] if isinstance(models, list) else []
