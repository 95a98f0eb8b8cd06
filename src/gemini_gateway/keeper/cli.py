"""`gemini-gateway executors keep PROFILE`: keep the executor app open headless with a saved login."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from gemini_gateway.aistudio.browser import BrowserConfig
from gemini_gateway.aistudio.profiles import ProfileError, ProfileStore, check_name, profiles_dir
from gemini_gateway.settings import Settings, load_settings

if TYPE_CHECKING:
    from gemini_gateway.keeper.keeper import Keeper, KeeperConfig

executors_app = typer.Typer(help="Browser executors (docs/executor-protocol.md).", no_args_is_help=True)


def keeper_config(
    settings: Settings, profile: str, url: str, gateway: str | None, token: str | None, name: str | None
) -> KeeperConfig:
    """The keeper's settings; typer.BadParameter for a profile or token it cannot use."""
    # Here, not for every `gemini-gateway` command: the keeper brings the browser driver.
    from gemini_gateway.keeper.keeper import KeeperConfig

    try:
        store = ProfileStore(profiles_dir(settings))
        path = store.path(check_name(profile))
    except ProfileError as exc:
        raise typer.BadParameter(str(exc), param_hint="PROFILE") from exc
    if not path.is_file():
        raise typer.BadParameter(
            f"no saved login {profile!r} in {store.folder} (gemini-gateway aistudio login/import)",
            param_hint="PROFILE",
        )
    tokens = [t.get_secret_value() for t in settings.executor_tokens]
    token = token or (tokens[0] if tokens else None)
    if not token:
        raise typer.BadParameter(
            "no executor token: pass --token or set EXECUTOR_TOKENS", param_hint="--token"
        )
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    return KeeperConfig(
        profile=profile,
        storage_state=path,
        app_url=url,
        gateway=gateway or f"ws://{host}:{settings.port}/ws/executor",
        token=token,
        name=name or f"keep-{profile}",
        browser=BrowserConfig(
            engine=settings.aistudio_browser,
            executable=settings.aistudio_browser_path,
            headless=settings.aistudio_headless,
            proxy=settings.aistudio_proxy,
        ),
    )


@executors_app.command()
def keep(
    profile: Annotated[str, typer.Argument(help="Saved AI Studio login (gemini-gateway aistudio list)")],
    url: Annotated[
        str,
        typer.Option(
            envvar="EXECUTOR_KEEPER_URL", help="The executor app's address (the Build app's share link)"
        ),
    ],
    gateway: Annotated[
        str | None, typer.Option(help="Gateway WebSocket URL (default: ws://HOST:PORT/ws/executor)")
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="Executor token (default: the first EXECUTOR_TOKENS)")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Executor name in the pool (default: keep-PROFILE)")
    ] = None,
) -> None:
    """Open the executor app headless with a saved login and reopen it whenever it dies."""
    from gemini_gateway.keeper.keeper import Keeper

    config = keeper_config(load_settings(), profile, url, gateway, token, name)
    typer.echo(f"keeping {config.app_url} open as {config.name} (profile {profile}); Ctrl-C stops")
    asyncio.run(_keep(Keeper(config)))


async def _keep(keeper: Keeper) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, lambda: asyncio.ensure_future(keeper.stop()))
    await keeper.run()
