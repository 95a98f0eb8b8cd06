"""Where Google sends the browser back after a loopback login an admin started from the UI.

    GET    /admin/oauth2callback            adds the account, shows a page saying so (or why not)

The callback carries no admin token (Google's redirect cannot): the single-use, expiring `state`
of a login an admin started is what authorises it. It lives outside /api/ so that the admin API's
cross-origin refusal does not turn the redirect from Google away, and under /admin so that the
recorder never stores its one-time code.
"""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from gemini_gateway.admin.audit import Actor
from gemini_gateway.admin.oauth_api import WEB_CALLBACK, add_account, exchange_code
from gemini_gateway.admin.pages import SECURITY_HEADERS
from gemini_gateway.context import Gateway
from gemini_gateway.errors import GatewayError
from gemini_gateway.oauth.login import LoginError
from gemini_gateway.oauth.manager import manager_of

callback_router = APIRouter(tags=["admin: oauth accounts"])


@callback_router.get(WEB_CALLBACK, include_in_schema=False)
async def login_callback(request: Request) -> HTMLResponse:
    gateway: Gateway = request.app.state.gateway
    query = request.query_params
    logins = manager_of(gateway).logins
    state = query.get("state", "")
    try:
        pending = logins.take(state)
    except LoginError as exc:
        return _page(f"Login failed: {exc}", ok=False)
    try:
        if "error" in query:
            raise LoginError(f"Google refused the login: {query['error'][:100]}")
        code = query.get("code") or ""
        if not code:
            raise LoginError("the redirect carries no code")
        tokens = await exchange_code(gateway, pending, code)
        row = await add_account(
            gateway,
            Actor("oauth-login", str(request.client.host if request.client else "")),
            tokens,
            pending.kind,
        )
    except (LoginError, GatewayError) as exc:
        message = exc.message if isinstance(exc, GatewayError) else str(exc)
        logins.end(state, error=message)
        return _page(f"Login failed: {message}", ok=False)
    logins.end(state, credential_id=row["id"])
    return _page(f"Added {row['label']} to the gateway. You can close this tab.", ok=True)


def _page(message: str, *, ok: bool) -> HTMLResponse:
    """Where the sign-in tab lands: the admin UI's look, no script."""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Google account · gemini-gateway</title>"
        '<link rel="icon" href="/admin/static/favicon.svg" type="image/svg+xml">'
        '<link rel="stylesheet" href="/admin/static/css/style.css"></head>'
        '<body><main class="login"><div class="card">'
        '<div class="brand"><img src="/admin/static/favicon.svg" alt="">'
        "<div>gemini-gateway<small>Google account login</small></div></div>"
        f'<div class="notice {"ok" if ok else "bad"}" role="status">{html.escape(message)}</div>'
        '<a href="/admin/#/pool">Open the pool</a></div></main></body></html>'
    )
    return HTMLResponse(body, status_code=200 if ok else 400, headers=SECURITY_HEADERS)
