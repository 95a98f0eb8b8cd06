"""Migrating at start-up: Alembic runs only when the schema is behind the newest migration."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from gemini_gateway.store import database as database_module
from gemini_gateway.store.database import (
    Database,
    MigrationError,
    alembic_config,
    head_revision,
    upgrade,
    upgrade_in_child,
)


def test_the_head_read_from_the_files_is_alembics() -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def test_a_fresh_store_is_migrated_to_the_head(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        assert await database.revision() is None
        await database.migrate()
        assert await database.revision() == head_revision()
    finally:
        await database.aclose()


async def test_a_current_store_skips_alembic_and_one_behind_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    await asyncio.to_thread(upgrade, Database(url).url, "0003")  # Alembic runs its own loop
    calls: list[str] = []

    def counted(url: str) -> None:
        calls.append(url)
        upgrade(url)

    monkeypatch.setattr(database_module, "upgrade", counted)
    database = Database(url)
    try:
        await database.migrate()  # behind: migrated
        assert calls == [database.url]
        assert await database.revision() == head_revision()
        await database.migrate()  # current: Alembic not called again
        assert calls == [database.url]
    finally:
        await database.aclose()


async def test_a_child_process_can_migrate_for_a_serving_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(database_module, "upgrade", lambda url: calls.append(url))
    database = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        await database.migrate(in_child=True)
        assert calls == []  # not in this process
        assert await database.revision() == head_revision()
    finally:
        await database.aclose()


async def test_a_failed_migration_in_a_child_says_why_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-folder.db").mkdir()  # SQLite cannot open a folder as its database
    with pytest.raises(MigrationError) as failed:
        await upgrade_in_child(Database(f"sqlite:///{tmp_path / 'a-folder.db'}").url)
    # Which error Alembic's own event loop ends on varies (the driver's, or one from its teardown).
    kind, _, message = str(failed.value).partition(": ")
    assert kind.endswith("Error") and message and "\n" not in message
