"""Saved AI Studio logins: one Playwright storage-state JSON per Google account, in one folder.

A profile is the cookies and localStorage of a browser that logged in to AI Studio (what
Playwright's `context.storage_state()` writes; AIstudioProxyAPI's auth files have the same
shape). The file name is the profile name. Files hold live session cookies, so they are
written with mode 0600 and never shown in full by the API.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from gemini_gateway.settings import Settings

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Cookies without which Google treats the browser as logged out.
SESSION_COOKIES = frozenset({"SID", "__Secure-1PSID", "__Secure-3PSID"})


def profiles_dir(settings: Settings) -> Path:
    return settings.aistudio_profiles_dir or settings.data_dir / "aistudio"


class ProfileError(ValueError):
    """A profile name or file that cannot be used."""


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise ProfileError(
            "a profile name is 1-64 letters, digits, '.', '_' or '-', not starting with a sign"
        )
    return name


def check_state(state: Any) -> dict[str, Any]:
    """A storage state as Playwright writes it: {"cookies": [...], "origins": [...]}."""
    if not isinstance(state, dict) or not isinstance(state.get("cookies"), list):
        raise ProfileError("not a Playwright storage state: it needs a 'cookies' list")
    for cookie in state["cookies"]:
        if not isinstance(cookie, dict) or not {"name", "value", "domain"} <= cookie.keys():
            raise ProfileError("every cookie needs name, value and domain")
    origins = state.get("origins", [])
    if not isinstance(origins, list):
        raise ProfileError("'origins' must be a list")
    return {"cookies": state["cookies"], "origins": origins}


class ProfileStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, name: str) -> Path:
        return self.folder / f"{check_name(name)}.json"

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.json") if NAME.match(p.stem))

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def load(self, name: str) -> dict[str, Any]:
        try:
            return check_state(orjson.loads(self.path(name).read_bytes()))
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ProfileError(f"profile {name} cannot be read: {exc}") from exc

    def save(self, name: str, state: Any) -> Path:
        """Write atomically with mode 0600 (a half-written login would look like a logout)."""
        state = check_state(state)
        path = self.path(name)
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(orjson.dumps(state, option=orjson.OPT_INDENT_2))
        os.replace(temporary, path)
        return path

    def delete(self, name: str) -> bool:
        path = self.path(name)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            return True
        return False

    def saved_at(self, name: str) -> float:
        try:
            return self.path(name).stat().st_mtime
        except OSError:
            return 0.0

    def summary(self, name: str) -> dict[str, Any]:
        """What the management API shows: counts and dates, never cookie values."""
        path = self.path(name)
        try:
            state = self.load(name)
        except ProfileError as exc:
            return {"name": name, "file": str(path), "error": str(exc)}
        cookies = state["cookies"]
        google = [c for c in cookies if str(c.get("domain", "")).endswith("google.com")]
        expiries = [
            float(c["expires"])
            for c in google
            if c.get("name") in SESSION_COOKIES
            and isinstance(c.get("expires"), int | float)
            and c["expires"] > 0
        ]
        return {
            "name": name,
            "file": str(path),
            "saved_at": path.stat().st_mtime,
            "cookies": len(cookies),
            "google_session": any(c.get("name") in SESSION_COOKIES for c in google),
            "session_expires": min(expiries) if expiries else None,
            "expired": bool(expiries) and min(expiries) < time.time(),
        }
