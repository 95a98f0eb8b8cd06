"""Encryption at rest for upstream secrets added at run time (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from the ENCRYPTION_KEY setting, or from DATA_DIR/secret.key, created on first use
with mode 0600. Losing that file makes stored secrets unreadable; the database alone never is enough.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from gemini_gateway.settings import Settings

log = logging.getLogger("gemini_gateway.admin")
KEY_FILE = "secret.key"


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode("ascii")

    def decrypt(self, token: str) -> str | None:
        """The secret, or None when it was encrypted under another key (the key file was replaced)."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except InvalidToken:
            return None


def load_box(settings: Settings) -> SecretBox:
    configured = settings.encryption_key.get_secret_value().strip() if settings.encryption_key else ""
    if configured:  # an empty ENCRYPTION_KEY= line (as in .env.example) means "use the key file"
        try:
            return SecretBox(configured.encode())
        except ValueError:
            raise ValueError(
                "ENCRYPTION_KEY must be a Fernet key (32 url-safe base64-encoded bytes)"
            ) from None
    return SecretBox(_key_file(settings.data_dir / KEY_FILE))


def _key_file(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # O_EXCL: two gateways starting on one folder must not each write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    log.warning("created %s: back it up, secrets stored in the database cannot be read without it", path)
    return key
