import pytest

from gemini_gateway.sse import SSEParser, frame


def feed_all(chunks: list[bytes]) -> list[bytes]:
    parser = SSEParser()
    out: list[bytes] = []
    for chunk in chunks:
        out += parser.feed(chunk)
    return out + parser.close()


@pytest.mark.parametrize("sep", [b"\r\n\r\n", b"\n\n", b"\r\r"])
def test_separators(sep: bytes) -> None:
    stream = b'data: {"a":1}' + sep + b'data: {"b":2}' + sep
    assert feed_all([stream]) == [b'{"a":1}', b'{"b":2}']


def test_crlf_split_across_reads_is_not_an_extra_event() -> None:
    stream = frame(b'{"a":1}') + frame(b'{"b":2}')
    for cut in range(1, len(stream)):
        assert feed_all([stream[:cut], stream[cut:]]) == [b'{"a":1}', b'{"b":2}'], cut


def test_multiline_data_and_comments() -> None:
    stream = b': keepalive\n\ndata: {"a":\ndata: 1}\n\nevent: x\ndata:{}\n\n'
    assert feed_all([stream]) == [b'{"a":\n1}', b"{}"]


def test_final_event_without_blank_line() -> None:
    assert feed_all([b'data: {"last":true}']) == [b'{"last":true}']


def test_frame_uses_crlf() -> None:
    assert frame(b"{}") == b"data: {}\r\n\r\n"
