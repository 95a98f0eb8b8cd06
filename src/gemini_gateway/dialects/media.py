"""Media in client requests: data URLs, remote images left for the handler, WAV framing.

Gemini's `fileData` takes only its own Files-API URIs, gs:// and YouTube links, so an ordinary
http(s) image URL must be downloaded and inlined. Downloading is I/O, which this layer never does:
the parser leaves a placeholder `fileData` part, lists it in `remote_images`, and the handler
fetches (with its size cap) and calls `substitute_remote_images`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from gemini_gateway.dialects.common import JSON, ParamError

_DATA_URL = re.compile(
    r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[^;,]*)*?);base64,(?P<data>.*)", re.S
)
_NATIVE_URI_PREFIXES: Final = (
    "https://generativelanguage.googleapis.com/",
    "gs://",
    "https://www.youtube.com/",
    "https://youtube.com/",
    "https://youtu.be/",
    "https://m.youtube.com/",
)
_FILES_API: Final = "https://generativelanguage.googleapis.com/v1beta/"
# A Files API file as a client may name it: its uri (on Google's host, or any upstream serving the
# same API, such as a test double) or its bare resource name.
_FILES_API_FILE = re.compile(r"^(?:https?://[^/?#]+/(?:v1beta|v1)/)?files/[a-z0-9-]{1,40}$")
_EXTENSION_MIME: Final = {
    "pdf": "application/pdf",
    "txt": "text/plain",
    "md": "text/markdown",
    "csv": "text/csv",
    "html": "text/html",
    "htm": "text/html",
    "xml": "text/xml",
    "json": "application/json",
    "py": "text/x-python",
    "js": "text/javascript",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "heic": "image/heic",
    "wav": "audio/wav",
    "mp3": "audio/mp3",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "mp4": "video/mp4",
    "webm": "video/webm",
}


@dataclass(frozen=True, slots=True)
class RemoteImage:
    """An http(s) image the handler must fetch; it sits at contents[content_index].parts[part_index]."""

    url: str
    content_index: int
    part_index: int


def parse_data_url(url: str) -> tuple[str, str] | None:
    """`data:<mime>;base64,<data>` -> (mime, base64 data); None if it is not a base64 data URL."""
    match = _DATA_URL.fullmatch(url)
    if match is None:
        return None
    return match["mime"] or "application/octet-stream", match["data"]


def mime_for_filename(filename: str | None, default: str = "application/octet-stream") -> str:
    if filename and "." in filename:
        return _EXTENSION_MIME.get(filename.rsplit(".", 1)[1].lower(), default)
    return default


def url_part(url: object, param: str, mime_type: str | None = None) -> JSON:
    """A Gemini part for a client-supplied media URL (data URL, Gemini-readable URI, or remote)."""
    if not isinstance(url, str) or not url:
        raise ParamError(param, "expected a non-empty URL string")
    if url.startswith("data:"):
        parsed = parse_data_url(url)
        if parsed is None:
            raise ParamError(param, "data URLs must be base64 encoded (data:<mime>;base64,<data>)")
        return {"inlineData": {"mimeType": parsed[0], "data": parsed[1]}}
    native = files_api_uri(url)
    if native is not None or url.startswith((*_NATIVE_URI_PREFIXES, "http://", "https://")):
        data: JSON = {"fileUri": native or url}
        if mime_type:
            data["mimeType"] = mime_type
        return {"fileData": data}
    raise ParamError(param, "expected an http(s) URL or a base64 data URL")


def files_api_uri(value: str) -> str | None:
    """A Files API file's `fileUri` (`files/abc` -> Google's uri for it), or None for anything else."""
    if not _FILES_API_FILE.match(value):
        return None
    return value if "://" in value else _FILES_API + value


def file_uri(file_id: str, param: str) -> str:
    """A client file id -> a Gemini `fileUri` (Files API names `files/abc` or full URIs)."""
    if (native := files_api_uri(file_id)) is not None:
        return native
    if file_id.startswith(("https://", "gs://")):
        return file_id
    if file_id.startswith("files/"):
        return _FILES_API + file_id
    raise ParamError(param, "file_id must be a Gemini file name (files/...) or a file URI")


def remote_images(contents: Sequence[JSON]) -> list[RemoteImage]:
    """The placeholder parts in built contents that still need fetching."""
    found: list[RemoteImage] = []
    for ci, content in enumerate(contents):
        for pi, part in enumerate(content.get("parts", ())):
            uri = part.get("fileData", {}).get("fileUri") if "fileData" in part else None
            if isinstance(uri, str) and _needs_fetch(uri):
                found.append(RemoteImage(uri, ci, pi))
    return found


def _needs_fetch(uri: str) -> bool:
    return (
        uri.startswith(("http://", "https://"))
        and not uri.startswith(_NATIVE_URI_PREFIXES)
        and files_api_uri(uri) is None
    )


def substitute_remote_images(
    request: JSON, images: Sequence[RemoteImage], fetched: Mapping[str, tuple[str, str]]
) -> JSON:
    """A copy of `request` with each fetched image inlined; `fetched` maps url -> (mime, base64).

    Only the touched contents are copied, so the cost is independent of the history's size.
    """
    todo = [img for img in images if img.url in fetched]
    if not todo:
        return request
    contents = list(request["contents"])
    copied: set[int] = set()
    for img in todo:
        if img.content_index not in copied:
            content = contents[img.content_index]
            contents[img.content_index] = {**content, "parts": list(content["parts"])}
            copied.add(img.content_index)
        mime, data = fetched[img.url]
        contents[img.content_index]["parts"][img.part_index] = {
            "inlineData": {"mimeType": mime, "data": data}
        }
    return {**request, "contents": contents}


# --- audio -------------------------------------------------------------------------------------


def pcm_rate(mime_type: str, default: int = 24000) -> int:
    """`audio/L16;codec=pcm;rate=24000` -> 24000."""
    match = re.search(r"rate=(\d+)", mime_type)
    return int(match[1]) if match else default


def wav_header(data_size: int, rate: int, channels: int = 1, bits: int = 16) -> bytes:
    """The 44-byte RIFF header for raw little-endian PCM of `data_size` bytes."""
    block_align = channels * bits // 8
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_size,
        b"WAVE",
        b"fmt ",
        16,
        1,  # PCM
        channels,
        rate,
        rate * block_align,
        block_align,
        bits,
        b"data",
        data_size,
    )
