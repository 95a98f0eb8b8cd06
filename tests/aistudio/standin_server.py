"""The stand-in AI Studio site: the page (standin/), its ListModels and GenerateContent RPCs.

GenerateContent answers in the json+protobuf array format page_spec parses, streamed chunk by
chunk. The account is the `SID` cookie of the profile the browser context was made from, and
each account can be told how to behave (`StandinState.modes`): answer, answer slowly, hang
without a byte, run out of quota (a 429 and the error callout), show the older page's warning
callout ("You are out of free generations") while its RPC hangs, or finish its RPC while the page
keeps showing Stop.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

HERE = Path(__file__).parent / "standin"
EMULATION_HEADER = "You can call these functions (JSON declarations):"  # emulated_tools.HEADER
RPC = "/$rpc/google.internal.alkali.applications.makersuite.v1.MakerSuiteService/"
WARNING = "You are out of free generations. Try again later or use an API key."
ROTATING = "SIDTS"  # like __Secure-1PSIDTS, which Google rotates while a page is open
MODELS = [("gemini-2.5-flash", "Gemini 2.5 Flash"), ("gemini-2.5-pro", "Gemini 2.5 Pro")]


@dataclass
class StandinCall:
    account: str
    model: str
    prompt: str
    system: str | None
    stops: list[str]
    max_tokens: float
    temperature: float
    top_p: float
    thinking: list[Any]
    functions: list[dict[str, Any]]
    search: bool
    temporary: bool = False  # the page's Temporary chat was on: nothing lands in the history
    rotated: str | None = None  # the rotating session cookie the browser sent with the run
    attachments: list[tuple[str, bytes]] = field(default_factory=list)  # (mime type, bytes) sent inline
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    completed: bool = False


class StandinState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.modes: dict[str, str] = {}
        self.calls: list[StandinCall] = []
        self.events: list[dict[str, Any]] = []
        self.chunks = 4
        self.delay = 0.05
        self.rotations = 0  # every answer rotates the session cookie, as Google's pages do
        # Cleared by a test to hold the last step of signing in (a navigation under way, from a
        # page that is not the sign-in page) or the sign-in page's web font (which Playwright's
        # screenshots wait for), until set again.
        self.sign_in_go = threading.Event()
        self.font_go = threading.Event()
        self.sign_in_go.set()
        self.font_go.set()

    def reset(self) -> None:
        with self.lock:
            self.modes.clear()
            self.calls.clear()
            self.events.clear()
            self.chunks, self.delay = 4, 0.05
            self.rotations = 0
        self.sign_in_go.set()
        self.font_go.set()

    def stops(self, account: str | None = None) -> int:
        return sum(1 for e in self.events if e["type"] == "stop" and account in (None, e["account"]))

    def calls_of(self, account: str) -> list[StandinCall]:
        return [c for c in self.calls if c.account == account]


def text_part(text: str) -> list[Any]:
    return [None, text]


def thought_part(text: str) -> list[Any]:
    return [None, text, None, None, None, None, None, None, None, None, None, None, 1]


def function_part(name: str, args: dict[str, Any]) -> list[Any]:
    return [None] * 10 + [[name, encode_struct(args)]]


def encode_value(value: Any) -> list[Any]:
    """google.protobuf.Value as json+protobuf: the set field's position gives the kind."""
    if value is None:
        return [0]
    if isinstance(value, bool):
        return [None, None, None, int(value)]
    if isinstance(value, int | float):
        return [None, value]
    if isinstance(value, str):
        return [None, None, value]
    if isinstance(value, dict):
        return [None, None, None, None, encode_struct(value)]
    return [None, None, None, None, None, [[encode_value(v) for v in value]]]


def encode_struct(struct: dict[str, Any]) -> list[Any]:
    return [[[key, encode_value(value)] for key, value in struct.items()]]


def chunk(parts: list[Any], finish: int | None = None, usage: list[int] | None = None) -> list[Any]:
    candidate: list[Any] = [[parts, "model"]]
    if finish is not None:
        candidate.append(finish)
    return [[candidate], None, usage] if usage else [[candidate]]


