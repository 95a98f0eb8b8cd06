"""Upstream credentials managed at run time: parse pasted keys, persist them encrypted, validate.

Credentials from GEMINI_API_KEYS stay in the environment; those added here are stored encrypted
(`SecretBox`) and come back at every start. Either kind is shown only by its masked label.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any

import orjson

from gemini_gateway.errors import RequestError, UpstreamUnreachable
from gemini_gateway.pool.credential import Credential, mask_secret
from gemini_gateway.redaction import REDACTOR
from gemini_gateway.store import secrets
from gemini_gateway.store.secrets import UpstreamSecret

if TYPE_CHECKING:
    from gemini_gateway.admin.state import AdminState
    from gemini_gateway.context import Gateway

log = logging.getLogger("gemini_gateway.admin")
# Kinds whose whole credential is one secret string, so a pasted line is enough to add one.
KEY_KINDS = ("api_key",)
# Kinds whose backends send their calls through the credential's own proxy (pool.proxies); an
# executor tab or an AI Studio page reaches Google from where it runs.
PROXY_KINDS = ("api_key", "vertex", "oauth")
_SEPARATORS = re.compile(r"[\s,;]+")
_COMMENT = re.compile(r"(?:^|\s)#")  # keys hold no whitespace, so " #" always starts a comment
_KEY_SHAPE = re.compile(r"^[\x21-\x7e]{8,512}$")
VALIDATE_TIMEOUT = 15.0


def parse_keys(text: str) -> tuple[list[str], int]:
    """Keys from pasted text or a file (any separators, `#` comments, quotes): (unique keys, rejected)."""
    keys: list[str] = []
    rejected = 0
    for line in text.splitlines():
        for item in _SEPARATORS.split(_COMMENT.split(line, maxsplit=1)[0]):
            item = item.strip().strip("\"'`")
            if not item:
                continue
            if not _KEY_SHAPE.match(item):
                rejected += 1
            elif item not in keys:
                keys.append(item)
    return keys, rejected


def json_keys(text: str) -> str:
    """A JSON list of keys as one key a line; other text unchanged. Other JSON is refused: read
    as a key list, a pool export (ids, masks, names, no key) would add each of its words as a key."""
    stripped = text.strip()
    if not stripped.startswith(("[", "{")):
        return text
    try:
        data = orjson.loads(stripped)
    except orjson.JSONDecodeError:
        return text
    if isinstance(data, list) and all(isinstance(item, str) for item in data):
        return "\n".join(data)
    raise RequestError(
        "this JSON is not a list of keys; a pool export holds no key: the Pool page's Import file "
        "restores the names and states it lists"
    )


def source_of(state: AdminState, credential_id: str) -> str:
    if credential_id in state.stored_credentials:
        return "stored"
    if credential_id in state.env_credentials:
        return "env"
    return "runtime"  # added by another part of the gateway (an executor tab, an OAuth login...)


def health_of(view: dict[str, Any]) -> str:
    if not view["enabled"]:
        return "disabled"
    if view["disabled_reason"]:
        return "failed"
    if view.get("state", "connected") != "connected":
        return "offline"  # an executor tab whose heartbeats stopped, or that went away
    if view["cooldowns"]:
        return "cooling"
    if view["max_concurrency"] is not None and view["in_flight"] >= view["max_concurrency"]:
        return "busy"
    return "ok"


def recheck_of(gateway: Gateway, view: dict[str, Any]) -> dict[str, Any]:
    """The healer's plan for a credential: whether it re-checks this kind at all, when it next
    checks this one (epoch seconds, and seconds from now) and how many checks found it still
    refused. `next_check` is None until the healer's next pass takes a new failure up."""
    healer = gateway.healer
    rechecked = healer is not None and view["kind"] in healer.checks
    due = healer.next_check(view["id"]) if healer is not None and view["disabled_reason"] else None
    return {
        "rechecked": rechecked,
        "next_check": due,
        "next_check_in": None if due is None else round(max(0.0, due - gateway.pool.clock()), 1),
        "failed_checks": healer.failed_checks(view["id"]) if healer is not None else 0,
    }


def proxy_source(gateway: Gateway, credential_id: str) -> str | None:
    """Where a credential's proxy comes from: CREDENTIAL_PROXIES ("setting", '' there being a
    direct connection), its `key|proxy` entry ("key"), or nowhere (None)."""
    if credential_id in gateway.settings.credential_proxies:
        return "setting"
    return "key" if credential_id in gateway.pool.own_proxies else None


def holdings_of(gateway: Gateway) -> dict[str, dict[str, dict[str, Any]]]:
    """What each credential's project holds (files, caches...), as the affinity owners know it."""
    return gateway.affinity.owners.holdings() if gateway.affinity is not None else {}


