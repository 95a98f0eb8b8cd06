"""`gemini-gateway aistudio ...`: save, import, list and delete AI Studio logins.

`login` needs a display (it opens a visible browser for you to sign in); on a headless server
make the profile elsewhere and `import` it. A running gateway picks up new and removed profile
files within seconds.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from gemini_gateway.aistudio import page_spec
from gemini_gateway.aistudio.browser import DEBIAN_CHROMIUM
from gemini_gateway.aistudio.profiles import ProfileError, ProfileStore, check_name, profiles_dir
from gemini_gateway.settings import Settings, load_settings

aistudio_app = typer.Typer(help="AI Studio page automation: saved browser logins.", no_args_is_help=True)


def _store() -> tuple[Settings, ProfileStore]:
    settings = load_settings()
    return settings, ProfileStore(profiles_dir(settings))


@aistudio_app.command()
def login(
    name: Annotated[str, typer.Argument(help="Profile name, e.g. the account's user name")],
    timeout: Annotated[float, typer.Option(help="Minutes to wait for the sign-in")] = 15,
    headless: Annotated[bool, typer.Option(hidden=True, help="No window (tests)")] = False,
) -> None:
    """Open a visible browser on AI Studio; sign in there; the login is saved as profile NAME."""
    settings, store = _store()
    try:
        check_name(name)
    except ProfileError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(
        "Sign in to Google in the browser window; the login is saved once AI Studio shows its prompt box."
    )
    state = asyncio.run(_login(settings, store, name, timeout * 60, headless))
    path = store.save(name, state)
    typer.echo(f"saved profile {name} ({len(state['cookies'])} cookies) to {path}")


async def _login(
    settings: Settings, store: ProfileStore, name: str, patience: float, headless: bool
) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        executable = settings.aistudio_browser_path or (
            str(DEBIAN_CHROMIUM) if DEBIAN_CHROMIUM.exists() else None
        )
        browser = await playwright.chromium.launch(headless=headless, executable_path=executable)
        existing = store.path(name) if store.exists(name) else None
        context = await browser.new_context(storage_state=str(existing) if existing else None)
        page = await context.new_page()
        await page.goto(page_spec.new_chat_url(settings.aistudio_url, None))
        deadline = time.monotonic() + patience
        prompt = page.locator(page_spec.SELECTORS.prompt).first
        while time.monotonic() < deadline:
            if not page_spec.is_login_url(page.url) and await prompt.is_visible():
                state: dict[str, Any] = await context.storage_state()  # type: ignore[assignment]
                await browser.close()
                return state
            await asyncio.sleep(1)
        await browser.close()
    raise typer.Exit(1)


@aistudio_app.command("import")
def import_profile(
    name: Annotated[str, typer.Argument(help="Profile name")],
    file: Annotated[Path, typer.Argument(help="A Playwright storage-state JSON made elsewhere", exists=True)],
) -> None:
    """Save a login made on another machine (Playwright storage state JSON) as profile NAME."""
    _, store = _store()
    try:
        path = store.save(check_name(name), orjson.loads(file.read_bytes()))
    except (ProfileError, orjson.JSONDecodeError) as exc:
        typer.echo(f"cannot import {file}: {exc}", err=True)
        raise typer.Exit(2) from None
    summary = store.summary(name)
    warning = "" if summary.get("google_session") else " (no Google session cookie in it: is it logged in?)"
    typer.echo(f"imported profile {name} to {path}{warning}")


@aistudio_app.command("list")
def list_profiles() -> None:
    """Saved profiles and what their files say about the login."""
    _, store = _store()
    for name in store.names():
        summary = store.summary(name)
        expires = summary.get("session_expires")
        until = time.strftime("%Y-%m-%d", time.localtime(expires)) if expires else "?"
        state = "EXPIRED" if summary.get("expired") else f"session until {until}"
        typer.echo(f"{name}\t{summary.get('cookies', 0)} cookies\t{state}")


@aistudio_app.command()
def delete(name: Annotated[str, typer.Argument(help="Profile name")]) -> None:
    """Delete a saved profile (a running gateway stops serving it)."""
    _, store = _store()
    if not store.delete(check_name(name)):
        typer.echo(f"no profile named {name}", err=True)
        raise typer.Exit(1)
    typer.echo(f"deleted profile {name}")