def parse_call(account: str, body: list[Any]) -> StandinCall:
    config = body[3]
    system = body[7][0][0][1] if len(body) > 7 and body[7] else None
    return StandinCall(
        account=account,
        model=body[0].removeprefix("models/"),
        prompt=body[1][0][0][0][1],
        system=system,
        stops=config[1],
        max_tokens=config[3],
        temperature=config[4],
        top_p=config[5],
        thinking=config[16],
        functions=body[6][0][0] if len(body) > 6 and body[6] else [],
        search=len(body) > 8 and body[8] == 1,
        temporary=len(body) > 9 and body[9] == 1,
        attachments=[
            (part[2][0], base64.b64decode(part[2][1]))
            for part in body[1][0][0][1:]
            if len(part) > 2 and part[2]
        ],
    )


def emulated_call(prompt: str) -> str | None:
    """The model's side of emulated function calling: asked with tools described in the prompt and
    no result yet in it, it answers with a call block for the first function."""
    if EMULATION_HEADER not in prompt:
        return None
    declared = orjson.loads(prompt.split(EMULATION_HEADER + "\n", 1)[1].split("\n", 1)[0])
    if f"[function {declared[0]['name']} returned" in prompt:
        return None  # the result is in: the answer is text
    call = {"name": declared[0]["name"], "args": {"city": "Paris", "days": 3}}
    return f"Let me look that up.\n<function_call>{orjson.dumps(call).decode()}</function_call>"


