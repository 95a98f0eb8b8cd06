"""Page actions on one AI Studio tab: open a chat with a model, set the run settings, type, run,
stop, and read the answer from the DOM. Every selector comes from page_spec.

Settings the client did not send are left as a fresh chat has them; a control this driver
changed on an earlier call is put back to the value it had before (the page may remember run
settings between chats, and one client's temperature must not leak into the next call).
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

import orjson

from gemini_gateway.aistudio import page_spec
from gemini_gateway.aistudio.page_spec import SELECTORS, Selectors
from gemini_gateway.aistudio.prompt import Attachment, PageRequest

if TYPE_CHECKING:
    from playwright.async_api import FilePayload, Locator, Page

log = logging.getLogger("gemini_gateway.aistudio")

# The visible answer of the last model turn without thoughts, and the length of all its text
# (tier 3 reads this).
_READ_ANSWER = """([turn, text, thought]) => {
  const turns = document.querySelectorAll(turn);
  if (!turns.length) return ["", 0];
  const last = turns[turns.length - 1];
  const answer = Array.from(last.querySelectorAll(text))
    .filter((node) => !node.closest(thought))
    .map((node) => node.innerText)
    .join("");
  return [answer, last.innerText.length];
}"""


class LoginRequired(Exception):
    """The page sent us to Google's sign-in: the profile's saved login no longer works."""


class PageProblem(Exception):
    """The page is not as page_spec describes it (a landmark missing, a model not offered)."""


class PageDriver:
    def __init__(
        self,
        page: Page,
        base_url: str,
        timeout: float,
        selectors: Selectors = SELECTORS,
        temporary: bool = True,
    ) -> None:
        self.page = page
        self.temporary = temporary  # turn Temporary chat on in every chat this driver opens
        self.base_url = base_url
        self.timeout_ms = timeout * 1000
        self.s = selectors
        self.fresh_model: str | None = None  # a new, untouched chat with this model is open
        self._before: dict[str, Any] = {}  # control -> its value before this driver first set it

    async def open_chat(self, model: str | None) -> None:
        """A new chat with `model` chosen (None: the page's default); reuses the one a previous
        call left ready."""
        if model is not None and self.fresh_model == model:
            return
        self.fresh_model = None
        await self._goto(model)
        if model is None:
            await self._temporary_chat()
            self.fresh_model = ""  # a fresh chat, no model of ours chosen yet
            return
        if not await self._model_shown(model):
            # The page may prefer the model remembered in its preferences over `?model=`.
            await self.page.evaluate(
                """([key, model]) => {
                    const prefs = JSON.parse(localStorage.getItem(key) || "{}");
                    prefs.promptModel = "models/" + model;
                    localStorage.setItem(key, JSON.stringify(prefs));
                }""",
                [page_spec.PREFERENCE_KEY, model],
            )
            await self._goto(model)
            if not await self._model_shown(model):
                raise PageProblem(f"the AI Studio page does not offer the model {model}")
        await self._temporary_chat()
        self.fresh_model = model

    async def _goto(self, model: str | None) -> None:
        url = page_spec.new_chat_url(self.base_url, model)
        await self.page.goto(url, wait_until="domcontentloaded", timeout=self.timeout_ms)
        if page_spec.is_login_url(self.page.url):
            raise LoginRequired("the saved login has expired: the page asks to sign in")
        try:
            await self.page.locator(self.s.prompt).first.wait_for(state="visible", timeout=self.timeout_ms)
        except Exception as exc:  # Playwright's TimeoutError; the page is not what we know
            if page_spec.is_login_url(self.page.url):
                raise LoginRequired("the saved login has expired: the page asks to sign in") from exc
            raise PageProblem(f"no prompt box on {self.page.url}") from exc

    async def _temporary_chat(self) -> None:
        """Temporary chat on in the chat just opened (a new chat or a model switch may turn it off),
        so proxied conversations stay out of the account's AI Studio history."""
        if not self.temporary:
            return
        toggle = self.page.locator(self.s.temporary_chat).first
        if not await toggle.count():
            log.info("the page shows no Temporary chat toggle; this chat may be kept in history")
            return
        if await self.temporary_chat_on():
            return
        await toggle.click(timeout=self.timeout_ms)
        if not await self.temporary_chat_on():
            raise PageProblem("the Temporary chat toggle did not turn on")

    async def temporary_chat_on(self) -> bool:
        return await self.page.locator(self.s.temporary_chat_on).count() > 0

    async def _model_shown(self, model: str) -> bool:
        label = self.page.locator(self.s.model_name).first
        if not await label.count():
            return True  # a layout without the label: trust the URL
        # The label fills in once the page has loaded its model list.
        await self.page.wait_for_function(
            "(s) => { const e = document.querySelector(s); return !e || e.textContent.trim() !== ''; }",
            arg=self.s.model_name,
            timeout=self.timeout_ms,
        )
        shown = (await label.inner_text(timeout=self.timeout_ms)).strip().lower()
        return shown in (model.lower(), f"models/{model.lower()}")

    async def apply(self, request: PageRequest, function_calling: str = "native") -> None:
        """Run settings, system instruction and function declarations for this call.

        With `function_calling` "emulated", or "auto" when the page's dialog is missing or fails,
        the page's function calling is left off and `request.emulate_tools` set: the caller then
        describes the functions in the prompt (emulated_tools)."""
        self.fresh_model = None  # from here on the chat is no longer untouched
        await self._text("system", request.system)
        await self._number("temperature", self.s.temperature, request.temperature)
        await self._number("top_p", self.s.top_p, request.top_p)
        await self._number("max_tokens", self.s.max_tokens, request.max_output_tokens)
        await self._stops(request.stop)
        await self._thinking(request.thinking_budget, request.thinking_level)
        await self._switch_setting("search", self.s.search_toggle, request.google_search or None)
        if request.functions and function_calling == "emulated":
            await self._functions([])
            request.emulate_tools = True
            return
        try:
            await self._functions(request.functions)
        except PageProblem as exc:
            if function_calling != "auto" or not request.functions:
                raise
            log.info("native function calling failed (%s); describing the functions in the prompt", exc)
            with contextlib.suppress(Exception):  # a dialog left open is closed by the next new chat
                await self._functions([])
            request.emulate_tools = True

    async def attach(self, attachments: list[Attachment]) -> None:
        """Put inline images and files into the prompt through the page's upload control, and wait
        until the page shows each one and has finished uploading them."""
        if not attachments:
            return
        self.fresh_model = None
        shown = self.page.locator(self.s.attached_file)
        wanted = await shown.count() + len(attachments)
        await self._click(self.s.attach_button, "upload (Insert assets)")
        field = self.page.locator(self.s.attach_input).first
        try:
            await field.wait_for(state="attached", timeout=self.timeout_ms)
        except Exception as exc:  # Playwright's TimeoutError
            raise PageProblem(f"the upload menu holds no file input ({self.s.attach_input})") from exc
        files: list[FilePayload] = [
            {"name": a.name, "mimeType": a.mime_type, "buffer": a.data} for a in attachments
        ]
        await field.set_input_files(files, timeout=self.timeout_ms)
        await self.page.keyboard.press("Escape")  # the menu stays open after a choice
        try:
            await self.page.wait_for_function(
                "([s, n]) => document.querySelectorAll(s).length >= n",
                arg=[self.s.attached_file, wanted],
                timeout=self.timeout_ms,
            )
            await self.page.locator(self.s.attach_busy).first.wait_for(
                state="detached", timeout=self.timeout_ms
            )
        except Exception as exc:  # Playwright's TimeoutError
            raise PageProblem(
                f"the page did not show the {len(attachments)} attached file(s) as ready"
            ) from exc

    async def submit(self, prompt: str) -> None:
        box = self.page.locator(self.s.prompt).first
        await box.fill(prompt, timeout=self.timeout_ms)
        await self.page.locator(self.s.run).first.click(timeout=self.timeout_ms)

    async def running(self) -> bool:
        return await self.page.locator(self.s.running).count() > 0

    async def stop(self) -> bool:
        """Click Stop (the Run button while the model answers); False if nothing was running."""
        self.fresh_model = None
        if not await self.running():
            return False
        await self.page.locator(self.s.run).first.click(timeout=self.timeout_ms)
        return True

    async def error_text(self) -> str:
        """Text of the error callouts and toasts on the page (quota messages show there)."""
        texts = await self.page.locator(self.s.error_callout).all_inner_texts()
        return " | ".join(t.strip() for t in texts if t.strip())

    async def answer(self) -> tuple[str, int]:
        """The last answer's visible text, and the length of everything its turn shows."""
        answer, whole = await self.page.evaluate(
            _READ_ANSWER, [self.s.model_turn, self.s.answer_text, self.s.thought_block]
        )
        return str(answer), int(whole)

    # Controls --------------------------------------------------------------------------------

    def _wanted(self, key: str, value: Any) -> Any:
        """The value a control should have: the client's, else the one it had before we touched it."""
        return value if value is not None else self._before.get(key)

    async def _number(self, key: str, selector: str, value: float | int | None) -> None:
        wanted = self._wanted(key, value)
        if wanted is None:
            return
        field = await self._control(selector, key)
        current = await field.input_value(timeout=self.timeout_ms)
        self._before.setdefault(key, _parse_number(current))
        if _parse_number(current) == _parse_number(str(wanted)):
            return
        await self._fill(field, _format_number(wanted))

    async def _text(self, key: str, value: str | None) -> None:
        wanted = self._wanted(key, value)
        if wanted is None:
            return
        field = self.page.locator(self.s.system_text).first
        if not await field.is_visible():
            await self._click(self.s.system_card, "system instructions")
        field = await self._control(self.s.system_text, "system instructions")
        current = await field.input_value(timeout=self.timeout_ms)
        self._before.setdefault(key, current)
        if current != wanted:
            await self._fill(field, str(wanted))
        close = self.page.locator(self.s.system_close).first
        if await close.count() and await close.is_visible():
            await close.click(timeout=self.timeout_ms)

    async def _stops(self, stops: list[str] | None) -> None:
        wanted = self._wanted("stop", stops)
        if wanted is None:
            return
        removers = self.page.locator(self.s.stop_remove)
        labels = [
            label or "" for label in [await r.get_attribute("aria-label") for r in await removers.all()]
        ]
        current = [label.removeprefix("Remove ").strip() for label in labels]
        self._before.setdefault("stop", current)
        if current == list(wanted):
            return
        while await removers.count():
            await removers.first.click(timeout=self.timeout_ms)
        field = await self._control(self.s.stop_input, "stop sequences")
        for stop in wanted:
            await field.fill(stop, timeout=self.timeout_ms)
            await field.press("Enter", timeout=self.timeout_ms)

    async def _thinking(self, budget: int | None, level: str | None) -> None:
        if level is not None:
            select = self.page.locator(self.s.thinking_level).first
            if await select.count():
                await select.click(timeout=self.timeout_ms)
                await self._click(self.s.thinking_level_option.format(label=level), f"thinking level {level}")
            else:
                log.info("the page shows no thinking level for this model; level %s not set", level)
        if budget is None:
            return
        if not await self.page.locator(self.s.thinking_toggle).count():
            log.info("the page shows no thinking switch for this model; budget %s not set", budget)
            return
        await self._switch(self.s.thinking_toggle, budget != 0)
        if budget > 0:
            await self._switch(self.s.budget_toggle, True)
            await self._fill(await self._control(self.s.budget_input, "thinking budget"), str(budget))
        elif budget < 0:
            await self._switch(self.s.budget_toggle, False)

    async def _functions(self, declarations: list[dict[str, Any]]) -> None:
        toggle = self.page.locator(self.s.functions_toggle).first
        if not declarations:
            if await toggle.count() and await toggle.get_attribute("aria-checked") == "true":
                await toggle.click(timeout=self.timeout_ms)
            return
        if not await toggle.count():
            raise PageProblem("the page offers no function calling for this model")
        await self._switch(self.s.functions_toggle, True)
        await self._click(self.s.functions_edit, "function declarations")
        editor = await self._control(self.s.functions_text, "function declarations editor")
        await editor.fill(orjson.dumps(declarations, option=orjson.OPT_INDENT_2).decode())
        await self._click(self.s.functions_save, "save function declarations")
        try:
            await editor.wait_for(state="hidden", timeout=self.timeout_ms)
        except Exception as exc:  # Playwright's TimeoutError: the dialog refused the declarations
            raise PageProblem("the function declarations dialog did not accept them") from exc

    async def _switch_setting(self, key: str, selector: str, on: bool | None) -> None:
        wanted = self._wanted(key, on)
        if wanted is None or not await self.page.locator(selector).count():
            return
        current = await self.page.locator(selector).first.get_attribute("aria-checked") == "true"
        self._before.setdefault(key, current)
        await self._switch(selector, bool(wanted))

    async def _switch(self, selector: str, on: bool) -> None:
        toggle = self.page.locator(selector).first
        if (await toggle.get_attribute("aria-checked", timeout=self.timeout_ms) == "true") != on:
            await toggle.click(timeout=self.timeout_ms)

    async def _control(self, selector: str, what: str) -> Locator:
        field = self.page.locator(selector).first
        try:
            await field.wait_for(state="visible", timeout=self.timeout_ms)
        except Exception as exc:  # Playwright's TimeoutError
            raise PageProblem(f"the page shows no {what} control ({selector})") from exc
        return field

    async def _click(self, selector: str, what: str) -> None:
        await (await self._control(selector, what)).click(timeout=self.timeout_ms)

    async def _fill(self, field: Locator, value: str) -> None:
        # Angular reads inputs on `input` (fill) and commits sliders on `change`/blur.
        await field.fill(value, timeout=self.timeout_ms)
        await field.dispatch_event("change")
        await field.blur()


def _parse_number(text: str) -> float | None:
    try:
        return round(float(text), 6)
    except ValueError:
        return None


def _format_number(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)
