"""Statistics and retention, on every store."""

from __future__ import annotations

import time

from sqlalchemy import select

from gemini_gateway.store.exchanges import BODIES, EXCHANGES, ExchangeStore, LogFilter
from gemini_gateway.store.retention import apply_retention, purge_beyond_size, stored_bytes
from gemini_gateway.store.stats import compute_stats
from tests.store.records import gemini_answer, make_record

HOUR = 3600.0


async def test_stats_per_model_and_hour_with_exact_percentiles(store: ExchangeStore) -> None:
    start = (int(time.time() // HOUR) - 3) * HOUR  # the top of an hour, three hours ago
    records = [
        # hour 0, flash: latencies 1..100 ms; every tenth one failed
        *(
            make_record(
                at=start + i,
                duration_ms=float(i + 1),
                status=503 if i % 10 == 0 else 200,
                response=gemini_answer("ok", prompt_tokens=10, output_tokens=2),
            )
            for i in range(100)
        ),
        # hour 0, pro: three exchanges
        *(
            make_record(at=start + 10 + i, model="gemini-2.5-pro", duration_ms=d)
            for i, d in enumerate((5.0, 7.0, 9.0))
        ),
        # hour 1, flash: one
        make_record(at=start + HOUR + 5, duration_ms=42.0),
    ]
    await store.insert(records)

    rows = await compute_stats(store.database, LogFilter(), group_by="model", bucket="hour")
    by_key = {(r["bucket_start_ms"], r["group"]): r for r in rows}
    assert len(rows) == 3
    flash = by_key[(int(start * 1000), "gemini-2.5-flash")]
    assert (flash["requests"], flash["errors"]) == (100, 10)
    assert (flash["tokens_in"], flash["tokens_out"], flash["tokens_total"]) == (1000, 200, 1200)
    # nearest rank over 1..100: p50 = 50, p95 = 95, p99 = 99
    assert (flash["latency_p50_ms"], flash["latency_p95_ms"], flash["latency_p99_ms"]) == (50.0, 95.0, 99.0)
    pro = by_key[(int(start * 1000), "gemini-2.5-pro")]
    assert (pro["requests"], pro["latency_p50_ms"], pro["latency_p99_ms"]) == (3, 7.0, 9.0)
    later = by_key[(int((start + HOUR) * 1000), "gemini-2.5-flash")]
    assert later["requests"] == 1 and later["latency_p50_ms"] == later["latency_p95_ms"] == 42.0

    totals = await compute_stats(store.database, LogFilter(), group_by="none", bucket="none")
    assert len(totals) == 1 and totals[0]["requests"] == 104 and totals[0]["bucket_start_ms"] is None
    one_hour = LogFilter(since_ms=int((start + HOUR) * 1000))
    by_credential = await compute_stats(store.database, one_hour, group_by="credential", bucket="day")
    assert [(r["group"], r["requests"]) for r in by_credential] == [("fake…0001", 1)]


async def test_stats_per_credential_id_keep_apart_keys_that_mask_alike(store: ExchangeStore) -> None:
    # Two short keys whose masks coincide: grouped by label they would merge into one row.
    await store.insert(
        [
            make_record(credential="abcd…wxyz", credential_id="api_key:one"),
            make_record(credential="abcd…wxyz", credential_id="api_key:two"),
            make_record(credential="abcd…wxyz", credential_id="api_key:two"),
        ]
    )
    by_label = await compute_stats(store.database, LogFilter(), group_by="credential", bucket="none")
    assert [(r["group"], r["requests"]) for r in by_label] == [("abcd…wxyz", 3)]
    by_id = await compute_stats(store.database, LogFilter(), group_by="credential_id", bucket="none")
    assert sorted((r["group"], r["requests"]) for r in by_id) == [("api_key:one", 1), ("api_key:two", 2)]


async def remaining(store: ExchangeStore) -> tuple[set[str], set[str]]:
    async with store.database.engine.connect() as conn:
        exchanges = set((await conn.execute(select(EXCHANGES.c.id))).scalars())
        bodies = set((await conn.execute(select(BODIES.c.exchange_id))).scalars())
    return exchanges, bodies


async def test_retention_by_age_deletes_only_the_old(store: ExchangeStore) -> None:
    now = time.time()
    old = [make_record(at=now - 10 * 86400 - i) for i in range(7)]
    young = [make_record(at=now - 8 * 86400), make_record(at=now - 60)]
    await store.insert([*old, *young])
    deleted = await apply_retention(store, days=9, max_mb=0, batch=3)  # small batches: several rounds
    assert deleted == 7
    keep = {r.exchange["id"] for r in young}
    assert await remaining(store) == (keep, keep)


async def test_retention_by_size_deletes_the_oldest_until_it_fits(store: ExchangeStore) -> None:
    now = time.time()
    records = [make_record(at=now - 100 + i) for i in range(10)]
    await store.insert(records)
    sizes = [r.exchange["size_bytes"] for r in records]
    assert await stored_bytes(store) == sum(sizes)
    budget = sum(sizes[4:])  # exactly the newest six fit
    assert await purge_beyond_size(store, budget, batch=2) == 4
    keep = {r.exchange["id"] for r in records[4:]}
    assert await remaining(store) == (keep, keep)
    assert await purge_beyond_size(store, budget) == 0  # already within budget: nothing more goes
