"""What a client sends to start a Files API resumable upload, for tests that upload."""

from __future__ import annotations


def resumable_start(size: int, content_type: str) -> dict[str, str]:
    """The headers of a resumable upload's start request, as google-genai sends them."""
    return {
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": str(size),
        "X-Goog-Upload-Header-Content-Type": content_type,
    }
