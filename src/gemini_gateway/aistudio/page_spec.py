"""Everything the gateway knows about the AI Studio web page, in one place.

When Google redesigns AI Studio, this is the file to change: the CSS selectors of every landmark
the driver touches, the URL shapes, the RPC endpoints the page calls, the texts that mean "quota
exhausted", and the parser of the page's GenerateContent RPC stream (json+protobuf arrays).

Matches: the AI Studio UI of late 2025 (the Gemini 3 preview era: `ms-prompt-input-wrapper`
prompt box, "Thinking level" dropdown, native function-calling dialog). The knowledge was learned
by reading the public project CJackHwang/AIstudioProxyAPI (its `config/selectors.py` as of
commits 8c366cb and 103fedb, `stream/interceptors.py`, `browser_utils/models/switcher.py` and the
`page_controller_modules`); the code here is our own. It has never been run against the live page
from this project: tests use a local stand-in page that reproduces these landmarks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import orjson

PAGE_VERSION = "aistudio-2025-12"
LEARNED_FROM = "CJackHwang/AIstudioProxyAPI config/selectors.py + stream/interceptors.py (late 2025)"

DEFAULT_BASE_URL = "https://aistudio.google.com"
NEW_CHAT_PATH = "/prompts/new_chat"
# The page keeps the chosen model (and panel states) in this localStorage JSON.
PREFERENCE_KEY = "aiStudioUserPreference"
LOGIN_HOSTS = ("accounts.google.com",)

# The page's own RPCs (any host: the live page calls alkalimakersuite-pa.clients6.google.com).
RPC_GENERATE = "MakerSuiteService/GenerateContent"
RPC_LIST_MODELS = "MakerSuiteService/ListModels"

# Lower-case fragments of the page's callouts, toasts and RPC error bodies that mean "this account
# is out of quota or rate-limited": every text AIstudioProxyAPI knows (its RATE_LIMIT_KEYWORDS and
# the GenerateContent body checks: "exceeded quota", "out of free generations", "rate limit",
# "user has exceeded quota", "quota for the day") and the 429 status text of the RPC.
QUOTA_MARKERS = (
    "exceeded quota",
    "out of free generations",
    "rate limit",
    "quota for the day",
    "quota exceeded",
    "resource_exhausted",
)


@dataclass(frozen=True, slots=True)
class Selectors:
    """CSS selectors (Playwright syntax; commas are fallbacks for older layouts)."""

    prompt: str = (
        "ms-prompt-input-wrapper ms-autosize-textarea textarea, ms-prompt-input-wrapper textarea, "
        "ms-chunk-input textarea, ms-prompt-box textarea"
    )
    # The Run button doubles as Stop while the model answers (a spinner is drawn inside it).
    run: str = (
        'ms-run-button button[type="submit"], button[aria-label="Run"].run-button, '
        'ms-prompt-box button[aria-label="Run"]'
    )
    running: str = "ms-run-button .stoppable-spinner, button.run-button .stoppable-spinner"
    model_name: str = '[data-test-id="model-name"]'
    # Temporary chat (the incognito button next to the model): on, a run is not saved to the
    # account's history. Its state: aria-pressed, or the active class of the page's icon buttons.
    temporary_chat: str = (
        'ms-incognito-mode-toggle button, button[aria-label="Temporary chat toggle"], '
        'button[iconname="incognito"]'
    )
    temporary_chat_on: str = (
        'ms-incognito-mode-toggle button[aria-pressed="true"], ms-incognito-mode-toggle button.ms-button-active, '
        'button[aria-label="Temporary chat toggle"][aria-pressed="true"]'
    )
    system_card: str = 'button[data-test-system-instructions-card], button[aria-label="System instructions"]'
    system_text: str = 'textarea[aria-label="System instructions"]'
    system_close: str = 'ms-system-instructions-panel button[aria-label="Close panel"]'
    temperature: str = 'ms-slider input[type="number"][max="2"]'
    top_p: str = 'ms-slider input[type="number"][max="1"]'
    max_tokens: str = 'input[aria-label="Maximum output tokens"]'
    stop_input: str = 'input[aria-label="Add stop token"]'
    stop_remove: str = 'mat-chip button.remove-button[aria-label^="Remove"]'
    thinking_toggle: str = (
        'button[role="switch"][aria-label="Toggle thinking mode"], '
        '[data-test-toggle="enable-thinking"] button[role="switch"]'
    )
    budget_toggle: str = (
        'button[role="switch"][aria-label="Toggle thinking budget between auto and manual"], '
        '[data-test-toggle="manual-budget"] button[role="switch"]'
    )
    budget_input: str = (
        '[data-test-id="user-setting-budget-animation-wrapper"] input[type="number"], '
        '[data-test-slider] input[type="number"]'
    )
    thinking_level: str = 'mat-select[aria-label="Thinking level"], mat-select[aria-label="Thinking Level"]'
    # Formatted with the level's label ("Low", "High", ...).
    thinking_level_option: str = '[role="listbox"] [role="option"]:has-text("{label}")'
    search_toggle: str = 'div[data-test-id="searchAsAToolTooltip"] button[role="switch"]'
    functions_toggle: str = '[data-test-id="functionCallingTooltip"] button[role="switch"]'
    functions_edit: str = "button.edit-function-declarations-button"
    functions_text: str = "mat-dialog-container ms-text-editor textarea"
    functions_save: str = 'mat-dialog-container button[aria-label="Save the current function declarations"]'
    # Images and files: the "Insert assets" button opens a menu whose "Upload File" item holds a
    # hidden file input (there only while the menu is open); each file the page took shows as a
    # chunk in the prompt box, with a spinner icon while it uploads. The chunk elements are
    # unverified on the live page: when attachments fail with "did not show", look here first.
    attach_button: str = (
        'button[aria-label^="Insert assets"], ms-add-chunk-menu button.add-chunk-menu-button, '
        'button[iconname="add_circle"]'
    )
    attach_input: str = (
        'button[aria-label="Upload File"] input[type="file"], .mat-mdc-menu-content input[type="file"]'
    )
    attached_file: str = (
        "ms-prompt-input-wrapper ms-image-chunk, ms-prompt-input-wrapper ms-file-chunk, "
        "ms-prompt-input-wrapper ms-video-chunk, ms-prompt-input-wrapper ms-audio-chunk"
    )
    attach_busy: str = 'ms-prompt-input-wrapper mat-icon:has-text("progress_activity")'
    model_turn: str = "ms-chat-turn .chat-turn-container.model"
    answer_text: str = "ms-cmark-node.cmark-node"
    thought_block: str = "ms-thought-chunk"
    # Where the page shows quota and rate-limit messages: the error callout, the older layout's
    # warning callout ("You are out of free generations"), and toasts.
    error_callout: str = (
        "ms-callout.error-callout .message, ms-callout.warning-callout .message, "
        "div.toast.error, div.toast.warning"
    )


SELECTORS = Selectors()

# Candidate.finish_reason numbers (google.ai.generativelanguage FinishReason).
FINISH_REASONS = {
    1: "STOP",
    2: "MAX_TOKENS",
    3: "SAFETY",
    4: "RECITATION",
    5: "OTHER",
    6: "BLOCKLIST",
    7: "PROHIBITED_CONTENT",
    8: "SPII",
    9: "MALFORMED_FUNCTION_CALL",
}
# gRPC status codes in the page's error bodies, as HTTP statuses.
GRPC_TO_HTTP = {3: 400, 4: 504, 5: 404, 7: 403, 8: 429, 9: 400, 13: 500, 14: 503, 16: 401}


def new_chat_url(base_url: str, model: str | None) -> str:
    """A fresh chat with `model` chosen (the page reads `?model=`)."""
    url = base_url.rstrip("/") + NEW_CHAT_PATH
    return f"{url}?model={quote(model, safe='.-_')}" if model else url


def is_login_url(url: str) -> bool:
    """The page sent us to Google's sign-in: the saved login has expired."""
    parts = urlsplit(url)
    return parts.hostname in LOGIN_HOSTS or "ServiceLogin" in parts.path


