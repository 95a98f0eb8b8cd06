"""`/api/oauth`: Google accounts (Gemini CLI logins) for operators: list, add, log in, set project, remove.

    GET    /api/oauth/accounts              every account: pool state plus email, project, tier, expiry
    POST   /api/oauth/accounts              add from credential JSON (a file's content, or a list)
    PATCH  /api/oauth/accounts/{id}         set (or clear) the account's explicit project id
    DELETE /api/oauth/accounts/{id}         take it out of the pool (and the store)
    POST   /api/oauth/reload                read OAUTH_CREDS_DIR / OAUTH_CREDS_JSON / the store again
    POST   /api/oauth/login                 start a login: {auth_url, state, redirect_uri}
    GET    /api/oauth/login/{state}         how a started login stands: waiting, done (the account), failed
    POST   /api/oauth/login/{state}         finish a login with the pasted code or address (copy-paste)

Google sends a loopback login's browser back to `WEB_CALLBACK`, served by admin/oauth_callback.py.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, Field

from gemini_gateway.admin import repo
from gemini_gateway.admin.deps import Actor, AdminActor, GatewayDep
from gemini_gateway.context import Gateway
from gemini_gateway.errors import GatewayError, RequestError, UpstreamUnreachable
from gemini_gateway.oauth.account import OAuthAccount
from gemini_gateway.oauth.client import OAuthError, OAuthUnreachable
from gemini_gateway.oauth.login import LoginError, PendingLogin, code_from_paste, finish_login
from gemini_gateway.oauth.manager import OAuthManager, manager_of
from gemini_gateway.oauth.tokens import CredentialFormatError, OAuthTokens, parse_tokens
from gemini_gateway.routes.responses import JSONBody
from gemini_gateway.shared import changed

router = APIRouter(prefix="/api/oauth", tags=["admin: oauth accounts"])
log = logging.getLogger("gemini_gateway.oauth")
WEB_CALLBACK = "/admin/oauth2callback"  # see admin/oauth_callback.py
# Google's rule for project ids (6 to 30 lowercase letters, digits and hyphens, a letter first, no
# hyphen last), with the domain prefix of older organisation projects, or a project number: a typo
# is refused here rather than surfacing later as a 403 from Code Assist on every call.
PROJECT_ID = re.compile(r"(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20}")


class StartLogin(BaseModel):
    kind: Literal["oauth", "antigravity"] = Field(
        "oauth", description="oauth: a Gemini CLI account; antigravity: an Antigravity account"
    )
    mode: Literal["loopback", "manual"] = Field(
        "loopback",
        description="loopback: Google redirects to this gateway's /oauth2callback (the admin UI on a "
        "loopback address); manual: the user pastes the code (any server)",
    )
    project_id: str | None = Field(None, max_length=100, description="Google Cloud project id to use")


class FinishLogin(BaseModel):
    code: str = Field(min_length=1, max_length=4096, description="The code, or the whole redirect address")


class SetProject(BaseModel):
    project_id: str | None = Field(None, max_length=100, description="null: discover it again")


def _project_id(value: str | None) -> str | None:
    project = (value or "").strip() or None
    if project is not None and not PROJECT_ID.fullmatch(project):
        raise RequestError(
            f"{project!r} is not a Google Cloud project id: 6 to 30 lowercase letters, digits and "
            "hyphens, starting with a letter (e.g. my-project-123)"
        )
    return project


def _holder(gateway: Gateway, credential_id: str) -> OAuthManager:
    """The manager holding the account: Gemini CLI's, else Antigravity's (ids differ by kind)."""
    antigravity = manager_of(gateway, "antigravity")
    return antigravity if credential_id in antigravity.accounts else manager_of(gateway)


def _account(manager: OAuthManager, credential_id: str) -> OAuthAccount:
    account = manager.accounts.get(credential_id)
    if account is None:
        raise RequestError(f"no OAuth account {credential_id!r}", status_code=404)
    return account


def _row(gateway: Gateway, credential_id: str) -> dict[str, Any]:
    credential = gateway.pool.get(credential_id)
    return credential.view(gateway.pool.clock()) if credential is not None else {"id": credential_id}


async def _audit(gateway: Gateway, actor: Actor, action: str, target: str) -> None:
    if gateway.database is None:
        return
    try:
        await repo.add_audit(
            gateway.database, actor=actor.id, address=actor.address, action=action, target=target
        )
    except Exception as exc:  # the change is made; a missing audit line must not undo it
        log.warning("could not write the audit log: %s", type(exc).__name__)
    try:
        await changed(gateway.database, action)  # the other replicas reload their accounts
    except Exception as exc:  # they still find the change stamp at their next poll, or a restart
        log.warning("could not announce the account change: %s", type(exc).__name__)


async def add_account(
    gateway: Gateway, actor: Actor, tokens: OAuthTokens, kind: str = "oauth"
) -> dict[str, Any]:
    credential, new = await manager_of(gateway, kind).add(tokens, actor.id)
    await _audit(gateway, actor, "oauth.add" if new else "oauth.relogin", credential.label)
    return {**_row(gateway, credential.id), "new": new}


@router.get("/accounts")
async def list_accounts(gateway: GatewayDep, actor: AdminActor) -> JSONBody:
    manager = manager_of(gateway)
    return JSONBody(
        {
            "routing": {"mode": gateway.pool.routing, "account_weight": gateway.pool.account_weight},
            "models": sorted(manager.models),
            "client_configured": manager.client.client_id is not None,
            "accounts": manager.views(),
            "antigravity": {
                "models": sorted(manager_of(gateway, "antigravity").models),
                "client_configured": manager_of(gateway, "antigravity").client.client_id is not None,
                "accounts": manager_of(gateway, "antigravity").views(),
            },
        }
    )


@router.post("/accounts")
async def add_accounts(
    gateway: GatewayDep,
    actor: AdminActor,
    credentials: Annotated[Any, Body(description="A credential file's JSON, or a list of them")],
) -> JSONBody:
    items = credentials if isinstance(credentials, list) else [credentials]
    try:
        parsed = [parse_tokens(item) for item in items]
    except CredentialFormatError as exc:
        raise RequestError(f"unusable credential: {exc}") from None
    if not parsed:
        raise RequestError("no credential given")
    rows = [await add_account(gateway, actor, tokens) for tokens in parsed]
    return JSONBody({"added": rows}, status_code=201)


@router.patch("/accounts/{credential_id}")
async def set_project(
    gateway: GatewayDep, actor: AdminActor, credential_id: str, change: SetProject
) -> JSONBody:
    manager = _holder(gateway, credential_id)
    account = _account(manager, credential_id)
    project = _project_id(change.project_id)
    tokens = account.tokens
    tokens.project_id = project
    if project is None:
        # The project found so far may have been found for the explicit one: find it afresh.
        tokens.code_assist_project = tokens.code_assist_tier = None
    await account.source.save(tokens)
    await _audit(gateway, actor, "oauth.project", f"{account.label}: {project}")
    return JSONBody(_row(gateway, credential_id))


@router.delete("/accounts/{credential_id}")
async def remove_account(gateway: GatewayDep, actor: AdminActor, credential_id: str) -> JSONBody:
    account = await _holder(gateway, credential_id).remove(credential_id)
    if account is None:
        raise RequestError(f"no OAuth account {credential_id!r}", status_code=404)
    await _audit(gateway, actor, "oauth.remove", account.label)
    note = None
    if account.source.kind != "store":
        note = f"it comes from {account.source.describe()} and returns at the next start unless removed there"
    return JSONBody({"removed": credential_id, "source": account.source.kind, "note": note})


@router.post("/reload")
async def reload_accounts(gateway: GatewayDep, actor: AdminActor) -> JSONBody:
    added = await manager_of(gateway).reload()
    return JSONBody({"added": added, "total": len(manager_of(gateway).accounts)})


@router.post("/login")
async def start_login(
    gateway: GatewayDep, actor: AdminActor, request: Request, start: StartLogin
) -> JSONBody:
    manager = manager_of(gateway, start.kind)
    if start.mode == "manual":
        redirect_uri = manager.flavor.manual_redirect_uri
    else:
        # The public address when a trusted proxy said so (gemini_gateway.forwarded, under `serve`).
        redirect_uri = str(request.base_url).rstrip("/") + WEB_CALLBACK
    try:
        project = _project_id(start.project_id)
        pending = manager.logins.start(manager.client, redirect_uri, project, start.kind)
    except LoginError as exc:
        raise RequestError(str(exc)) from None
    return JSONBody(
        {
            "auth_url": pending.url,
            "state": pending.state,
            "redirect_uri": redirect_uri,
            "mode": start.mode,
            "kind": start.kind,
        },
        status_code=201,
    )


@router.get("/login/{state}")
async def login_status(gateway: GatewayDep, actor: AdminActor, state: str) -> JSONBody:
    """How a started login stands: `waiting` for Google's redirect, `done` (with the account it
    added) or `failed` (with the reason). The admin UI polls this while the sign-in tab is open."""
    found = manager_of(gateway).logins.status(state)
    if found is None:
        raise RequestError("this login is unknown or expired: start it again", status_code=404)
    if isinstance(found, PendingLogin):
        return JSONBody({"status": "waiting"})
    if found.credential_id is None:
        return JSONBody({"status": "failed", "error": found.error})
    return JSONBody({"status": "done", "account": _row(gateway, found.credential_id)})


@router.post("/login/{state}")
async def finish_manual_login(
    gateway: GatewayDep, actor: AdminActor, state: str, finish: FinishLogin
) -> JSONBody:
    logins = manager_of(gateway).logins
    try:
        code = code_from_paste(finish.code, logins.get(state).state)  # a bad paste can be fixed
        pending = logins.take(state)
    except LoginError as exc:
        raise RequestError(str(exc)) from None
    try:
        row = await add_account(gateway, actor, await exchange_code(gateway, pending, code), pending.kind)
    except GatewayError as exc:
        logins.end(state, error=exc.message)
        raise
    logins.end(state, credential_id=row["id"])
    return JSONBody(row, status_code=201)


async def exchange_code(gateway: Gateway, pending: PendingLogin, code: str) -> OAuthTokens:
    assert gateway.transports is not None
    try:
        client = manager_of(gateway, pending.kind).client
        return await finish_login(gateway.transports.http, client, pending, code)
    except OAuthUnreachable as exc:
        raise UpstreamUnreachable(str(exc)) from None
    except OAuthError as exc:
        raise RequestError(f"the login could not be finished: {exc}") from None
