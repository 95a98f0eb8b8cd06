"""Who may call the model API, over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx

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
