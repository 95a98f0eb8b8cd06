"""The app in parts (see app.py): model calls, health and the rest of the model API are served
without FastAPI or Alembic in the process; the first management request brings the admin app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from starlette.routing import Mount, Route, WebSocketRoute

from gemini_gateway.app import create_app, is_admin_path
from gemini_gateway.settings import Settings
from tests.conftest import ADMIN_TOKEN, KEYS

ROOT = Path(__file__).resolve().parent.parent

# Run in a process of its own: this one has FastAPI and Alembic imported by other tests.
SERVING = """
import sys, httpx
from gemini_gateway.app import create_app
from gemini_gateway.settings import Settings
from tests.servers import serve_in_thread

settings = Settings(
    _env_file=None, gemini_api_keys=[KEY], gemini_base_url=FAKE, admin_token=ADMIN,
    data_dir=DATA, recording_writer="inline", gemini_api_key_tier="",
)
with serve_in_thread(create_app(settings, migrate_in_child=True)) as url:
    key = {"x-goog-api-key": ADMIN}
    body = {"contents": [{"parts": [{"text": "hi"}]}]}
    call = httpx.post(f"{url}/v1beta/models/gemini-2.5-flash:generateContent", json=body, headers=key)
    models = httpx.get(f"{url}/v1beta/models", headers=key)
    health = httpx.get(f"{url}/health")
    unknown = httpx.get(f"{url}/no/such/route")
    print(call.status_code, models.status_code, health.status_code, unknown.status_code)
    print(sorted(m for m in ("fastapi", "alembic", "opentelemetry") if m in sys.modules))
    session = httpx.get(f"{url}/api/session", headers={"authorization": f"Bearer {ADMIN}"})
    print(session.status_code, "fastapi" in sys.modules)
"""


def test_model_calls_need_neither_fastapi_nor_alembic(tmp_path: Path, fake_url: str) -> None:
    constants = (
        f"KEY, FAKE, ADMIN, DATA = {KEYS[0]!r}, {fake_url!r}, {ADMIN_TOKEN!r}, {str(tmp_path / 'data')!r}"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    done = subprocess.run(
        [sys.executable, "-c", SERVING.replace("\nsettings =", f"\n{constants}\nsettings =", 1)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    statuses, loaded, admin = done.stdout.splitlines()[-3:]
    assert statuses == "200 200 200 404"  # a fresh store, migrated by a child process
    assert loaded == "[]"
    assert admin == "200 True"


def test_the_admin_app_serves_only_admin_paths_and_the_rest_none(tmp_path: Path) -> None:
    app = create_app(Settings(_env_file=None, data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN))  # type: ignore[call-arg]
    admin = app.admin
    served = [r.path for r in admin.router.routes if isinstance(r, Route | WebSocketRoute | Mount)]  # type: ignore[attr-defined]
    included = [
        route.path
        for router in admin.router.routes  # type: ignore[attr-defined]
        for route in getattr(getattr(router, "original_router", None), "routes", [])
    ]
    assert "/api/keys" in included and "/ws/logs" in served and "/health" in included
    assert all(is_admin_path(p) for p in [*served, *included] if not p.startswith("/health"))
    api = [r.path for r in app.api.routes if isinstance(r, Route | WebSocketRoute | Mount)]
    assert "/ws/executor" in api and "/v1/models" in api
    assert not any(is_admin_path(p) for p in api)
