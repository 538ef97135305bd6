"""Fixtures for the worker tests: a Redis database of the session's own (or a private Redis server), a real
Celery worker and beat started as subprocesses with the test's environment, and a small data set.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from shared.tasks import reset_clients
from tests.conftest import REDIS_TEST_URL, SMTPServer, use_environment

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).parent / "celery")


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.2) -> None:
    """Poll until `predicate()` is true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@dataclass
class PrivateRedis:
    """A redis-server of the test's own (no persistence), which the test may restart."""

    port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_for(answers, 10, "the private Redis to answer")
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(port=free_port(), folder=tmp_path)
    server.start()
    yield server
    server.stop()


@dataclass
class Process:
    """A Celery worker or beat in its own process group, with its log in a file."""

    args: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> Process:
        self.starts += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 (handed to the child)
        log.write(f"\n--- start {self.starts} ---\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        return self

    def wait_ready(self, timeout: float = 60) -> Process:
        wait_for(lambda: b"ready." in self.log_path.read_bytes(), timeout, f"{self.args[3]} to be ready")
        return self

    def restart_if_exited(self) -> bool:
        """What a process supervisor (compose's `restart: unless-stopped`) does; True if it had exited."""
        if self.process is not None and self.process.poll() is not None:
            self.start()
            return True
        return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL to the whole process group: the worker and its pool children die at once."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            self.process.send_signal(signal.SIGTERM)  # a warm shutdown: the main process stops its pool
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        except ProcessLookupError:
            pass
        self.process = None


@dataclass
class Services:
    """The environment a test runs its worker with, and the processes it started."""

    env: dict[str, str]
    var: Path
    processes: list[Process] = field(default_factory=list)

    def worker(self, queues: str = "render,render_large,mail,celery", concurrency: int = 2, name: str = "w") -> Process:
        process = Process(
            [
                CELERY,
                "-A",
                "worker.celery_app",
                "worker",
                "-Q",
                queues,
                "-c",
                str(concurrency),
                "-P",
                "prefork",
                "-n",
                f"{name}{len(self.processes)}@%h",
                "--loglevel",
                "INFO",
                "-E",
            ],
            self.env,
            self.var / f"{name}{len(self.processes)}.log",
        )
        self.processes.append(process)
        return process.start()

    def beat(self) -> Process:
        process = Process(
            [CELERY, "-A", "worker.celery_app", "beat", "--loglevel", "INFO", "-s", str(self.var / "beat-schedule")],
            self.env,
            self.var / "beat.log",
        )
        self.processes.append(process)
        return process.start()

    def stop_all(self) -> None:
        """At the end of a test: a cold shutdown (whatever was running is put back, and nobody needs it)."""
        for process in self.processes:
            if process.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.process.pid, signal.SIGQUIT)
        for process in self.processes:
            process.stop()


def service_environment(monkeypatch: pytest.MonkeyPatch, var: Path, **variables: str | None) -> dict[str, str]:
    """Apply EDOCTA_* variables here and return the environment for subprocesses."""
    use_environment(monkeypatch, **variables)
    reset_clients()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDOCTA_")}
    for name, value in os.environ.items():
        if name.startswith("EDOCTA_"):
            env[name] = value
    env["PYTHONPATH"] = str(ROOT)
    return env


def start_services(
    monkeypatch: pytest.MonkeyPatch, var_dir: Path, database_url: str, redis_url: str, smtp_server: SMTPServer
) -> Services:
    """The environment for this test and its subprocesses, with short retry, lease and sweep periods."""
    env = service_environment(
        monkeypatch,
        var_dir,
        EDOCTA_DATABASE_URL=database_url,
        EDOCTA_REDIS_URL=redis_url,
        EDOCTA_SMTP_URL=smtp_server.url,
        EDOCTA_STORE_DIR=str(var_dir / "statements"),
        EDOCTA_BASE_URL="https://estados.example.com",
        EDOCTA_FROM_EMAIL="estados@example.com",
        EDOCTA_MAIL_RETRY_BASE_SECONDS="0.5",
        EDOCTA_MAIL_LEASE_SECONDS="6",
        EDOCTA_REQUEUE_AFTER_SECONDS="3",
        EDOCTA_SWEEP_SECONDS="1",
    )
    return Services(env, var_dir)


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
