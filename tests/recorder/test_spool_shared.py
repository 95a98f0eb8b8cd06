"""One spool folder, two live writers (the workers of `serve --workers N` share DATA_DIR)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gemini_gateway.recorder.spool import Spool
from gemini_gateway.store.exchanges import RecordRows


def record(number: int) -> RecordRows:
    return RecordRows({"id": f"shared{number:04d}", "status": 200}, [])


def test_a_spool_file_another_live_process_writes_is_not_taken(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    writer = Spool(directory)  # worker A: the store is down, it spools
    assert writer.append([record(1)]) == 1
    # Worker B replays what it finds: A's open file must not be among it (B would store its one
    # record, delete the file, and A's next lines would go to a deleted file).
    other = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from gemini_gateway.recorder.spool import Spool;"
            "print(len(Spool(Path(sys.argv[1])).take()))",
            str(directory),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert other.stdout.strip() == "0"
    assert writer.append([record(2)]) == 1
    [taken] = writer.take()
    assert [r.exchange["id"] for batch in Spool.read(taken, 10) for r in batch] == [
        "shared0001",
        "shared0002",
    ]


def test_a_spool_file_left_by_a_dead_process_is_taken(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from gemini_gateway.recorder.spool import Spool;"
            "from gemini_gateway.store.exchanges import RecordRows;"
            "Spool(Path(sys.argv[1])).append([RecordRows({'id': 'dead0001', 'status': 200}, [])])",
            str(directory),
        ],
        timeout=60,
        check=True,
    )
    [taken] = Spool(directory).take()
    assert [r.exchange["id"] for batch in Spool.read(taken, 10) for r in batch] == ["dead0001"]
