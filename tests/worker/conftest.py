"""Fixtures for the worker tests: the environment for real Celery workers and beat started as subprocesses,
on a database of the shared Redis server or on a private Redis server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.tasks import reset_clients
from tests.servers import PrivateRedis, Services, SMTPServer, free_port, start_services


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(port=free_port(), folder=tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def services(
    postgres_database: str, redis_url: str, smtp_server: SMTPServer, var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Services]:
    """PostgreSQL, a Redis database of the test's own and the SMTP server."""
    running = start_services(monkeypatch, var_dir, postgres_database, redis_url, smtp_server)
    yield running
    running.stop_all()
    reset_clients()


@pytest.fixture
def services_on_private_redis(
    postgres_database: str,
    private_redis: PrivateRedis,
    smtp_server: SMTPServer,
    var_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Services]:
    """Like `services`, on a Redis server of the test's own that it may restart."""
    running = start_services(monkeypatch, var_dir, postgres_database, private_redis.url, smtp_server)
    yield running
    running.stop_all()
    reset_clients()
