"""`gemini-gateway logs ...`: the recorded exchanges from the command line, read like the server does."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, cast

import typer

from gemini_gateway.recorder.export import ExportFormat, export_lines
from gemini_gateway.settings import Settings, load_settings
from gemini_gateway.store.database import Database
from gemini_gateway.store.exchanges import ExchangeStore, LogFilter, parse_time_ms

logs_app = typer.Typer(help="Recorded exchanges: export for analysis or fine-tuning.", no_args_is_help=True)


def _time(value: str | None) -> int | None:
    try:
        return parse_time_ms(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


async def _export(settings: Settings, where: LogFilter, fmt: ExportFormat, output: Path | None) -> int:
    database = Database(settings.resolved_database_url)
    try:
        await database.migrate()  # a fresh store just has no records; the tables must exist to say so
        store = ExchangeStore(database)
        count = 0
        handle = sys.stdout.buffer if output is None else open(output, "wb")  # noqa: ASYNC230, SIM115
        try:
            async for line in export_lines(store, where, fmt):
                handle.write(line)
                count += 1
        finally:
            if output is not None:
                handle.close()
        return count
    finally:
        await database.aclose()


@logs_app.command("export")
def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout)")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="raw: whole records; chat: {messages:[...]} for fine-tuning")
    ] = "raw",
    since: Annotated[str | None, typer.Option(help="ISO 8601 or epoch seconds, inclusive")] = None,
    until: Annotated[str | None, typer.Option(help="ISO 8601 or epoch seconds, exclusive")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model")] = None,
    status: Annotated[str | None, typer.Option(help="A status (429) or class (5xx)")] = None,
    client: Annotated[str | None, typer.Option(help="Only this client id")] = None,
    credential: Annotated[str | None, typer.Option(help="Masked label or credential id")] = None,
    dialect: Annotated[str | None, typer.Option(help="gemini, openai or anthropic")] = None,
    errors_only: Annotated[bool, typer.Option("--errors-only", help="Only failed exchanges")] = False,
) -> None:
    """Write recorded exchanges as JSON Lines, oldest first (DATABASE_URL / DATA_DIR as the server)."""
    if fmt not in ("raw", "chat"):
        raise typer.BadParameter("--format must be raw or chat")
    settings = load_settings()
    where = LogFilter(_time(since), _time(until), model, status, client, credential, dialect, errors_only)
    count = asyncio.run(_export(settings, where, cast(ExportFormat, fmt), output))
    typer.echo(f"exported {count} exchange(s)" + (f" to {output}" if output else ""), err=True)
