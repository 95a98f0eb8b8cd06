"""The UI's files: served by the gateway itself, strict headers, nothing fetched from elsewhere."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import httpx

from gemini_gateway.admin.pages import STATIC
from tests.admin.helpers import bearer
from tests.conftest import ADMIN_TOKEN, RunningGateway

ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']|from\s+["']([^"']+)["']|import\(["']([^"']+)["']\)""")


def test_root_sends_browsers_to_the_ui_and_is_not_recorded(shared_gateway: RunningGateway) -> None:
    url = shared_gateway.url
    root = httpx.get(f"{url}/")
    assert root.status_code == 307 and root.headers["location"] == "/admin/"
    page = httpx.get(f"{url}/admin/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert httpx.head(f"{url}/admin/").status_code == 200
    # A recorded call made after them: records are written in the order their answers left, so
    # once this one is stored, a record of the UI's requests would be too.
    marker = f"/v1beta/models/after-the-ui-{uuid.uuid4().hex}"
    httpx.get(f"{url}{marker}")
    paths = _recorded_paths_once(url, marker)
    assert not paths & {"/", "/admin/"}


def _recorded_paths_once(url: str, path: str) -> set[str]:
    """The paths of the latest records, as soon as `path` is among them (polled, 60 s at most)."""
    deadline = time.monotonic() + 60
    while True:
        listed = httpx.get(f"{url}/api/logs", params={"limit": 500}, headers=bearer(ADMIN_TOKEN))
        paths = {item["path"] for item in listed.json()["items"]}
        if path in paths:
            return paths
        assert time.monotonic() < deadline, f"{path} was never recorded"
        time.sleep(0.05)


def test_every_asset_is_local_and_served(shared_gateway: RunningGateway) -> None:
    files = [p for p in STATIC.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} <= {".html", ".js", ".css", ".svg"}
    for path in files:
        text = path.read_text()
        # No CDN, no remote font, no remote script: the UI works without internet.
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), path
        for match in ASSET.finditer(text):
            target = next(g for g in match.groups() if g)
            assert not target.startswith(("http:", "https:", "//")), (path, target)
        served = httpx.get(f"{shared_gateway.url}/admin/static/{path.relative_to(STATIC).as_posix()}")
        assert served.status_code == 200 and served.headers["cache-control"] == "no-cache", path
    scripts = [p for p in files if p.suffix == ".js"]
    assert all("innerHTML" not in p.read_text() for p in scripts)  # text goes in as text nodes
    assert Path(STATIC / "index.html").read_text().count("<script") == 1  # one module, no inline code
