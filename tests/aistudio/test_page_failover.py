"""Profiles next to API keys, expired logins, user scripts, and the DOM and helper tiers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from google import genai
from google.genai import errors as genai_errors
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from gemini_gateway.aistudio.quota import day_key
from gemini_gateway.fake_upstream import FakeState
from tests.aistudio.conftest import ADMIN, CHROMIUM, MODEL, page_gateway, profile_state, wait_for
from tests.aistudio.standin_server import StandinState
from tests.conftest import KEYS, RunningGateway
from tests.servers import serve_in_thread

pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/test-browser.sh)"
)

EXTRA_MODELS = """// ==UserScript==
// @name         Extra models
// @match        http://127.0.0.1:*/*
// @run-at       document-start
// ==/UserScript==
const open = XMLHttpRequest.prototype.open;
XMLHttpRequest.prototype.open = function (method, url, ...rest) {
  if (String(url).includes("ListModels")) {
    this.addEventListener("readystatechange", () => {
      if (this.readyState !== 4) return;
      const data = JSON.parse(this.responseText);
      data[0].push(["models/userscript-model", null, "001", "Added by a user script"]);
      Object.defineProperty(this, "responseText", { value: JSON.stringify(data) });
    });
  }
  return open.call(this, method, url, ...rest);
};
GM_setValue("loaded", true);
"""


def pool_of(gateway: RunningGateway) -> dict[str, dict[str, Any]]:
    credentials = httpx.get(gateway.url + "/api/pool", headers=ADMIN).json()["credentials"]
    return {c["label"]: c for c in credentials}


def contexts_open(gateway: RunningGateway) -> int:
    status = httpx.get(gateway.url + "/api/aistudio/profiles", headers=ADMIN).json()
    return int(status["browser"]["contexts_open"])


def ask(client: genai.Client, prompt: str, model: str = MODEL) -> str:
    return "".join(c.text or "" for c in client.models.generate_content_stream(model=model, contents=prompt))


QUOTA_COOLDOWN = 4  # AISTUDIO_QUOTA_COOLDOWN here; the pool's own first backoff would be 30s
# How long a test waits for that cooldown to end: room for a busy machine, still short of 30s.
COOLDOWN_ENDS = QUOTA_COOLDOWN + 20


@pytest.fixture(scope="module")
def keyed(
    standin: tuple[str, StandinState],
    tmp_path_factory: pytest.TempPathFactory,
    fake_upstream: tuple[str, FakeState],
) -> Iterator[RunningGateway]:
    """One profile and one API key (the fake upstream) in the same pool."""
    url, _ = standin
    overrides = {
        "gemini_api_keys": KEYS[:1],
        "gemini_base_url": fake_upstream[0],
        "aistudio_quota_cooldown": QUOTA_COOLDOWN,
    }
    with page_gateway(tmp_path_factory.mktemp("keyed"), url, {"alice": None}, **overrides) as gw:
        yield gw


def test_a_frozen_page_is_reclaimed_by_the_watchdog_and_the_call_fails_over_to_a_key(
    keyed: RunningGateway, site: StandinState, fake: FakeState
) -> None:
    # The page's JavaScript spins forever on the first chunk: Playwright's own calls into the page
    # never return either, so only the watchdog can end the call, free the turn, replace the page.
    saves = pool_of(keyed)["alice"]["meta"]["state_saves"]
    site.modes["alice"] = "freeze"
    client = genai.Client(api_key="client", http_options={"base_url": keyed.url, "api_version": "v1beta"})
    for i in range(2):  # the pool's turn rotates: one of two calls starts on alice
        assert "heard" not in ask(client, f"F{i}")  # the fake upstream answered, not a page
        if site.calls_of("alice"):
            break
    frozen = len(site.calls_of("alice"))
    wait_for(lambda: pool_of(keyed)["alice"]["meta"]["lock"] is None, 60, "the frozen page's turn freed")
    alice = pool_of(keyed)["alice"]
    assert 1 <= frozen <= 2 and alice["failures"] == frozen and alice["cooldowns"] == {}  # no reason to cool
    assert "stuck at 'streaming'" in (alice["last_error"] or "") and alice["meta"]["counts"]["reclaimed"] >= 1
    # Its browser context is closed soon after, not once a read of its storage times out (the
    # action timeout, 10 s here): a hung renderer spins on a core until its context is closed.
    wait_for(lambda: contexts_open(keyed) == 0, 5, "the frozen page's context closed")
    assert pool_of(keyed)["alice"]["meta"]["state_saves"] == saves + 1  # its cookies were saved...
    profile = orjson.loads((keyed.gateway.settings.aistudio_profiles_dir / "alice.json").read_bytes())
    assert profile["cookies"] and profile["origins"]  # ...and the file's localStorage kept

    site.modes.clear()  # a new page serves again
    answers = [ask(client, f"A{i}") for i in range(2)]
    assert any("alice heard 'A" in a for a in answers)
    assert pool_of(keyed)["alice"]["meta"]["page"]["pages_created"] >= 2  # the frozen one was replaced


def test_quota_on_the_page_cools_the_profile_the_calls_rotate_and_it_comes_back_by_itself(
    keyed: RunningGateway, site: StandinState, fake: FakeState
) -> None:
    wait_for(lambda: pool_of(keyed)["alice"]["meta"]["lock"] is None, what="alice idle")
    site.modes["alice"] = "quota"
    client = genai.Client(api_key="client", http_options={"base_url": keyed.url, "api_version": "v1beta"})
    for i in range(2):  # the pool's turn rotates: one of two calls starts on alice
        assert ask(client, f"Q{i}")  # served by the key after alice's 429
    assert len(site.calls_of("alice")) == 1
    alice = pool_of(keyed)["alice"]
    assert 0 < alice["cooldowns"][MODEL] <= QUOTA_COOLDOWN  # RetryInfo from the page backend, not a backoff
    assert "out of quota" in (alice["last_error"] or "")
    for i in range(3):
        assert "heard" not in ask(client, f"R{i}")
    assert len(site.calls_of("alice")) == 1  # cooling: never chosen meanwhile

    site.modes.clear()  # the quota is back, and no restart is needed to use it
    wait_for(lambda: not pool_of(keyed)["alice"]["cooldowns"], COOLDOWN_ENDS, "the cooldown to end")
    # On failure, say where alice's call went (its tier, last error, counts): the flake hunt's clue.
    try:
        answers = [ask(client, f"B{i}") for i in range(2)]
    except genai_errors.APIError as exc:
        raise AssertionError(pool_of(keyed)) from exc  # the key's entry too: why it did not answer
    assert any("alice heard 'B" in a for a in answers), (answers, pool_of(keyed)["alice"])


def test_the_older_warning_callout_cools_the_profile_at_once(
    keyed: RunningGateway, site: StandinState, fake: FakeState
) -> None:
    # The older page shows "You are out of free generations" in a warning callout while its RPC
    # hangs: that is the quota message, not page silence; the profile cools and is not retried.
    wait_for(lambda: not pool_of(keyed)["alice"]["cooldowns"], COOLDOWN_ENDS, "alice to be usable")
    wait_for(lambda: pool_of(keyed)["alice"]["meta"]["lock"] is None, what="alice idle")
    site.modes["alice"] = "warning"
    client = genai.Client(api_key="client", http_options={"base_url": keyed.url, "api_version": "v1beta"})
    for i in range(2):  # the pool's turn rotates: one of two calls starts on alice
        assert "heard" not in ask(client, f"W{i}")  # served by the key
    assert len(site.calls_of("alice")) == 1
    alice = pool_of(keyed)["alice"]
    assert 0 < alice["cooldowns"].get(MODEL, 0) <= QUOTA_COOLDOWN, alice["last_error"]
    assert "out of free generations" in (alice["last_error"] or "")
    for i in range(2):
        assert "heard" not in ask(client, f"X{i}")
    assert len(site.calls_of("alice")) == 1  # cooling: not tried again
    wait_for(lambda: all(c.ended for c in site.calls_of("alice")), what="the hanging run stopped")
    site.modes.clear()


def test_an_expired_login_disables_the_profile_until_it_is_saved_again(
    standin: tuple[str, StandinState], tmp_path: Path, site: StandinState
) -> None:
    url, _ = standin
    with page_gateway(tmp_path, url, {"expired": None}, aistudio_warmup=True) as gateway:
        wait_for(lambda: pool_of(gateway)["expired"]["disabled_reason"] is not None, 60, "the warm-up check")
        expired = pool_of(gateway)["expired"]
        assert "login expired" in expired["disabled_reason"] and expired["meta"]["state"] == "login_required"
        failed = httpx.post(
            gateway.url + f"/v1beta/models/{MODEL}:generateContent",
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        )
        assert failed.status_code == 503 and "disabled" in failed.text

        # Logged in again (the new state's cookie is a working one): served at once.
        fresh = profile_state(url, "revived")
        saved = httpx.post(
            gateway.url + "/api/aistudio/profiles",
            headers=ADMIN,
            json={"name": "expired", "storage_state": fresh},
        )
        assert saved.status_code == 201 and saved.json()["credential"]["disabled_reason"] is None
        client = genai.Client(
            api_key="client", http_options={"base_url": gateway.url, "api_version": "v1beta"}
        )
        assert "revived heard 'Back'" in ask(client, "Back")


def test_rotated_cookies_are_saved_back_and_used_after_a_restart(
    standin: tuple[str, StandinState], tmp_path: Path, site: StandinState
) -> None:
    url, _ = standin
    profile = tmp_path / "profiles" / "alice.json"

    def rotating_cookie() -> str | None:
        cookies = orjson.loads(profile.read_bytes())["cookies"]
        return next((c["value"] for c in cookies if c["name"] == "SIDTS"), None)

    settings = {"aistudio_state_save_requests": 2}
    with page_gateway(tmp_path, url, {"alice": None}, **settings) as gateway:
        client = genai.Client(
            api_key="client", http_options={"base_url": gateway.url, "api_version": "v1beta"}
        )
        assert "alice heard 'One'" in ask(client, "One")  # the page's answer rotated the cookie
        assert rotating_cookie() is None  # one call: not yet saved
        assert "alice heard 'Two'" in ask(client, "Two")
        wait_for(lambda: rotating_cookie() == "rot-2", what="the state saved after two calls")
        assert "alice heard 'Three'" in ask(client, "Three")
        assert rotating_cookie() == "rot-2"
    assert rotating_cookie() == "rot-3"  # saved at the clean stop
    assert profile.stat().st_mode & 0o777 == 0o600 and not list(profile.parent.glob("*.tmp"))
    assert [c.rotated for c in site.calls] == [None, "rot-1", "rot-2"]

    with page_gateway(tmp_path, url, {}, **settings) as gateway:  # the same profile file
        client = genai.Client(
            api_key="client", http_options={"base_url": gateway.url, "api_version": "v1beta"}
        )
        assert "alice heard 'Again'" in ask(client, "Again")
        assert pool_of(gateway)["alice"]["disabled_reason"] is None
    assert site.calls[-1].rotated == "rot-3"  # the restarted gateway's browser sent the saved cookie
    assert rotating_cookie() == "rot-4"


def test_a_soft_limit_rotates_profiles_before_google_refuses_and_a_hard_limit_stops_them(
    standin: tuple[str, StandinState], tmp_path: Path, site: StandinState
) -> None:
    url, _ = standin
    # alice spent 25 tokens of the model today already (saved by an earlier run); each stand-in
    # answer costs 14 (usage 10 + one per chunk).
    tmp_path.mkdir(exist_ok=True)
    ledger = {"day": day_key(time.time()), "used": {"alice": {MODEL: 25}}}
    (tmp_path / "aistudio-usage.json").write_bytes(orjson.dumps(ledger))
    limits = {"aistudio_quota_soft_limit": 20, "aistudio_quota_hard_limit": 45}
    with page_gateway(tmp_path, url, {"alice": None, "bob": None}, **limits) as gateway:
        client = genai.Client(
            api_key="client", http_options={"base_url": gateway.url, "api_version": "v1beta"}
        )
        for i in range(2):  # bob is under the soft limit: alice gives way (the pool alternates else)
            assert f"bob heard 'S{i}'" in ask(client, f"S{i}")
        assert pool_of(gateway)["alice"]["failures"] == 0 and not pool_of(gateway)["alice"]["cooldowns"]
        served = 2
        while served < 10:  # both past soft: each serves up to its hard limit, then stops
            try:
                assert "heard" in ask(client, f"H{served}")
            except genai_errors.ClientError as exc:
                assert exc.code == 429
                break
            served += 1
        pool = pool_of(gateway)
    # alice 25 -> 39 -> 53, bob 14 -> 28 -> 42 -> 56: six answers, then Google is not asked again
    assert served == 6 and len(site.calls) == 6
    assert [c.account for c in site.calls[:2]] == ["bob", "bob"]
    for name in ("alice", "bob"):
        assert pool[name]["cooldowns"][MODEL] > 60  # until the quota day ends
        assert pool[name]["meta"]["tokens_today"][MODEL]["used"] >= 45
    saved = orjson.loads((tmp_path / "aistudio-usage.json").read_bytes())
    assert saved["used"] == {"alice": {MODEL: 53}, "bob": {MODEL: 56}}


def test_a_user_script_adds_a_model_and_the_dom_tier_reads_the_answer(
    standin: tuple[str, StandinState], tmp_path: Path, site: StandinState
) -> None:
    url, _ = standin
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "extra-models.user.js").write_text(EXTRA_MODELS)
    with page_gateway(
        tmp_path, url, {"alice": None}, aistudio_scripts_dir=scripts, aistudio_capture="dom"
    ) as gw:
        client = genai.Client(api_key="client", http_options={"base_url": gw.url, "api_version": "v1beta"})
        text = ask(client, "Custom", model="userscript-model")
        assert "alice heard 'Custom'" in text and "model=userscript-model" in text
        assert site.calls[0].model == "userscript-model"
        meta = pool_of(gw)["alice"]["meta"]
        assert meta["counts"]["tier_dom"] == 1 and "tier_rpc" not in meta["counts"]
        assert "userscript-model" in meta["models"]  # the hook saw the list as the page did

        missing = httpx.post(
            gw.url + "/v1beta/models/no-such-model:generateContent",
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
            timeout=30,
        )
        assert missing.status_code == 502 and "does not offer the model no-such-model" in missing.text
        listed = httpx.get(gw.url + "/api/aistudio/profiles", headers=ADMIN).json()
        assert listed["browser"]["user_scripts"] == ["Extra models"]


def helper_app(seen: list[dict[str, Any]]) -> Starlette:
    """A tier-2 helper: answers with Gemini SSE events, as the real helper would after its call."""

    async def answer(request: Request) -> StreamingResponse:
        payload = orjson.loads(await request.body())
        seen.append(payload)

        async def events() -> Any:
            for i, word in enumerate(["from ", "the ", "helper"]):
                event: dict[str, Any] = {
                    "candidates": [{"content": {"role": "model", "parts": [{"text": word}]}}]
                }
                if i == 2:
                    event["candidates"][0]["finishReason"] = "STOP"
                yield b"data: " + orjson.dumps(event) + b"\r\n\r\n"
                await asyncio.sleep(0.05)

        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[Route("/call", answer, methods=["POST"])])


def test_the_helper_tier_answers_without_a_browser(standin: tuple[str, StandinState], tmp_path: Path) -> None:
    url, _ = standin
    seen: list[dict[str, Any]] = []
    with serve_in_thread(helper_app(seen)) as helper:
        overrides = {
            "aistudio_capture": "helper",
            "aistudio_helper_url": helper + "/call",
            "aistudio_warmup": False,
        }
        with page_gateway(tmp_path, url, {"alice": None}, **overrides) as gateway:
            state = profile_state(url, "alice")
            state["cookies"].append(
                {**state["cookies"][0], "name": "SAPISID", "value": "g-1", "domain": ".google.com"}
            )
            (tmp_path / "profiles" / "alice.json").write_bytes(orjson.dumps(state))
            client = genai.Client(
                api_key="client", http_options={"base_url": gateway.url, "api_version": "v1beta"}
            )
            assert ask(client, "Via helper") == "from the helper"
            assert seen[0]["profile"] == "alice" and seen[0]["cookies"] == "SAPISID=g-1"  # Google's only
            assert seen[0]["request"]["contents"][0]["parts"][0]["text"] == "Via helper"
            assert gateway.gateway.aistudio.browser.running is False
            assert pool_of(gateway)["alice"]["meta"]["counts"]["tier_helper"] == 1


def test_the_login_command_saves_what_the_browser_holds_once_the_page_shows_its_prompt_box(
    standin: tuple[str, StandinState], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from gemini_gateway.cli import app

    url, _ = standin
    monkeypatch.setenv("AISTUDIO_URL", url)
    monkeypatch.setenv("AISTUDIO_PROFILES_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["aistudio", "login", "zed", "--headless", "--timeout", "0.5"])
    assert result.exit_code == 0, result.output
    saved = orjson.loads((tmp_path / "zed.json").read_bytes())
    assert saved["origins"][0]["origin"] == url  # the page's localStorage came along
    assert "aiStudioUserPreference" in str(saved["origins"][0]["localStorage"])


def test_more_profiles_than_browser_contexts_take_turns(
    standin: tuple[str, StandinState], tmp_path: Path, site: StandinState
) -> None:
    url, _ = standin
    accounts = {"ann": None, "ben": None}
    with page_gateway(tmp_path, url, accounts, aistudio_max_contexts=1, aistudio_warmup=False) as gateway:
        service = gateway.gateway.aistudio
        client = genai.Client(
            api_key="client", http_options={"base_url": gateway.url, "api_version": "v1beta"}
        )
        for i in range(2):
            assert "heard" in ask(client, f"T{i}")
            assert service._open_contexts <= 1
        assert {c.account for c in site.calls} == set(accounts)  # each got the one context in turn

        site.chunks, site.delay = 4, 0.1
        with ThreadPoolExecutor(2) as pool:  # the second call waits for the first page to go idle
            answers = list(pool.map(lambda i: ask(client, f"C{i}"), range(2)))
        assert all(f"heard 'C{i}'" in a for i, a in enumerate(answers))
        assert contexts_open(gateway) == 1


def test_a_remote_login_is_driven_by_screenshots_clicks_and_typing_and_saved_as_the_profile(
    standin: tuple[str, StandinState], site: StandinState, tmp_path: Path
) -> None:
    url, _ = standin
    with page_gateway(tmp_path, url, {"carol": None}) as gateway:
        # carol's saved login has expired: a headless server has no window to sign in again in.
        (tmp_path / "profiles" / "carol.json").write_bytes(orjson.dumps(profile_state(url, "expired")))
        api = f"{gateway.url}/api/aistudio/logins"
        window = httpx.post(api, json={"name": "carol"}, headers=ADMIN, timeout=30).json()
        assert (
            window["name"] == "carol" and window["url"].endswith("/ServiceLogin") and not window["signed_in"]
        )
        shot = httpx.get(f"{api}/{window['id']}/screenshot", headers=ADMIN, timeout=30)
        assert shot.headers["content-type"] == "image/png" and shot.content.startswith(b"\x89PNG")
        refused = httpx.post(f"{api}/{window['id']}/finish", headers=ADMIN, timeout=30)
        assert refused.status_code == 409  # not signed in yet

        def act(action: dict[str, Any]) -> dict[str, Any]:
            answer = httpx.post(f"{api}/{window['id']}/input", json=action, headers=ADMIN, timeout=30)
            assert answer.status_code == 200, answer.text
            return answer.json()  # type: ignore[no-any-return]

        act({"click": [250, 215]})  # the email field, where the screenshot shows it
        act({"type": "carol@example.com"})
        act({"key": "Enter"})
        wait_for(
            lambda: httpx.get(f"{api}/{window['id']}", headers=ADMIN, timeout=30).json()["signed_in"],
            what="AI Studio's prompt box after signing in",
        )
        assert (
            httpx.post(f"{api}/{window['id']}/input", json={"key": "F12"}, headers=ADMIN).status_code == 400
        )
        saved = httpx.post(f"{api}/{window['id']}/finish", headers=ADMIN, timeout=30)
        assert saved.status_code == 201 and saved.json()["name"] == "carol"
        assert httpx.get(f"{api}/{window['id']}", headers=ADMIN).status_code == 404  # closed
        cookies = orjson.loads((tmp_path / "profiles" / "carol.json").read_bytes())["cookies"]
        assert {c["name"]: c["value"] for c in cookies}["SID"] == "carol"

        # The new login serves at once.
        body = {"contents": [{"role": "user", "parts": [{"text": "Hello again"}]}]}
        answer = httpx.post(f"{gateway.url}/v1beta/models/{MODEL}:generateContent", json=body, timeout=60)
        assert answer.status_code == 200 and "carol heard 'Hello again'" in answer.text