def credential_rows(gateway: Gateway, state: AdminState) -> list[dict[str, Any]]:
    rows = []
    holdings = holdings_of(gateway)
    for view in gateway.pool.view():
        credential = gateway.pool.get(view["id"])
        total = view["successes"] + view["failures"]
        rows.append(
            {
                **view,
                "source": source_of(state, view["id"]),
                "name": state.names.get(view["id"]),
                "health": health_of(view),
                "success_rate": round(view["successes"] / total, 4) if total else None,
                "validation": credential.meta.get("validation") if credential is not None else None,
                "validatable": view["kind"] in KEY_KINDS,
                "holds": holdings.get(view["id"], {}),
                "proxy_source": proxy_source(gateway, view["id"]),
                "proxy_settable": view["kind"] in PROXY_KINDS,
                **recheck_of(gateway, view),
            }
        )
    return rows


async def add_keys(
    gateway: Gateway, state: AdminState, kind: str, keys: list[str], actor: str
) -> tuple[list[str], list[str]]:
    """Add and persist keys; returns (ids added, ids already in the pool)."""
    assert gateway.database is not None and state.box is not None
    added: list[Credential] = []
    existing: list[str] = []
    for key in keys:
        credential = Credential(kind=kind, secret=key)
        if gateway.pool.get(credential.id) is not None:
            existing.append(credential.id)
        else:
            added.append(credential)
    now = time.time()
    rows = [
        UpstreamSecret(
            credential_id=c.id,
            kind=c.kind,
            label=c.label,
            ciphertext=state.box.encrypt(c.secret),
            created_at=now,
            created_by=actor,
        )
        for c in added
    ]
    await secrets.add_secrets(gateway.database, rows)  # stored first: a key in the pool is never lost
    for credential in added:
        REDACTOR.add(credential.secret)
        gateway.pool.add(credential)
        state.stored_credentials.add(credential.id)
    return [c.id for c in added], existing


async def load_stored(gateway: Gateway, state: AdminState) -> int:
    """Put the stored credentials back into the pool at start-up, with their saved state."""
    assert gateway.database is not None and state.box is not None
    loaded: list[str] = []
    for row in await secrets.load_secrets(gateway.database):
        # Other kinds come back through their owner (OAuth accounts: gemini_gateway.oauth).
        if row.kind not in KEY_KINDS:
            continue
        secret = state.box.decrypt(row.ciphertext)
        if secret is None:
            log.error(
                "cannot decrypt stored credential %s (%s): the encryption key changed; add it again",
                row.credential_id,
                row.label,
            )
            continue
        REDACTOR.add(secret)
        gateway.pool.add(Credential(kind=row.kind, secret=secret))
        state.stored_credentials.add(row.credential_id)
        loaded.append(row.credential_id)
    saved = await gateway.database.load_pool_state()
    gateway.pool.restore_state({cid: saved[cid] for cid in loaded if cid in saved})
    return len(loaded)


def reset_counters(credential: Credential) -> None:
    """Start a credential's record afresh: counters, last error, cooldowns (not enabled/disabled)."""
    credential.successes = credential.failures = 0
    credential.last_error = None
    credential.cooldowns.clear()
    credential.backoff_level.clear()


async def validate_key(gateway: Gateway, secret: str) -> dict[str, Any]:
    """Ask the upstream to list models with this key: the cheapest call that proves it works."""
    assert gateway.transports is not None
    backend = gateway.dispatcher.backends.get("api_key")
    base = str(getattr(backend, "base_url", gateway.settings.gemini_base_url)).rstrip("/")
    started = time.perf_counter()
    try:
        reply = await gateway.transports.http.request(
            "GET",
            f"{base}/v1beta/models?pageSize=1000",
            {"x-goog-api-key": secret},
            total_timeout=VALIDATE_TIMEOUT,
        )
    except UpstreamUnreachable as exc:
        return {"valid": None, "status": None, "message": exc.message}
    status, body = reply.status, reply.body
    result: dict[str, Any] = {
        "status": status,
        "checked_at": time.time(),
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    payload = _json(body)
    if status == 200:
        models = payload.get("models") if isinstance(payload, dict) else None
        count = len(models) if isinstance(models, list) else 0
        return {**result, "valid": True, "models": count, "message": f"valid: {count} models"}
    error = payload.get("error") if isinstance(payload, dict) else None
    message = str(error.get("message")) if isinstance(error, dict) else body[:200].decode("utf-8", "replace")
    message = REDACTOR.redact(message.replace(secret, mask_secret(secret)))
    if status == 429:  # the key was recognised; it is only out of quota for now
        return {**result, "valid": True, "message": f"valid but rate limited: {message}"}
    return {**result, "valid": False if status in (400, 401, 403) else None, "message": message}


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
