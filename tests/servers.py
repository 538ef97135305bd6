"""The servers and processes the tests run against, and what they leave behind: the environment the application
reads, a real SMTP server (aiosmtpd), databases of the shared Redis server claimed one at a time, a private
redis-server, Celery workers and beat as subprocesses, the portal's processes for the browser tests, and the
files of the embedded backends (emails in var/outbox, tasks in var/broker).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from shared import accounts
from shared.db import dispose_engines
from shared.settings import load_settings, reset_settings
from shared.tasks import reset_clients
from shared.vocab import Task

ROOT = Path(__file__).resolve().parents[1]
CELERY = str(Path(sys.executable).parent / "celery")
REDIS_TEST_URL = os.environ.get("EDOCTA_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def use_environment(monkeypatch: pytest.MonkeyPatch, **variables: str | None) -> None:
    """Set (or unset, with None) EDOCTA_* variables and make the application read them afresh."""
    for name, value in variables.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    reset_settings()
    dispose_engines()


def business_today() -> dt.date:
    """Today as the portal counts days: in the business time zone (`EDOCTA_TIMEZONE`, read afresh), which is not
    the machine's date for part of every day (from 00:00 UTC to 06:00 UTC in Mexico City's winter)."""
    return dt.datetime.now(ZoneInfo(load_settings().timezone)).date()


def free_port() -> int:
    """A TCP port nobody listens on at the moment."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.2) -> None:
    """Poll until `predicate()` is true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


# --- a real SMTP server -------------------------------------------------------------------------------------


@dataclass
class SMTPServer:
    """An aiosmtpd server on a free local port. `replies` maps a recipient to an SMTP reply to force a fault."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    sessions: list[Any] = field(default_factory=list)  # the SMTP session (connection) of each message, in order
    contents: list[bytes] = field(default_factory=list)  # each message's bytes as received (dots unstuffed)
    replies: dict[str, str] = field(default_factory=dict)
    refuse_all: str | None = None
    # Whether EHLO offers PIPELINING (RFC 2920), as Postfix, Exim and the large providers do. aiosmtpd reads each
    # command from its buffer in order and answers in order, so it serves a pipelined group; it just does not say so.
    pipelining: bool = False
    # Once this many recipients are let through, every further one (RCPT TO, before any of its message's data
    # reaches the server) waits until `released` is set: a sender stopped meanwhile has nothing of it stored.
    hold_after: int | None = None
    let_through: int = 0
    held: list[str] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def received_by(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if address in str(m.get("To", ""))]


