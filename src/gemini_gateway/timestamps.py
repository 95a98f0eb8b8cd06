"""Google's RFC 3339 timestamps (`2026-05-01T12:00:00.123456Z`) read as epoch seconds.

One reader for every place that takes a time out of Google's JSON (a file's `expirationTime`, a
cache's `expireTime`, an Antigravity model's quota `resetTime`), so they all treat a missing or
malformed value the same way: as no time at all, never as an error that fails the call.
"""

from __future__ import annotations

from datetime import datetime


def rfc3339_seconds(value: object) -> float | None:
    """Epoch seconds of an RFC 3339 string; None for anything else (absent, empty, not a time)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
