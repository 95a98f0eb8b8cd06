"""The `gemini-gateway` command."""

from __future__ import annotations

import logging
import os
import secrets
import sys
from typing import Annotated, Any

import typer
from pydantic import SecretStr

from gemini_gateway import redaction
from gemini_gateway.aistudio.cli import aistudio_app
from gemini_gateway.keeper.cli import executors_app
from gemini_gateway.oauth.cli import creds_app
from gemini_gateway.settings import ConfigurationError, Settings, load_settings
from gemini_gateway.store.cli import logs_app

app = typer.Typer(help="A self-hosted gateway in front of Google Gemini.", no_args_is_help=True)
log = logging.getLogger("gemini_gateway.cli")


def ensure_admin_token(settings: Settings) -> Settings:
    """No default admin token exists: without ADMIN_TOKEN, make a random one and keep it in a 0600 file."""
    if settings.admin_token is not None:
        return settings
    path = settings.data_dir / "admin-token"
    if path.exists():
        token = path.read_text().strip()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
    log.warning("ADMIN_TOKEN is not set; the admin token is in %s", path.resolve())
    return settings.model_copy(update={"admin_token": SecretStr(token)})


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (env HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (env PORT)")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="WEB_CONCURRENCY",
            help="Worker processes sharing the port, each a gateway of its own (env WEB_CONCURRENCY)",
        ),
    ] = 1,
) -> None:
    """Run the gateway."""
    if "watchfiles" not in sys.modules:
        # `serve` never reloads, but uvicorn's package imports its reloader, and with it watchfiles
        # (~1 MB, a Rust extension) into every serving process. A None entry makes that import
        # fail as if it were not installed: uvicorn then picks its stat-based reloader instead.
        sys.modules["watchfiles"] = None  # type: ignore[assignment]
    import uvicorn

    settings = load_settings(host=host, port=port)
    redaction.install(settings.log_level)
    settings = ensure_admin_token(settings)  # first: a token kept in DATA_DIR is judged too
    problem = settings.exposure_problem()
    if problem:
        typer.echo(problem, err=True)
        raise typer.Exit(2)
    # Whether the pool is empty is known once the app has started: keys, accounts and profiles
    # also come from files and the store (create_app's lifespan warns then).
    log.info(
        "gemini-gateway on http://%s:%s (upstream %s, %d worker%s)",
        settings.host,
        settings.port,
        settings.gemini_base_url,
        workers,
        "s" if workers > 1 else "",
    )
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        # The gateway's own HTTP/1.1 protocol (gemini_gateway.server): uvicorn's httptools one, less
        # work per request; by name, so the processes of `--workers` import it too.
        "http": "gemini_gateway.server.http:HttpProtocol",
        "ws": "gemini_gateway.server.websocket:LazyWebSocketProtocol",  # imported on the first upgrade
        "proxy_headers": False,
        "access_log": False,
        "log_config": None,
        "timeout_graceful_shutdown": 10,
        "workers": workers,  # given always, or uvicorn reads WEB_CONCURRENCY itself
    }
    if workers == 1:
        uvicorn.run(_asgi(settings), **options)
        return
    _prepare_workers(settings, host, port)
    uvicorn.run("gemini_gateway.cli:worker_app", factory=True, **options)


def _asgi(settings: Settings) -> Any:
    from gemini_gateway.app import create_app
    from gemini_gateway.forwarded import DEFAULT_TRUSTED, TrustedProxies

    # uvicorn's own variable; its proxy-header middleware runs inside TrustedProxies, which has to
    # see the proxy's address before that middleware replaces it with the client's.
    trusted = os.environ.get("FORWARDED_ALLOW_IPS", DEFAULT_TRUSTED)
    # A first start migrates in a child process: Alembic would stay resident in this one (~19 MB).
    return TrustedProxies(create_app(settings, migrate_in_child=True), trusted)


def _prepare_workers(settings: Settings, host: str | None, port: int | None) -> None:
    """What workers must find made before they start side by side: the same settings (the
    command's options as variables: workers are new processes that read the environment), the
    admin token file (made by `ensure_admin_token` already) and the key that encrypts stored
    secrets, which each would otherwise race to create."""
    from gemini_gateway.shared.siblings import WORKER_GROUP_ENV
    from gemini_gateway.store.secrets import load_box

    for name, value in (("HOST", host), ("PORT", port)):
        if value is not None:
            os.environ[name] = str(value)
    # Tells the workers they are siblings, which pass relays for each other's executor tabs on.
    os.environ[WORKER_GROUP_ENV] = secrets.token_hex(8)
    load_box(settings)


def worker_app() -> Any:
    """The app one worker of `serve --workers N` runs (uvicorn calls it in each worker process):
    its own pool, recorder and replica id, from the settings the parent checked."""
    settings = load_settings()
    redaction.install(settings.log_level)
    return _asgi(ensure_admin_token(settings))


@app.command()
def migrate(
    check: Annotated[
        bool, typer.Option("--check", help="Only report; exit 1 when the store is behind")
    ] = False,
) -> None:
    """Bring the store (DATABASE_URL) to the newest schema, under the store's migration lock.

    `serve` migrates too; run this first (a release step, an init container) to keep replicas'
    start-ups short, or with --check to see whether a migration is due.
    """
    import asyncio

    from gemini_gateway.store.database import Database, head_revision

    settings = load_settings()
    redaction.install(settings.log_level)

    async def run() -> tuple[str | None, str | None]:
        database = Database(settings.resolved_database_url)
        try:
            before = await database.revision()
            if not check:
                await database.migrate()
            return before, await database.revision()
        finally:
            await database.aclose()

    try:
        before, after = asyncio.run(run())
    except Exception as exc:  # a refused connection, a failed migration: said, not a traceback
        typer.echo(f"migration failed: {type(exc).__name__}: {str(exc)[:300]}", err=True)
        raise typer.Exit(1) from None
    head = head_revision()
    if check:
        typer.echo(f"store at {before or 'nothing'}; newest is {head}")
        raise typer.Exit(0 if before == head else 1)
    typer.echo(f"store at {after} (was {before or 'empty'})")


@app.command("fake-upstream")
def fake_upstream(
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8090,
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    keys: Annotated[str | None, typer.Option(help="Comma-separated keys it accepts (default: any)")] = None,
) -> None:
    """Run the Gemini-shaped fake upstream (offline demos, tests, benchmarks)."""
    from gemini_gateway.fake_upstream import serve_fake

    valid = {k.strip() for k in keys.split(",") if k.strip()} if keys else None
    typer.echo(f"fake Gemini upstream on http://{host}:{port}", err=True)
    serve_fake(host, port, valid_keys=valid)


app.add_typer(logs_app(load_settings), name="logs")
app.add_typer(creds_app, name="creds")
app.add_typer(aistudio_app, name="aistudio")
app.add_typer(executors_app, name="executors")


def main() -> None:
    try:
        app()
    except ConfigurationError as exc:  # from any command's load_settings(): say what to fix
        typer.echo(str(exc), err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
