"""The dispatcher's binder: a call that names a file or cached content goes to its owner.

Every call passes through `Affinity.bind` before a credential is chosen. Most name nothing and
leave after two byte scans. One that names resources the gateway knows is bound to the one
credential whose project holds them (`call.allowed`), while everything else keeps balancing.
When that credential cannot serve now, the client hears why at once (429 with Retry-After while
it cools down, 503 when it is disabled) rather than a 403 from a key that never had the file.
Names the gateway never saw (uploaded elsewhere) leave the call to balance over the credentials
that could hold them (Gemini API keys, not Vertex express keys or accounts): Google judges them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from gemini_gateway.affinity.owners import OwnerStore
from gemini_gateway.affinity.refs import BINDING_METHODS, named_resources
from gemini_gateway.affinity.uploads import UploadSessions
from gemini_gateway.backends.base import UpstreamCall
from gemini_gateway.errors import GatewayError, NoCredentialAvailable, RequestError
from gemini_gateway.pool.credential import Credential
from gemini_gateway.pool.pool import CredentialPool


class Affinity:
    """Owners of files and cached contents, open upload sessions, and the binder over them."""

    def __init__(self, pool: CredentialPool, owners: OwnerStore | None = None) -> None:
        self.pool = pool
        self.owners = owners or OwnerStore()
        self.uploads = UploadSessions()
        # Whether a credential's upstream has the Files API and cached contents (new_affinity
        # asks its backend); only those can hold what a call names.
        self.can_hold: Callable[[Credential], bool] = lambda credential: True

    async def bind(self, call: UpstreamCall) -> None:
        if call.allowed is not None or call.method not in BINDING_METHODS:
            return
        names = named_resources(call.body)
        if names:
            call.allowed = await self.pin(names, call.model)

    async def pin(self, names: set[str], model: str | None) -> frozenset[str] | None:
        """The credentials a call naming `names` may go to: the one whose project holds those the
        gateway knows, else every credential that could hold them; None when nothing is named."""
        if not names:
            return None
        holders: dict[str, str] = {}
        for name in sorted(names):
            owner = await self.owners.owner(name)
            if owner is not None:
                holders[name] = owner.credential_id
        if not holders:
            return self._possible_holders(names)
        if len(set(holders.values())) > 1:
            listed = ", ".join(sorted(holders))
            raise RequestError(
                f"this request names {listed}, which were created with different upstream credentials; "
                "a file or cached content exists only in its own project, so no single call can use them all"
            )
        name, credential_id = next(iter(holders.items()))
        credential = self.pool.get(credential_id)
        if credential is None:
            raise RequestError(
                f"{name} was created with an upstream credential that is no longer in the pool",
                status_code=404,
            )
        check_ready(credential, model, name, self.pool.clock())
        return frozenset({credential_id})

    def _possible_holders(self, names: set[str]) -> frozenset[str]:
        able = frozenset(c.id for c in self.pool if self.can_hold(c))
        if not able:
            raise GatewayError(
                f"this request names {', '.join(sorted(names))}, which only the project of a Gemini API key "
                "can hold; the pool has no Gemini API keys (GEMINI_API_KEYS)",
                status_code=501,
            )
        return able


def check_ready(credential: Credential, model: str | None, name: str, now: float) -> None:
    """Raise the error a client should see when the owner of `name` cannot take a call now."""
    if not credential.enabled or credential.disabled_reason is not None:
        reason = f" ({credential.disabled_reason})" if credential.disabled_reason else ""
        raise NoCredentialAvailable(
            f"{name} lives in the project of upstream credential {credential.label}, which is disabled{reason}",
            retry_after=None,
            status_code=503,
        )
    until = credential.cooling_until(model, now)
    if until is not None:
        wait = until - now
        scope = f" for {model}" if model else ""
        raise NoCredentialAvailable(
            f"{name} lives in the project of upstream credential {credential.label}, which is rate limited"
            f"{scope}; retry after {math.ceil(wait)}s (no other credential can use it)",
            retry_after=wait,
        )
