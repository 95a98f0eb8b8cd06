"""Fixtures for several gateways on one store and one Redis (tests/shared)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GatewayFactory, RunningGateway
from tests.shared.redisserver import OwnRedis, service_url


@pytest.fixture(scope="session")
def redis_base() -> Iterator[str]:
    """A Redis URL: the machine's service, or one started here; the tests skip saying why if neither."""
    url = service_url()
    if url is not None:
        yield url
        return
    try:
        own = OwnRedis()
    except Exception as exc:  # no package, no permission: skip with the reason
        pytest.skip(f"no Redis: {exc}")
    yield own.url
    own.destroy()


@pytest.fixture
def replicas(gateway_factory: GatewayFactory, tmp_path: Path) -> Any:
    """Start n gateways on one SQLite file and one data folder (so one secret key), each a replica."""

    @contextlib.contextmanager
    def start(n: int, **overrides: Any) -> Iterator[list[RunningGateway]]:
        values: dict[str, Any] = {
            "database_url": f"sqlite:///{tmp_path / 'shared.db'}",
            "shared_poll_seconds": 0.2,
            **overrides,
        }
        with contextlib.ExitStack() as stack:
            running = [stack.enter_context(gateway_factory(replica_id=f"r{i}", **values)) for i in range(n)]
            yield running

    return start


@pytest.fixture
def redis_url(redis_base: str) -> str:
    """The test's own Redis namespace (a key prefix), so tests sharing a server never meet."""
    return f"{redis_base}?prefix=gwtest-{uuid.uuid4().hex[:8]}"
