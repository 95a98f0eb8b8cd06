"""Engine lifecycle and migrations for every supported store (SQLite, PostgreSQL, MySQL/MariaDB)."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import functools
import logging
import os
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from gemini_gateway.store.models import PoolState

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger("gemini_gateway.store")

MIGRATIONS = Path(__file__).parent / "migrations"
# One name for the migration lock on every store; PostgreSQL's advisory locks take a number.
LOCK_NAME = "gemini_gateway.migrate"
PG_LOCK_KEY = zlib.crc32(LOCK_NAME.encode())
LOCK_TIMEOUT = 600.0  # a migration of a large exchanges table can take minutes


def normalise_url(url: str) -> str:
    """Accept the plain URLs users paste and pick the async driver for them."""
    parsed = make_url(url)
    driver = {
        "sqlite": "sqlite+aiosqlite",
        "postgresql": "postgresql+asyncpg",
        "postgres": "postgresql+asyncpg",
        "mysql": "mysql+aiomysql",
        "mariadb": "mysql+aiomysql",
    }.get(parsed.drivername)
    if driver:
        parsed = parsed.set(drivername=driver)
    return parsed.render_as_string(hide_password=False)


class Database:
    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {
            "pool_pre_ping": not self.is_sqlite,
            # orjson for JSON columns: the recorder writes several per exchange, stdlib json is slow.
            "json_serializer": _json_text,
            "json_deserializer": orjson.loads,
        }
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 5}
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def migrate(self, *, in_child: bool = False) -> None:
        """Bring the schema to the newest migration: Alembic runs in a thread with its own loop,
        or with `in_child` in a child process (`upgrade_in_child`).

        Alembic is imported only when a migration is due: it stays resident once imported (about
        19 MB with Mako, its script machinery and the migrations) and a restart on a current schema
        does not need it. A serving process passes `in_child`, so even a first start never holds it.
        """
        if await self.revision() == head_revision():
            return
        # Replicas started together on an empty store would each run Alembic and all but one fail
        # on a duplicate table; under the lock the first migrates and the others find it done.
        async with self.migration_lock():
            if await self.revision() != head_revision():
                if in_child:
                    await upgrade_in_child(self.url)
                else:
                    await asyncio.to_thread(upgrade, self.url)

    @contextlib.asynccontextmanager
    async def migration_lock(self, wait: float = LOCK_TIMEOUT) -> AsyncIterator[None]:
        """Hold the store-wide migration lock: a PostgreSQL advisory lock, MySQL's GET_LOCK, or for
        SQLite an exclusive lock on a file next to the database (its own locks would block Alembic,
        which migrates on a connection of its own)."""
        if self.is_sqlite:
            async with _file_lock(make_url(self.url).database, wait):
                yield
            return
        dialect = self.engine.dialect.name
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            if dialect == "postgresql":
                deadline = time.monotonic() + wait
                # try-lock in a loop rather than pg_advisory_lock: a wait that ends with an error.
                while not (await conn.execute(text(f"SELECT pg_try_advisory_lock({PG_LOCK_KEY})"))).scalar():
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"another process held the migration lock for {wait:.0f} s")
                    await asyncio.sleep(0.2)
                release = f"SELECT pg_advisory_unlock({PG_LOCK_KEY})"
            else:  # mysql, mariadb
                got = (await conn.execute(text(f"SELECT GET_LOCK('{LOCK_NAME}', {int(wait)})"))).scalar()
                if got != 1:
                    raise TimeoutError(f"another process held the migration lock for {wait:.0f} s")
                release = f"SELECT RELEASE_LOCK('{LOCK_NAME}')"
            try:
                yield
            finally:
                # Also released when the connection closes (a killed process frees it).
                with contextlib.suppress(DBAPIError):
                    await conn.execute(text(release))

    async def revision(self) -> str | None:
        """The migration the schema is at, None before the first."""
        try:
            async with self.engine.connect() as conn:
                return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        except DBAPIError:  # no such table (the error type differs per driver): not migrated yet
            return None

    async def ping(self) -> None:
        async with asyncio.timeout(2.0), self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def load_pool_state(self) -> dict[str, dict[str, Any]]:
        async with self.sessions() as session:
            rows = (await session.execute(select(PoolState))).scalars().all()
        return {row.credential_id: row.state for row in rows}

    async def save_pool_state(self, states: dict[str, tuple[str, dict[str, Any]]]) -> None:
        """Replace the saved pool state with `states` (credential id -> (kind, state))."""
        now = time.time()
        async with self.sessions.begin() as session:
            existing = {
                row.credential_id: row for row in (await session.execute(select(PoolState))).scalars()
            }
            for cid, (kind, state) in states.items():
                row = existing.pop(cid, None)
                if row is None:
                    session.add(PoolState(credential_id=cid, kind=kind, state=state, updated_at=now))
                else:
                    row.state, row.kind, row.updated_at = state, kind, now

    async def aclose(self) -> None:
        await self.engine.dispose()


@contextlib.asynccontextmanager
async def _file_lock(database: str | None, wait: float) -> AsyncIterator[None]:
    if not database or database == ":memory:":
        yield  # an in-memory store is private to its process
        return
    import fcntl

    path = Path(f"{database}.migrate-lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another process held {path} for {wait:.0f} s") from None
                await asyncio.sleep(0.1)
        yield
    finally:
        os.close(fd)  # releases the lock


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


@functools.cache
def head_revision() -> str | None:
    """The newest migration, read from the migration files without importing Alembic; None when
    they do not form one line (Alembic then decides)."""
    revisions: dict[str, str | None] = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        names = {
            target.id: node.value
            for node in ast.parse(path.read_text()).body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        revision, down = (
            ast.literal_eval(names.get(key, ast.Constant(0))) for key in ("revision", "down_revision")
        )
        if not isinstance(revision, str) or not (down is None or isinstance(down, str)):
            return None  # a merge (a tuple of parents) or something unexpected
        revisions[revision] = down
    heads = set(revisions) - set(revisions.values())
    return heads.pop() if len(heads) == 1 else None


def alembic_config(url: str) -> Config:
    from alembic.config import Config  # imported when migrating only: the recorder process never does

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


class MigrationError(RuntimeError):
    """The child process that ran Alembic failed; the message is its last line (the error)."""


async def upgrade_in_child(url: str) -> None:
    """`upgrade(url)` in a child process (`python -m gemini_gateway.store.upgrade`), for a serving
    process: what importing Alembic costs is freed when the child exits. The caller holds the
    migration lock, as it would for a thread. The URL goes on stdin: a password in the argument
    list would be visible to every user of the machine."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gemini_gateway.store.upgrade",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = await child.communicate(url.encode())
    except BaseException:  # cancelled (a shutdown during the migration): the child goes too
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await child.wait()
        raise
    for line in err.decode(errors="replace").splitlines():
        log.info("migration: %s", line)  # Alembic's progress, as it would have logged in-process
    if child.returncode:
        # The reason comes on stdout: stderr may end with what a driver's thread printed after it.
        reason = out.decode(errors="replace").strip()
        raise MigrationError(reason or f"the migration exited with {child.returncode}")