def is_quota_message(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in QUOTA_MARKERS)


# --- The GenerateContent RPC stream --------------------------------------------------------------

_OUTSIDE = re.compile(r'[\[\]{}",]')
_INSIDE = re.compile(r'["\\]')


class RpcStreamParser:
    """Incremental parser of the page's GenerateContent response body.

    The body is one JSON array that grows while the model answers: `[chunk,chunk,...]`, each
    chunk a GenerateContentResponse in json+protobuf form (messages as arrays, fields by
    position). `feed` takes text as it arrives and returns every chunk completed by it, already
    turned into Gemini's JSON GenerateContentResponse, so each can be streamed on at once.
    """

    def __init__(self) -> None:
        self._text = ""
        self._pos = 0
        self._depth = 0
        self._in_string = False
        self._start: int | None = None

    def feed(self, text: str) -> list[dict[str, Any]]:
        if not self._text and text.startswith(")]}'"):
            text = text.partition("\n")[2]  # anti-JSON-hijacking prefix some Google RPCs send
        self._text += text
        done: list[dict[str, Any]] = []
        for raw in self._scan():
            try:
                chunk = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue  # json+protobuf "holes" (`[,1]`) never occur in the chunks we read
            event = chunk_to_response(chunk)
            if event is not None:
                done.append(event)
        if self._start is None and 65536 < self._pos <= len(self._text):
            self._text, self._pos = self._text[self._pos :], 0  # keep memory flat on long answers
        return done

    def _scan(self) -> list[str]:
        found: list[str] = []
        text = self._text
        pos = self._pos
        while True:
            pattern = _INSIDE if self._in_string else _OUTSIDE
            match = pattern.search(text, pos)
            if match is None:
                break
            char, pos = match.group(), match.end()
            if self._in_string:
                if char == "\\":
                    pos += 1  # skip the escaped character (may be past the end: rescanned later)
                else:
                    self._in_string = False
                continue
            if char == '"':
                self._in_string = True
            elif char in "[{":
                self._depth += 1
                if self._depth == 2:
                    self._start = pos - 1
            elif char in "]}":
                self._depth -= 1
                if self._depth == 1 and self._start is not None:
                    found.append(text[self._start : pos])
                    self._start = None
        self._pos = pos  # may be one past the end: the escaped character not received yet
        return found