def answer_chunks(call: StandinCall, pieces: int) -> list[list[Any]]:
    """An answer that shows what the page sent, split into `pieces` text chunks."""
    if call.functions:
        args = {"city": "Paris", "days": 3, "metric": True, "tags": ["a", "b"], "nested": {"x": None}}
        return [chunk([function_part(call.functions[0]["name"], args)], finish=1, usage=[12, 5, 17])]
    emulated = emulated_call(call.prompt)
    if emulated is not None:
        size = max(1, -(-len(emulated) // pieces))  # the block arrives cut across chunks
        texts = [emulated[i : i + size] for i in range(0, len(emulated), size)]
        return [chunk([text_part(t)]) for t in texts[:-1]] + [chunk([text_part(texts[-1])], finish=1)]
    settings = (
        f"model={call.model} temperature={call.temperature:g} top_p={call.top_p:g} "
        f"max_tokens={call.max_tokens:g} stops={','.join(call.stops)} thinking={call.thinking[0]}/"
        f"{call.thinking[1]}/{call.thinking[2]} system={call.system} search={call.search}"
    )
    text = f"{call.account} heard '{call.prompt}'. [{settings}]"
    if call.attachments:
        text += " saw " + ", ".join(f"{mime} of {len(data)} bytes" for mime, data in call.attachments)
    size = max(1, -(-len(text) // pieces))
    texts = [text[i : i + size] for i in range(0, len(text), size)]
    chunks = [chunk([thought_part("Weighing the words. ")])] if call.thinking[0] else []
    chunks += [chunk([text_part(t)]) for t in texts[:-1]]
    chunks.append(chunk([text_part(texts[-1])], finish=1, usage=[10, len(texts), 10 + len(texts)]))
    return chunks


def create_standin_app(state: StandinState) -> Starlette:
    async def page(request: Request) -> Response:
        if request.cookies.get("SID") == "expired":
            return RedirectResponse("/ServiceLogin?continue=" + str(request.url))
        return FileResponse(HERE / "index.html", media_type="text/html")

    async def sign_in(request: Request) -> Response:
        """Google's sign-in, reduced: an email field at a fixed place; Enter signs that account in."""
        if request.method == "POST":
            form = (await request.body()).decode()
            email = dict(p.split("=", 1) for p in form.split("&") if "=" in p).get("email", "")
            # Held: through a page of its own that goes on by script, as Google's sign-in does.
            onward = "/prompts/new_chat" if state.sign_in_go.is_set() else "/standin/continue"
            answer = RedirectResponse(onward, status_code=303)
            answer.set_cookie("SID", email.split("%40")[0] or "?", httponly=True)
            return answer
        return HTMLResponse(
            "<style>@font-face{font-family:standin;src:url(/standin/font.woff2)}"
            "h1{font-family:standin,sans-serif}</style>"
            "<h1>Sign in</h1><form method=post>"
            '<input type=email name=email aria-label="Email or phone" '
            'style="position:absolute;left:100px;top:200px;width:300px;height:30px"></form>'
        )

    async def script(request: Request) -> Response:
        return FileResponse(HERE / "standin.js", media_type="text/javascript")

    async def signing_in(request: Request) -> Response:
        return HTMLResponse("<p>Signing you in…</p><script>location.replace('/standin/landing')</script>")

    async def landing(request: Request) -> Response:
        while not state.sign_in_go.is_set():
            await asyncio.sleep(0.02)
        return RedirectResponse("/prompts/new_chat", status_code=303)

    async def font(request: Request) -> Response:
        while not state.font_go.is_set():
            await asyncio.sleep(0.02)
        return Response(status_code=404)  # no such font: the page falls back to sans-serif

    async def list_models(request: Request) -> Response:
        models = [[f"models/{mid}", None, "001", name] for mid, name in MODELS]
        return Response(orjson.dumps([models]), media_type="application/json+protobuf")

    async def events(request: Request) -> Response:
        event = orjson.loads(await request.body())
        event["account"] = request.cookies.get("SID", "?")
        with state.lock:
            state.events.append(event)
        return Response(status_code=204)

    async def generate(request: Request) -> Response:
        account = request.cookies.get("SID", "?")
        call = parse_call(account, orjson.loads(await request.body()))
        call.rotated = request.cookies.get(ROTATING)
        with state.lock:
            state.calls.append(call)
            state.rotations += 1
            rotated = f"{ROTATING}=rot-{state.rotations}; Path=/; HttpOnly; Max-Age=86400"
            mode = state.modes.get(account, "answer")
            if mode.endswith("-once"):
                state.modes[account] = "answer"
                mode = mode.removesuffix("-once")
        if mode == "quota":
            call.ended = time.monotonic()
            body = b'[,[8,"Quota exceeded for quota metric generate requests per day"]]'
            return Response(body, status_code=429, media_type="application/json+protobuf")
        pieces, delay = (40, 0.1) if mode == "slow" else (state.chunks, state.delay)

        async def stream() -> Any:
            try:
                first = True
                for item in answer_chunks(call, pieces):
                    yield (b"[" if first else b",") + orjson.dumps(item)
                    first = False
                    await asyncio.sleep(delay)
                yield b"]"
                call.completed = True
            finally:
                call.ended = time.monotonic()

        headers = {"x-standin-linger": "1"} if mode == "linger" else {}
        headers["set-cookie"] = rotated
        if mode == "freeze":
            # One chunk, with a header that makes the page's JavaScript spin forever once it has it.
            async def frozen() -> Any:
                await asyncio.sleep(0.5)  # after the Run click has returned, as with a real model
                yield b"[" + orjson.dumps(answer_chunks(call, 2)[0])
                while not await request.is_disconnected():
                    await asyncio.sleep(0.1)
                call.ended = time.monotonic()

            return StreamingResponse(
                frozen(), media_type="application/json+protobuf", headers={"x-standin-freeze": "1"}
            )
        if mode == "warning":
            # The older page: headers arrive, the page shows its warning callout, no answer comes.
            async def nothing() -> Any:
                try:
                    yield b" "  # headers go out with the first byte
                    while not await request.is_disconnected():
                        await asyncio.sleep(0.1)
                finally:  # Starlette cancels the body when the page drops the request
                    call.ended = time.monotonic()

            return StreamingResponse(
                nothing(), media_type="application/json+protobuf", headers={"x-standin-warning": WARNING}
            )
        if mode == "hang":
            # Not even headers: the page's request stays open with nothing to show, until it goes.
            while not await request.is_disconnected():
                await asyncio.sleep(0.1)
            call.ended = time.monotonic()
            return Response(status_code=499)
        return StreamingResponse(stream(), media_type="application/json+protobuf", headers=headers)

    return Starlette(
        routes=[
            Route("/prompts/new_chat", page),
            Route("/ServiceLogin", sign_in, methods=["GET", "POST"]),
            Route("/standin/standin.js", script),
            Route("/standin/font.woff2", font),
            Route("/standin/continue", signing_in),
            Route("/standin/landing", landing),
            Route("/standin/events", events, methods=["POST"]),
            Route(RPC + "ListModels", list_models, methods=["POST"]),
            Route(RPC + "GenerateContent", generate, methods=["POST"]),
        ]
    )
