"""Files from the projects this gateway replaces, read into what the pool and the token list take.

Pure functions, no I/O: `read_import(text, kind, filename)` answers an `ImportPlan`, which the
route in `imports_api` carries out through the services that add keys, tokens, accounts and
profiles. Formats:

- gemini-balance `.env`: `API_KEYS` (a JSON-ish list, `["AIza...","AIza..."]`, or comma-separated),
  `ALLOWED_TOKENS` (the same) and `AUTH_TOKEN` (one token). The keys join the pool; the tokens become
  client tokens. Its other settings are listed by name only, as not imported.
- gcli2api / Gemini CLI credential files (`oauth_creds.json`: access_token, refresh_token, client_id,
  client_secret, token_uri, expiry, project_id), one object or a list of them: Google accounts.
- An AIstudioProxyAPI auth profile: a Playwright storage state (`cookies` + `origins`).
- Anything else: keys as pasted text (`parse_keys`).

Errors (`ImportFormatError`) never quote a value of the file: it holds secrets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Literal

import orjson

from gemini_gateway.admin.credentials import parse_keys
from gemini_gateway.aistudio.profiles import NAME as PROFILE_NAME
from gemini_gateway.aistudio.profiles import ProfileError, check_state
from gemini_gateway.oauth.tokens import CredentialFormatError, OAuthTokens, parse_tokens

ImportKind = Literal["gemini-balance", "oauth", "aistudio", "keys"]
KINDS: tuple[ImportKind, ...] = ("gemini-balance", "oauth", "aistudio", "keys")
# The gemini-balance settings this import understands; the others are named in the plan's notes.
ENV_IMPORTED = ("API_KEYS", "ALLOWED_TOKENS", "AUTH_TOKEN")
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_QUOTED = re.compile(r"""["']([^"']*)["']""")


class ImportFormatError(ValueError):
    """A file that cannot be imported as the kind given (the message never holds a value of it)."""


@dataclass(slots=True)
class ImportPlan:
    kind: ImportKind
    keys: list[str] = field(default_factory=list, repr=False)
    rejected: int = 0  # entries of a key list that are not key-shaped
    tokens: list[tuple[str, str]] = field(default_factory=list, repr=False)  # (name, token)
    accounts: list[OAuthTokens] = field(default_factory=list, repr=False)
    profiles: list[tuple[str, dict[str, Any]]] = field(default_factory=list, repr=False)
    skipped_settings: list[str] = field(default_factory=list)  # .env names not imported

    def empty(self) -> bool:
        return not (self.keys or self.tokens or self.accounts or self.profiles)


def read_import(text: str, kind: str = "auto", filename: str | None = None) -> ImportPlan:
    """The plan for one file's text; `kind` "auto" tells the format from the content."""
    chosen = detect_kind(text) if kind == "auto" else kind
    if chosen == "gemini-balance":
        return read_env(text)
    if chosen == "oauth":
        return ImportPlan("oauth", accounts=read_oauth(_json(text)))
    if chosen == "aistudio":
        return ImportPlan("aistudio", profiles=[(profile_name(filename), read_profile(_json(text)))])
    if chosen == "keys":
        keys, rejected = parse_keys(text)
        return ImportPlan("keys", keys=keys, rejected=rejected)
    raise ImportFormatError(f"unknown import kind {kind!r}: one of auto, {', '.join(KINDS)}")


def detect_kind(text: str) -> ImportKind:
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith(("{", "[")):
        try:
            data = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict) and "cookies" in data:
            return "aistudio"
        items = data if isinstance(data, list) else [data]
        if items and all(isinstance(i, dict) and ("refresh_token" in i or "token" in i) for i in items):
            return "oauth"
        if data is not None and not isinstance(data, list):
            raise ImportFormatError(
                "this JSON is neither a credential file (refresh_token) nor a Playwright storage state (cookies)"
            )
    if any((m := _ENV_LINE.match(line)) and m.group(1) in ENV_IMPORTED for line in text.splitlines()):
        return "gemini-balance"
    return "keys"


def env_values(text: str) -> dict[str, str]:
    """NAME=value lines of a .env file (export, quotes, # comments, lists that span lines)."""
    values: dict[str, str] = {}
    lines = text.lstrip("\ufeff").splitlines()
    i = 0
    while i < len(lines):
        match = _ENV_LINE.match(lines[i])
        i += 1
        if match is None:
            continue
        name, value = match.group(1), match.group(2).strip()
        if value.startswith("[") and "]" not in value:  # a list written over several lines
            while i < len(lines) and "]" not in value:
                value += " " + lines[i].strip()
                i += 1
        values[name] = _unquote(_strip_comment(value))
    return values


def _strip_comment(value: str) -> str:
    if value[:1] in "\"'[":  # a quoted value or a list may hold '#'; whatever follows its end is dropped
        closing = {'"': '"', "'": "'", "[": "]"}[value[0]]
        end = value.rfind(closing)
        return value[: end + 1] if end > 0 else value
    return re.split(r"\s+#", value, maxsplit=1)[0].strip()


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def env_list(value: str) -> list[str]:
    """A gemini-balance list setting: JSON (`["a","b"]`), single-quoted, or comma-separated."""
    value = value.strip()
    if not value:
        return []
    if value.startswith("["):
        try:
            data = orjson.loads(value)
        except orjson.JSONDecodeError:
            data = _QUOTED.findall(value) or value.strip("[]").split(",")
        if not isinstance(data, list):
            raise ImportFormatError("a list setting must hold strings")
        items = [str(x) for x in data]
    else:
        items = value.split(",")
    cleaned = [item.strip().strip("\"'") for item in items]
    return list(dict.fromkeys(item for item in cleaned if item))


def read_env(text: str) -> ImportPlan:
    values = env_values(text)
    if not any(name in values for name in ENV_IMPORTED):
        raise ImportFormatError("no API_KEYS, ALLOWED_TOKENS or AUTH_TOKEN in this .env file")
    keys, rejected = parse_keys("\n".join(env_list(values.get("API_KEYS", ""))))
    tokens: list[tuple[str, str]] = []
    for i, token in enumerate(env_list(values.get("ALLOWED_TOKENS", ""))):
        tokens.append((f"gemini-balance ALLOWED_TOKENS #{i + 1}", token))
    auth = values.get("AUTH_TOKEN", "").strip()
    if auth and auth not in {t for _, t in tokens}:
        tokens.append(("gemini-balance AUTH_TOKEN", auth))
    skipped = sorted(name for name in values if name not in ENV_IMPORTED)
    return ImportPlan("gemini-balance", keys=keys, rejected=rejected, tokens=tokens, skipped_settings=skipped)


def read_oauth(data: object) -> list[OAuthTokens]:
    items = data if isinstance(data, list) else [data]
    if not items:
        raise ImportFormatError("the credential list is empty")
    try:
        return [parse_tokens(item) for item in items]
    except CredentialFormatError as exc:
        raise ImportFormatError(f"unusable credential: {exc}") from None


def read_profile(data: object) -> dict[str, Any]:
    try:
        return check_state(data)
    except ProfileError as exc:
        raise ImportFormatError(str(exc)) from None


def profile_name(filename: str | None) -> str:
    """The profile's name from its file's (AIstudioProxyAPI names them by account), else "imported"."""
    stem = PurePath(filename or "").stem if filename else ""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")[:64]
    return name if name and PROFILE_NAME.match(name) else "imported"


def _json(text: str) -> object:
    try:
        return orjson.loads(text.lstrip("\ufeff"))
    except orjson.JSONDecodeError:
        raise ImportFormatError("the file is not JSON") from None
