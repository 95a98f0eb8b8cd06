"""Secrets out of log lines: one filter at the sink, for every logger."""

from __future__ import annotations

import logging
import re

from gemini_gateway.pool.credential import mask_secret

# Google API keys, OAuth access/refresh tokens, and `key=` query values.
_PATTERNS = [
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"ya29\.[0-9A-Za-z_\-\.]{10,}"),
    re.compile(r"1//[0-9A-Za-z_\-]{10,}"),
    re.compile(r"(?<=[?&]key=)[^&\s\"']+"),
]


class SecretRedactor:
    def __init__(self) -> None:
        self._known: set[str] = set()

    def add(self, secret: str) -> None:
        if len(secret) >= 6:
            self._known.add(secret)

    def known(self) -> list[str]:
        return sorted(self._known)

    def redact(self, text: str) -> str:
        for secret in self._known:
            if secret in text:
                text = text.replace(secret, mask_secret(secret))
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: mask_secret(m.group(0)), text)
        return text


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
