"""Store fixtures: one fresh database per test session on each of SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from gemini_gateway.store.database import Database
from gemini_gateway.store.exchanges import ExchangeStore
from tests.store.dbservers import OwnMariaDB, OwnPostgres, create_database, drop_database, service_url

STORES = ["sqlite", "postgresql", "mariadb"]


@pytest.fixture(scope="session")
async def server_urls() -> AsyncIterator[dict[str, str | None]]:
    """Base URL of a usable server per kind (a service, or one started here), None if impossible."""
    urls: dict[str, str | None] = {}
    owned: list[OwnPostgres | OwnMariaDB] = []
    problems: dict[str, str] = {}
    for kind, own in (("postgresql", OwnPostgres), ("mariadb", OwnMariaDB)):
        urls[kind] = await service_url(kind)
        if urls[kind] is None:
            try:
                server = await asyncio.to_thread(own)
                if isinstance(server, OwnPostgres):
                    await asyncio.to_thread(server.start)
                owned.append(server)
                urls[kind] = server.url
            except Exception as exc:  # no binaries, no permission: those tests skip, saying why
                problems[kind] = str(exc)
    urls.update({f"{k}-problem": v for k, v in problems.items()})
    yield urls
    for server in owned:
        await asyncio.to_thread(server.destroy)


@pytest.fixture(scope="session")
async def session_databases(
    server_urls: dict[str, str | None], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, str]]:
    """A migrated database per store kind for this session (created lazily, dropped at the end)."""
    made: dict[str, str] = {}
    yield made
    for kind, url in made.items():
        if kind != "sqlite":
            await drop_database(url)


async def database_url(kind: str, server_urls: dict[str, str | None], made: dict[str, str], tmp: Path) -> str:
    if kind in made:
        return made[kind]
    if kind == "sqlite":
        url = f"sqlite:///{tmp / 'store.db'}"
    else:
        base = server_urls.get(kind)
        if base is None:
            pytest.skip(f"no {kind} server: {server_urls.get(f'{kind}-problem')}")
        url = await create_database(base)
    database = Database(url)
    await database.migrate()
    await database.aclose()
    made[kind] = url
    return url


@pytest.fixture(params=[*STORES, "sqlite-direct"])
async def store(
    request: pytest.FixtureRequest,
    server_urls: dict[str, str | None],
    session_databases: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ExchangeStore]:
    """An empty exchanges store on each kind of database."""
    tmp = tmp_path_factory.getbasetemp() / "sqlite-store"
    tmp.mkdir(exist_ok=True)
    kind = request.param.removesuffix("-direct")
    url = await database_url(kind, server_urls, session_databases, tmp)
    database = Database(url)
    async with database.engine.begin() as conn:
        await conn.execute(text("DELETE FROM exchange_bodies"))
        await conn.execute(text("DELETE FROM exchanges"))
    # "sqlite-direct": the recorder's own SQLite write path (a sqlite3 connection on the loop).
    store = ExchangeStore(database, direct_writes=request.param.endswith("-direct"))
    yield store
    store.close()
    await database.aclose()
