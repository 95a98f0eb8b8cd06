"""Resource calls as the Files API and cachedContents routes make them, over the dispatcher.

- `on_credential`: one call on one credential (pool bookkeeping, cooldowns, attempts recorded).
- `on_owner`: a call on one resource (or on something under it), sent to the credential that holds
  it. When the gateway does not know the holder (uploaded before the gateway, or by another tool)
  `owner_credential` asks each credential in turn and remembers the answer; `pinned` turns a
  failure of the owner into what the client should hear. Files, caches, batches, File Search
  stores, interactions and long-running operations all route through these.
- `list_merged`: one listing over every credential's project, paged with a combined token.

Quota scope: Files API and cachedContents calls keep their cooldowns under the pseudo-model
"files" / "cachedContents", so a 429 on an upload does not cool a key down for generation.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import orjson

from gemini_gateway.affinity.binder import Affinity, check_ready
from gemini_gateway.affinity.owners import Owner
from gemini_gateway.affinity.upstream import resource_request
from gemini_gateway.backends.base import ResourceReply, UpstreamCall
from gemini_gateway.context import Gateway
from gemini_gateway.errors import (
    GatewayError,
    NoCredentialAvailable,
    RequestError,
    UpstreamError,
    UpstreamUnreachable,
)
from gemini_gateway.exchange import Exchange
from gemini_gateway.pool.credential import Credential
from gemini_gateway.resource_names import scope_of
from gemini_gateway.timestamps import rfc3339_seconds

FILES_SCOPE = "files"
CACHES_SCOPE = "cachedContents"
_GONE = (403, 404)  # Google's answers for a resource its project does not hold

log = logging.getLogger("gemini_gateway.affinity")
T = TypeVar("T")


def affinity_of(gateway: Gateway) -> Affinity:
    affinity = gateway.affinity
    if affinity is None:
        raise GatewayError("credential affinity is not set up in this gateway", status_code=501)
    return affinity


def resource_credentials(gateway: Gateway, method: str) -> list[Credential]:
    """Credentials that can make `method` (their backend says so) and are not disabled, by id."""
    backends = gateway.dispatcher.backends
    able = [
        c
        for c in gateway.pool
        if c.enabled
        and c.disabled_reason is None
        and (backend := backends.get(c.kind)) is not None
        and backend.supports(method)
        and c.offers(method, None)  # an executor tab runs only the methods it lists
    ]
    if not able:
        raise GatewayError(
            f"no upstream credential in the pool offers {method}: the Files API and cached contents "
            "need Gemini API keys (GEMINI_API_KEYS) or executor tabs that relay them",
            status_code=501,
        )
    return sorted(able, key=lambda c: c.id)


def decode_object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


async def on_credential(
    gateway: Gateway,
    exchange: Exchange,
    method: str,
    scope_model: str,
    verb: str,
    path: str,
    *,
    allowed: frozenset[str] | None,
    params: Mapping[str, str] | None = None,
    body: bytes = b"",
) -> ResourceReply:
    call = UpstreamCall(method, model=scope_of(scope_model), body=body, allowed=allowed)
    return await gateway.dispatcher.run(
        call,
        exchange,
        lambda backend, credential: resource_request(
            backend, credential, verb, path, params=params, body=body or None
        ),
    )


def search_method(name: str) -> str:
    """The method that asks a credential for `name`: `files.get`, `batches.get`, ... and
    `operations.get` for any long-running operation (`operations/x`, `models/m/operations/x`)."""
    if name.startswith("operations/") or "/operations/" in name:
        return "operations.get"
    return f"{name.partition('/')[0]}.get"


async def owner_credential(
    gateway: Gateway, exchange: Exchange, name: str, scope_model: str, *, version: str = "v1beta"
) -> tuple[Credential, ResourceReply | None]:
    """The credential whose project holds `name`, ready to serve `scope_model` now, else the error
    the client should see (429 naming `name` while it cools down, 503 when disabled, Google's 403
    or 404 when no credential holds it). An owner the gateway never learned (created before the
    gateway, or by another tool) is found by asking each credential; that search's answer (a GET
    of `name`) comes back with it, else None."""
    affinity = affinity_of(gateway)
    found: ResourceReply | None = None
    owner = await affinity.owners.owner(name)
    if owner is None:
        owner, found = await _discover(gateway, exchange, name, scope_model, affinity, version)
    credential = gateway.pool.get(owner.credential_id)
    if credential is None:
        raise RequestError(
            f"{name} was created with an upstream credential that is no longer in the pool", status_code=404
        )
    check_ready(credential, scope_model, name, gateway.pool.clock())
    return credential, found


async def pinned(
    gateway: Gateway, name: str, credential: Credential, scope_model: str, call: Awaitable[T]
) -> T:
    """Await a call bound to `credential`, the owner of `name`: when the owner turned out to be
    cooling down the client hears that (429, Retry-After, the name) rather than the pool's general
    refusal; when Google no longer has the resource (expired, or deleted behind the gateway's
    back) its owner is forgotten."""
    try:
        return await call
    except NoCredentialAvailable:
        check_ready(credential, scope_model, name, gateway.pool.clock())
        raise
    except UpstreamError as exc:
        if exc.status_code in _GONE:
            await affinity_of(gateway).owners.forget(name)
        raise


async def on_owner(
    gateway: Gateway,
    exchange: Exchange,
    name: str,
    method: str,
    scope_model: str,
    verb: str,
    path: str,
    *,
    params: Mapping[str, str] | None = None,
    body: bytes = b"",
    version: str = "v1beta",
) -> ResourceReply:
    """`verb path` on the credential holding `name` (the resource itself, or something under it:
    documents, operations, a download); raises Google's 403/404 when none does."""
    credential, found = await owner_credential(gateway, exchange, name, scope_model, version=version)
    if found is not None and verb == "GET" and path == f"{version}/{name}" and not params:
        return found  # the search already fetched it
    return await pinned(
        gateway,
        name,
        credential,
        scope_model,
        on_credential(
            gateway,
            exchange,
            method,
            scope_model,
            verb,
            path,
            allowed=frozenset({credential.id}),
            params=params,
            body=body,
        ),
    )


