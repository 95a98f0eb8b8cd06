"""The gateway's HTTP/1.1 protocol over real loopback sockets: what uvicorn's httptools protocol
does, byte for byte, for the requests the gateway sees and the ways they go wrong."""

from __future__ import annotations

import asyncio
import gc
import socket
import time
from collections.abc import Iterator

import pytest
import websockets

from gemini_gateway.server.cycle import Cycle
from tests.server.apps import JSON, App
from tests.server.wire import PROTOCOLS, Reader, Served, exchange, serve, undated


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, tuple[Served, App]]]:
    """Both protocols, each serving an app of its own, for the whole module."""
    apps = {name: App() for name in PROTOCOLS}
    with (
        serve(apps["lean"], PROTOCOLS["lean"], timeout_keep_alive=1) as lean,
        serve(apps["httptools"], PROTOCOLS["httptools"], timeout_keep_alive=1) as reference,
    ):
        yield {"lean": (lean, apps["lean"]), "httptools": (reference, apps["httptools"])}


@pytest.fixture
def lean(servers: dict[str, tuple[Served, App]]) -> Served:
    return servers["lean"][0]


def both(servers: dict[str, tuple[Served, App]], *requests: bytes, head: bool = False) -> list[bytes]:
    """The lean protocol's responses, after checking they are the reference's, Date aside."""
    answers = {name: exchange(served, *requests, head_request=head) for name, (served, _) in servers.items()}
    lean, reference = ([undated(r) for r in answers[name]] for name in ("lean", "httptools"))
    assert lean == reference
    return answers["lean"]


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


SAME_BYTES = {
    "sized": b"GET /json HTTP/1.1\r\nhost: x\r\n\r\n",
    "not found": b"GET /nothing HTTP/1.1\r\nhost: x\r\n\r\n",
    "no content": b"GET /empty HTTP/1.1\r\nhost: x\r\n\r\n",
    "stream": b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n",
    "echo": b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello",
    "chunked body": b"POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
    + chunked(b"he", b"llo"),
    "query": b"GET /query?a=1&b=%20x HTTP/1.1\r\nhost: x\r\n\r\n",
    "escaped path": b"GET /qu%65ry HTTP/1.1\r\nhost: x\r\n\r\n",
    "absolute form": b"GET http://example.com/query?z=9 HTTP/1.1\r\nhost: x\r\n\r\n",
    "http/1.0": b"GET /json HTTP/1.0\r\n\r\n",
    "http/1.0 keep-alive": b"GET /json HTTP/1.0\r\nconnection: keep-alive\r\n\r\n",
    "client close": b"GET /json HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    "app close": b"GET /close HTTP/1.1\r\nhost: x\r\n\r\n",
    "raises": b"GET /raise HTTP/1.1\r\nhost: x\r\n\r\n",
    "malformed": b"GET /json HTTP/1.1\r\nhost x\r\n\r\n",
    "bad version": b"GET /json HTTP/9.9\r\n\r\n",
    "control byte in the path": b"GET /\x7f HTTP/1.1\r\nhost: x\r\n\r\n",
    "non-ascii path": b"GET /query\x80 HTTP/1.1\r\nhost: x\r\n\r\n",
    "odd path bytes": b'GET //query\\"{} HTTP/1.1\r\nhost: x\r\n\r\n',
    "fragment": b"GET /query?a=1#frag HTTP/1.1\r\nhost: x\r\n\r\n",
    "asterisk": b"OPTIONS * HTTP/1.1\r\nhost: x\r\n\r\n",
}


@pytest.mark.parametrize("request_bytes", SAME_BYTES.values(), ids=SAME_BYTES.keys())
def test_the_same_bytes_as_uvicorns_httptools_protocol(
    servers: dict[str, tuple[Served, App]], request_bytes: bytes
) -> None:
    [answer] = both(servers, request_bytes)
    assert (
        answer.startswith(b"HTTP/1.1 ") and b"\r\nserver: uvicorn\r\n" in answer and b"\r\ndate: " in answer
    )


def test_a_sized_answer_and_a_stream_as_the_gateway_sends_them(
    servers: dict[str, tuple[Served, App]],
) -> None:
    [sized] = both(servers, SAME_BYTES["sized"])
    head, body = sized.split(b"\r\n\r\n", 1)
    assert head.split(b"\r\n")[2:] == [
        b"server: uvicorn",
        b"content-type: application/json; charset=UTF-8",
        b"content-length: %d" % len(JSON),
    ]
    assert body == JSON
    [stream] = both(servers, SAME_BYTES["stream"])
    assert stream.endswith(
        b"\r\ntransfer-encoding: chunked\r\n\r\nb\r\ndata: 0\r\n\r\n\r\n"
        + chunked(b"data: 1\r\n\r\n", b"data: 2\r\n\r\n")
    )


def test_a_failing_app_gets_500_and_a_malformed_request_400(servers: dict[str, tuple[Served, App]]) -> None:
    [failed] = both(servers, SAME_BYTES["raises"])
    assert failed.startswith(b"HTTP/1.1 500 Internal Server Error\r\n") and failed.endswith(
        b"Internal Server Error"
    )
    [bad] = both(servers, SAME_BYTES["malformed"])
    assert bad.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"connection: close" in bad


def test_head_has_the_head_of_get_without_its_body(servers: dict[str, tuple[Served, App]]) -> None:
    [head] = both(servers, b"HEAD /json HTTP/1.1\r\nhost: x\r\n\r\n", head=True)
    assert head.endswith(b"content-length: %d\r\n\r\n" % len(JSON))
    [get] = both(servers, SAME_BYTES["sized"])
    assert undated(get) == undated(head) + JSON


