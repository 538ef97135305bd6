"""`edocta demo` as a process (issue 8.6, 8.7): SIGTERM and SIGHUP stop every child as Ctrl-C does, everything
it wrote under var/ is its user's only under umask 022, and it refuses any database but the embedded one."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import weakref
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from shared.cli.runs import watch_run
from shared.cli.signals import stop_on_signals
from shared.db import session_scope
from shared.models import User
from shared.runs import start_run
from tests.factories import CUTOFF, CustomerSpec, add_company, add_customers, create_test_user
from tests.portal import hidden_inputs
from tests.servers import ROOT, free_port, wait_for

pytestmark = pytest.mark.slow


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` (children, grandchildren: worker pool, web server), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _demo_environment(root: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDOCTA_")}
    env["PYTHONPATH"] = str(ROOT)
    env["EDOCTA_BASE_URL"] = f"http://127.0.0.1:{port}"
    return env


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_the_demo_stops_every_child_on_sigterm_and_sighup_and_keeps_its_files_private(
    tmp_path: Path, signum: signal.Signals
) -> None:
    port = free_port()
    log = (tmp_path / "demo.log").open("wb")
    demo = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "demo", "--customers", "10", "--port", str(port)],
        cwd=tmp_path,
        env=_demo_environment(tmp_path, port),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lambda: os.umask(0o022),
    )
    children: set[int] = set()
    try:

        def serving() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(serving, 300, "the demo portal to answer")
        # The portal answers first; the demo users exist once the worker has imported the demo data.
        wait_for(lambda: "sign in:  cliente" in (tmp_path / "demo.log").read_text(), 300, "the demo sign-ins")
        # A visitor signs in and asks for a reset: sessions, broker messages and emails get written.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            form = hidden_inputs(client.get("/login").text)
            signed = client.post("/login", data={**form, "username": "cliente", "password": "demo-cliente-estado-2026"})
            assert signed.status_code == 303
            form = hidden_inputs(client.get("/password/forgot").text)
            assert client.post("/password/forgot", data={**form, "username": "admin"}).status_code == 303
        wait_for(lambda: len(_descendants(demo.pid)) >= 4, 30, "the worker, beat and web server")
        children = _descendants(demo.pid)
        # The first run goes on in the background: let it store a statement before stopping.
        wait_for(lambda: any((tmp_path / "var").rglob("*.pdf")), 300, "the first run's statements")

        demo.send_signal(signum)
        try:
            demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            tail = (tmp_path / "demo.log").read_text()[-3000:]
            pytest.fail(f"the demo did not stop within 60 s of {signum.name}; its output ends with:\n{tail}")
        wait_for(lambda: not [p for p in children if _alive(p)], 30, "every child of the demo to stop")
    finally:
        # On a failure before the demo was stopped: ask it to stop its children (each in a session of its own),
        # then kill whatever is left, so no worker or server of it outlives the test.
        if demo.poll() is None:
            children |= _descendants(demo.pid)
            demo.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                demo.wait(timeout=30)
        for pid in [demo.pid, *children]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        log.close()
    assert "stopping" in (tmp_path / "demo.log").read_text()

    # Everything under var/ (database, secret key, emails, broker messages, statements, sessions, logs) is private.
    var = tmp_path / "var"
    written = [var, *var.rglob("*")]
    assert any(p.suffix == ".eml" for p in written) and any(p.name == "edocta.sqlite3" for p in written)
    assert any(p.suffix == ".msg" for p in written) and any(p.suffix == ".pdf" for p in written)
    open_to_others = [
        f"{p.relative_to(tmp_path)} {stat.filemode(p.stat().st_mode)}" for p in written if p.stat().st_mode & 0o077
    ]
    assert open_to_others == []


class _Finalised:
    """An object whose weak reference's callback runs Python code when it goes, as SQLAlchemy's registries do."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_stop_signal_that_arrives_inside_a_finaliser_still_stops_the_watching(sqlite_database: str) -> None:
    # The demo watches its first run until it ends; with no worker running, this one never does.
    add_company("1000", "Tinacos del Bajío")
    add_customers(
        "1000",
        [
            CustomerSpec(
                "100001", "Ferretería La Paz", "pagos@lapaz.example", items=(("F1", "2026-09-15", "1160.00", "MXN"),)
            )
        ],
    )
    run_id = start_run(CUTOFF)
    lines: list[str] = []
    with stop_on_signals():
        # SIGHUP lands while a finaliser runs: Python prints the handler's KeyboardInterrupt and goes on.
        doomed = _Finalised()
        ref = weakref.ref(doomed, lambda _ref: os.kill(os.getpid(), signal.SIGHUP))
        del doomed
        assert ref() is None
        with pytest.raises(KeyboardInterrupt, match="SIGHUP"):
            watch_run(run_id, poll_seconds=0.05, timeout=20, write=lines.append)
    # It stopped at once, not by the timeout (which returns False) and not after watching a while.
    assert len(lines) <= 1
    # Once the demo's context is left nothing is remembered: watching again goes on until its timeout.
    assert watch_run(run_id, poll_seconds=0.05, timeout=0.2, write=lines.append) is False