async def _discover(
    gateway: Gateway, exchange: Exchange, name: str, scope_model: str, affinity: Affinity, version: str
) -> tuple[Owner, ResourceReply]:
    """Ask each credential for `name` until one has it; remember that one and return its answer."""
    last: GatewayError | None = None
    method = search_method(name)
    for credential in resource_credentials(gateway, method):
        try:
            reply = await on_credential(
                gateway,
                exchange,
                method,
                scope_model,
                "GET",
                f"{version}/{name}",
                allowed=frozenset({credential.id}),
            )
        except (UpstreamError, NoCredentialAvailable) as exc:
            if isinstance(exc, UpstreamError) and exc.status_code not in _GONE:
                raise
            last = exc
            continue
        data = decode_object(reply.body)
        expires = rfc3339_seconds(data.get("expirationTime") or data.get("expireTime"))
        owner = Owner(credential.id, expires)
        await affinity.owners.remember_many({name: owner})
        return owner, reply
    assert last is not None  # resource_credentials never returns an empty list
    raise last


def encode_token(credential_id: str, upstream: str | None) -> str:
    raw = orjson.dumps({"c": credential_id, "t": upstream or ""})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[str, str | None]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        credential_id, upstream = data["c"], data["t"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise RequestError("Invalid page token.") from None
    if not isinstance(credential_id, str) or not isinstance(upstream, str):
        raise RequestError("Invalid page token.")
    return credential_id, upstream or None


def page_size(query: Mapping[str, str], default: int, maximum: int) -> int:
    text = query.get("pageSize") or query.get("page_size") or ""
    try:
        size = int(text) if text else 0
    except ValueError:
        raise RequestError(f"Invalid value at 'page_size' (TYPE_INT32), \"{text}\"") from None
    if size < 0:
        raise RequestError("page_size must not be negative")
    return min(size or default, maximum)


async def list_merged(
    gateway: Gateway,
    exchange: Exchange,
    *,
    method: str,
    scope_model: str,
    path: str,
    items_key: str,
    expiry_key: str,
    query: Mapping[str, str],
    default_size: int,
    max_size: int,
) -> dict[str, Any]:
    """One page of the listing of every credential's project, in credential-id order.

    The combined page token names the credential to continue with and that credential's own page
    token, so pages never overlap or skip, and a credential removed between pages is stepped over.
    A credential that is cooling down is stepped over too, and so is one whose listing fails (it
    is logged): the page holds what the others have. Only when every credential this page asked
    failed does the client get an error (the upstream's, or a 429 when they all cool down).
    """
    size = page_size(query, default_size, max_size)
    credentials = resource_credentials(gateway, method)
    token = query.get("pageToken") or query.get("page_token")
    start_id, upstream_token = decode_token(token) if token else (credentials[0].id, None)
    index = next((i for i, c in enumerate(credentials) if c.id >= start_id), len(credentials))
    if index < len(credentials) and credentials[index].id != start_id:
        upstream_token = None  # that credential is gone: the next one starts from its beginning
    items: list[Any] = []
    learned: dict[str, Owner] = {}
    failures: list[GatewayError] = []
    answered = False
    while index < len(credentials) and len(items) < size:
        credential = credentials[index]
        params = {"pageSize": str(size - len(items))}
        if upstream_token:
            params["pageToken"] = upstream_token
        try:
            page = await _list_one(gateway, exchange, credential, method, scope_model, path, params)
        except GatewayError as exc:
            failures.append(exc)
            index, upstream_token = index + 1, None
            continue
        answered = True
        found = [item for item in page.get(items_key) or () if isinstance(item, dict)]
        for item in found:
            if isinstance(item.get("name"), str):
                learned[item["name"]] = Owner(credential.id, rfc3339_seconds(item.get(expiry_key)))
        items.extend(found)
        upstream_token = page.get("nextPageToken") or None
        if upstream_token is None:
            index += 1
    if failures and not answered:
        raise _listing_failed(gateway, failures, scope_model, {c.id for c in credentials})
    await _learn_owners(gateway, learned)
    result: dict[str, Any] = {items_key: items} if items else {}
    if index < len(credentials):
        result["nextPageToken"] = encode_token(credentials[index].id, upstream_token)
    return result


async def _list_one(
    gateway: Gateway,
    exchange: Exchange,
    credential: Credential,
    method: str,
    scope_model: str,
    path: str,
    params: Mapping[str, str],
) -> dict[str, Any]:
    """One page of one credential's listing; raises without a call when it is cooling down."""
    now = gateway.pool.clock()
    if credential.cooling_until(scope_model, now) is not None:
        log.info("listing %s: skipped %s, which is cooling down", method, credential.label)
        raise gateway.pool.unavailable_error(scope_model, frozenset(), now, lambda c: c.id == credential.id)
    try:
        reply = await on_credential(
            gateway,
            exchange,
            method,
            scope_model,
            "GET",
            path,
            allowed=frozenset({credential.id}),
            params=params,
        )
    except (UpstreamError, UpstreamUnreachable, NoCredentialAvailable) as exc:
        log.warning(
            "listing %s: skipped %s, which answered %s: %s",
            method,
            credential.label,
            exc.status_code,
            exc.message[:200],
        )
        raise
    return decode_object(reply.body)


def _listing_failed(
    gateway: Gateway, failures: list[GatewayError], scope_model: str, listed: set[str]
) -> GatewayError:
    """The error of a page no credential could answer: an upstream's own error if there was one,
    else (every credential cooling down) a 429 with the first moment one can serve again."""
    for failure in failures:
        if not isinstance(failure, NoCredentialAvailable):
            return failure
    return gateway.pool.unavailable_error(
        scope_model, frozenset(), gateway.pool.clock(), lambda c: c.id in listed
    )


async def _learn_owners(gateway: Gateway, learned: Mapping[str, Owner]) -> None:
    """Listing teaches ownership too: a resource seen in a project lives there."""
    owners = affinity_of(gateway).owners
    await owners.remember_many(
        {
            n: o
            for n, o in learned.items()
            if (known := owners.known(n)) is None or known.credential_id != o.credential_id
        }
    )