class SMTPHandler:
    """Accepts every message, except what `SMTPServer.replies` and `refuse_all` make it refuse."""

    def __init__(self, server: SMTPServer) -> None:
        self.server = server

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        session.host_name = hostname  # what aiosmtpd does itself when a handler has no EHLO hook
        if self.server.pipelining:
            return [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if self.server.hold_after is not None:
            with self.server.lock:
                hold = self.server.let_through >= self.server.hold_after and not self.server.released.is_set()
                if hold:
                    self.server.held.append(address)
                else:
                    self.server.let_through += 1
            while hold and not self.server.released.is_set():
                await asyncio.sleep(0.05)
        if self.server.refuse_all:
            return self.server.refuse_all
        reply = self.server.replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.server.lock:
            self.server.messages.append(message)  # type: ignore[arg-type]
            self.server.sessions.append(session)
            self.server.contents.append(envelope.content)
        return "250 Message accepted for delivery"


class HoldingSMTPHandler(SMTPHandler):
    """Holds every message at DATA until `release()`, so a test can act while deliveries are in flight; then
    answers each held message with the next of `answers` (250 once they run out). `held` lists the recipients
    waiting, in arrival order."""

    def __init__(self, server: SMTPServer, answers: list[str] | None = None) -> None:
        super().__init__(server)
        self.answers = list(answers or [])
        self.held: list[str] = []
        self.released = threading.Event()
        self.lock = threading.Lock()

    def release(self) -> None:
        self.released.set()

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        with self.lock:
            self.held.append(",".join(envelope.rcpt_tos))
            answer = self.answers.pop(0) if self.answers else "250 Message accepted for delivery"
        while not self.released.is_set():
            await asyncio.sleep(0.05)
        if answer.startswith("250"):
            return await super().handle_DATA(server, session, envelope)
        return answer


@contextlib.contextmanager
def running_smtp_server(server: SMTPServer, handler: object = None, **options: Any) -> Iterator[SMTPServer]:
    """Serve `server` with aiosmtpd on a free port around a block; `options` (TLS, AUTH) go to aiosmtpd."""
    from aiosmtpd.controller import Controller

    server.port = free_port()
    # aiosmtpd's start() connects to the configured port to finish its setup, so the port cannot be 0.
    controller = Controller(handler or SMTPHandler(server), hostname="127.0.0.1", port=server.port, **options)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


# --- Redis --------------------------------------------------------------------------------------------------

REDIS_CLAIM_PREFIX = "edocta-test:db:"
REDIS_CLAIM_SECONDS = 900
"""How long a claim lasts: longer than any test may run (pytest-timeout), so a killed session frees its own."""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def _claim_redis_database(control: redis.Redis, token: str, wait: float) -> int:
    """The lowest database number (never 0) whose claim key this call could set; waits while all are held."""
    try:
        count = int(control.config_get("databases").get("databases", 16))
    except redis.ResponseError:  # CONFIG disabled on this server: Redis' default
        count = 16
    deadline = time.monotonic() + wait
    while True:
        for number in range(1, count):
            if control.set(f"{REDIS_CLAIM_PREFIX}{number}", token, nx=True, ex=REDIS_CLAIM_SECONDS):
                return number
        if time.monotonic() > deadline:
            holders = {n: control.get(f"{REDIS_CLAIM_PREFIX}{n}") for n in range(1, count)}
            raise RuntimeError(f"no free Redis database after {wait:.0f} s; claims: {holders}")
        time.sleep(0.2)


@contextlib.contextmanager
def claimed_redis_database(server_url: str = REDIS_TEST_URL, wait: float = 120) -> Iterator[str]:
    """The URL of a database of the shared Redis server that is this block's alone, empty.

    Every user of the shared server (each fixture, each concurrently running pytest session) claims a number
    with `SET edocta-test:db:<n> <pid>:<random> NX EX 900` in database 0, which holds nothing but these
    claims. The database is flushed when claimed (a killed holder's leftovers) and at the end, and the
    claim is released, both only while the claim is still this block's.
    """
    base = server_url.rstrip("/")
    control = redis.Redis.from_url(f"{base}/0", decode_responses=True)
    token = f"{os.getpid()}:{uuid.uuid4().hex}"
    number = _claim_redis_database(control, token, wait)
    key = f"{REDIS_CLAIM_PREFIX}{number}"
    url = f"{base}/{number}"
    data = redis.Redis.from_url(url)
    try:
        data.flushdb()
        yield url
    finally:
        if control.get(key) == token:
            data.flushdb()
        data.close()
        control.eval(_RELEASE, 1, key, token)
        control.close()


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


# --- Celery workers and beat --------------------------------------------------------------------------------


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

    def worker(
        self, queues: str = "render,render_large,mail,on_demand,celery", concurrency: int = 2, name: str = "w"
    ) -> Process:
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
        """At the end of a test: a cold shutdown of every process at once (whatever was running is put back, and
        nobody needs it), then SIGKILL to whatever is left of each process group.

        The signal goes to each main process, not to its group: a pool child that a signal kills while it waits
        for work holds the pool's queue lock, and its main process then waits for that lock for ever while it
        shuts the pool down (billiard's `Pool._help_stuff_finish`)."""
        running = [process.process for process in self.processes if process.process is not None]
        for popen in running:
            with contextlib.suppress(ProcessLookupError):
                popen.send_signal(signal.SIGQUIT)
        deadline = time.monotonic() + 20
        for popen in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(10)
        for process in self.processes:
            process.process = None


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


# --- the portal's own processes (browser tests) -------------------------------------------------------------


@dataclass
class Portal:
    """The portal run as its own processes in `root` (the browser tests' fixture starts them), and its
    command line with the same environment."""

    url: str
    root: Path
    env: dict[str, str]

    @property
    def var(self) -> Path:
        return self.root / "var"

    def edocta(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "shared.cli", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


# --- what the embedded backends hold: emails in var/outbox, tasks in var/broker ------------------------------


def outbox_messages(var: Path) -> list[EmailMessage]:
    """The emails the outbox-folder backend wrote, oldest first."""
    folder = var / "outbox"
    if not folder.exists():
        return []
    files = sorted(folder.glob("*.eml"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in files]  # type: ignore[misc]


def emails_to(var: Path, address: str) -> list[EmailMessage]:
    """The outbox folder's emails to `address`, oldest first."""
    return [m for m in outbox_messages(var) if address in str(m["To"])]


@dataclass(frozen=True)
class QueuedTask:
    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    queue: str
    path: Path


def queued_tasks(var: Path) -> list[QueuedTask]:
    """Tasks waiting in the embedded (filesystem) broker, oldest first."""
    folder = var / "broker" / "messages"
    if not folder.exists():
        return []
    tasks = []
    for path in sorted(folder.glob("*.msg"), key=lambda p: (p.stat().st_mtime_ns, p.name)):
        message = json.loads(path.read_text())
        body = json.loads(base64.b64decode(message["body"]))
        queue = message["properties"]["delivery_info"]["routing_key"]
        tasks.append(QueuedTask(message["headers"]["task"], list(body[0]), body[1], queue, path))
    return tasks


ACCOUNT_TASKS: dict[str, Callable[..., Any]] = {
    Task.SEND_INVITATION: accounts.send_invitation,
    Task.SEND_PASSWORD_RESET: accounts.send_password_reset,
    Task.SEND_PASSWORD_CHANGED: accounts.send_password_changed,
}


def run_account_tasks(var: Path) -> list[QueuedTask]:
    """Do what a worker would with the queued account tasks (same service functions), and take them off."""
    done = []
    for task in queued_tasks(var):
        if task.name in ACCOUNT_TASKS:
            ACCOUNT_TASKS[task.name](*task.args)
            task.path.unlink()
            done.append(task)
    return done
