"""Small but real media for generated outputs: valid PNG images and 16-bit PCM speech."""

from __future__ import annotations

import hashlib
import math
import struct
import sys
import zlib
from array import array
from functools import lru_cache

PCM_RATE = 24_000
PCM_MIME = f"audio/L16;codec=pcm;rate={PCM_RATE}"
IMAGE_SIZE = 16


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@lru_cache(maxsize=256)
def png(seed: str, size: int = IMAGE_SIZE, height: int | None = None) -> bytes:
    """A `size`x`size` (or `size`x`height`) RGB PNG whose colours are derived from `seed` (same
    seed, same image)."""
    digest = hashlib.blake2b(seed.encode(), digest_size=6).digest()
    top, bottom = digest[:3], digest[3:]
    rows_count = height or size
    rows = b"".join(b"\x00" + (top if y < rows_count // 2 else bottom) * size for y in range(rows_count))
    header = struct.pack(">IIBBBBB", size, rows_count, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def aspect_size(ratio: object, longest: int = IMAGE_SIZE) -> tuple[int, int]:
    """(width, height) of an image in `imageConfig.aspectRatio` ("16:9"), its longest side `longest`."""
    try:
        w, h = (int(x) for x in str(ratio).split(":"))
    except ValueError:
        return longest, longest
    if w <= 0 or h <= 0:
        return longest, longest
    scale = longest / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


@lru_cache(maxsize=256)
def pcm_speech(text: str, voice: str) -> bytes:
    """Mono signed 16-bit little-endian PCM at 24 kHz: a tone whose pitch depends on the voice
    and whose length grows with the text (20 ms a character, 0.2 s to 2 s)."""
    seconds = min(2.0, max(0.2, 0.02 * len(text)))
    pitch = 180 + hashlib.blake2b(voice.encode(), digest_size=2).digest()[0] * 2
    step = 2 * math.pi * pitch / PCM_RATE
    samples = array("h", (int(8000 * math.sin(step * i)) for i in range(int(seconds * PCM_RATE))))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def audio_tokens(pcm: bytes) -> int:
    """Google counts 25 tokens per second of generated audio."""
    return max(1, round(len(pcm) / 2 / PCM_RATE * 25))
