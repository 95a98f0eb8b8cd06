"""Who may call the model API, over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from gemini_gateway.auth import Authenticator, ClientIdentity, token_digest
from tests.admin.helpers import bearer
from tests.conftest import ADMIN_TOKEN, GatewayFactory

CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}


def test_a_client_token_equal_to_the_admin_token_does_not_open_the_model_api(
    gateway_factory: GatewayFactory, fake: Any
) -> None:
    # `serve` refuses this setting (tests/test_cli.py); an app built directly must still not be open.
    with (
        gateway_factory(gateway_tokens=[ADMIN_TOKEN]) as running,
        httpx.Client(base_url=running.url) as client,
    ):
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 401
        assert client.post("/v1/chat/completions", json=CHAT, headers=bearer("a-stranger")).status_code == 403
        assert client.post("/v1/chat/completions", json=CHAT, headers=bearer(ADMIN_TOKEN)).status_code == 200


def test_a_remembered_digest_never_outlives_its_token_nor_keeps_a_wrong_one() -> None:
    auth = Authenticator(["client-one"], ADMIN_TOKEN)
    first = auth.identify("client-one")
    assert first is not None and auth.identify("client-one") is first  # the second from the memo
    for _ in range(2):
        assert auth.identify("made-up") is None
    assert "made-up" not in auth._known  # a wrong token is not kept in clear
    auth.revoke(token_digest("client-one"))
    assert auth.identify("client-one") is None  # revoked after it was remembered
    # Past the bound the memo starts again; every token still identifies its caller.
    tokens = [f"stored-{i}" for i in range(600)]
    for i, token in enumerate(tokens):
        auth.register(token_digest(token), ClientIdentity(id=f"token:{i}", tier="user"))
    for _ in range(2):
        assert [identity.id for t in tokens if (identity := auth.identify(t))] == [
            f"token:{i}" for i in range(600)
        ]
    assert len(auth._known) <= 256
