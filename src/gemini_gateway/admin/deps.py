"""Typed dependencies every management route declares: the admin caller and the open store."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gemini_gateway.admin.audit import Actor as Actor
from gemini_gateway.admin.audit import audit as audit
from gemini_gateway.admin.state import AdminState, admin_state
from gemini_gateway.auth import client_address
from gemini_gateway.context import Gateway
from gemini_gateway.errors import GatewayError
from gemini_gateway.store.database import Database

# Declared for the OpenAPI page (its "Authorize" button); the check itself is Authenticator.admin,
# which also accepts the UI's session cookie.
_bearer = HTTPBearer(auto_error=False, description="ADMIN_TOKEN or an admin-tier client token")


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def _actor(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None
) -> Actor:
    scope = cast(dict[str, Any], request.scope)
    identity = _gateway(request).auth.admin(scope)
    return Actor(identity.id, client_address(scope))


def _database(request: Request, _: Annotated[Actor, Depends(_actor)]) -> Database:
    """The store; depends on the admin check so an outsider learns nothing about its health."""
    gateway = _gateway(request)
    if gateway.database is None:
        raise GatewayError(
            f"the database is unavailable ({gateway.store_error or 'not started'}); nothing can be stored",
            status_code=503,
        )
    return gateway.database


def _state(request: Request) -> AdminState:
    return admin_state(_gateway(request))


GatewayDep = Annotated[Gateway, Depends(_gateway)]
AdminActor = Annotated[Actor, Depends(_actor)]
DatabaseDep = Annotated[Database, Depends(_database)]
StateDep = Annotated[AdminState, Depends(_state)]
