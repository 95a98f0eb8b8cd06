"""One profile's page: its pool credential, its turn queue, its watchdog and its page's life.

Every saved profile is a credential of kind "aistudio" in the pool. A call on it waits for its
turn (one prompt at a time per page), then runs as a task: open a chat with the model, apply
the run settings, type, run, and read the answer (capture.py). The turn is released however
the call ends, and the watchdog makes sure of it:

- the call's own reader gives up after AISTUDIO_RESPONSE_TIMEOUT of silence (the client's
  request fails over to another credential while nothing was sent yet);
- if the task is stuck past that (a frozen renderer never answers an evaluate), the watchdog
  fails the call, cancels the task and, after a short grace, releases the turn itself and
  throws the page away; the next call gets a new page;
- a crashed or closed page fails its call at once.

After each call the page is cleaned up while the turn is still held: a page still answering
is stopped (the client has its answer, or has gone), and a fresh chat is opened for the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from gemini_gateway.aistudio import capture, emulated_tools, page_spec
from gemini_gateway.aistudio.config import InstanceHost
from gemini_gateway.aistudio.driver import LoginRequired, PageDriver, PageProblem
from gemini_gateway.aistudio.job import PageJob, unreachable
from gemini_gateway.aistudio.prompt import PageRequest
from gemini_gateway.aistudio.turns import Ticket, TurnQueue
from gemini_gateway.errors import GatewayError, UpstreamUnreachable
from gemini_gateway.pool.credential import Credential

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page

log = logging.getLogger("gemini_gateway.aistudio")
WATCH_EVERY = 0.5


class AiStudioCredential(Credential):
    __slots__ = ("instance",)

    def __init__(self, instance: PageInstance, limit: int) -> None:
        name = instance.name
        super().__init__(kind="aistudio", secret="", id=f"aistudio:{name}", label=name, max_concurrency=limit)
        self.instance = instance

    def view(self, now: float) -> dict[str, Any]:
        view = super().view(now)
        view["meta"] = self.instance.view()
        return view


class PageInstance:
    def __init__(self, name: str, host: InstanceHost) -> None:
        self.name = name
        self.host = host
        self.config = host.config
        self.credential = AiStudioCredential(self, 1 + host.config.queue_depth)
        self.turns = TurnQueue()
        self.context: BrowserContext | None = None
        self.page: Page | None = None
        self.driver: PageDriver | None = None
        self.current: PageJob | None = None
        self.state = "cold"
        self.pages_created = 0
        self.last_used = 0.0
        self.last_model: str | None = None
        self.last_page_error: str | None = None
        self.models: dict[str, str] = {}
        self.counts: Counter[str] = Counter()
        self.health: dict[str, Any] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self._closing = False
        self.state_loaded_at = 0.0  # modification time of the profile file the context was made from
        self.calls_since_save = 0
        self.saved_at: float | None = None  # when the page's cookies were last written back (monotonic)
        self.saves = 0
        self._background: set[asyncio.Task[None]] = set()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._background.discard)

    # Calls -----------------------------------------------------------------------------------

    def submit(self, request: PageRequest, body: bytes = b"") -> PageJob:
        job = PageJob(request, body)
        job.task = asyncio.create_task(self._run(job), name=f"aistudio-{self.name}")
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.create_task(self._watch(), name=f"aistudio-watch-{self.name}")
        return job

    def abandon(self, job: PageJob) -> None:
        """The client went away: stop the call (its cleanup clicks Stop on the page)."""
        if job.task is None or job.task.done() or job.finished:
            return
        job.client_gone = True
        job.task.cancel()

    async def _run(self, job: PageJob) -> None:
        ticket = job.ticket = Ticket(job.request.model)
        suspect = False
        try:
            try:
                await self.turns.acquire(ticket, self.config.queue_timeout)
            except TimeoutError:
                job.fail(
                    unreachable(
                        f"AI Studio profile {self.name}: no turn within {self.config.queue_timeout:g}s", 503
                    )
                )
                return
            self.current = job
            self.last_used = time.monotonic()
            job.progress("preparing")
            await self._serve(job)
            self.counts["served"] += 1
            self.host.record_usage(self, job)
        except asyncio.CancelledError:
            # Cancelled by the client's going or by the watchdog: handled here, so the cleanup
            # below may still await (and time out) normally.
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            self.counts["cancelled" if job.client_gone else "reclaimed"] += 1
            job.fail(
                unreachable("the client went away" if job.client_gone else "reclaimed by the watchdog", 504)
            )
            suspect = not job.client_gone
        except LoginRequired as exc:
            self._login_lost(str(exc))
            job.fail(unreachable(f"AI Studio profile {self.name}: {exc}", 503))
        except PageProblem as exc:
            self.counts["failed"] += 1
            self.last_page_error = str(exc)
            job.fail(unreachable(f"AI Studio profile {self.name}: {exc}"))
        except GatewayError as exc:
            self.counts["failed"] += 1
            self.last_page_error = exc.message[:300]
            suspect = isinstance(exc, UpstreamUnreachable)  # timeouts and refusals: a new page next time
            job.fail(exc)
        except Exception as exc:  # Playwright's errors included: a page we cannot trust any more
            self.counts["failed"] += 1
            self.last_page_error = f"{type(exc).__name__}: {str(exc)[:300]}"
            log.warning("AI Studio profile %s: %s", self.name, self.last_page_error)
            job.fail(unreachable(f"AI Studio profile {self.name}: {self.last_page_error}"))
            suspect = True
        finally:
            if self.turns.holder is ticket:
                try:
                    await self._after(job, suspect)
                finally:
                    self.current = None
                    self.turns.release(ticket)
                    self.state = "ready" if self.page is not None else self.state

    async def _serve(self, job: PageJob) -> None:
        request = job.request
        tier = (
            "helper" if self.config.capture == "helper" else "dom" if self.config.capture == "dom" else "rpc"
        )
        if tier == "helper":
            await self._helper(job)
            return
        driver = await self._ensure_page()
        self.state = "busy"
        job.progress("opening a chat")
        await driver.open_chat(request.model)
        self.last_model = request.model
        job.progress("applying settings")
        await driver.apply(request, self.config.function_calling)
        if request.attachments:
            job.progress("attaching files")
            await driver.attach(request.attachments)
        if tier == "rpc" and not await self._hook_ready():
            if self.config.helper_url:
                await self._helper(job)
                return
            tier = "dom"
        job.tier = tier
        self.counts[f"tier_{tier}"] += 1
        job.armed = True
        job.progress("running")
        prompt = request.prompt
        if request.emulate_tools:
            prompt = emulated_tools.instructions(request.functions) + prompt
        await driver.submit(prompt)
        silence = self.config.response_timeout
        settings = capture.CaptureSettings(
            self.name, silence, self.config.quota_cooldown, rpc_wait=min(5.0, silence / 2)
        )
        if tier == "rpc":
            try:
                await capture.read_rpc(job, driver, settings)
                return
            except capture.NoRpcSeen:
                job.tier = tier = "dom"
                self.counts["tier_dom"] += 1
        await capture.read_dom(job, driver, settings)

    async def _helper(self, job: PageJob) -> None:
        job.tier = "helper"
        self.counts["tier_helper"] += 1
        await self.host.helper_call(self, job)

    async def _hook_ready(self) -> bool:
        assert self.page is not None
        with contextlib.suppress(Exception):
            return bool(await self.page.evaluate("() => Boolean(window.__gwHookInstalled)"))
        return False

    async def _after(self, job: PageJob, suspect: bool) -> None:
        """Leave the page idle and ready for the next call, or throw it away."""
        job.progress("cleaning up")
        self.calls_since_save += 1  # the page ran a call: its cookies may have rotated
        driver = self.driver
        if suspect or driver is None or self.page is None or self.page.is_closed():
            await self.discard_page(hung=suspect)
            return
        try:
            async with asyncio.timeout(self.config.action_timeout):
                if await driver.stop():
                    self.counts["stopped"] += 1
                if job.request.model:
                    await driver.open_chat(job.request.model)
            if self._save_due():
                await self.save_state()
        except LoginRequired as exc:
            self._login_lost(str(exc))
        except Exception as exc:  # any failure here means the page is not in a state we know
            self.last_page_error = f"cleanup: {type(exc).__name__}: {str(exc)[:200]}"
            await self.discard_page(hung=True)

    # The page's life ---------------------------------------------------------------------------

    async def _ensure_page(self) -> PageDriver:
        if self.page is not None and not self.page.is_closed() and self.driver is not None:
            return self.driver
        await self.discard_page()
        self.state = "starting"
        self.state_loaded_at = self.host.profile_saved_at(self)
        self.context = await self.host.open_context(self)
        self.calls_since_save = 0
        self.saved_at = time.monotonic()
        page = await self.context.new_page()
        page.on("crash", lambda _: self._page_lost(page, "crashed"))
        page.on("close", lambda _: self._page_lost(page, "was closed"))
        self.page = page
        self.driver = PageDriver(
            page, self.config.base_url, self.config.action_timeout, temporary=not self.config.keep_history
        )
        self.pages_created += 1
        self.state = "ready"
        return self.driver

    def _page_lost(self, page: Page, how: str) -> None:
        if page is not self.page:
            return  # a page already replaced
        self.page = self.driver = None
        self.last_page_error = f"the page {how}"
        job = self.current
        if job is not None and job.task is not None and not job.finished:
            job.fail(unreachable(f"AI Studio profile {self.name}: the page {how}"))
            job.task.cancel()

    def _save_due(self) -> bool:
        every, seconds = self.config.save_every_calls, self.config.save_every_seconds
        if not self.calls_since_save:
            return False
        if every and self.calls_since_save >= every:
            return True
        return bool(seconds) and self.saved_at is not None and time.monotonic() - self.saved_at >= seconds

    async def save_state(self, context: BrowserContext | None = None, *, cookies_only: bool = False) -> bool:
        """Write the context's cookies and localStorage back to the profile file: Google rotates
        session cookies while a page is open, and a file holding only the imported ones expires
        sooner. Never after the login was lost (that state is logged out).

        `cookies_only` for a page that may be hung: reading its localStorage waited out the whole
        timeout with a frozen page (its renderer spinning all the while), where the browser holds
        the cookies itself and answers at once. The file's localStorage is kept then."""
        context = context or self.context
        if context is None or self.state == "login_required":
            return False
        try:
            if cookies_only:
                cookies = await asyncio.wait_for(context.cookies(), self.config.action_timeout)
                state: Any = {"cookies": cookies}
            else:
                state = await asyncio.wait_for(context.storage_state(), self.config.action_timeout)
        except Exception as exc:  # a crashed browser: keep the file as it is
            log.info("AI Studio profile %s: state not saved: %s", self.name, type(exc).__name__)
            return False
        saved = self.host.save_state(self, dict(state), self.state_loaded_at)
        if saved is None:
            return False
        self.state_loaded_at = saved
        self.calls_since_save = 0
        self.saved_at = time.monotonic()
        self.saves += 1
        return True

    async def discard_page(self, *, hung: bool = False) -> None:
        """Close the page's browser context, its rotated cookies saved first. `hung`: the page may
        not answer (reclaimed, failed, refused): only the cookies are read, so that its renderer,
        which may spin on a core, is ended at once rather than after a read of its storage times out."""
        context, self.context, self.page, self.driver = self.context, None, None, None
        if context is None:
            return
        if self.calls_since_save:
            with contextlib.suppress(Exception):  # the cookies the page rotated since the last save
                await self.save_state(context, cookies_only=hung)
        with contextlib.suppress(Exception):  # a crashed browser may not answer any more
            await asyncio.wait_for(context.close(), 10)
        self.host.context_closed(self)
        if self.state not in ("login_required", "closed"):
            self.state = "cold"

    def _login_lost(self, why: str) -> None:
        self.state = "login_required"
        self.last_page_error = why
        self.credential.disabled_reason = (
            f"login expired: log in again (gemini-gateway aistudio login {self.name})"
        )

    def on_rpc(self, source: dict[str, Any], message: dict[str, Any]) -> None:
        """Messages of the in-page hook (the context's binding calls this)."""
        if source.get("page") is not self.page or not isinstance(message, dict):
            return
        kind = message.get("type")
        if kind == "body" and page_spec.RPC_LIST_MODELS in str(message.get("url")):
            self.models = page_spec.parse_model_list(str(message.get("text", ""))) or self.models
            return
        job = self.current
        if job is None or not job.armed:
            return
        if kind == "open" and job.rpc_id is None and message.get("kind") == "stream":
            job.rpc_id = message.get("id")  # the first GenerateContent after Run is this call's
        if message.get("id") == job.rpc_id:
            job.rpc.put_nowait(message)

    # Watchdog and health ------------------------------------------------------------------------

    async def _watch(self) -> None:
        # A call's reader gives up after response_timeout, its cleanup after action_timeout: a task
        # silent for longer than that (plus a grace) is stuck where cancellation is its only end.
        answering = self.config.response_timeout + self.config.grace
        cleaning = self.config.action_timeout + self.config.grace
        # Before the prompt runs, the page is being made ready: browser actions, each allowed
        # action_timeout, and a browser context to start, which a busy machine makes slow.
        preparing = max(answering, cleaning)
        while not self._closing:
            await asyncio.sleep(WATCH_EVERY)
            job = self.current
            if job is None or job.task is None:
                if not self.turns.waiting:
                    return  # nothing to watch; the next submit starts a new watchdog
                continue
            reclaimed_at = job.reclaimed_at
            limit = cleaning if job.finished else answering if job.armed else preparing
            if reclaimed_at is None and job.silent_for() > limit:
                job.reclaimed_at = time.monotonic()
                reason = f"AI Studio profile {self.name}: stuck at '{job.stage}' for {job.silent_for():.0f}s"
                log.warning("%s; reclaiming the page", reason)
                self.last_page_error = reason
                job.fail(unreachable(reason, 504))
                job.task.cancel()
            elif (
                reclaimed_at is not None
                and time.monotonic() - reclaimed_at > self.config.grace
                and job.ticket is not None
                and self.turns.release(job.ticket)
            ):
                # The task never came back from its cancellation: free the page anyway.
                self.current = None
                self.counts["forced_releases"] += 1
                self._spawn(self.discard_page(hung=True))

    async def check(self) -> dict[str, Any]:
        """Health check while idle: the page answers, is logged in and shows the prompt box."""
        if self.current is not None or self.turns.waiting or self._closing:
            return self.health
        ticket = Ticket(None)
        try:
            await self.turns.acquire(ticket, 0.1)
        except TimeoutError:
            return self.health
        ok, detail = True, "ready"
        try:
            driver = await self._ensure_page()
            async with asyncio.timeout(self.config.action_timeout * 2):
                if driver.fresh_model is None:
                    await driver.open_chat(self.last_model)
                await driver.page.evaluate("() => document.readyState")
                seconds = self.config.save_every_seconds
                if seconds and self.saved_at is not None and time.monotonic() - self.saved_at >= seconds:
                    await self.save_state()  # an idle page's cookies rotate too
        except LoginRequired as exc:
            self._login_lost(str(exc))
            ok, detail = False, str(exc)
        except Exception as exc:  # the page did not answer: start over next time
            ok, detail = False, f"{type(exc).__name__}: {str(exc)[:200]}"
            await self.discard_page(hung=True)
        else:
            if (self.credential.disabled_reason or "").startswith("login expired"):
                self.reset_login()  # a verdict restored from before a restart, disproved now
        finally:
            self.turns.release(ticket)
        self.health = {"checked_at": time.time(), "ok": ok, "detail": detail}
        return self.health

    def reset_login(self) -> None:
        """A new login was saved: forget the old verdict; the next call opens a new page."""
        if self.state == "login_required":
            self.state = "cold"
        self.credential.disabled_reason = None

    async def aclose(self) -> None:
        self._closing = True
        self.state = "closed"
        job = self.current
        if job is not None and job.task is not None:
            job.fail(
                unreachable(f"AI Studio profile {self.name} was removed or the gateway is stopping", 503)
            )
            job.task.cancel()
        if self._watchdog is not None:
            self._watchdog.cancel()
        await self.discard_page()

    def view(self) -> dict[str, Any]:
        """Page facts for /api/pool (the credential's `meta`)."""
        now = time.time()
        job = self.current
        turns = self.turns.view(now)
        return {
            "profile": self.name,
            "state": self.state,
            "page": {
                "open": self.page is not None,
                "url": self.page.url if self.page is not None and not self.page.is_closed() else None,
                "pages_created": self.pages_created,
                "page_version": page_spec.PAGE_VERSION,
            },
            "lock": turns["held_by"],
            "queue": turns["queue"],
            "current": None
            if job is None
            else {
                "settings": job.request.settings(),
                "stage": job.stage,
                "tier": job.tier,
                "events": job.events,
                "silent_seconds": round(job.silent_for(), 1),
            },
            "counts": dict(self.counts),
            "last_page_error": self.last_page_error,
            "health": self.health,
            "state_saves": self.saves,
            "tokens_today": self.host.budget_view(self),
            "models": sorted(self.models)[:50],
        }
