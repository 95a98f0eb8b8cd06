"""Files of the projects this gateway replaces: read by `admin.imports`, taken in by `/api/import`.

The samples under tests/admin/samples are shaped as gemini-balance, gcli2api / Gemini CLI and
AIstudioProxyAPI write them.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest

from gemini_gateway.admin.imports import ImportFormatError, detect_kind, env_list, read_import
from gemini_gateway.fake_upstream import FakeState
from tests.admin.helpers import admin_client
from tests.conftest import GatewayFactory

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def test_a_gemini_balance_env_gives_its_keys_and_tokens() -> None:
    plan = read_import(sample("gemini-balance.env"))
    assert plan.kind == "gemini-balance"
    assert plan.keys == [f"AIzaSyBalanceSampleKeyNumber000{i}" for i in (1, 2, 3)]
    assert plan.tokens == [
        ("gemini-balance ALLOWED_TOKENS #1", "sk-balance-allowed-token-aaaa1111"),
        ("gemini-balance ALLOWED_TOKENS #2", "sk-balance-allowed-token-bbbb2222"),
        ("gemini-balance AUTH_TOKEN", "sk-balance-auth-token-cccc3333"),
    ]
    # PAID_KEY and the rest are settings of gemini-balance's own, named but not taken in.
    assert "PAID_KEY" in plan.skipped_settings and "MAX_FAILURES" in plan.skipped_settings
    assert "API_KEYS" not in plan.skipped_settings
    assert not plan.accounts and not plan.profiles


def test_an_env_with_a_list_over_lines_quotes_and_a_repeated_auth_token() -> None:
    plan = read_import(sample("gemini-balance-multiline.env"), "gemini-balance")
    assert plan.keys == ["AIzaSyBalanceMultiLineKey00000001", "AIzaSyBalanceMultiLineKey00000002"]
    # AUTH_TOKEN is also in ALLOWED_TOKENS: one client token, not two.
    assert [t for _, t in plan.tokens] == ["sk-multi-token-one-1111", "sk-multi-token-two-2222"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('["a1","b2"]', ["a1", "b2"]),
        ("['a1', 'b2',]", ["a1", "b2"]),
        ("a1, b2,a1", ["a1", "b2"]),
        ("[]", []),
        ("", []),
    ],
)
def test_env_lists_in_every_spelling(value: str, expected: list[str]) -> None:
    assert env_list(value) == expected


def test_gcli2api_and_gemini_cli_credential_files_give_accounts() -> None:
    one = read_import(sample("oauth_creds.json"))
    assert one.kind == "oauth" and len(one.accounts) == 1
    account = one.accounts[0]
    assert account.refresh_token.startswith("1//0gSampleRefreshToken")
    assert account.project_id == "gcli-sample-project-42"
    assert account.client_secret == "GOCSPX-sampleClientSecretForTests0000"
    assert account.email == "sample.operator@example.com"
    assert account.expiry > 1.9e9  # 2031, read from the ISO expiry
    two = read_import(sample("gemini-cli-oauth_creds.json"))
    assert [a.access_token is not None for a in two.accounts] == [True, True]  # `token` is read too
    assert two.accounts[0].expiry == 1924992000.0 and two.accounts[1].project_id == "cli-second-project"


def test_an_aistudio_auth_profile_is_named_after_its_file() -> None:
    plan = read_import(
        sample("aistudio-auth-profile.json"), filename="auth_profiles/active/work account.json"
    )
    assert plan.kind == "aistudio"
    [(name, state)] = plan.profiles
    assert name == "work-account"
    assert [c["name"] for c in state["cookies"]][:3] == ["SID", "__Secure-1PSID", "__Secure-3PSID"]
    assert state["origins"][0]["origin"] == "https://aistudio.google.com"
    assert read_import(sample("aistudio-auth-profile.json")).profiles[0][0] == "imported"


def test_plain_key_lists_and_detection() -> None:
    assert detect_kind("AIzaSyPlainKeyOne0001\nAIzaSyPlainKeyTwo0002\n") == "keys"
    assert read_import("AIzaSyPlainKeyOne0001, x").keys == ["AIzaSyPlainKeyOne0001"]
    assert detect_kind(sample("gemini-balance.env")) == "gemini-balance"


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ('{"hello": "world"}', "auto", "neither a credential file"),
        ('{"access_token": "ya29.secret-value"}', "oauth", "no refresh_token"),
        ('{"cookies": [{"name": "SID"}]}', "aistudio", "name, value and domain"),
        ("MAX_FAILURES=3\n", "gemini-balance", "no API_KEYS"),
        ("not json", "oauth", "not JSON"),
        ("x", "csv", "unknown import kind"),
    ],
)
def test_unusable_files_say_why_without_quoting_them(text: str, kind: str, message: str) -> None:
    with pytest.raises(ImportFormatError, match=message) as caught:
        read_import(text, kind)
    assert "secret-value" not in str(caught.value)


def test_the_import_route_takes_each_format_in_and_echoes_no_secret(
    gateway_factory: GatewayFactory, fake: FakeState, tmp_path: Path
) -> None:
    env = sample("gemini-balance.env")
    with gateway_factory(gemini_api_keys=[], aistudio_profiles_dir=tmp_path / "profiles") as running:
        client = admin_client(running.url)
        imported = client.post("/api/import", json={"content": env})
        assert imported.status_code == 201, imported.text
        body = imported.json()
        assert body["kind"] == "gemini-balance"
        assert body["keys"]["added"] == ["AIza...0001", "AIza...0002", "AIza...0003"]
        assert [t["hint"] for t in body["tokens"]["added"]] == ["…1111", "…2222", "…3333"]
        # An imported token is a client token: the official SDK gets an answer with it.
        sdk = openai.OpenAI(base_url=f"{running.url}/v1", api_key="sk-balance-auth-token-cccc3333")
        answer = sdk.chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "first call"}]
        )
        assert answer.choices[0].message.content
        refused = httpx.post(
            f"{running.url}/v1/chat/completions",
            json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}]},
            headers={"authorization": "Bearer sk-not-imported"},
        )
        assert refused.status_code == 403  # a wrong token, now that tokens are required
        again = client.post("/api/import", json={"content": env, "kind": "gemini-balance"})
        assert again.json()["keys"]["added"] == [] and again.json()["keys"]["existing"] == 3
        assert again.json()["tokens"] == {"added": [], "existing": 3}
        names = [t["name"] for t in client.get("/api/tokens").json()["tokens"]]
        assert "gemini-balance AUTH_TOKEN" in names

        accounts = client.post(
            "/api/import", json={"content": sample("gemini-cli-oauth_creds.json"), "kind": "auto"}
        )
        assert accounts.status_code == 201, accounts.text
        assert [a["new"] for a in accounts.json()["accounts"]] == [True, True]
        kinds = [c["kind"] for c in client.get("/api/keys").json()["credentials"]]
        assert kinds.count("oauth") == 2

        profile = client.post(
            "/api/import",
            json={"content": sample("aistudio-auth-profile.json"), "filename": "work.json"},
        )
        assert profile.status_code == 201, profile.text
        assert profile.json()["profiles"][0]["name"] == "work"
        assert (tmp_path / "profiles" / "work.json").is_file()

        bad = client.post("/api/import", json={"content": '{"hello": 1}'})
        assert bad.status_code == 400 and "neither a credential file" in bad.text
        empty = client.post("/api/import", json={"content": "API_KEYS=[]\n"})
        assert empty.status_code == 400 and "nothing to import" in empty.text
        for response in (imported, again, accounts, profile, bad):
            for secret in (
                "AIzaSyBalanceSampleKeyNumber0001",
                "sk-balance-auth-token-cccc3333",
                "1//0gGeminiCliSampleRefreshTokenOne",
                "ya29.a0AfB_geminiCliSample",
                "g.a000sampleSidCookieValue",
            ):
                assert secret not in response.text
