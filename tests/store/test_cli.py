"""`gemini-gateway logs export` reads the store the server writes (DATA_DIR / DATABASE_URL)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson

from gemini_gateway.store.database import Database
from gemini_gateway.store.exchanges import ExchangeStore
from tests.store.records import gemini_answer, gemini_request, make_record


async def test_export_raw_and_chat_with_filters(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    database = Database(f"sqlite:///{data_dir / 'gateway.db'}")
    await database.migrate()
    now = time.time()
    pelican = make_record(
        request=gemini_request("Name a seabird"), response=gemini_answer("Pelican."), at=now - 10
    )
    pro = make_record(model="gemini-2.5-pro", at=now - 5)
    failed = make_record(status=503, error="overloaded", at=now - 1)
    await ExchangeStore(database).insert([pelican, pro, failed])
    await database.aclose()

    env = {**os.environ, "DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)

    def run(*args: str) -> list[dict[str, object]]:
        out = tmp_path / "out.jsonl"
        command = [sys.executable, "-m", "gemini_gateway", "logs", "export", "--output", str(out), *args]
        result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return [orjson.loads(line) for line in out.read_bytes().splitlines()]

    raw = run()
    assert [r["id"] for r in raw] == [r.exchange["id"] for r in (pelican, pro, failed)]
    assert [r["id"] for r in run("--model", "gemini-2.5-pro")] == [pro.exchange["id"]]
    assert [r["id"] for r in run("--errors-only")] == [failed.exchange["id"]]
    chat = run("--format", "chat", "--until", str(now - 7))
    assert chat == [
        {
            "messages": [
                {"role": "user", "content": "Name a seabird"},
                {"role": "assistant", "content": "Pelican."},
            ]
        }
    ]
