"""RECORDING_WRITER=auto: a writer process only where there is another CPU for it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from gemini_gateway.recorder.startup import writes_in_a_process
from gemini_gateway.settings import Settings

DECIDE = (
    "from gemini_gateway.recorder.startup import writes_in_a_process; "
    "from gemini_gateway.settings import Settings; "
    "print(writes_in_a_process(Settings(_env_file=None, recording_writer='auto')))"
)


def test_explicit_choices_win() -> None:
    assert writes_in_a_process(Settings(_env_file=None, recording_writer="process"))  # type: ignore[call-arg]
    assert not writes_in_a_process(Settings(_env_file=None, recording_writer="inline"))  # type: ignore[call-arg]


@pytest.mark.skipif(
    shutil.which("taskset") is None or len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs"
)
def test_auto_follows_the_cpus_the_gateway_may_use() -> None:
    both = subprocess.run([sys.executable, "-c", DECIDE], capture_output=True, text=True, check=True)
    one = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-c", DECIDE], capture_output=True, text=True, check=True
    )
    assert (both.stdout.strip(), one.stdout.strip()) == ("True", "False")