def chunk_to_response(chunk: Any) -> dict[str, Any] | None:
    """One json+protobuf response chunk as a Gemini GenerateContentResponse dict (None if empty)."""
    candidates: list[dict[str, Any]] = []
    for content, holder in _contents(chunk, None):
        parts = [part for raw in content[0] if (part := _part(raw)) is not None]
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": len(candidates)}
        if holder is not None and len(holder) > 1 and isinstance(holder[1], int):
            candidate["finishReason"] = FINISH_REASONS.get(holder[1], "OTHER")
        candidates.append(candidate)
    if not candidates:
        return None
    response: dict[str, Any] = {"candidates": candidates}
    usage = _usage(chunk)
    if usage:
        response["usageMetadata"] = usage
    return response


def _is_content(node: Any) -> bool:
    # Content = [parts, role]; the page's answers carry role "model".
    return (
        isinstance(node, list)
        and len(node) >= 2
        and node[1] == "model"
        and isinstance(node[0], list)
        and all(isinstance(p, list) for p in node[0])
    )


def _contents(node: Any, holder: list[Any] | None) -> list[tuple[list[Any], list[Any] | None]]:
    """Every Content in a chunk with the Candidate array holding it (content is its field 1)."""
    if not isinstance(node, list):
        return []
    if _is_content(node):
        return [(node, holder)]
    found: list[tuple[list[Any], list[Any] | None]] = []
    for index, child in enumerate(node):
        found.extend(_contents(child, node if index == 0 else None))
    return found


