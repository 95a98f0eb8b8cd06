"""The SQLite fast writer (the recorder's own sqlite3 connection) behind the one insert path."""

from __future__ import annotations

import contextlib
import sqlite3

import pytest

from gemini_gateway.store.exchanges import BODIES, ExchangeStore
from gemini_gateway.store.sqlite_writer import SqliteWriter
from gemini_gateway.store.writers import EngineWriter
from tests.store.records import gemini_answer, gemini_request, make_record
from tests.store.test_exchanges import count

DIRECT = pytest.mark.parametrize("store", ["sqlite-direct"], indirect=True)


@pytest.mark.parametrize("store", ["sqlite", "sqlite-direct"], indirect=True)
async def test_the_writer_is_chosen_once_when_the_store_opens(store: ExchangeStore) -> None:
    direct = isinstance(store.writer, SqliteWriter)
    assert direct == store.inserts_here  # only the fast writer inserts on the caller's thread
    assert direct or isinstance(store.writer, EngineWriter)
    if not direct:
        with pytest.raises(RuntimeError):
            store.insert_here([make_record()], budget=1.0)


@DIRECT
async def test_insert_here_stops_after_its_budget_and_is_idempotent(store: ExchangeStore) -> None:
    records = [
        make_record(request=gemini_request(f"q{i}"), response=gemini_answer(f"a{i}")) for i in range(5)
    ]
    assert store.insert_here(records, budget=0.0) == 1  # a spent budget still takes one record
    done = 1
    while done < len(records):
        done += store.insert_here(records[done:], budget=1.0)
    # One transaction for all the calls: nothing is seen by another connection before the commit.
    assert await count(store) == 0
    await store.commit()
    assert await count(store) == 5 and await count(store, BODIES) == 10
    assert store.insert_here(records, budget=1.0) == 5  # all already there: skipped, not doubled
    await store.commit()
    assert await count(store) == 5 and await count(store, BODIES) == 10


@DIRECT
async def test_a_failed_insert_here_rolls_back_what_the_transaction_held(store: ExchangeStore) -> None:
    first = make_record(request=gemini_request("kept out"), response=gemini_answer("a"))
    assert store.insert_here([first], budget=1.0) == 1
    broken = make_record(request=gemini_request("broken"), response=gemini_answer("b"))
    broken.exchange["status"] = None  # NOT NULL: the insert fails
    with pytest.raises(sqlite3.IntegrityError):
        store.insert_here([broken], budget=1.0)
    await store.commit()  # nothing open any more: a no-op
    assert await count(store) == 0
    await store.insert([first])  # the batch path works again on the same connection
    assert await count(store) == 1


@DIRECT
async def test_checkpoint_moves_direct_writes_into_the_database_file(store: ExchangeStore) -> None:
    record = make_record(request=gemini_request("checkpoint me"), response=gemini_answer("done"))
    await store.insert([record])
    path = store.database.engine.url.database
    assert path is not None

    def in_main_file() -> int:
        # immutable=1 reads the database file alone, ignoring the write-ahead log.
        with contextlib.closing(sqlite3.connect(f"file:{path}?immutable=1", uri=True)) as conn:
            found = conn.execute("SELECT count(*) FROM exchanges WHERE id = ?", (record.exchange["id"],))
            return int(found.fetchone()[0])

    await store.checkpoint()
    assert in_main_file() == 1
