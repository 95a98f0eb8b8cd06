"""Usage statistics over recorded exchanges, computed in the database the same way everywhere.

Buckets are `ms - ms % width` on the integer millisecond column (`%` means the same on SQLite,
PostgreSQL and MySQL). Latency percentiles are exact nearest-rank values found with
`ROW_NUMBER()` / `COUNT()` window functions, which all three stores have, instead of
`percentile_cont` (PostgreSQL only) or pulling every latency into Python.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select

from gemini_gateway.store.database import Database
from gemini_gateway.store.exchanges import EXCHANGES, LogFilter

GroupBy = Literal["model", "credential", "credential_id", "client", "dialect", "none"]
Bucket = Literal["hour", "day", "none"]
BUCKET_MS = {"hour": 3_600_000, "day": 86_400_000}
PERCENTILES = (50, 95, 99)
_GROUP_COLUMNS = {
    "model": EXCHANGES.c.model,
    "credential": EXCHANGES.c.credential,
    # Masks can coincide (short keys); ids cannot: per-credential views group by id.
    "credential_id": EXCHANGES.c.credential_id,
    "client": EXCHANGES.c.client_id,
    "dialect": EXCHANGES.c.dialect,
}


def _bucket_expr(bucket: Bucket) -> ColumnElement[Any]:
    if bucket == "none":
        return literal(0).label("bucket")
    width = BUCKET_MS[bucket]
    return (EXCHANGES.c.received_at_ms - EXCHANGES.c.received_at_ms % width).label("bucket")


def _group_expr(group_by: GroupBy) -> ColumnElement[Any]:
    if group_by == "none":
        return literal("all").label("grp")
    return _GROUP_COLUMNS[group_by].label("grp")


async def compute_stats(
    database: Database, where: LogFilter, *, group_by: GroupBy = "model", bucket: Bucket = "day"
) -> list[dict[str, Any]]:
    c = EXCHANGES.c
    bucket_col, group_col = _bucket_expr(bucket), _group_expr(group_by)
    # Constants stay out of GROUP BY / PARTITION BY: MySQL reads `GROUP BY 0` as a column position.
    keys = [col for col, kind in ((bucket_col, bucket), (group_col, group_by)) if kind != "none"]
    failed = or_(c.status >= 400, c.error.is_not(None))
    totals = (
        select(
            bucket_col,
            group_col,
            func.count().label("requests"),
            func.sum(case((failed, 1), else_=0)).label("errors"),
            func.sum(func.coalesce(c.prompt_tokens, 0)).label("tokens_in"),
            func.sum(func.coalesce(c.candidates_tokens, 0) + func.coalesce(c.thoughts_tokens, 0)).label(
                "tokens_out"
            ),
            func.sum(func.coalesce(c.cached_tokens, 0)).label("tokens_cached"),
            func.sum(func.coalesce(c.total_tokens, 0)).label("tokens_total"),
            func.avg(c.duration_ms).label("latency_avg_ms"),
        )
        .where(*where.clauses())
        .group_by(*keys)
    )
    # Nearest rank: the p-th percentile of n values is the k-th smallest, k the least with 100k >= p*n.
    partition = keys or None
    ranked = (
        select(
            bucket_col,
            group_col,
            c.duration_ms.label("latency"),
            func.row_number().over(partition_by=partition, order_by=(c.duration_ms, c.id)).label("rn"),
            func.count().over(partition_by=partition).label("n"),
        )
        .where(*where.clauses())
        .subquery()
    )
    r = ranked.c
    wanted = or_(*(and_(r.rn * 100 >= p * r.n, (r.rn - 1) * 100 < p * r.n) for p in PERCENTILES))
    ranks = select(r.bucket, r.grp, r.latency, r.rn, r.n).where(wanted)
    async with database.engine.connect() as conn:
        groups = {(row.bucket, row.grp): _totals(row) for row in await conn.execute(totals) if row.requests}
        for row in await conn.execute(ranks):
            entry = groups.get((row.bucket, row.grp))
            if entry is None:
                continue
            for p in PERCENTILES:
                if row.rn * 100 >= p * row.n and (row.rn - 1) * 100 < p * row.n:
                    entry[f"latency_p{p}_ms"] = float(row.latency)
    result = []
    for (bucket_ms, group), entry in groups.items():
        entry["bucket_start_ms"] = int(bucket_ms) if bucket != "none" else None
        entry["group"] = group
        result.append(entry)
    result.sort(key=lambda e: (e["bucket_start_ms"] or 0, str(e["group"])))
    return result


def _totals(row: Any) -> dict[str, Any]:
    return {
        "requests": int(row.requests),
        "errors": int(row.errors or 0),
        "tokens_in": int(row.tokens_in or 0),
        "tokens_out": int(row.tokens_out or 0),
        "tokens_cached": int(row.tokens_cached or 0),
        "tokens_total": int(row.tokens_total or 0),
        "latency_avg_ms": round(float(row.latency_avg_ms), 3) if row.latency_avg_ms is not None else None,
        **{f"latency_p{p}_ms": None for p in PERCENTILES},
    }
