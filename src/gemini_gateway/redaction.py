"""The one place secrets are masked: upstream texts, recorded requests and bodies, log lines.

Google's own error texts can name the key a call was made with (`Consumer 'api_key:AIza…' has
been suspended.`), and clients put their tokens where nobody reads them (`x-goog-user-project`,
`?api-key=`). So every text that reaches a client, a log line, the store or an admin view passes
`REDACTOR` first: error texts where they become a `GatewayError` (gemini_gateway.errors), records
where they are built (gemini_gateway.recorder.rows), log lines at the sink (`RedactingFilter`).

Two nets: every secret the gateway holds is registered (`REDACTOR.add`) and masked in any form
Google prints it (raw, quoted, `api_key:`-prefixed, percent-encoded, JSON-escaped); and secrets
shaped like Google's keys and OAuth tokens or the gateway's own client tokens are masked even
when unregistered (a key a client sent, a revoked token). Successful answers are not scanned on
the request path: Google does not echo keys in them; their records are scanned off the path.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Collection
from urllib.parse import quote, quote_plus, unquote

# Shapes of secrets, masked whether registered or not: Google API keys, OAuth access and refresh
# tokens (the refresh token's `//` also percent-encoded), the gateway's client tokens (admin/tokens.py).
_SHAPES = re.compile(
    r"AIza[0-9A-Za-z_\-]{20,}"
    r"|ya29\.[0-9A-Za-z_\-\.]{10,}"
    r"|1//[0-9A-Za-z_\-]{10,}"
    r"|1%2[Ff]%2[Ff][0-9A-Za-z_\-]{10,}"
    r"|gw-[0-9A-Za-z_\-]{24,}"
)
# What every _SHAPES match holds, a cheap pre-check: "AIza", "ya29.", "1//", "1%2", "gw-" (in `redact`).
# The values of query parameters that carry a credential, wherever a URL is quoted.
_QUERY_SECRET = re.compile(r"([?&;](?:key|api[-_]?key|access_token|token)=)([^&\s\"'#<>\\]+)", re.IGNORECASE)
MIN_SECRET = 6  # shorter "secrets" would mask ordinary words


def mask_secret(secret: str) -> str:
    """Enough of a secret to tell keys apart, never enough to use one. Idempotent: a mask stays
    as it is (records are built again from journal entries whose credentials are masked)."""
    if len(secret) <= 11 and "..." in secret:
        return secret
    if len(secret) <= 12:
        return secret[:2] + "..." if secret else ""
    return f"{secret[:4]}...{secret[-4:]}"


@functools.lru_cache(maxsize=1024)
def _forms(secret: str) -> tuple[tuple[str, str], ...]:
    """The ways a secret is printed in URLs and JSON, itself included, each with its mask."""
    encoded = quote(secret, safe="")
    lowered = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded)
    forms = {secret, encoded, lowered, quote_plus(secret), secret.replace("/", "\\/")}
    mask = mask_secret(secret)
    return tuple((form, mask) for form in sorted(forms, key=len, reverse=True))


@functools.lru_cache(maxsize=1024)
def forms_bytes(secret: str, encoding: str) -> tuple[tuple[bytes, bytes], ...]:
    """`_forms` as bytes in `encoding` (latin-1 for header and query bytes, utf-8 for bodies), for
    masking a token in raw bytes without decoding them: the crash journal's way, on the request path.
    A form `encoding` cannot write cannot stand in bytes read as `encoding` either: it is left out."""
    found = []
    for form, mask in _forms(secret):
        try:
            found.append((form.encode(encoding), mask.encode(encoding, "replace")))
        except UnicodeEncodeError:
            continue
    return tuple(found)


def _any_encoding(secret: str) -> re.Pattern[str]:
    """The secret with any of its characters percent-encoded (some clients encode every byte)."""
    parts = []
    for char in secret:
        escapes = "".join(f"%{b:02x}" for b in char.encode())
        parts.append(f"(?:{re.escape(char)}|{escapes})")
    return re.compile("".join(parts), re.IGNORECASE)


class SecretRedactor:
    def __init__(self) -> None:
        self._known: set[str] = set()
        # (form, mask) pairs by their first characters, longest first: a long text is scanned once
        # per distinct opening (keys share "AIza"), not once per form.
        self._forms: dict[str, list[tuple[str, str]]] = {}
        self.generation = 0  # bumped on every new secret, so copies elsewhere know to catch up

    def add(self, secret: str) -> None:
        if len(secret) < MIN_SECRET or secret in self._known:
            return
        self._known.add(secret)
        for form, mask in _forms(secret):
            group = self._forms.setdefault(form[: MIN_SECRET // 2], [])
            group.append((form, mask))
            group.sort(key=lambda item: -len(item[0]))  # a secret inside a longer one goes last
        self.generation += 1

    def known(self) -> list[str]:
        return sorted(self._known)

    def redact(self, text: str, extra: Collection[str] = ()) -> str:
        """`text` with every registered secret, every secret-shaped token and every one of `extra`
        (say, the token a caller presented) masked."""
        for secret in extra:
            if len(secret) >= MIN_SECRET:
                for form, mask in _forms(secret):
                    if form in text:
                        text = text.replace(form, mask)
        for opening, group in self._forms.items():
            if opening in text:
                for form, mask in group:
                    if form in text:
                        text = text.replace(form, mask)
        if "%" in text:
            text = self._encoded(text, extra)
        # Spelled out, not any() over _SHAPE_ANCHORS: every header and body of every record passes
        # here, and a generator costs more than the five searches.
        if "AIza" in text or "ya29." in text or "1//" in text or "1%2" in text or "gw-" in text:
            text = _SHAPES.sub(_mask_match, text)
        if "=" in text:
            lowered = text.lower()
            if "key=" in lowered or "token=" in lowered:
                text = _QUERY_SECRET.sub(_mask_value, text)
        return text

    def _encoded(self, text: str, extra: Collection[str]) -> str:
        """Secrets percent-encoded in ways `_forms` does not list (rare: looked for only when the
        decoded text holds one)."""
        decoded = unquote(text)
        if decoded == text:
            return text
        for secret in (*self._known, *extra):
            if len(secret) >= MIN_SECRET and secret in decoded:
                text = _any_encoding(secret).sub(mask_secret(secret), text)
        return text

    def redact_bytes(self, data: bytes, extra: Collection[str] = ()) -> bytes:
        """`redact` for a body: bytes that are not UTF-8 pass through unchanged around the secrets."""
        if not data:
            return data
        text = data.decode("utf-8", "surrogateescape")
        clean = self.redact(text, extra)
        return data if clean == text else clean.encode("utf-8", "surrogateescape")


def _mask_match(match: re.Match[str]) -> str:
    return mask_secret(match.group(0))


def _mask_value(match: re.Match[str]) -> str:
    value = match.group(2)
    return match.group(0) if "..." in value else match.group(1) + mask_secret(value)


REDACTOR = SecretRedactor()


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = REDACTOR.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install(level: str = "info") -> None:
    """Route all logging through one handler that redacts secrets."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