def test_the_demo_refuses_a_database_that_is_not_the_embedded_one(postgres_database: str, tmp_path: Path) -> None:
    create_test_user(username="admin", role="admin")
    with session_scope() as session:
        before = session.scalar(select(User.password_hash).where(User.username == "admin"))
    env = _demo_environment(tmp_path, free_port())
    env["EDOCTA_DATABASE_URL"] = postgres_database
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "demo", "--no-serve", "--customers", "10"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "edocta demo runs only on the embedded SQLite database and the .eml outbox" in done.stderr
    assert "EDOCTA_DATABASE_URL (postgresql+psycopg:…)" in done.stderr
    assert "postgres@" not in done.stderr  # no credentials echoed
    with session_scope() as session:
        assert session.scalar(select(User.password_hash).where(User.username == "admin")) == before
    var = tmp_path / "var"
    assert not (var / "outbox").exists() and not (var / "demo-data").exists() and not (var / "broker").exists()


def test_the_demo_refuses_a_mail_server(tmp_path: Path) -> None:
    env = _demo_environment(tmp_path, free_port())
    env["EDOCTA_SMTP_URL"] = "smtp://127.0.0.1:1"
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "demo", "--no-serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and "EDOCTA_SMTP_URL (smtp:…)" in done.stderr
    assert not (tmp_path / "var" / "edocta.sqlite3").exists()


def _environment(tmp_path: Path) -> dict[str, str]:
    env = _demo_environment(tmp_path, 0)
    env["EDOCTA_VAR_DIR"] = str(tmp_path / "var")
    return env


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_sighup_stops_the_worker_and_the_server_with_all_their_children(tmp_path: Path, command: str) -> None:
    env = _environment(tmp_path)
    subprocess.run([sys.executable, "-m", "shared.cli", "db", "upgrade"], cwd=tmp_path, env=env, check=True)
    port = free_port()
    args = ["worker", "-c", "2"] if command == "worker" else ["serve", "--workers", "2", "--port", str(port)]
    log = (tmp_path / f"{command}.log").open("wb")
    parent = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", *args],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    children: set[int] = set()
    try:
        wait_for(lambda: len(_descendants(parent.pid)) >= 2, 60, f"{command}'s two children")
        if command == "worker":
            wait_for(lambda: b"ready." in (tmp_path / "worker.log").read_bytes(), 60, "the worker to be ready")
        else:
            wait_for(
                lambda: (tmp_path / "serve.log").read_bytes().count(b"Application startup complete") >= 2,
                60,
                "both web workers",
            )
        children = _descendants(parent.pid)
        parent.send_signal(signal.SIGHUP)
        parent.wait(timeout=60)
        wait_for(lambda: not [p for p in children if _alive(p)], 30, f"every child of {command} to stop")
    finally:
        for pid in [parent.pid, *children]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        log.close()
    text = (tmp_path / f"{command}.log").read_text(errors="replace")
    assert "Restarting" not in text and "restarting processes" not in text
