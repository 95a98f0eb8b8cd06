"""The admin UI opened in a browser page, as every browser test of it sets one up.

A test asks for a signed-in page and gets, with it, the list of the page's uncaught script errors
(and, when asked, the Content Security Policy violations the console reports): it asserts the
list empty at its end, so a script error fails the test whose steps caused it.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import ADMIN_TOKEN

DESKTOP = {"width": 1400, "height": 900}
# Every page of the UI, by the name in its hash route (`#/pool`).
ALL_PAGES = [
    "dashboard",
    "pool",
    "aistudio",
    "requests",
    "live",
    "playground",
    "tokens",
    "settings",
    "api",
    "welcome",
]


def watch_errors(page: Any, errors: list[str], *, csp: bool = False) -> None:
    """Collect the page's uncaught script errors (and CSP violations with `csp`) into `errors`."""
    page.on("pageerror", lambda error: errors.append(str(error)))
    if csp:
        page.on(
            "console",
            lambda m: (
                errors.append(m.text) if m.type == "error" and "Content Security Policy" in m.text else None
            ),
        )


def login(page: Any) -> None:
    if page.locator(".shell").count():
        return
    page.fill("input[name=token]", ADMIN_TOKEN)
    page.click("form button[type=submit]")
    page.wait_for_selector(".shell")


def go(page: Any, name: str) -> None:
    page.evaluate(f"location.hash = '#/{name}'")
    page.wait_for_selector(f'.page[data-page="{name}"] .page-head')


def signed_in_page(
    browser: Any,
    url: str,
    *,
    path: str = "/admin/",
    timeout_ms: int = 10_000,
    csp: bool = False,
    **context_options: Any,
) -> tuple[Any, Any, list[str]]:
    """(context, page, errors): a new browser context (`context_options`: viewport, locale, ...)
    whose page opened `url + path` and signed in with the admin token; the caller closes the
    context."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    errors: list[str] = []
    watch_errors(page, errors, csp=csp)
    page.goto(f"{url}{path}")
    login(page)
    return context, page, errors
