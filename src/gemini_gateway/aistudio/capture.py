"""The three ways an answer is taken, best first.

1. `read_rpc`: the page's own GenerateContent response, piece by piece as the in-page hook
   (rpc_hook.js) reports it, parsed by page_spec. Chunks reach the client as they arrive.
2. `read_helper`: an external helper endpoint (AISTUDIO_HELPER_URL) makes the call with the
   profile's session and streams Gemini SSE back; used when the hook is not in the page.
3. `read_dom`: the answer text read from the page while it grows. Coarse (text only, no
   function calls or usage), the last resort when the page's RPC cannot be seen.

Each returns when the answer is complete (after `job.done()`) or raises a GatewayError.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import orjson

from gemini_gateway.aistudio import page_spec
from gemini_gateway.aistudio.driver import PageDriver
from gemini_gateway.aistudio.job import PageJob, quota_error, unreachable
from gemini_gateway.errors import UpstreamError, UpstreamUnreachable, google_error_body
from gemini_gateway.sse import SSEParser
from gemini_gateway.transport.base import Transport

POLL = 0.25  # seconds between looks at the page while waiting


@dataclass(slots=True)
class CaptureSettings:
    profile: str
    response_timeout: float  # silence (no byte, no DOM change) before giving the call up
    quota_cooldown: float
    rpc_wait: float = 5.0  # no RPC seen this long after Run, while the page answers: read the DOM


class NoRpcSeen(Exception):
    """The page answers but the hook saw no GenerateContent call: read the DOM instead."""


async def read_rpc(job: PageJob, driver: PageDriver, settings: CaptureSettings) -> None:
    parser = page_spec.RpcStreamParser()
    opened = False  # the page sent its GenerateContent (headers may still be on their way)
    status: int | None = None
    error_body: list[str] = []
    next_look = 0.0
    while True:
        try:
            message = await asyncio.wait_for(job.rpc.get(), POLL)
        except TimeoutError:
            now = asyncio.get_running_loop().time()
            if now >= next_look:
                next_look = now + 2 * POLL
                await _check_quota(driver, settings)
                if not opened and job.silent_for() > settings.rpc_wait and await _page_answers(driver):
                    raise NoRpcSeen from None
            _check_silence(job, settings, "the page's answer")
            continue
        job.progress("streaming")
        kind = message.get("type")
        if kind == "open":
            opened = True
        elif kind == "start":
            status = int(message.get("status") or 0)
        elif kind == "chunk":
            text = str(message.get("text", ""))
            if status is not None and status >= 400:
                error_body.append(text)
                continue
            for event in parser.feed(text):
                job.emit(event)
        elif kind == "end":
            status = int(message.get("status") or status or 0)
            if status >= 400:
                raise _rpc_error(status, "".join(error_body), settings)
            job.done()
            return
        elif kind == "abort":
            raise unreachable(f"AI Studio ({settings.profile}) aborted its request")
        elif kind == "error":
            raise unreachable(f"AI Studio ({settings.profile}) request failed: {message.get('message')}")


async def read_dom(job: PageJob, driver: PageDriver, settings: CaptureSettings) -> None:
    sent = ""
    seen = 0  # length of the whole turn (thoughts included): its growth is the page's progress
    saw_running = False
    quiet = 0
    while True:
        await asyncio.sleep(POLL)
        await _check_quota(driver, settings)
        text, whole = await driver.answer()
        running = await driver.running()
        saw_running = saw_running or running
        if whole != seen:
            seen = whole
            job.progress("reading the page")  # a spinner alone is no progress: a hung page spins too
        if len(text) > len(sent) and text.startswith(sent):
            job.emit(_text_event(text[len(sent) :]))
            sent = text
            quiet = 0
        elif not running and (saw_running or sent):
            quiet += 1
            if quiet >= 2:  # stopped and unchanged twice in a row: the answer is complete
                job.done()
                return
        _check_silence(job, settings, "the page")


async def read_helper(
    job: PageJob, transport: Transport, url: str, payload: dict[str, Any], settings: CaptureSettings
) -> None:
    headers = {"content-type": "application/json"}
    try:
        answer = await transport.stream(
            "POST", url, headers, orjson.dumps(payload), read_timeout=settings.response_timeout
        )
        try:
            if answer.status >= 400:
                body = await answer.read()
                if answer.status == 429:
                    raise quota_error(
                        settings.profile, body.decode("utf-8", "replace"), settings.quota_cooldown
                    )
                raise UpstreamError(answer.status, body)
            parser = SSEParser()
            async for data in answer.chunks():
                job.progress("helper streaming")
                for event in parser.feed(data):
                    job.emit(orjson.loads(event))
            for event in parser.close():
                job.emit(orjson.loads(event))
        finally:
            answer.close()
    except (UpstreamUnreachable, orjson.JSONDecodeError) as exc:
        raise unreachable(f"AI Studio helper failed: {type(exc).__name__}: {exc}") from exc
    job.done()


def _text_event(text: str) -> dict[str, Any]:
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}]}


def _check_silence(job: PageJob, settings: CaptureSettings, what: str) -> None:
    if job.silent_for() > settings.response_timeout:
        raise unreachable(
            f"AI Studio ({settings.profile}): {what} stayed silent for {settings.response_timeout:g}s", 504
        )


async def _check_quota(driver: PageDriver, settings: CaptureSettings) -> None:
    text = ""
    with contextlib.suppress(Exception):  # a look at the page must not end a call by itself
        text = await driver.error_text()
    if text and page_spec.is_quota_message(text):
        raise quota_error(settings.profile, text, settings.quota_cooldown)


async def _page_answers(driver: PageDriver) -> bool:
    with contextlib.suppress(Exception):
        return await driver.running() or bool((await driver.answer())[1])
    return False


def _rpc_error(status: int, body: str, settings: CaptureSettings) -> UpstreamError | Exception:
    status, message = page_spec.parse_rpc_error(status, body)
    if status == 429 or page_spec.is_quota_message(message):
        return quota_error(settings.profile, message, settings.quota_cooldown)
    if status in (401, 403):
        # The session or the page's attestation was refused: another profile may do; this page
        # is re-created before its next call.
        return unreachable(f"AI Studio refused {settings.profile}'s request ({status}): {message}")
    return UpstreamError(status, google_error_body(status, f"AI Studio: {message}"))
