"""`edocta demo`: the main job on embedded defaults, with no service installed.

Migrates the SQLite database, starts the worker, beat and the portal, drops a generated demo data set into the
drop folder (`var/import` unless EDOCTA_IMPORT_DIR says otherwise) and waits for the worker to import it, prints
the sign-ins, then runs one statement cycle in the background with its progress in the terminal (and on the Ops
page), serving until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from shared import clock
from shared.cli.signals import raise_if_stopping
from shared.settings import get_settings, reset_settings
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
            with contextlib.suppress(ProcessLookupError):  # no process of its group is left
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


def drop_demo_batch(data_dir: Path, name: str) -> Path:
    """Put the demo data into the drop folder as an ERP would: the files first, READY last."""
    from shared.feed import READY, import_root

    root = import_root()
    assert root is not None
    batch = root / "incoming" / name
    batch.mkdir(parents=True, exist_ok=True)
    for file in sorted(data_dir.glob("*.csv")):
        shutil.copyfile(file, batch / file.name)
    for folder in sorted(path for path in data_dir.iterdir() if path.is_dir()):  # the invoice documents
        shutil.copytree(folder, batch / folder.name, dirs_exist_ok=True)
    (batch / READY).write_text("", encoding="utf-8")
    return root


def wait_for_import(batch: str, *, timeout: float = 300) -> bool:
    """Wait until the worker has imported the batch; print its report or its errors. True when imported."""
    from sqlalchemy import select

    from shared.db import session_scope
    from shared.models import ImportRecord
    from shared.vocab import ImportStatus

    started = time.monotonic()
    hinted = False
    while time.monotonic() - started < timeout:
        raise_if_stopping()
        with session_scope() as session:
            record = session.scalar(
                select(ImportRecord).where(ImportRecord.batch == batch).order_by(ImportRecord.id.desc()).limit(1)
            )
            if record is not None and record.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED):
                for counts in record.files:
                    click.echo(
                        f"  {counts['name']}: {counts['inserted']} inserted, {counts['updated']} updated, "
                        f"{counts['unchanged']} unchanged, {counts['deleted']} deleted"
                    )
                for line in record.errors.splitlines():
                    click.echo(f"  {line}", err=True)
                return bool(record.status == ImportStatus.SUCCEEDED)
            phase = record.phase if record is not None else ""
        if not hinted and time.monotonic() - started > 20:
            click.echo(f"  still waiting for the worker ({phase or 'not started'})")
            hinted = True
        time.sleep(0.3)
    return False


def run_demo(*, host: str, port: int, serve: bool, customers: int = 200) -> None:
    from shared.cli.demo_data import write_demo_data
    from shared.cli.runs import watch_run
    from shared.migrate import upgrade
    from shared.runs import start_run
    from shared.tasks import send_task
    from shared.vocab import Task

    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    if settings.import_dir is None:  # the demo feeds its data through the drop folder (contract section 11)
        os.environ["EDOCTA_IMPORT_DIR"] = str(settings.var_dir / "import")
        reset_settings()
        settings = get_settings()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        logs = settings.var_dir / "logs"
        # The processes first, so the portal answers while the demo data is imported and mailed. The worker takes
        # the longest to start and reads the database only for its first task: it starts before the migrations.
        processes.append(_spawn("worker", "--concurrency", "2", log=logs / "worker.log"))
        click.echo(f"database: {settings.database_url}")
        upgrade()
        raise_if_stopping()  # a stop signal whose exception was lost during the long steps: stop before the next
        processes.append(_spawn("beat", log=logs / "beat.log"))
        if serve:
            processes.append(_spawn("serve", "--host", host, "--port", str(port), log=logs / "portal.log"))

        today = clock.today()
        data_dir = settings.var_dir / "demo-data"
        write_demo_data(data_dir, customers=customers, anchor=today)
        raise_if_stopping()
        batch = f"demo-{clock.utcnow().strftime('%Y%m%d%H%M%S')}"
        root = drop_demo_batch(data_dir, batch)
        click.echo(f"drop folder: {root.resolve()}/ (an ERP drops batches into incoming/, READY last)")
        click.echo(f"demo data dropped as incoming/{batch}; the worker imports it:")
        send_task(Task.SCAN_IMPORTS)  # beat scans on its own too; this saves the newcomer the wait
        if not wait_for_import(batch):
            click.echo(f"the demo data was not imported; see {logs.resolve()}/worker.log", err=True)
            sys.exit(1)
        set_demo_passwords()

        outbox = Path(settings.outbox_dir).resolve()
        where = settings.smtp_url or f"{outbox}/ (one .eml file per email)"
        if serve:
            url = f"http://{host}:{port}/"
            click.echo("")
            click.echo(f"portal:   {url}")
            click.echo(f"sign in:  cliente / {DEMO_PASSWORDS['cliente']}   (a customer user)")
            click.echo(f"          admin / {DEMO_PASSWORDS['admin']}   (administrator: users, operations)")
            click.echo(f"emails:   {where}")
            click.echo(f"statements: {Path(settings.store_dir).resolve()}/")
            click.echo(f"imports:  {root.resolve()}/ (processed/, failed/; `edocta imports` lists them)")
            click.echo(f"logs:     {logs.resolve()}/ (worker, beat, portal)")
            click.echo("")

        cutoff = previous_month_end(today)
        run_id = start_run(cutoff, trigger=Trigger.DEMO)
        click.echo(f"statement run {run_id} for cut-off {cutoff.isoformat()} (also on the Ops page):")
        watch_run(run_id)
        if not serve:
            click.echo(f"emails: {where}")
            return
        click.echo("press Ctrl-C to stop")
        while all(p.poll() is None for p in processes):
            raise_if_stopping()
            time.sleep(0.5)
        click.echo("a process stopped; shutting down", err=True)
    except KeyboardInterrupt:
        click.echo("\nstopping")
    finally:
        _stop(processes)
