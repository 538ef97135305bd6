"""Fixtures for the worker tests: a Redis database of the session's own (or a private Redis server), and the
environment for real Celery workers and beat started as subprocesses.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from shared.tasks import reset_clients
from tests.servers import REDIS_TEST_URL, PrivateRedis, Services, SMTPServer, free_port, start_services


@pytest.fixture(scope="session")
def redis_test_db() -> Iterator[str]:
    """A Redis database number of this test session's own (8-15, never 0), flushed before and after."""
    number = 8 + random.randint(0, 7)
    url = f"{REDIS_TEST_URL.rstrip('/')}/{number}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def redis_url(redis_test_db: str) -> str:
    client = redis.Redis.from_url(redis_test_db)
    client.flushdb()
    client.close()
    return redis_test_db


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
    """PostgreSQL, the session's Redis database and the SMTP server."""
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
