"""Where OAuth accounts come from and where their refreshed tokens go.

- a folder of `oauth_creds*.json` files (OAUTH_CREDS_DIR): refreshed tokens are written back to
  the same file, atomically and readable by the owner only;
- OAUTH_CREDS_JSON, a JSON list in the environment: nothing to write back, so a restart refreshes
  again and discovers the project again (one call each), the price of a stateless deployment;
- the store: accounts added at run time are kept encrypted in the admin's `upstream_credentials`
  table (kind "oauth"), whose ciphertext is updated on every refresh.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
from sqlalchemy import update

from gemini_gateway.admin import repo
from gemini_gateway.admin.crypto import SecretBox
from gemini_gateway.admin.tables import UpstreamSecret
from gemini_gateway.oauth.account import KIND
from gemini_gateway.oauth.tokens import CredentialFormatError, OAuthTokens, parse_token_list, parse_tokens
from gemini_gateway.store.database import Database

log = logging.getLogger("gemini_gateway.oauth")
FILE_PATTERN = "oauth_creds*.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]+")


@dataclass(slots=True)
class FileSource:
    path: Path
    kind: str = "file"

    def describe(self) -> str:
        return self.path.name

    async def save(self, tokens: OAuthTokens) -> None:
        await asyncio.to_thread(write_credentials_file, self.path, tokens)


@dataclass(slots=True)
class EnvSource:
    index: int
    kind: str = "env"

    def describe(self) -> str:
        return f"OAUTH_CREDS_JSON[{self.index}]"

    async def save(self, tokens: OAuthTokens) -> None:
        """Nowhere to write: the environment is read-only to the gateway."""


@dataclass(slots=True)
class StoreSource:
    database: Database
    box: SecretBox
    credential_id: str
    kind: str = "store"

    def describe(self) -> str:
        return "database"

    async def save(self, tokens: OAuthTokens) -> None:
        ciphertext = self.box.encrypt(tokens.dumps().decode())
        async with self.database.sessions.begin() as session:
            await session.execute(
                update(UpstreamSecret)
                .where(UpstreamSecret.credential_id == self.credential_id)
                .values(ciphertext=ciphertext)
            )


def write_credentials_file(path: Path, tokens: OAuthTokens) -> None:
    """Replace `path` in one step (a crash leaves the old file or the new one, never half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(tokens.dumps())
    os.replace(temporary, path)


def file_name_for(email: str | None) -> str:
    return f"oauth_creds_{_UNSAFE.sub('_', email)}.json" if email else f"oauth_creds_{int(time.time())}.json"


def load_folder(folder: Path) -> list[tuple[OAuthTokens, FileSource]]:
    """Every readable credential file in `folder`; a broken one is logged (by name) and skipped."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob(FILE_PATTERN)):
        try:
            found.append((parse_tokens(_read_json(path)), FileSource(path)))
        except (OSError, CredentialFormatError) as exc:
            log.error("skipping OAuth credential file %s: %s", path.name, exc)
    return found


def load_env(text: str) -> list[tuple[OAuthTokens, EnvSource]]:
    try:
        return [(tokens, EnvSource(i)) for i, tokens in enumerate(parse_token_list(text))]
    except CredentialFormatError as exc:
        log.error("OAUTH_CREDS_JSON is unusable: %s", exc)
        return []


async def load_store(database: Database, box: SecretBox) -> list[tuple[OAuthTokens, StoreSource]]:
    found = []
    for row in await repo.load_secrets(database):
        if row.kind != KIND:
            continue
        plain = box.decrypt(row.ciphertext)
        if plain is None:
            log.error("cannot decrypt stored OAuth account %s: the encryption key changed", row.label)
            continue
        try:
            tokens = parse_tokens(_loads(plain))
        except CredentialFormatError as exc:
            log.error("stored OAuth account %s is unusable: %s", row.label, exc)
            continue
        found.append((tokens, StoreSource(database, box, row.credential_id)))
    return found


async def insert_store(
    database: Database, box: SecretBox, credential_id: str, label: str, tokens: OAuthTokens, actor: str
) -> StoreSource:
    row = UpstreamSecret(
        credential_id=credential_id,
        kind=KIND,
        label=label[:64],
        ciphertext=box.encrypt(tokens.dumps().decode()),
        created_at=time.time(),
        created_by=actor[:64],
    )
    await repo.add_secrets(database, [row])
    return StoreSource(database, box, credential_id)


async def delete_store(database: Database, credential_id: str) -> None:
    await repo.delete_secret(database, credential_id)


def _read_json(path: Path) -> object:
    return _loads(path.read_text(encoding="utf-8"))


def _loads(text: str) -> object:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise CredentialFormatError(f"not JSON ({exc.msg})") from None
