"""The `gemini-gateway` command."""

from __future__ import annotations

import logging
import os
import secrets
import sys
from typing import Annotated

import typer
from pydantic import SecretStr, ValidationError

from gemini_gateway.aistudio.cli import aistudio_app
from gemini_gateway.keeper.cli import executors_app
from gemini_gateway.oauth.cli import creds_app
from gemini_gateway.recorder.cli import logs_app
from gemini_gateway.settings import Settings

app = typer.Typer(help="A self-hosted gateway in front of Google Gemini.", no_args_is_help=True)
log = logging.getLogger("gemini_gateway.cli")


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"]).upper()
            typer.echo(f"configuration error: {field}: {error['msg']}", err=True)
        raise typer.Exit(2) from None


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
) -> None:
    """Run the gateway."""
    import uvicorn

    from gemini_gateway import redaction
    from gemini_gateway.app import create_app
    from gemini_gateway.forwarded import DEFAULT_TRUSTED, TrustedProxies

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
        "gemini-gateway on http://%s:%s (upstream %s)", settings.host, settings.port, settings.gemini_base_url
    )
    # uvicorn's own variable; its proxy-header middleware runs inside TrustedProxies, which has to
    # see the proxy's address before that middleware replaces it with the client's.
    trusted = os.environ.get("FORWARDED_ALLOW_IPS", DEFAULT_TRUSTED)
    uvicorn.run(
        TrustedProxies(create_app(settings), trusted),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        proxy_headers=False,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=10,
    )


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


app.add_typer(logs_app, name="logs")
app.add_typer(creds_app, name="creds")
app.add_typer(aistudio_app, name="aistudio")
app.add_typer(executors_app, name="executors")


def main() -> None:
    sys.exit(app())


if __name__ == "__main__":
    main()
