"""The exchanges store on real SQLite, PostgreSQL and MariaDB: writes, reads, filters, export."""

from __future__ import annotations

import contextlib
import random
import sqlite3
import time

import orjson
import pytest
from sqlalchemy import func, select

from gemini_gateway.store.exchanges import BODIES, EXCHANGES, ExchangeStore, LogFilter
from gemini_gateway.store.export import export_lines
from tests.store.records import gemini_answer, gemini_request, make_record


async def count(store: ExchangeStore, table: object = EXCHANGES) -> int:
    async with store.database.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def test_round_trip_and_insert_is_idempotent(store: ExchangeStore) -> None:
    record = make_record(
        request=gemini_request("Why is the sky blue?", generationConfig={"temperature": 0.2, "topK": 5}),
        response=gemini_answer("Rayleigh scattering.", prompt_tokens=7, output_tokens=3),
    )
    await store.insert([record])
    await store.insert([record])  # a replayed spool line: the same id must not land twice
    assert await count(store) == 1 and await count(store, BODIES) == 2

    got = await store.get(record.exchange["id"])
    assert got is not None
    assert got["request_body"]["contents"][0]["parts"][0]["text"] == "Why is the sky blue?"
    assert got["response_body"]["candidates"][0]["content"]["parts"][0]["text"] == "Rayleigh scattering."
    assert got["generation_settings"] == {"generationConfig": {"temperature": 0.2, "topK": 5}}
    assert (got["prompt_tokens"], got["candidates_tokens"], got["total_tokens"]) == (7, 3, 10)
    assert got["finish_reason"] == "STOP"
    assert got["attempts"][0]["backend"] == "api_key"
    assert await store.get("0" * 32) is None


async def test_700k_token_exchange_round_trips_intact(store: ExchangeStore) -> None:
    # ~2.8 MB of varied words (about 700,000 tokens at Gemini's ~4 characters per token);
    # varied so compression cannot make the test trivial.
    rng = random.Random(4)
    words = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
        for _ in range(5000)
    ]
    prompt = " ".join(rng.choice(words) for _ in range(480_000))
    assert len(prompt) > 2_700_000
    answer_text = " ".join(rng.choice(words) for _ in range(20_000))
    record = make_record(
        request=gemini_request(prompt),
        response=gemini_answer(answer_text, prompt_tokens=700_000, output_tokens=25_000),
    )
    await store.insert([record])
    got = await store.get(record.exchange["id"])
    assert got is not None
    assert got["request_body"]["contents"][0]["parts"][0]["text"] == prompt
    assert got["response_body"]["candidates"][0]["content"]["parts"][0]["text"] == answer_text
    assert got["prompt_tokens"] == 700_000 and got["request_bytes"] > 2_700_000


async def test_body_over_the_cap_is_truncated_with_a_marker(store: ExchangeStore) -> None:
    record = make_record(request=gemini_request("x" * 5000), cap=1000)
    await store.insert([record])
    got = await store.get(record.exchange["id"])
    assert got is not None
    body = got["request_body"]
    assert body["truncated"] is True and body["original_bytes"] == record.exchange["request_bytes"]
    assert body["text"].startswith('{"contents"') and "body truncated, kept 1000 of" in body["text"]


async def test_filters_and_cursor_pagination(store: ExchangeStore) -> None:
    base = time.time() - 3600
    records = [
        make_record(
            at=base + i,
            model="gemini-2.5-pro" if i % 3 == 0 else "gemini-2.5-flash",
            status=429 if i % 5 == 0 else 200,
            client="token:a" if i % 2 else "token:b",
            credential="key…0001" if i < 10 else "key…0002",
            dialect="openai" if i == 7 else "gemini",
        )
        for i in range(25)
    ]
    await store.insert(records)

    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = await store.page(LogFilter(), cursor=cursor, limit=10)
        seen += [row["id"] for row in page]
        if cursor is None:
            break
    expected = [r.exchange["id"] for r in sorted(records, key=lambda r: -r.exchange["received_at_ms"])]
    assert seen == expected

    async def ids(where: LogFilter) -> set[str]:
        return {row["id"] for row in (await store.page(where, limit=500))[0]}

    def want(keep: object) -> set[str]:
        return {r.exchange["id"] for i, r in enumerate(records) if keep(i)}  # type: ignore[operator]

    assert await ids(LogFilter(model="models/gemini-2.5-pro")) == want(lambda i: i % 3 == 0)
    assert await ids(LogFilter(status="429")) == want(lambda i: i % 5 == 0)
    assert await ids(LogFilter(status="4xx")) == want(lambda i: i % 5 == 0)
    assert await ids(LogFilter(errors_only=True)) == want(lambda i: i % 5 == 0)
    assert await ids(LogFilter(client="token:a")) == want(lambda i: i % 2)
    assert await ids(LogFilter(credential="key…0002")) == want(lambda i: i >= 10)
    assert await ids(LogFilter(dialect="openai")) == want(lambda i: i == 7)
    since, until = int((base + 5) * 1000), int((base + 8) * 1000)
    assert await ids(LogFilter(since_ms=since, until_ms=until)) == want(lambda i: 5 <= i < 8)


async def test_export_raw_and_chat(store: ExchangeStore) -> None:
    chat = make_record(
        request=gemini_request("Name a bird", systemInstruction={"parts": [{"text": "Be brief."}]}),
        response=gemini_answer("Pelican."),
    )
    failed = make_record(status=500, response=b'{"error": {"code": 500}}', at=time.time() + 1)
    await store.insert([chat, failed])

    raw = [orjson.loads(line) async for line in export_lines(store, LogFilter(), "raw")]
    assert [r["id"] for r in raw] == [chat.exchange["id"], failed.exchange["id"]]
    assert raw[0]["response_body"]["candidates"][0]["content"]["parts"][0]["text"] == "Pelican."

    lines = [orjson.loads(line) async for line in export_lines(store, LogFilter(), "chat")]
    assert lines == [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Name a bird"},
                {"role": "assistant", "content": "Pelican."},
            ]
        }
    ]


async def test_insert_here_stops_after_its_budget_and_is_idempotent(store: ExchangeStore) -> None:
    if not store.inserts_here:
        pytest.skip("only the recorder's direct SQLite path inserts on the caller's thread")
    records = [
        make_record(request=gemini_request(f"q{i}"), response=gemini_answer(f"a{i}")) for i in range(5)
    ]
    assert store.insert_here(records, budget=0.0) == 1  # a spent budget still takes one record
    done = 1
    while done < len(records):
        done += store.insert_here(records[done:], budget=1.0)
    assert store.insert_here(records, budget=1.0) == 5  # all already there: skipped, not doubled
    assert await count(store) == 5 and await count(store, BODIES) == 10


async def test_checkpoint_moves_direct_writes_into_the_database_file(store: ExchangeStore) -> None:
    if not store.inserts_here:
        pytest.skip("only the recorder's direct SQLite path checkpoints by itself")
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
