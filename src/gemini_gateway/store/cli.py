"""`gemini-gateway logs ...`: the recorded exchanges from the command line, read like the server does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

# The store modules bring SQLAlchemy: imported by the commands, not for every `gemini-gateway` run.
if TYPE_CHECKING:
    from gemini_gateway.settings import Settings


def _time(value: str | None) -> int | None:
    from gemini_gateway.store.exchanges import parse_time_ms

    try:
        return parse_time_ms(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def logs_app(load_settings: Callable[[], Settings]) -> typer.Typer:
    """The `logs` commands, reading settings as every command does (cli.py passes its loader in)."""
    app = typer.Typer(help="Recorded exchanges: export for analysis or fine-tuning.", no_args_is_help=True)

    @app.command("export")
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
        from gemini_gateway.store.exchanges import LogFilter
        from gemini_gateway.store.export import ExportFormat, export_file

        if fmt not in ("raw", "chat"):
            raise typer.BadParameter("--format must be raw or chat")
        settings = load_settings()
        where = LogFilter(_time(since), _time(until), model, status, client, credential, dialect, errors_only)
        count = asyncio.run(
            export_file(settings.resolved_database_url, where, cast(ExportFormat, fmt), output)
        )
        typer.echo(f"exported {count} exchange(s)" + (f" to {output}" if output else ""), err=True)

    return app
