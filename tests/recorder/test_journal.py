"""The journal on its own: what it writes, when it lets go of it, what start-up takes back."""

from __future__ import annotations

import pickle
import stat
import zlib
from pathlib import Path

from gemini_gateway.exchange import Exchange
from gemini_gateway.recorder.capture import Capture
from gemini_gateway.recorder.inline import build_all
from gemini_gateway.recorder.journal import (
    ENTRY,
    SUFFIX,
    TRUNCATE_BYTES,
    Journal,
    encode_payload,
    read_entries,
    recover,
)
from gemini_gateway.recorder.rows import new_id
from gemini_gateway.recorder.spool import Spool
from gemini_gateway.recorder.wire import from_wire, masked_for_disk, to_wire


def capture(text: str, size: int = 0) -> Capture:
    body = b'{"contents": [{"parts": [{"text": "%s"}]}]}' % text.encode() + b" " * size
    scope = {"method": "POST", "path": "/v1beta/models/m:generateContent", "query_string": b"", "headers": []}
    exchange = Exchange(model="m", status=200)
    result = Capture("full", scope, exchange, cap=1 << 20, status=200, complete=True, record_id=new_id())
    result.request_chunks, result.request_size = [body], len(body)
    return result


def payload(text: str, size: int = 0) -> bytes:
    c = capture(text, size)
    assert c.record_id is not None
    return encode_payload(to_wire(c, c.record_id))


def entry(text: str, size: int = 0) -> bytes:
    """An entry as it lies in a journal file (what `Journal.append` writes)."""
    data = payload(text, size)
    return ENTRY.pack(len(data), zlib.crc32(data)) + data


def journal_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"*{SUFFIX}"))


def texts(path: Path) -> list[str]:
    """The question of each entry in a journal file."""
    found = []
    for wire in read_entries(path):
        body = wire[20]  # the request body (see wire.to_wire)
        assert isinstance(body, bytes)
        found.append(body.split(b'"text": "')[1].split(b'"')[0].decode())
    return found


def test_entries_are_read_back_and_a_torn_tail_ends_the_reading(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    for i in range(3):
        assert journal.append(payload(f"q{i}")) == 0
    [path] = journal_files(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # unmasked headers live here until stored
    with open(path, "ab") as handle:  # a crash in the middle of the fourth write
        handle.write(entry("q3")[:-5])
    assert texts(path) == ["q0", "q1", "q2"]
    # A damaged entry (a flipped byte) ends the reading there too, as do zeros a power loss left.
    data = bytearray(path.read_bytes())
    data[ENTRY.size + 10] ^= 0xFF
    path.write_bytes(bytes(data))
    assert texts(path) == []
    path.write_bytes(entry("q0") + bytes(64) + entry("q1"))
    assert texts(path) == ["q0"]
    journal.close()


def test_entries_with_classes_in_them_are_refused(tmp_path: Path) -> None:
    payload = pickle.dumps(("id", Path("/etc/passwd")))  # needs find_class: never loaded
    path = tmp_path / f"x{SUFFIX}"
    path.write_bytes(ENTRY.pack(len(payload), zlib.crc32(payload)) + payload + entry("after"))
    assert texts(path) == ["after"]


def test_settled_segments_go_and_the_active_one_is_emptied_in_place(tmp_path: Path) -> None:
    journal = Journal(tmp_path, rotate_bytes=4096)
    first = [journal.append(payload(f"a{i}", 1500)) for i in range(3)]  # the third goes past 4 KB
    second = journal.append(payload("b0", 1500))
    assert first == [0, 0, 0] and second == 1 and len(journal_files(tmp_path)) == 2
    journal.settle({0: 2})
    assert len(journal_files(tmp_path)) == 2  # one of segment 0 is still to be stored
    journal.settle({0: 1})
    [active] = journal_files(tmp_path)
    assert texts(active) == ["b0"]

    big = Journal(tmp_path / "big")
    segment = big.append(payload("big", TRUNCATE_BYTES))
    [path] = journal_files(tmp_path / "big")
    big.settle({segment: 1})
    assert path.stat().st_size == 0  # all stored: emptied, and written on from the start
    big.append(payload("next"))
    assert texts(path) == ["next"]
    assert big.stats()["unsettled"] == 1
    big.close()
    assert journal_files(tmp_path / "big") == [path]  # an unsettled record keeps its file
    journal.settle({1: 1})
    journal.close()
    assert journal_files(tmp_path) == []  # all stored: nothing left behind


def test_start_up_takes_what_no_live_gateway_holds_and_spools_it(tmp_path: Path) -> None:
    live = Journal(tmp_path / "journal")
    live.append(payload("still running"))
    crashed = tmp_path / "journal" / f"20000101T000000-1-dead-000000{SUFFIX}"
    crashed.write_bytes(entry("left by a crash") + entry("and another"))

    assert recover(tmp_path / "journal", tmp_path / "spool", build_all) == 2
    assert journal_files(tmp_path / "journal") != [] and not crashed.exists()  # the live one stays
    [spooled] = Spool(tmp_path / "spool").take()
    [[one, two]] = list(Spool.read(spooled, 10))
    assert {one.exchange["model"], two.exchange["model"]} == {"m"}
    assert one.exchange["id"] != two.exchange["id"]
    live.close()


def test_no_presented_token_is_kept_in_full_on_disk(tmp_path: Path) -> None:
    """The journal lies on disk until its record is stored: the caller's token (in a header, the
    query or echoed in a body) is masked there, and the record built from it is the same."""
    token = "client-secret-token-7f3a9c2e51"
    c = capture(f"my token is {token}")
    c.scope["headers"] = [
        (b"authorization", f"Bearer {token}".encode()),
        (b"x-goog-user-project", token.encode()),
    ]
    c.scope["query_string"] = f"api-key={token}&alt=sse".encode()
    # A client that put its token where a model name or an id goes (a swapped variable).
    c.scope["path"] = f"/v1beta/models/{token}:generateContent"
    c.exchange.model, c.exchange.route = token, f"/v1beta/files/{token}"
    c.response_chunks = [b'{"echo": "' + token.encode() + b'"}']
    c.response_headers = [(b"content-type", b"application/json")]
    assert c.record_id is not None
    journal = Journal(tmp_path)
    journal.append(encode_payload(masked_for_disk(to_wire(c, c.record_id))[0]))
    journal.close()
    on_disk = b"".join(path.read_bytes() for path in journal_files(tmp_path))
    assert token.encode() not in on_disk
    assert b"clie...2e51" in on_disk  # masked, not dropped

    (replayed,) = [from_wire(wire) for path in journal_files(tmp_path) for wire in read_entries(path)]
    from_disk, direct = build_all([replayed], lambda *_: None), build_all([capture_again(c)], lambda *_: None)
    assert from_disk[0].exchange["request_headers"] == direct[0].exchange["request_headers"]
    assert from_disk[0].exchange["query"] == direct[0].exchange["query"]
    for column in ("path", "route", "model"):
        assert from_disk[0].exchange[column] == direct[0].exchange[column]
        assert token not in direct[0].exchange[column] and "clie...2e51" in direct[0].exchange[column]


def capture_again(c: Capture) -> Capture:
    assert c.record_id is not None
    return from_wire(to_wire(c, c.record_id))
