"""The page backend's pure parts and its turn/watchdog logic, without a browser."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from gemini_gateway.aistudio import page_spec, scripts
from gemini_gateway.aistudio.config import PageConfig
from gemini_gateway.aistudio.instance import PageInstance
from gemini_gateway.aistudio.job import PageJob
from gemini_gateway.aistudio.profiles import ProfileError, ProfileStore, check_name
from gemini_gateway.aistudio.prompt import PageRequest, Unsupported, page_request, transcript
from gemini_gateway.aistudio.turns import Ticket, TurnQueue
from gemini_gateway.errors import UpstreamUnreachable
from tests.aistudio.standin_server import (
    StandinCall,
    answer_chunks,
    chunk,
    function_part,
    text_part,
    thought_part,
)
from tests.conftest import RunningGateway

# --- page_spec: the RPC stream ------------------------------------------------------------------


def _body() -> str:
    call = StandinCall(
        "ann", "m", 'hi "quoted" [brackets] {braces} \\ back', None, [], 1, 1, 1, [1, -1, "High"], [], False
    )
    chunks = answer_chunks(call, 3)
    chunks.append(
        chunk([function_part("lookup", {"q": "x", "n": 2.5, "ok": False, "list": [1, "two"]})], finish=1)
    )
    return "[" + ",".join(orjson.dumps(c).decode() for c in chunks) + "]"


@pytest.mark.parametrize("size", [1, 2, 7, 64, 100_000])
def test_the_rpc_stream_parses_the_same_whatever_the_pieces(size: int) -> None:
    body = _body()
    parser = page_spec.RpcStreamParser()
    events = [e for i in range(0, len(body), size) for e in parser.feed(body[i : i + size])]
    parts = [p for e in events for c in e["candidates"] for p in c["content"]["parts"]]
    assert parts[0] == {"text": "Weighing the words. ", "thought": True}
    text = "".join(p["text"] for p in parts if "text" in p and not p.get("thought"))
    assert text.startswith("ann heard 'hi \"quoted\" [brackets] {braces} \\ back'.")
    assert parts[-1] == {
        "functionCall": {"name": "lookup", "args": {"q": "x", "n": 2.5, "ok": False, "list": [1, "two"]}}
    }
    finishes = [c.get("finishReason") for e in events for c in e["candidates"]]
    assert finishes.count("STOP") == 2 and events[-2]["usageMetadata"]["promptTokenCount"] == 10


def test_each_chunk_comes_out_as_soon_as_it_is_complete() -> None:
    parser = page_spec.RpcStreamParser()
    first = orjson.dumps(chunk([text_part("one")])).decode()
    assert parser.feed(")]}'\n[" + first[:-1]) == []
    assert parser.feed(first[-1]) == [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "one"}]}, "index": 0}]}
    ]
    assert parser.feed(",") == [] and parser.feed("]") == []


def test_struct_values_and_errors_and_models() -> None:
    assert page_spec.decode_struct(
        [[["a", [0]], ["b", [None, None, None, None, [[["c", [None, None, "d"]]]]]]]]
    ) == {
        "a": None,
        "b": {"c": "d"},
    }
    assert page_spec.decode_struct([]) == {}
    assert page_spec.parse_rpc_error(403, '[,[7,"The caller does not have permission"]]') == (
        403,
        "The caller does not have permission",
    )
    assert page_spec.parse_rpc_error(500, '[8,"Quota exceeded"]') == (429, "Quota exceeded")
    assert page_spec.parse_rpc_error(502, "<html>bad gateway</html>")[0] == 502
    listing = '[[["models/gemini-x",null,"001","Gemini X"],["models/y"]]]'
    assert page_spec.parse_model_list(listing) == {"gemini-x": "Gemini X", "y": "y"}
    assert page_spec.is_login_url("https://accounts.google.com/v3/signin/identifier?x=1")
    assert page_spec.is_login_url("http://127.0.0.1:9/ServiceLogin?continue=x")
    assert not page_spec.is_login_url("https://aistudio.google.com/prompts/new_chat")
    assert page_spec.is_quota_message("Failed to generate content, quota exceeded: try later")
    for seen in (  # every text AIstudioProxyAPI treats as a quota or rate limit
        "You are out of free generations.",
        "Failed to generate content: user has exceeded quota. Please try again later.",
        "You've reached your rate limit. Please try again later.",
        "You have used up your quota for the day",
    ):
        assert page_spec.is_quota_message(seen), seen
    assert not page_spec.is_quota_message("Something went wrong. Please try again.")
    assert "ms-callout.warning-callout" in page_spec.SELECTORS.error_callout
    assert (
        page_spec.new_chat_url("https://a.b/", "gemini-2.5-pro")
        == "https://a.b/prompts/new_chat?model=gemini-2.5-pro"
    )
    assert thought_part("t")[12] == 1  # the stand-in writes what page_spec reads


# --- prompt: requests as page actions ----------------------------------------------------------


def test_a_request_becomes_page_settings_and_one_prompt() -> None:
    body = {
        "systemInstruction": {"parts": [{"text": "Be kind"}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Weather?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "w", "args": {"c": "P"}}}]},
            {"role": "user", "parts": [{"function_response": {"name": "w", "response": {"t": 20}}}]},
        ],
        "generationConfig": {
            "temperature": 0,
            "top_p": 0.2,
            "stopSequences": ["X"],
            "thinkingConfig": {"thinkingLevel": "LOW"},
        },
        "tools": [{"functionDeclarations": [{"name": "w"}]}, {"google_search": {}}],
    }
    request = page_request("m", orjson.dumps(body))
    assert (request.system, request.temperature, request.top_p, request.stop) == ("Be kind", 0.0, 0.2, ["X"])
    assert request.thinking_level == "Low" and request.functions == [{"name": "w"}] and request.google_search
    assert request.prompt == (
        'User: Weather?\n\nModel: [called function w with {"c":"P"}]\n\nUser: [function w returned {"t":20}]'
    )
    assert request.max_output_tokens is None and request.thinking_budget is None  # nothing invented
    assert transcript([{"role": "user", "parts": [{"text": "Just this"}]}]) == "Just this"


def test_inline_files_become_attachments_named_where_they_were_sent() -> None:
    png = {"inlineData": {"mimeType": "image/png", "data": "iVBORw=="}}
    single = page_request("m", orjson.dumps({"contents": [{"parts": [{"text": "What is it?"}, png]}]}))
    assert single.prompt == "What is it?"
    assert [(a.name, a.mime_type, a.data) for a in single.attachments] == [
        ("attachment-1.png", "image/png", b"\x89PNG")
    ]
    pdf = {"inline_data": {"mime_type": "application/pdf", "data": "JVBERg=="}}
    turns = [
        {"role": "user", "parts": [png, {"text": "And this?"}]},
        {"role": "model", "parts": [{"text": "A picture."}]},
        {"role": "user", "parts": [{"text": "Now the paper"}, pdf]},
    ]
    request = page_request("m", orjson.dumps({"contents": turns}))
    assert request.prompt == (
        "User: [attached attachment-1.png]\nAnd this?\n\nModel: A picture.\n\n"
        "User: Now the paper\n[attached attachment-2.pdf]"
    )
    assert [a.data for a in request.attachments] == [b"\x89PNG", b"%PDF"]


@pytest.mark.parametrize(
    "body",
    [
        {"contents": [{"parts": [{"fileData": {"mimeType": "image/png", "fileUri": "files/x"}}]}]},
        {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "not base64!"}}]}]},
        {"contents": [], "generationConfig": {"responseSchema": {"type": "object"}}},
        {"contents": [], "generationConfig": {"candidateCount": 2}},
        {"contents": [], "tools": [{"codeExecution": {}}]},
        {"contents": [], "generationConfig": {"responseModalities": ["IMAGE"]}},
    ],
)
def test_what_the_page_cannot_do_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(Unsupported):
        page_request("m", orjson.dumps(body))


# --- turns, profiles, scripts ----------------------------------------------------------------


async def test_turns_are_first_come_first_served_and_a_waiter_gives_up() -> None:
    turns = TurnQueue()
    first, second, third = Ticket("a"), Ticket("b"), Ticket("c")
    await turns.acquire(first, 1)
    waiting = asyncio.create_task(turns.acquire(second, 1))
    await asyncio.sleep(0)
    with pytest.raises(TimeoutError):
        await turns.acquire(third, 0.05)
    assert turns.position(second) == 1 and turns.position(third) is None
    assert turns.view(0)["queue"][0]["model"] == "b"
    assert turns.release(first) and not turns.release(first)  # idempotent
    await waiting
    assert turns.holder is second and turns.position(second) == 0


def test_profiles_are_checked_and_saved_private(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "p")
    for bad in ("", "../etc", "-x", "a" * 65, "a b"):
        with pytest.raises(ProfileError):
            check_name(bad)
    with pytest.raises(ProfileError):
        store.save("ok", {"cookies": [{"name": "x"}]})
    path = store.save(
        "ok",
        {"cookies": [{"name": "SID", "value": "cookie-secret-9", "domain": ".google.com", "expires": 1}]},
    )
    assert path.stat().st_mode & 0o777 == 0o600 and store.names() == ["ok"]
    summary = store.summary("ok")
    assert summary["google_session"] and summary["expired"] and "cookie-secret-9" not in str(summary)
    assert store.delete("ok") and not store.delete("ok")


def test_user_scripts_are_matched_and_mounted_at_the_top_of_head() -> None:
    source = "// ==UserScript==\n// @name  Demo\n// @match https://aistudio.google.com/*\n// ==/UserScript==\nx('</script>')"
    script = scripts.parse("demo", source)
    assert script.name == "Demo" and script.matches("https://aistudio.google.com/prompts/new_chat")
    assert not script.matches("https://example.com/")
    html = scripts.inject('<html><head lang="en"><title>t</title></head></html>', [script])
    assert html.index('data-gateway-userscript="Demo"') < html.index("<title>")
    assert "<\\/script>" in html and "GM_getValue" in html


# --- the watchdog -------------------------------------------------------------------------------


class _Host:
    def __init__(self, config: PageConfig) -> None:
        self.config = config

    async def open_context(self, instance: PageInstance) -> Any:
        raise AssertionError("no browser in this test")

    def context_closed(self, instance: PageInstance) -> None:
        pass

    async def helper_call(self, instance: PageInstance, job: PageJob) -> None:
        raise AssertionError("no helper in this test")


async def test_the_watchdog_frees_a_page_whose_call_will_not_stop() -> None:
    config = PageConfig(
        "http://x", 1, response_timeout=0.3, queue_timeout=60, queue_depth=2, quota_cooldown=9, grace=0.3
    )
    instance = PageInstance("stuck", _Host(config))
    refusals = 0

    async def serve(job: PageJob) -> None:
        nonlocal refusals
        if job.request.prompt == "quick":
            job.emit({"candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}]})
            job.done()
            return
        job.progress("running")
        while True:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                refusals += 1  # a call stuck where cancellation cannot end it (once)
                if refusals > 1:
                    raise

    instance._serve = serve  # type: ignore[method-assign]
    stuck = instance.submit(PageRequest(model="m", prompt="stuck"))
    quick = instance.submit(PageRequest(model="m", prompt="quick"))
    error = await asyncio.wait_for(stuck.queue.get(), 60)
    assert isinstance(error, UpstreamUnreachable) and "stuck at 'running'" in error.message
    assert await asyncio.wait_for(quick.queue.get(), 60) == orjson.dumps(
        {"candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}]}
    )
    assert (instance.counts["forced_releases"] == 1 and instance.turns.holder is None) or quick.finished
    assert stuck.task is not None
    stuck.task.cancel()
    await asyncio.gather(stuck.task, return_exceptions=True)
    await instance.aclose()


def test_a_gateway_without_profiles_never_starts_a_browser(gateway: RunningGateway) -> None:
    import httpx

    from tests.conftest import ADMIN_TOKEN

    reply = httpx.post(
        gateway.url + "/v1beta/models/gemini-2.5-flash:generateContent",
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    )
    assert reply.status_code == 200
    service = gateway.gateway.aistudio
    assert service.instances == {} and service.browser._playwright is None and not service.browser.running
    listed = httpx.get(
        gateway.url + "/api/aistudio/profiles", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert listed.json()["profiles"] == []


def test_profiles_imported_or_deleted_by_the_cli_are_picked_up_while_running(
    gateway_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from gemini_gateway.aistudio import service
    from gemini_gateway.cli import app
    from tests.aistudio.conftest import profile_state, wait_for

    monkeypatch.setattr(service, "SCAN_SECONDS", 0.1)
    folder = tmp_path / "profiles"
    monkeypatch.setenv("AISTUDIO_PROFILES_DIR", str(folder))
    state = tmp_path / "state.json"
    state.write_bytes(orjson.dumps(profile_state("http://127.0.0.1:9", "dora")))
    with gateway_factory(aistudio_profiles_dir=folder, aistudio_warmup=False) as running:
        pool = running.gateway.pool
        imported = CliRunner().invoke(app, ["aistudio", "import", "dora", str(state)])
        assert imported.exit_code == 0 and "no Google session cookie" in imported.output
        wait_for(lambda: pool.get("aistudio:dora") is not None, what="the imported profile in the pool")
        assert "dora\t1 cookies" in CliRunner().invoke(app, ["aistudio", "list"]).output
        assert CliRunner().invoke(app, ["aistudio", "delete", "dora"]).exit_code == 0
        wait_for(lambda: pool.get("aistudio:dora") is None, what="the deleted profile gone")
        assert running.gateway.aistudio.browser.running is False


def test_token_budgets_per_model_roll_over_at_midnight_pacific() -> None:
    from gemini_gateway.aistudio.quota import QuotaLimits, UsageLedger, day_key, tokens_of

    limits = QuotaLimits(650_000, 800_000, {"gemini-2.5-pro": 400_000})
    assert limits.for_model("gemini-2.5-flash") == (650_000, 800_000)
    assert limits.for_model("Gemini-2.5-Pro") == (325_000, 400_000)  # the same soft/hard ratio
    assert QuotaLimits(0, 800_000).for_model("x") == (0, 0)
    ledger = UsageLedger(QuotaLimits(20, 45))
    evening = 1_767_330_000.0  # 2026-01-01 21:00 Pacific
    assert day_key(evening) == "2026-01-01" and day_key(evening + 3 * 3600) == "2026-01-02"
    ledger.add("alice", "m", 25, evening)
    assert ledger.verdict("alice", "m", evening).level == "soft"
    ledger.add("alice", "m", 20, evening)
    assert ledger.verdict("alice", "m", evening).level == "hard"
    assert ledger.verdict("alice", "other", evening).level == "ok"  # per model
    assert ledger.verdict("alice", "m", evening + 3 * 3600).level == "ok"  # a new quota day
    again = UsageLedger(QuotaLimits(20, 45))
    again.load({"day": "2026-01-01", "used": {"bob": {"m": 30}}}, evening)
    assert again.verdict("bob", "m", evening).used == 30
    again.load({"day": "2025-12-31", "used": {"bob": {"m": 99}}}, evening)  # another day: ignored
    assert again.verdict("bob", "m", evening).used == 30
    usage = {"usageMetadata": {"totalTokenCount": 17}}
    assert tokens_of([{"candidates": []}, usage], "hi") == 17
    text = {"candidates": [{"content": {"parts": [{"text": "x" * 40}]}}]}
    assert tokens_of([text], "y" * 40) == 21  # no usage from the page: four characters a token


def test_emulated_calls_are_read_from_the_answer_and_unknown_ones_left_as_text() -> None:
    from gemini_gateway.aistudio import emulated_tools

    answer = (
        'Checking both.\n<function_call>{"name": "get_weather", "args": {"city": "Oslo"}}</function_call>\n'
        '<function_call>```json\n{"name": "get_time", "arguments": {"tz": "CET"}}\n```</function_call>'
    )
    text, calls = emulated_tools.parse(answer, {"get_weather", "get_time"})
    assert text == "Checking both."
    assert calls == [
        {"name": "get_weather", "args": {"city": "Oslo"}},
        {"name": "get_time", "args": {"tz": "CET"}},
    ]
    unknown = '<function_call>{"name": "rm_rf", "args": {}}</function_call> and <function_call>not json</function_call>'
    assert emulated_tools.parse(unknown, {"get_weather"}) == (unknown, [])
    event = emulated_tools.answer_event("", calls[:1], {"totalTokenCount": 9})
    part = event["candidates"][0]["content"]["parts"][0]
    assert part["thoughtSignature"] == emulated_tools.PLACEHOLDER_SIGNATURE and event["usageMetadata"]
    assert emulated_tools.HEADER in emulated_tools.instructions([{"name": "get_weather"}])
