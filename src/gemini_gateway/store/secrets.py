"""Upstream secrets added at run time, kept encrypted in the store (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from the ENCRYPTION_KEY setting, or from DATA_DIR/secret.key, created on first use
with mode 0600. Losing that file makes stored secrets unreadable; the database alone never is enough.
The rows live in `upstream_credentials` (migration 0003): API keys added in the admin UI and OAuth
accounts (their refreshed tokens) alike.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Float, String, Text, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from gemini_gateway.settings import Settings
from gemini_gateway.store.database import Database
from gemini_gateway.store.models import Base

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

log = logging.getLogger("gemini_gateway.store")
KEY_FILE = "secret.key"


class SecretBox:
    """Fernet under `key`. `cryptography` (about 8 MB resident) is imported on the first encrypt or
    decrypt, not at start-up: a gateway with no secret stored at run time never needs it."""

    def __init__(self, key: bytes) -> None:
        # Fernet's own check, made here so that a bad ENCRYPTION_KEY still stops the start-up.
        try:
            valid = len(base64.urlsafe_b64decode(key)) == 32
        except (binascii.Error, ValueError):
            valid = False
        if not valid:
            raise ValueError("Fernet key must be 32 url-safe base64-encoded bytes.")
        self._key = key

    @cached_property
    def _fernet(self) -> Fernet:
        from cryptography.fernet import Fernet

        return Fernet(self._key)

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode("ascii")

    def derive(self, purpose: str) -> bytes:
        """A key of its own for `purpose` (HMAC of the purpose under this key): every process with
        the same secret key derives the same one, and it tells nothing about the key itself."""
        return hmac.new(self._key, purpose.encode(), hashlib.sha256).digest()

    def decrypt(self, token: str) -> str | None:
        """The secret, or None when it was encrypted under another key (the key file was replaced)."""
        from cryptography.fernet import InvalidToken

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
    key = base64.urlsafe_b64encode(os.urandom(32))  # what Fernet.generate_key() does
    # O_EXCL: two gateways starting on one folder must not each write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    log.warning("created %s: back it up, secrets stored in the database cannot be read without it", path)
    return key


class UpstreamSecret(Base):
    """An upstream credential added at run time, its secret encrypted (Fernet) at rest."""

    __tablename__ = "upstream_credentials"

    credential_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(64))
    ciphertext: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(64))


async def load_secrets(database: Database) -> list[UpstreamSecret]:
    async with database.sessions() as session:
        return list((await session.execute(select(UpstreamSecret))).scalars())


async def add_secrets(database: Database, rows: list[UpstreamSecret]) -> None:
    async with database.sessions.begin() as session:
        session.add_all(rows)


async def delete_secret(database: Database, credential_id: str) -> None:
    async with database.sessions.begin() as session:
        await session.execute(delete(UpstreamSecret).where(UpstreamSecret.credential_id == credential_id))
