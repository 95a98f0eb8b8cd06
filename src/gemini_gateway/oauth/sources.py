"""Where OAuth accounts come from and where their refreshed tokens go.

- a folder of `oauth_creds*.json` files (OAUTH_CREDS_DIR): refreshed tokens are written back to
  the same file, atomically and readable by the owner only;
- OAUTH_CREDS_JSON, a JSON list in the environment, which the gateway cannot write to: what it
  learns (refreshed tokens, the project) is kept encrypted in the store instead (kind "oauth_env",
  next to a fingerprint of the entry). A restart with the same entry starts from there; a changed
  entry (a new login pasted into the environment) starts from itself and the old copy is dropped.
  Without a store, a restart refreshes and discovers the project again (one call each);
- the store: accounts added at run time are kept encrypted in the store's `upstream_credentials`
  table (kind "oauth"), whose ciphertext is updated on every refresh.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
from sqlalchemy import update

from gemini_gateway.oauth.account import KIND, account_id
from gemini_gateway.oauth.tokens import CredentialFormatError, OAuthTokens, parse_token_list, parse_tokens
from gemini_gateway.store import secrets
from gemini_gateway.store.database import Database
from gemini_gateway.store.secrets import SecretBox, UpstreamSecret

log = logging.getLogger("gemini_gateway.oauth")
FILE_PATTERN = "oauth_creds*.json"
ENV_COPY_KIND = "oauth_env"  # store rows holding what the gateway learned about an OAUTH_CREDS_JSON entry
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
    row_id: str = ""  # the store row keeping this entry's refreshed tokens
    seed: str = ""  # fingerprint of the entry as OAUTH_CREDS_JSON gives it
    database: Database | None = None
    box: SecretBox | None = None
    kind: str = "env"
    copy_kind: str = ENV_COPY_KIND  # store rows of this env list (one per account flavor)
    variable: str = "OAUTH_CREDS_JSON"

    def describe(self) -> str:
        return f"{self.variable}[{self.index}]"

    async def save(self, tokens: OAuthTokens) -> None:
        """The environment is read-only to the gateway: keep the tokens in the store, if there is one."""
        if self.database is None or self.box is None or not self.row_id:
            return
        plain = orjson.dumps({"seed": self.seed, "tokens": tokens.to_json()}).decode()
        row = UpstreamSecret(
            credential_id=self.row_id,
            kind=self.copy_kind,
            label=(tokens.email or self.describe())[:64],
            ciphertext=self.box.encrypt(plain),
            created_at=time.time(),
            created_by=self.variable,
        )
        async with self.database.sessions.begin() as session:
            await session.merge(row)

    async def forget(self) -> None:
        """Drop the stored copy (the account was removed; the entry brings it back at the next start)."""
        if self.database is not None and self.row_id:
            await secrets.delete_secret(self.database, self.row_id)


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


def file_name_for(email: str | None, prefix: str = "oauth_creds") -> str:
    return f"{prefix}_{_UNSAFE.sub('_', email)}.json" if email else f"{prefix}_{int(time.time())}.json"


def load_folder(folder: Path, pattern: str = FILE_PATTERN) -> list[tuple[OAuthTokens, FileSource]]:
    """Every readable credential file in `folder`; a broken one is logged (by name) and skipped."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob(pattern)):
        try:
            found.append((parse_tokens(_read_json(path)), FileSource(path)))
        except (OSError, CredentialFormatError) as exc:
            log.error("skipping OAuth credential file %s: %s", path.name, exc)
    return found


def load_env(
    text: str, kind: str = KIND, variable: str = "OAUTH_CREDS_JSON"
) -> list[tuple[OAuthTokens, EnvSource]]:
    try:
        entries = parse_token_list(text)
    except CredentialFormatError as exc:
        log.error("%s is unusable: %s", variable, exc)
        return []
    return [(tokens, _env_source(i, tokens, kind, variable)) for i, tokens in enumerate(entries)]


def _env_source(index: int, tokens: OAuthTokens, kind: str, variable: str) -> EnvSource:
    copy_kind = ENV_COPY_KIND if kind == KIND else f"{kind}_env"
    row_id = copy_kind + ":" + account_id(tokens, kind).partition(":")[2]
    seed = hashlib.sha256(tokens.dumps()).hexdigest()
    return EnvSource(index, row_id, seed, copy_kind=copy_kind, variable=variable)


async def load_env_copies(
    database: Database,
    box: SecretBox,
    entries: list[tuple[OAuthTokens, EnvSource]],
    copy_kind: str = ENV_COPY_KIND,
) -> list[tuple[OAuthTokens, EnvSource]]:
    """The OAUTH_CREDS_JSON entries, each replaced by its stored copy while the entry is unchanged.

    From now on their refreshed tokens are saved to the store; copies no entry uses any more (the
    entry changed or is gone) are deleted.
    """
    copies = {row.credential_id: row for row in await secrets.load_secrets(database) if row.kind == copy_kind}
    result = []
    for tokens, source in entries:
        source.database, source.box = database, box
        row = copies.pop(source.row_id, None)
        stored = _env_copy(box, row, source.seed) if row is not None else None
        result.append((stored or tokens, source))
        if stored is None and row is not None:
            copies[source.row_id] = row  # written for another version of the entry: out of date
    for stale in copies:
        await secrets.delete_secret(database, stale)
    return result


def _env_copy(box: SecretBox, row: UpstreamSecret, seed: str) -> OAuthTokens | None:
    plain = box.decrypt(row.ciphertext)
    if plain is None:
        log.error("cannot decrypt the stored tokens of %s: the encryption key changed", row.label)
        return None
    try:
        data = _loads(plain)
        if not isinstance(data, dict) or data.get("seed") != seed:
            return None
        return parse_tokens(data.get("tokens"))
    except CredentialFormatError as exc:
        log.error("the stored tokens of %s are unusable: %s", row.label, exc)
        return None


async def load_store(
    database: Database, box: SecretBox, kind: str = KIND
) -> list[tuple[OAuthTokens, StoreSource]]:
    found = []
    for row in await secrets.load_secrets(database):
        if row.kind != kind:
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
    database: Database,
    box: SecretBox,
    credential_id: str,
    label: str,
    tokens: OAuthTokens,
    actor: str,
    kind: str = KIND,
) -> StoreSource:
    row = UpstreamSecret(
        credential_id=credential_id,
        kind=kind,
        label=label[:64],
        ciphertext=box.encrypt(tokens.dumps().decode()),
        created_at=time.time(),
        created_by=actor[:64],
    )
    await secrets.add_secrets(database, [row])
    return StoreSource(database, box, credential_id)


async def delete_store(database: Database, credential_id: str) -> None:
    await secrets.delete_secret(database, credential_id)


def _read_json(path: Path) -> object:
    return _loads(path.read_text(encoding="utf-8"))


def _loads(text: str) -> object:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise CredentialFormatError(f"not JSON ({exc.msg})") from None
