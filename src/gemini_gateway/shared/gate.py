"""The shared rate-limit bucket, consulted before a request reaches any route.

`Authenticator.client` is synchronous and called from every route; the one await a shared
bucket needs happens here instead, in front of them, and only for a token with a rate limit:
its answer is left in the scope (`SCOPE_RATE`) for `client` to act on in the route's own dialect.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import Scope

from gemini_gateway.auth import SCOPE_RATE, Authenticator, token_from_scope
from gemini_gateway.shared.state import SharedState

Gate = Callable[[Scope], Awaitable[None]]


def rate_gate(auth: Authenticator, state: SharedState) -> Gate:
    async def gate(scope: Scope) -> None:
        if scope["type"] != "http":
            return
        identity = auth.identify(token_from_scope(scope))
        if identity is None or not identity.rate_limit:
            return
        wait = await state.take(identity.id, identity.rate_limit)
        if wait is not None:  # None: no shared bucket answered; the local one counts (its share)
            scope[SCOPE_RATE] = wait

    return gate
