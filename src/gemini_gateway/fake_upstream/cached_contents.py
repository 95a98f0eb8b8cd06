"""cachedContents on the fake: create, list, get, patch (expiration only) and delete, per project.

Only the metadata is kept; the cached contents themselves are read once, for their token count
and the files they name (which must be in the same project, as on Google).
"""

from __future__ import annotations

import re
import time
from datetime import datetime

from gemini_gateway.fake_upstream.errors import Json, invalid_argument, model_not_found
from gemini_gateway.fake_upstream.files import paged_list
from gemini_gateway.fake_upstream.models import find_model
from gemini_gateway.fake_upstream.projects import (
    Project,
    StoredCache,
    cache_denied,
    check_files,
    json_body,
    new_id,
)
from gemini_gateway.fake_upstream.prompt import read_prompt
from gemini_gateway.fake_upstream.proto_json import CONTENT, TOOL, TOOL_CONFIG, Message, many, one, parse_body

DEFAULT_TTL_SECONDS = 3600.0  # Google's default when neither ttl nor expireTime is given
MIN_CACHE_TOKENS = 1024  # the smallest cache Google accepts on Flash models
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
CACHED_CONTENT = Message("CachedContent").define(
    "name", "model", "displayName", "ttl", "expireTime", "createTime", "updateTime", "usageMetadata",
    contents=many(CONTENT), systemInstruction=one(CONTENT), tools=many(TOOL), toolConfig=one(TOOL_CONFIG),
)  # fmt: skip
UPDATABLE = frozenset({"ttl", "expireTime", "expire_time"})
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")


def _expiry(request: Json, now: float, *, required: bool) -> float | None:
    ttl, expire = request.get("ttl"), request.get("expireTime")
    if ttl is not None and expire is not None:
        raise invalid_argument("Only one of ttl and expire_time may be set.", "cached_content.expiration")
    if ttl is not None:
        match = _DURATION.match(ttl) if isinstance(ttl, str) else None
        if match is None:
            raise invalid_argument(
                f"Invalid value at 'cached_content.ttl' (type.googleapis.com/google.protobuf.Duration), \"{ttl}\""
            )
        return now + float(match.group(1))
    if expire is not None:
        try:
            return datetime.fromisoformat(str(expire).replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise invalid_argument(
                f"Invalid value at 'cached_content.expire_time' (type.googleapis.com/google.protobuf.Timestamp), \"{expire}\""
            ) from None
    return now + DEFAULT_TTL_SECONDS if required else None


def create(project: Project, body: bytes) -> bytes:
    request = parse_body(body, CACHED_CONTENT)
    model_name = request.get("model")
    if not isinstance(model_name, str) or not model_name:
        raise invalid_argument(
            "* CreateCachedContentRequest.cached_content.model: model is required", "model"
        )
    model = find_model(model_name)
    if model is None or not model.supports("createCachedContent"):
        raise model_not_found(model_name.removeprefix("models/"), "v1beta", "createCachedContent")
    now = time.time()
    contents = request.get("contents") or []
    check_files(project, contents, now)
    tokens = read_prompt(contents, request.get("systemInstruction"), request.get("tools")).token_total
    if tokens < MIN_CACHE_TOKENS:
        raise invalid_argument(
            f"Cached content is too small. total_token_count={tokens}, min_total_token_count={MIN_CACHE_TOKENS}"
        )
    expires = _expiry(request, now, required=True)
    assert expires is not None
    if expires <= now:
        raise invalid_argument("expire_time must be in the future.")
    display = request.get("displayName")
    if isinstance(display, str) and len(display) > 128:
        raise invalid_argument("display_name must be at most 128 characters.", "display_name")
    cache = StoredCache(
        id=new_id(),
        model=f"models/{model.id}",
        display_name=display if isinstance(display, str) else None,
        created=now,
        updated=now,
        expires=expires,
        tokens=tokens,
    )
    project.caches[cache.id] = cache
    return json_body(cache.to_json())


def _live(project: Project, cache_id: str) -> StoredCache:
    cache = project.caches.get(cache_id)
    if cache is None or cache.expires <= time.time():
        raise cache_denied()
    return cache


def get(project: Project, cache_id: str) -> bytes:
    return json_body(_live(project, cache_id).to_json())


def patch(project: Project, cache_id: str, body: bytes, query: dict[str, str]) -> bytes:
    cache = _live(project, cache_id)
    request = parse_body(body, CACHED_CONTENT)
    mask_text = query.get("updateMask") or query.get("update_mask")
    mask = {m.strip() for m in mask_text.split(",") if m.strip()} if mask_text else set(request) & UPDATABLE
    if not mask:
        raise invalid_argument(
            "update_mask must name the fields to update (ttl or expire_time).", "update_mask"
        )
    if mask - UPDATABLE:
        raise invalid_argument(
            f"Only ttl or expire_time can be updated; got {', '.join(sorted(mask - UPDATABLE))}.",
            "update_mask",
        )
    now = time.time()
    expires = _expiry(request, now, required=False)
    if expires is None:
        raise invalid_argument(
            "The update mask names an expiration but the body sets none.", "cached_content"
        )
    cache.expires, cache.updated = expires, now
    return json_body(cache.to_json())


def delete(project: Project, cache_id: str) -> bytes:
    _live(project, cache_id)
    del project.caches[cache_id]
    return json_body({})


def list_page(project: Project, query: dict[str, str]) -> bytes:
    caches = project.live_caches(time.time())
    return paged_list(caches, "cachedContents", query, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, StoredCache.to_json)