def _part(raw: list[Any]) -> dict[str, Any] | None:
    """Part arrays: [null, text] is answer text; a longer array with text at 1 is a thought;
    an array with [name, args] at 10 is a function call."""
    if len(raw) > 10 and isinstance(raw[10], list) and raw[10] and isinstance(raw[10][0], str):
        call = raw[10]
        args = decode_struct(call[1]) if len(call) > 1 and call[1] is not None else {}
        return {"functionCall": {"name": call[0], "args": args}}
    if len(raw) > 1 and isinstance(raw[1], str):
        return {"text": raw[1]} if len(raw) == 2 else {"text": raw[1], "thought": True}
    return None


def _usage(chunk: Any) -> dict[str, int]:
    """UsageMetadata at field 3 of the response: [prompt, candidates, total, ..., thoughts at 10]."""
    if not (isinstance(chunk, list) and len(chunk) > 2 and isinstance(chunk[2], list)):
        return {}
    raw = chunk[2]
    names = {0: "promptTokenCount", 1: "candidatesTokenCount", 2: "totalTokenCount", 9: "thoughtsTokenCount"}
    return {name: raw[i] for i, name in names.items() if i < len(raw) and isinstance(raw[i], int)}


def decode_value(value: Any) -> Any:
    """google.protobuf.Value in json+protobuf: the array's length says which field is set."""
    if not isinstance(value, list):
        return value
    size = len(value)
    if size <= 1:
        return None  # null_value
    if size == 2:
        return value[1]  # number_value
    if size == 3:
        return value[2]  # string_value
    if size == 4:
        return bool(value[3])  # bool_value (0/1)
    if size == 5:
        return decode_struct(value[4])
    if size == 6:
        return [decode_value(item) for item in _list_items(value[5])]
    return value


def decode_struct(struct: Any) -> dict[str, Any]:
    """google.protobuf.Struct: its field map arrives as [[key, Value], ...], wrapped in one or more
    extra arrays depending on the page version, so unwrap until the pairs show."""
    node = struct
    for _ in range(8):
        if not isinstance(node, list) or not node:
            return {}
        first = node[0]
        if isinstance(first, list) and len(first) >= 2 and isinstance(first[0], str):
            return {pair[0]: decode_value(pair[1]) for pair in node if isinstance(pair, list) and pair}
        node = first
    return {}


def _list_items(raw: Any) -> list[Any]:
    if not isinstance(raw, list):
        return []
    # ListValue = [values]; some versions send the values bare.
    if len(raw) == 1 and isinstance(raw[0], list) and all(isinstance(v, list) for v in raw[0]):
        return list(raw[0])
    return raw


_STATUS = re.compile(r'\[(\d+),"((?:[^"\\]|\\.)*)"')


def parse_rpc_error(http_status: int, body: str) -> tuple[int, str]:
    """(HTTP status, message) of an RPC error answer such as `[,[7,"The caller does not ..."]]`."""
    match = _STATUS.search(body)
    message = body[:300].strip() or f"AI Studio answered HTTP {http_status}"
    status = http_status if http_status >= 400 else 500
    if match:
        try:
            message = orjson.loads(f'"{match.group(2)}"')
        except orjson.JSONDecodeError:
            message = match.group(2)
        if http_status < 400 or http_status == 500:
            status = GRPC_TO_HTTP.get(int(match.group(1)), status)
    return status, str(message)


def parse_model_list(body: str) -> dict[str, str]:
    """Model id -> display name from the page's ListModels answer (Model = [name, , , display])."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    models: dict[str, str] = {}

    def walk(node: Any) -> None:
        if not isinstance(node, list):
            return
        if node and isinstance(node[0], str) and node[0].startswith("models/"):
            display = node[3] if len(node) > 3 and isinstance(node[3], str) else node[0][7:]
            models[node[0][7:]] = display
            return
        for child in node:
            walk(child)

    walk(data)
    return models
