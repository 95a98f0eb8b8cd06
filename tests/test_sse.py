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


class _GeneralOnly(SSEParser):
    """The parser without its fast path for single-line events: the reference it must agree with."""

    __slots__ = ()

    def _single_lines(self, buffer: bytes) -> list[bytes] | None:
        return None


TRICKY_STREAMS = [
    frame(b'{"a":1}') + frame(b'{"b":"data: x"}') + frame(b"") + frame(b' {"lead":1}'),
    b'data: {"a":1}\n\ndata: {"b":2}\n\n',
    b'data: {"a":1}\r\n\r\n\r\n\r\ndata: {"b":2}\r\n\r\n',
    b'data: {"a":1}\n\n\n\ndata: {"b":2}\n\n\n',
    b'data: {"a":1}\r\n\r\nevent: x\r\ndata: {"b":2}\r\n\r\n',
    b'data: {"a":1}\r\n\r\n: comment\r\n\r\ndata: {"b":2}\r\n\r\n',
    b'data: {"a":1}\r\n\r\ndata:{"b":2}\r\n\r\ndata: {"c":3}\n\n',
    b'data: {"a":\r\ndata: 1}\r\n\r\ndata: {"b":2}\r\n\r\n',
    b'data: {"a":1}\r\rdata: {"b":2}\r\r',
    b'data: {"a":1}\r\n\r\ndata: {"b":2}\r\n',
    b'data: {"a":1}\n\r\ndata: {"b":2}\r\n\r\n',
]


@pytest.mark.parametrize("stream", TRICKY_STREAMS)
def test_fast_path_agrees_with_the_general_parser(stream: bytes) -> None:
    def parse(parser: SSEParser, chunks: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for chunk in chunks:
            out += parser.feed(chunk)
        return out + parser.close()

    whole = parse(_GeneralOnly(), [stream])
    assert whole  # every stream here holds events
    for cut in range(len(stream) + 1):
        for second in (cut, min(cut + 7, len(stream))):
            chunks = [stream[:cut], stream[cut:second], stream[second:]]
            assert parse(SSEParser(), chunks) == parse(_GeneralOnly(), chunks) == whole, (cut, second)
