"""Schemathesis over the gateway's own OpenAPI (admin API, health), over real HTTP: no 5xx.

Every operation gets inputs that fit its schema and inputs that do not, sent with the admin
token to a gateway whose every upstream (Gemini, OAuth, Code Assist, Vertex) is the fake.
Bounded (`FUZZ_EXAMPLES` per operation and mode) to stay near a minute on two cores.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.admin.helpers import USER_TOKEN, bearer
from tests.conftest import ADMIN_TOKEN, GatewayFactory

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
# Open a real browser on an AI Studio profile: not an input check, and slow.
SKIPPED = {("POST", "/api/aistudio/profiles/{name}/check"), ("POST", "/api/aistudio/logins")}
SIGN_IN = ("POST", "/api/session")

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(600)]


def test_no_admin_operation_answers_5xx_to_any_input(
    gateway_factory: GatewayFactory, fake_url: str, tmp_path: Path
) -> None:
    upstreams = {
        "code_assist_base_url": f"{fake_url}/v1internal",
        "vertex_base_url": fake_url,
        "oauth_token_url": f"{fake_url}/token",
        "oauth_auth_url": f"{fake_url}/o/oauth2/v2/auth",
        "oauth_creds_dir": tmp_path / "creds",
        "gateway_tokens": [USER_TOKEN],
    }
    failures: list[str] = []
    tried = 0
    statuses: dict[int, int] = {}
    with gateway_factory(**upstreams) as running:
        spec = httpx.get(f"{running.url}/openapi.json").raise_for_status().json()
        schema = schemathesis.openapi.from_dict(spec)
        operations = [result.ok() for result in schema.get_all_operations()]
        # Wrong tokens at sign-in trip the wrong-token brake for this address: that one goes last.
        operations.sort(key=lambda op: (op.method.upper(), op.path) == SIGN_IN)
        for operation in operations:
            if (operation.method.upper(), operation.path) in SKIPPED:
                continue
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @given(case=operation.as_strategy(generation_mode=mode))
                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
                def one(case: schemathesis.Case) -> None:
                    nonlocal tried
                    tried += 1
                    # The admin token on every call, also where negative mode made up a wrong one:
                    # wrong tokens are the brake's subject (and would trip it), not input checks.
                    case.headers = {**(case.headers or {}), **bearer(ADMIN_TOKEN)}
                    response = case.call(base_url=running.url, timeout=30)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    if response.status_code >= 500:
                        failures.append(
                            f"{response.status_code} {case.method} {case.formatted_path} "
                            f"query={case.query} body={case.body!r:.300}: {response.text[:300]}"
                        )

                try:
                    one()
                except Unsatisfiable:
                    assert mode is GenerationMode.NEGATIVE  # nothing to get wrong: no parameters, no body
    print(f"schemathesis: {tried} inputs, {len(failures)} answered 5xx; by status {sorted(statuses.items())}")  # noqa: T201
    assert not failures, "\n".join(failures)
