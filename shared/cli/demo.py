"""`edocta demo`: the main job on embedded defaults, with no service installed.

Migrates the SQLite database, loads a generated demo data set, starts a worker, runs one statement cycle
with a progress bar, then serves the portal with the worker and beat until Ctrl-C.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from shared import clock
from shared.settings import get_settings
from shared.vocab import Trigger

DEMO_PASSWORDS = {
    "admin": "demo-admin-estado-2026",
    "cobranza": "demo-cobranza-estado-2026",
    "cliente": "demo-cliente-estado-2026",
}


def previous_month_end(today: dt.date) -> dt.date:
    return today.replace(day=1) - dt.timedelta(days=1)


def _spawn(*args: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    """Start one of edocta's own processes (same interpreter, same environment), its output to `log`."""
    output = None
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        output = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "shared.cli", *args], start_new_session=True, stdout=output, stderr=output
    )


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()  # the process stops its own children (Celery's pool, uvicorn's workers)
    deadline = time.monotonic() + 15
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def set_demo_passwords() -> list[str]:
    """Give the demo users known passwords so a visitor can sign in at once; returns the usernames set."""
    from sqlalchemy import select

    from shared.accounts import hash_password, void_temporary_passwords
    from shared.clock import utcnow
    from shared.db import session_scope
    from shared.models import User

    done = []
    with session_scope() as session:
        for username, password in DEMO_PASSWORDS.items():
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                continue
            user.password_hash = hash_password(password)
            user.password_version = (user.password_version or 0) + 1
            user.password_changed_at = utcnow()
            void_temporary_passwords(session, user.id)
            done.append(username)
    return done


def run_demo(*, host: str, port: int, serve: bool, customers: int = 200) -> None:
    from shared.cli.demo_data import write_demo_data
    from shared.cli.runs import watch_run
    from shared.ingest import import_path
    from shared.migrate import upgrade
    from shared.runs import start_run

    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    click.echo(f"database: {settings.database_url}")
    upgrade()

    today = clock.today()
    data_dir = settings.var_dir / "demo-data"
    write_demo_data(data_dir, customers=customers, anchor=today)
    report = import_path(data_dir)
    click.echo(f"demo data loaded from {data_dir}:")
    for line in report.lines():
        click.echo(f"  {line}")
    set_demo_passwords()

    processes: list[subprocess.Popen[bytes]] = []
    try:
        logs = settings.var_dir / "logs"
        processes.append(_spawn("worker", "--concurrency", "2", log=logs / "worker.log"))
        cutoff = previous_month_end(today)
        run_id = start_run(cutoff, trigger=Trigger.DEMO)
        click.echo(f"statement run {run_id} for cut-off {cutoff.isoformat()}:")
        watch_run(run_id)
        outbox = Path(settings.outbox_dir).resolve()
        where = settings.smtp_url or f"{outbox}/ (one .eml file per email)"
        if not serve:
            click.echo(f"emails: {where}")
            return
        processes.append(_spawn("beat", log=logs / "beat.log"))
        processes.append(_spawn("serve", "--host", host, "--port", str(port)))
        url = f"http://{host}:{port}/"
        click.echo("")
        click.echo(f"portal:   {url}")
        click.echo(f"sign in:  cliente / {DEMO_PASSWORDS['cliente']}   (a customer user)")
        click.echo(f"          admin / {DEMO_PASSWORDS['admin']}   (administrator: users, operations)")
        click.echo(f"emails:   {where}")
        click.echo(f"statements: {Path(settings.store_dir).resolve()}/")
        click.echo(f"logs:     {logs.resolve()}/ (worker, beat)")
        click.echo("press Ctrl-C to stop")
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        click.echo("a process stopped; shutting down", err=True)
    except KeyboardInterrupt:
        click.echo("\nstopping")
    finally:
        _stop(processes)
