"""A SQLite file locked by another process: requests still answer, records wait in the spool."""

from __future__ import annotations

import sqlite3
import time

import pytest
from google import genai

from tests.conftest import GatewayFactory
from tests.recorder.conftest import (
    CLIENT_TOKEN,
    RECORDING,
    wait_for_records,
    wait_for_status,
)


@pytest.mark.parametrize("writer", ["process", "inline"])
def test_locked_database_spools_then_catches_up(
    gateway_factory: GatewayFactory, fake: object, writer: str
) -> None:
    with gateway_factory(**{**RECORDING, "recording_writer": writer}) as running:
        client = genai.Client(api_key=CLIENT_TOKEN, http_options={"base_url": running.url})
        client.models.generate_content(model="gemini-2.5-flash", contents="before the lock")
        wait_for_records(running.url, 1)
        locker = sqlite3.connect(running.gateway.settings.data_dir / "gateway.db", isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")  # holds the write lock, as a long batch job would
        try:
            for i in range(3):
                client.models.generate_content(model="gemini-2.5-flash", contents=f"while locked {i}")
            wait_for_status(running.url, spooled=3)
            # Held for five retry periods, as a long batch job would: the probes meanwhile find the
            # store answering but locked, which is no record's fault (none may be parked).
            time.sleep(5 * RECORDING["recording_retry_seconds"])
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        wait_for_records(running.url, 4)
        wait_for_status(running.url, replayed=3, lost=0, rejected=0)