def test_pipelined_requests_are_answered_in_order(servers: dict[str, tuple[Served, App]]) -> None:
    answers = both(
        servers,
        SAME_BYTES["echo"],
        b"GET /query?n=2 HTTP/1.1\r\nhost: x\r\n\r\n",
        SAME_BYTES["stream"],
        SAME_BYTES["chunked body"],
        SAME_BYTES["sized"],
    )
    assert answers[0].endswith(b"\r\n\r\nhello") and answers[1].endswith(b"b'n=2' 1.1")
    assert answers[3].endswith(b"\r\n\r\nhello") and answers[4].endswith(JSON)


def test_a_connection_is_kept_alive_then_closed_after_the_keep_alive_timeout(lean: Served) -> None:
    with lean.connect() as sock:
        reader = Reader(sock)
        for _ in range(3):
            sock.sendall(SAME_BYTES["sized"])
            assert reader.response().endswith(JSON)
        assert reader.closed(timeout=10)  # timeout_keep_alive=1


def test_the_server_closes_when_either_side_says_close(lean: Served) -> None:
    for request in (SAME_BYTES["client close"], SAME_BYTES["app close"], SAME_BYTES["http/1.0"]):
        with lean.connect() as sock:
            sock.sendall(request)
            reader = Reader(sock)
            assert b"\r\nconnection: close\r\n" in reader.response()
            assert reader.closed()


def test_expect_100_continue_is_answered_before_the_body_is_sent(
    servers: dict[str, tuple[Served, App]],
) -> None:
    for served, app in servers.values():
        with served.connect() as sock:
            sock.sendall(
                b"POST /echo HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 4\r\n\r\n"
            )
            reader = Reader(sock)
            assert reader.response() == b"HTTP/1.1 100 Continue\r\n\r\n"
            sock.sendall(b"body")
            assert reader.response().endswith(b"\r\n\r\nbody")
        assert app.events.bodies[-1] == b"body"


def test_a_large_chunked_body_arrives_whole_through_paused_reads(
    lean: Served, servers: dict[str, tuple[Served, App]]
) -> None:
    part = bytes(range(256)) * 1024  # 256 KiB a chunk, over the 64 KiB at which reading pauses
    with lean.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(8):
            sock.sendall(b"%x\r\n%b\r\n" % (len(part), part))
        sock.sendall(b"0\r\n\r\n")
        answer = Reader(sock).response()
    assert answer.endswith(part * 8) and servers["lean"][1].events.bodies[-1] == part * 8


@pytest.mark.parametrize("path", ["/bad-header", "/bad-name"])
def test_a_header_with_cr_or_lf_is_refused(servers: dict[str, tuple[Served, App]], path: str) -> None:
    """Never on the wire: the connection is closed without a response, as uvicorn does."""
    for served, _ in servers.values():
        with served.connect() as sock:
            sock.sendall(b"GET %b HTTP/1.1\r\nhost: x\r\n\r\n" % path.encode())
            reader = Reader(sock)
            assert reader.closed()
            assert reader.buffer == b""


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_client_leaving_mid_stream_cancels_the_handler(
    servers: dict[str, tuple[Served, App]], protocol: str
) -> None:
    served, app = servers[protocol]
    app.events.cancelled.clear()
    with served.connect() as sock:
        sock.sendall(b"POST /endless HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
        reader = Reader(sock)
        reader.wait_for(b"data: tick")
        sock.shutdown(socket.SHUT_RDWR)
    assert app.events.cancelled.wait(10)
    # The lean protocol's notice stands in for the watcher task; other servers keep the task.
    assert app.events.guarded[-1] == ("notice" if protocol == "lean" else "task")


def test_a_websocket_upgrade_is_handed_to_uvicorns_websocket_protocol(lean: Served) -> None:
    async def talk() -> str:
        async with websockets.connect(f"ws://127.0.0.1:{lean.port}/ws") as ws:
            await ws.send("ping")
            return str(await ws.recv())

    assert asyncio.run(talk()) == "echo: ping"
    # The connection that was upgraded is no HTTP one now; plain requests still work beside it.
    assert exchange(lean, SAME_BYTES["sized"])[0].endswith(JSON)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_streams_head_leaves_before_its_first_event(
    servers: dict[str, tuple[Served, App]], protocol: str
) -> None:
    """The head is held for a body sent in the same step only: a stream's client sees it start."""
    served, app = servers[protocol]
    app.events.release.clear()
    with served.connect() as sock:
        sock.sendall(b"GET /held HTTP/1.1\r\nhost: x\r\n\r\n")
        reader = Reader(sock)
        reader.wait_for(b"\r\n\r\n")
        assert reader.buffer.endswith(b"transfer-encoding: chunked\r\n\r\n")
        app.events.release.set()
        assert reader.response().endswith(b"data: late\n\n\r\n0\r\n\r\n")


def test_a_finished_request_is_freed_without_the_cyclic_collector(lean: Served) -> None:
    """The scope holds its cycle (the disconnect notice) and the cycle its scope while the app
    runs; a cycle left over would keep every request alive until the collector ran."""
    gc.collect()
    gc.disable()
    try:
        with lean.connect() as sock:
            reader = Reader(sock)
            for path in (b"/json", b"/guarded", b"/stream") * 5:
                sock.sendall(b"POST %b HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}" % path)
                reader.response()
            sock.sendall(SAME_BYTES["client close"])
            reader.response()
            assert reader.closed()
        # Nothing but the last one, which its connection may still hold until it is freed.
        for _ in range(100):
            live = [o for o in gc.get_objects() if isinstance(o, Cycle)]
            if not live:
                break
            time.sleep(0.02)
        assert live == []
    finally:
        gc.enable()
