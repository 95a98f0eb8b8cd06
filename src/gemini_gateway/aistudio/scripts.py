"""User scripts (Tampermonkey-style) mounted into the AI Studio page by network interception.

Every `*.user.js` / `*.js` file in AISTUDIO_SCRIPTS_DIR is read once at start. When the browser
loads an AI Studio document, the gateway fetches it itself, adds the scripts whose `@match` /
`@include` patterns fit the URL as inline `<script>` elements at the top of `<head>`, and hands
the page the rewritten HTML (Playwright `route.fetch` + `route.fulfill`). So a script runs in
the page's own world before the page's code, as it does under Tampermonkey, and can, for
example, add models to the page's model list. Contexts with scripts bypass the page's CSP,
which would otherwise refuse inline scripts. A small `GM_*` shim covers what such scripts use.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Route

log = logging.getLogger("gemini_gateway.aistudio")

_HEADER = re.compile(r"//\s*==UserScript==(.*?)//\s*==/UserScript==", re.DOTALL)
_META = re.compile(r"//\s*@([\w:-]+)\s+(.+)")
_HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)

# What Tampermonkey offers that model-list scripts use; values live in the page's localStorage.
_SHIM = """const GM_info = {script: {name: %(name)s, version: %(version)s}};
const unsafeWindow = window;
const GM_log = (...args) => console.log(...args);
const GM_addStyle = (css) => { const s = document.createElement("style"); s.textContent = css;
  (document.head || document.documentElement).appendChild(s); return s; };
const GM_getValue = (key, fallback) => { const v = localStorage.getItem(%(prefix)s + key);
  return v === null ? fallback : JSON.parse(v); };
const GM_setValue = (key, value) => localStorage.setItem(%(prefix)s + key, JSON.stringify(value));
const GM_deleteValue = (key) => localStorage.removeItem(%(prefix)s + key);
"""


@dataclass(frozen=True, slots=True)
class UserScript:
    name: str
    source: str
    version: str = ""
    patterns: tuple[re.Pattern[str], ...] = field(default=())
    run_at: str = "document-start"

    def matches(self, url: str) -> bool:
        return not self.patterns or any(p.match(url) for p in self.patterns)

    def element(self) -> str:
        """The inline <script> that runs this script with the GM shim in its own scope."""
        shim = _SHIM % {
            "name": _js(self.name),
            "version": _js(self.version),
            "prefix": _js(f"gm:{self.name}:"),
        }
        body = f"(function () {{\n{shim}{self.source}\n}})();"
        if self.run_at in ("document-end", "document-idle"):
            body = f'document.addEventListener("DOMContentLoaded", function () {{\n{body}\n}});'
        safe = body.replace("</script", "<\\/script")
        return f'<script data-gateway-userscript="{_attr(self.name)}">\n{safe}\n</script>'


def parse(name: str, source: str) -> UserScript:
    header = _HEADER.search(source)
    meta: dict[str, list[str]] = {}
    if header:
        for key, value in _META.findall(header.group(1)):
            meta.setdefault(key.lower(), []).append(value.strip())
    patterns = tuple(_glob(p) for p in meta.get("match", []) + meta.get("include", []))
    return UserScript(
        name=(meta.get("name") or [name])[0],
        source=source,
        version=(meta.get("version") or [""])[0],
        patterns=patterns,
        run_at=(meta.get("run-at") or ["document-start"])[0],
    )


def load_scripts(folder: Path | None) -> list[UserScript]:
    if folder is None or not folder.is_dir():
        return []
    scripts = []
    for path in sorted(folder.glob("*.js")):
        try:
            scripts.append(parse(path.stem, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("user script %s skipped: %s", path.name, exc)
    return scripts


def inject(html: str, scripts: list[UserScript]) -> str:
    elements = "\n".join(s.element() for s in scripts)
    head = _HEAD.search(html)
    if head is None:
        return elements + html
    return html[: head.end()] + elements + html[head.end() :]


async def install(context: BrowserContext, scripts: list[UserScript], base_url: str) -> None:
    """Rewrite every AI Studio document the context loads to carry the matching scripts."""

    async def handle(route: Route) -> None:
        request = route.request
        chosen = [s for s in scripts if s.matches(request.url)]
        if request.resource_type != "document" or not chosen:
            await route.continue_()
            return
        response = await route.fetch()
        kind = response.headers.get("content-type", "")
        if "html" not in kind:
            await route.fulfill(response=response)
            return
        headers = {
            k: v
            for k, v in response.headers.items()
            if k.lower() not in ("content-security-policy", "content-length", "content-encoding")
        }
        await route.fulfill(response=response, body=inject(await response.text(), chosen), headers=headers)

    await context.route(base_url.rstrip("/") + "/**", handle)


def _glob(pattern: str) -> re.Pattern[str]:
    """Tampermonkey's `*` wildcard as a regular expression."""
    return re.compile("^" + ".*".join(re.escape(piece) for piece in pattern.split("*")) + "$")


def _js(value: str) -> str:
    return orjson.dumps(value).decode()


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
