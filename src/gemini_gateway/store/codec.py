"""Body compression: zstd when the `zstandard` package is installed, zlib otherwise.

The codec is stored with every body, so a store written with one codec stays readable after
the other becomes the default.
"""

from __future__ import annotations

import zlib

try:  # optional: better ratio and speed than zlib, not a hard dependency
    import zstandard as _zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on the machine
    _zstd = None

DEFAULT_CODEC = "zstd" if _zstd is not None else "zlib"
# Below this, compression saves a few hundred bytes at most and its setup costs more CPU than the
# rest of recording the exchange: such bodies are stored as they are.
MIN_COMPRESS_BYTES = 1024
TRUNCATION_MARKER = b"\n[gemini-gateway: body truncated, kept %d of %d bytes]"


def choose_codec(data: bytes, preferred: str = DEFAULT_CODEC) -> str:
    return preferred if len(data) >= MIN_COMPRESS_BYTES else "none"


def compress(data: bytes, codec: str = DEFAULT_CODEC) -> bytes:
    if codec == "zstd" and _zstd is not None:
        packed: bytes = _zstd.ZstdCompressor(level=3).compress(data)
        return packed
    if codec == "zlib":
        # A window no larger than the body: zlib's default 32 KB window and 256 KB of hash tables
        # cost more to set up than compressing a typical 1 KB body, for the same output.
        window = max(9, min(15, (len(data) - 1).bit_length()))
        deflate = zlib.compressobj(6, zlib.DEFLATED, window, max(1, min(8, window - 6)))
        return deflate.compress(data) + deflate.flush()
    if codec == "none":
        return data
    raise ValueError(f"unknown body codec {codec!r}")


def decompress(data: bytes, codec: str) -> bytes:
    if codec == "zlib":
        return zlib.decompress(data)
    if codec == "none":
        return data
    if codec == "zstd":
        if _zstd is None:
            raise RuntimeError("this body is zstd-compressed: pip install zstandard to read it")
        plain: bytes = _zstd.ZstdDecompressor().decompress(data)
        return plain
    raise ValueError(f"unknown body codec {codec!r}")


def cap_body(body: bytes, limit: int, total: int | None = None) -> tuple[bytes, bool]:
    """`body` cut to `limit` bytes plus a visible marker, and whether it was cut.

    `total` is the size the body really had, when only its first chunks were kept.
    """
    total = max(total or 0, len(body))
    if total <= limit:
        return body, False
    return body[:limit] + TRUNCATION_MARKER % (limit, total), True
