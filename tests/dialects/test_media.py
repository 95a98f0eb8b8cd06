"""Files API files named in client media: recognised by uri or name, never fetched."""

from __future__ import annotations

import pytest

from gemini_gateway.dialects.common import ParamError
from gemini_gateway.dialects.media import file_uri, files_api_uri, remote_images, url_part

GOOGLE = "https://generativelanguage.googleapis.com/v1beta/files/abc123"


@pytest.mark.parametrize(
    ("value", "uri"),
    [
        ("files/abc123", GOOGLE),
        (GOOGLE, GOOGLE),
        ("http://127.0.0.1:8090/v1/files/abc-9", "http://127.0.0.1:8090/v1/files/abc-9"),
        ("https://example.com/pictures/heron.png", None),
        ("https://example.com/v1beta/files/abc?download=1", None),
        ("files/", None),
    ],
)
def test_files_api_uri(value: str, uri: str | None) -> None:
    assert files_api_uri(value) == uri


def test_image_urls_naming_uploaded_files_are_file_data_and_not_fetched() -> None:
    local = "http://127.0.0.1:8090/v1beta/files/abc123"
    parts = [url_part(u, "url") for u in ("files/abc123", local, "https://example.com/heron.png")]
    assert parts[0] == {"fileData": {"fileUri": GOOGLE}}
    assert parts[1] == {"fileData": {"fileUri": local}}
    found = remote_images([{"role": "user", "parts": parts}])
    assert [image.url for image in found] == ["https://example.com/heron.png"]
    assert url_part("gs://bucket/heron.png", "url", "image/png") == {
        "fileData": {"fileUri": "gs://bucket/heron.png", "mimeType": "image/png"}
    }


def test_file_ids() -> None:
    assert file_uri("files/abc123", "file_id") == GOOGLE
    assert file_uri("http://127.0.0.1:1/v1beta/files/x1", "file_id") == "http://127.0.0.1:1/v1beta/files/x1"
    with pytest.raises(ParamError):
        file_uri("file-abc123", "file_id")
