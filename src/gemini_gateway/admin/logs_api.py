"""Reading the record back: `/api/logs`, `/api/logs/{id}`, `/api/logs/export`, `/api/stats`.

All behind the admin token. Times are accepted as ISO 8601 or epoch seconds and returned as
epoch milliseconds (`received_at_ms`) plus ISO 8601 UTC (`received_at`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import StreamingResponse

from gemini_gateway.context import Gateway
from gemini_gateway.errors import GatewayError, RequestError
from gemini_gateway.routes.responses import JSONBody
from gemini_gateway.store.exchanges import ExchangeStore, LogFilter, parse_time_ms
from gemini_gateway.store.export import ExportFormat, export_lines
from gemini_gateway.store.stats import Bucket, GroupBy, compute_stats

router = APIRouter(prefix="/api", tags=["logs"])


# What a datetime can hold (years 1 to 9999), in epoch milliseconds: beyond it no record can lie,
# and a number that large no longer fits the store's 64-bit integer column.
EARLIEST_MS = -62_135_596_800_000
LATEST_MS = 253_402_300_799_999
# `next_cursor` as `page` makes it: epoch milliseconds, "_", a record id. ASCII digits only
# (int() would take other scripts' digits too).
CURSOR_PATTERN = r"^-?[0-9]{1,15}_[A-Za-z0-9_-]{1,64}$"


def parse_time(value: str | None) -> int | None:
    try:
        ms = parse_time_ms(value)
    except (ValueError, OverflowError):  # OverflowError: "inf"
        raise RequestError(f"not a time: {value!r} (use ISO 8601 or epoch seconds)") from None
    if ms is not None and not EARLIEST_MS <= ms <= LATEST_MS:
        raise RequestError(f"not a time: {value!r} (outside the years 1 to 9999)")
    return ms


def iso(ms: int | None) -> str | None:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat() if ms is not None else None


def _admin(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    gateway.auth.admin(cast(dict[str, Any], request.scope))
    return gateway


def _store(request: Request) -> ExchangeStore:
    gateway = _admin(request)
    store: ExchangeStore | None = getattr(gateway.recorder, "store", None)
    if store is None and gateway.database is not None:
        store = ExchangeStore(gateway.database)
    if store is None:
        raise GatewayError(
            f"the store is unavailable: {gateway.store_error or 'not started'}", status_code=503
        )
    return store


def _filter(
    since: str | None,
    until: str | None,
    model: str | None,
    status: str | None,
    client: str | None,
    credential: str | None,
    dialect: str | None,
    errors_only: bool,
) -> LogFilter:
    return LogFilter(
        parse_time(since), parse_time(until), model, status, client, credential, dialect, errors_only
    )


class Filters:
    """The query parameters every read accepts, declared once."""

    def __init__(
        self,
        since: Annotated[str | None, Query(description="ISO 8601 or epoch seconds, inclusive")] = None,
        until: Annotated[str | None, Query(description="ISO 8601 or epoch seconds, exclusive")] = None,
        model: str | None = None,
        status: Annotated[
            str | None,
            Query(description="a code (429) or a class (5xx)", pattern="^[1-5]([0-9]{2}|[xX]{2})$"),
        ] = None,
        client: str | None = None,
        credential: Annotated[str | None, Query(description="masked label or credential id")] = None,
        dialect: str | None = None,
        errors_only: bool = False,
    ) -> None:
        self.where = _filter(since, until, model, status, client, credential, dialect, errors_only)


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "received_at": iso(row["received_at_ms"])}


@router.get("/logs")
async def list_logs(
    request: Request,
    filters: Annotated[Filters, Depends()],
    cursor: Annotated[
        str | None, Query(description="`next_cursor` of the previous page", pattern=CURSOR_PATTERN)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JSONBody:
    """Recorded exchanges, newest first, without bodies; follow `next_cursor` for older ones."""
    store = _store(request)
    try:
        rows, next_cursor = await store.page(filters.where, cursor=cursor, limit=limit)
    except ValueError:
        raise RequestError(f"not a cursor from this API: {cursor!r}") from None
    return JSONBody({"items": [_summary(r) for r in rows], "next_cursor": next_cursor})


@router.get("/logs/export")
async def export_logs(
    request: Request,
    filters: Annotated[Filters, Depends()],
    format: ExportFormat = "raw",
) -> StreamingResponse:
    """JSON Lines: raw records (bodies decoded) or `{"messages": [...]}` chat transcripts."""
    store = _store(request)
    name = f"exchanges-{format}.jsonl"
    return StreamingResponse(
        export_lines(store, filters.where, format),
        media_type="application/x-ndjson",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


@router.get("/logs/{exchange_id}")
async def get_log(request: Request, exchange_id: str) -> JSONBody:
    """One exchange whole: metadata, headers (masked), bodies decoded, attempts."""
    record = await _store(request).get(exchange_id)
    if record is None:
        raise RequestError(f"no recorded exchange {exchange_id!r}", status_code=404)
    return JSONBody(_summary(record))


@router.get("/stats")
async def stats(
    request: Request,
    filters: Annotated[Filters, Depends()],
    group_by: GroupBy = "model",
    bucket: Bucket = "day",
) -> JSONBody:
    """Requests, errors, tokens in/out and latency percentiles per bucket and group."""
    store = _store(request)
    rows = await compute_stats(store.database, filters.where, group_by=group_by, bucket=bucket)
    for row in rows:
        row["bucket_start"] = iso(row["bucket_start_ms"])
    return JSONBody({"group_by": group_by, "bucket": bucket, "rows": rows})


@router.get("/recorder")
async def recorder_status(request: Request) -> JSONBody:
    """The recorder's own health: queue depth, spool size, counters, last store error."""
    recorder = _admin(request).recorder
    return JSONBody(recorder.status() if recorder is not None else {"mode": "off"})
