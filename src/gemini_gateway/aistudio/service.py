"""The AI Studio page backend's running parts: profiles, their pages, the browser, upkeep.

Built in `create_app` (reading the profile folder is cheap and lets the pool restore the
profiles' saved cooldowns), started in the lifespan. The browser starts only when a page is
first needed, so a gateway without profiles never launches one. A background task picks up
profile files added or removed by the CLI while the gateway runs, and checks idle pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import TYPE_CHECKING, Any

import orjson

from gemini_gateway.aistudio import page_spec
from gemini_gateway.aistudio.browser import BrowserConfig, BrowserManager
from gemini_gateway.aistudio.capture import CaptureSettings, read_helper
from gemini_gateway.aistudio.config import PageConfig
from gemini_gateway.aistudio.instance import PageInstance
from gemini_gateway.aistudio.job import PageJob, quota_error, unreachable
from gemini_gateway.aistudio.profiles import ProfileError, ProfileStore, profiles_dir
from gemini_gateway.aistudio.quota import QuotaLimits, UsageLedger, seconds_to_reset, tokens_of
from gemini_gateway.aistudio.remote_login import RemoteLogins
from gemini_gateway.aistudio.scripts import load_scripts
from gemini_gateway.errors import CallRefused
from gemini_gateway.pool.pool import CredentialPool
from gemini_gateway.settings import Settings

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext

    from gemini_gateway.transport.base import Transport

log = logging.getLogger("gemini_gateway.aistudio")
SCAN_SECONDS = 10.0


class AiStudioService:
    def __init__(self, settings: Settings, pool: CredentialPool) -> None:
        self.settings = settings
        self.pool = pool
        self.store = ProfileStore(profiles_dir(settings))
        self.config = PageConfig(
            base_url=settings.aistudio_url.rstrip("/"),
            action_timeout=settings.aistudio_action_timeout,
            response_timeout=settings.aistudio_response_timeout,
            queue_timeout=settings.aistudio_queue_timeout,
            queue_depth=settings.aistudio_queue_depth,
            quota_cooldown=settings.aistudio_quota_cooldown,
            capture=settings.aistudio_capture,
            helper_url=settings.aistudio_helper_url,
            keep_history=settings.aistudio_keep_history,
            function_calling=settings.aistudio_function_calling,
            save_every_calls=settings.aistudio_state_save_requests,
            save_every_seconds=settings.aistudio_state_save_seconds,
        )
        self.browser = BrowserManager(
            BrowserConfig(
                engine=settings.aistudio_browser,
                executable=settings.aistudio_browser_path,
                headless=settings.aistudio_headless,
                proxy=settings.aistudio_proxy,
                base_url=self.config.base_url,
                scripts=load_scripts(settings.aistudio_scripts_dir),
            )
        )
        self.ledger = UsageLedger(
            QuotaLimits(
                settings.aistudio_quota_soft_limit,
                settings.aistudio_quota_hard_limit,
                {m.lower(): n for m, n in settings.aistudio_quota_limits.items()},
            )
        )
        self.usage_file = settings.data_dir / "aistudio-usage.json"
        self.instances: dict[str, PageInstance] = {}
        self.transport: Transport | None = None
        self._open_contexts = 0
        self._context_freed: asyncio.Event | None = None
        self._upkeep: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._saved: dict[str, float] = {}  # profile file -> modification time last seen
        self._usage_dirty = False
        self.logins = RemoteLogins(self)  # sign-in windows driven from the admin API

    # Profiles ---------------------------------------------------------------------------------

    def load_profiles(self) -> int:
        with contextlib.suppress(OSError, orjson.JSONDecodeError):
            self.ledger.load(orjson.loads(self.usage_file.read_bytes()), time.time())
        for name in self.store.names():
            self._add(name)
        return len(self.instances)

    def _add(self, name: str) -> PageInstance:
        instance = self.instances.get(name)
        if instance is None:
            instance = self.instances[name] = PageInstance(name, self)
            self.pool.add(instance.credential)
        return instance

    def instance(self, name: str) -> PageInstance | None:
        return self.instances.get(name)

    async def save_profile(self, name: str, state: Any) -> PageInstance:
        """Store a login and serve it; a profile logged in again starts over with a new page."""
        self._saved[name] = self.store.save(name, state).stat().st_mtime
        instance = self.instances.get(name)
        if instance is None:
            return self._add(name)
        instance.reset_login()
        if instance.current is None:
            await instance.discard_page()
        return instance

    async def delete_profile(self, name: str) -> bool:
        instance = self.instances.pop(name, None)
        if instance is not None:
            self.pool.remove(instance.credential.id)
            await instance.aclose()
        return self.store.delete(name) or instance is not None

    def profiles(self) -> list[dict[str, Any]]:
        now = self.pool.clock()
        rows = []
        for name in sorted(set(self.store.names()) | set(self.instances)):
            row = self.store.summary(name)
            instance = self.instances.get(name)
            row["credential"] = instance.credential.view(now) if instance is not None else None
            rows.append(row)
        return rows

    # Running ----------------------------------------------------------------------------------

    async def start(self, transport: Transport | None) -> None:
        self.transport = transport
        self._context_freed = asyncio.Event()
        self._upkeep = asyncio.create_task(self._keep_up(), name="aistudio-upkeep")

    async def _keep_up(self) -> None:
        """Rescan the profile folder; check idle pages (the first round opens them: a warm start)."""
        loop = asyncio.get_running_loop()
        next_check = (
            loop.time()
            if self.settings.aistudio_warmup
            else loop.time() + self.settings.aistudio_health_seconds
        )
        warm = self.settings.aistudio_warmup
        while True:
            try:
                self._rescan()
                self.save_usage()
                if loop.time() >= next_check:
                    next_check = loop.time() + self.settings.aistudio_health_seconds
                    await self._check_pages(opening=warm)
                    warm = False
            except Exception:  # upkeep must outlive any one failure
                log.exception("AI Studio upkeep failed")
            await asyncio.sleep(SCAN_SECONDS)

    async def _check_pages(self, opening: bool) -> None:
        """Health-check the pages that are open (and, warming up, open as many as may be)."""
        chosen = [i for i in self.instances.values() if i.state != "login_required"]
        if opening:
            chosen = chosen[: self.settings.aistudio_max_contexts]
        else:
            chosen = [i for i in chosen if i.page is not None]
        for instance in chosen:
            await instance.check()

    def _rescan(self) -> None:
        """Serve profile files added, drop removed ones, and start over with a file saved again
        (a new login from `gemini-gateway aistudio import` while the gateway runs)."""
        on_disk = set(self.store.names())
        for name in on_disk - set(self.instances):
            log.info("AI Studio profile %s found; serving it", name)
            self._add(name)
        for name in on_disk & set(self.instances):
            saved = self.store.saved_at(name)
            if self._saved.setdefault(name, saved) != saved:
                self._saved[name] = saved
                instance = self.instances[name]
                instance.reset_login()
                if instance.current is None and not instance.turns.waiting:
                    self._hold(asyncio.create_task(instance.discard_page()))
        for name in set(self.instances) - on_disk:
            instance = self.instances.pop(name)
            self.pool.remove(instance.credential.id)
            self._saved.pop(name, None)
            self._hold(asyncio.create_task(instance.aclose()))

    def _hold(self, task: asyncio.Task[None]) -> None:
        self._closing.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._closing.discard)

    async def open_context(self, instance: PageInstance) -> BrowserContext:
        """A browser context for `instance`, within AISTUDIO_MAX_CONTEXTS: an idle page of another
        profile is closed to make room, or the call waits for one."""
        limit = self.settings.aistudio_max_contexts
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.queue_timeout
        while self._open_contexts >= limit:
            idle = [
                i
                for i in self.instances.values()
                if i is not instance and i.context is not None and not i.turns and i.current is None
            ]
            if idle:
                await min(idle, key=lambda i: i.last_used).discard_page()
                continue
            if loop.time() >= deadline:
                raise unreachable(f"all {limit} AI Studio browser contexts are busy", 503)
            # Woken when a context closes; a page that merely went idle is seen on the next look.
            assert self._context_freed is not None
            self._context_freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._context_freed.wait(), min(0.25, deadline - loop.time()))
        self._open_contexts += 1
        try:
            return await self.browser.new_context(self.store.path(instance.name), instance.on_rpc)
        except BaseException:
            self.context_closed(instance)
            raise

    # Token budgets ----------------------------------------------------------------------------

    def check_budget(self, instance: PageInstance, model: str) -> None:
        """Refuse a call the profile should not take (Google's own 429 shape, so the pool cools
        it and the dispatcher moves on): at its hard limit until the quota day ends; past its soft
        limit while another profile under its own soft limit can take the model."""
        now = time.time()
        verdict = self.ledger.verdict(instance.name, model, now)
        if verdict.level == "ok":
            return
        spent = f"{verdict.used} tokens of {model} today"
        if verdict.level == "hard":
            raise quota_error(
                instance.name, f"hard limit {verdict.hard} reached ({spent})", seconds_to_reset(now)
            )
        clock = self.pool.clock()
        fresher = [
            other
            for other in self.instances.values()
            if other is not instance
            and other.credential.usable(model, clock)
            and self.ledger.verdict(other.name, model, now).level == "ok"
        ]
        if fresher:
            # No cooldown and no failure held against it: once the others pass their soft limits
            # too, it serves again up to its hard limit.
            raise CallRefused(
                f"AI Studio profile {instance.name}: soft limit {verdict.soft} passed ({spent}); "
                "rotating to a profile under its own",
                status_code=429,
            )

    def budget_view(self, instance: PageInstance) -> dict[str, Any]:
        return self.ledger.view(instance.name, time.time())

    def record_usage(self, instance: PageInstance, job: PageJob) -> None:
        request = job.request
        self.ledger.add(instance.name, request.model, tokens_of(job.spent, request.prompt), time.time())
        self._usage_dirty = True

    def save_usage(self) -> None:
        if not self._usage_dirty:
            return
        self._usage_dirty = False
        temporary = self.usage_file.with_suffix(".tmp")
        with contextlib.suppress(OSError):
            temporary.write_bytes(orjson.dumps(self.ledger.dump()))
            os.replace(temporary, self.usage_file)

    def profile_saved_at(self, instance: PageInstance) -> float:
        return self.store.saved_at(instance.name)

    def save_state(self, instance: PageInstance, state: dict[str, Any], loaded_at: float) -> float | None:
        """Write the page's storage state (rotated cookies) back to the profile file, atomically and
        0600; skipped when the file changed since the page loaded it (a new login was saved, which
        must win). Returns the file's new modification time."""
        name = instance.name
        if self.store.saved_at(name) != loaded_at:
            log.info("AI Studio profile %s was saved anew meanwhile; its page's state is not written", name)
            return None
        if "origins" not in state:  # cookies only (a page that may be hung): keep the file's localStorage
            with contextlib.suppress(ProfileError):
                state = {**state, "origins": self.store.load(name)["origins"]}
        saved = self.store.save(name, state).stat().st_mtime
        self._saved[name] = saved  # our own write: the rescan must not take it for a new login
        return saved

    def context_closed(self, instance: PageInstance) -> None:
        self._open_contexts = max(0, self._open_contexts - 1)
        if self._context_freed is not None:
            self._context_freed.set()

    async def helper_call(self, instance: PageInstance, job: PageJob) -> None:
        """Tier 2: the helper endpoint makes the call with the profile's Google session."""
        url = self.config.helper_url
        if not url or self.transport is None:
            raise unreachable("no AI Studio helper endpoint is configured (AISTUDIO_HELPER_URL)", 501)
        state = self.store.load(instance.name)
        cookies = "; ".join(
            f"{c['name']}={c['value']}"
            for c in state["cookies"]
            if str(c.get("domain", "")).endswith("google.com")
        )
        request = job.request
        payload = {
            "profile": instance.name,
            "model": request.model,
            "request": orjson.loads(job.body) if job.body else {},
            "cookies": cookies,
        }
        settings = CaptureSettings(instance.name, self.config.response_timeout, self.config.quota_cooldown)
        await read_helper(job, self.transport, url, payload, settings)

    def status(self) -> dict[str, Any]:
        return {
            "page_version": page_spec.PAGE_VERSION,
            "learned_from": page_spec.LEARNED_FROM,
            "browser": {
                "engine": self.browser.config.engine,
                "running": self.browser.running,
                "error": self.browser.error,
                "contexts_open": self._open_contexts,
                "max_contexts": self.settings.aistudio_max_contexts,
                "user_scripts": [s.name for s in self.browser.config.scripts],
            },
            "profiles_dir": str(self.store.folder),
        }

    async def aclose(self) -> None:
        self.save_usage()
        if self._upkeep is not None:
            self._upkeep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._upkeep
        await self.logins.aclose()
        for instance in list(self.instances.values()):
            await instance.aclose()
        await self.browser.aclose()
