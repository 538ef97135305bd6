"""The drop folder and the stale-data hold with the real processes: Celery beat and workers as subprocesses, on
embedded defaults (SQLite, the filesystem broker) and on PostgreSQL + Redis. A good batch, a bad batch and a
batch without READY; two beats and two workers racing on the same batches; a scheduled run held back by
stale data, shown on the ops page, then started by an administrator and mailed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from shared.db import session_scope
from shared.models import Company, ImportRecord, OutboxEmail, ScheduleHold, SchedulerState, StatementRun
from tests.factories import COMPANIES, CUSTOMERS, OPEN_ITEMS, create_test_user, run_cli, write_folder
from tests.portal import hidden_inputs, portal_test_client, sign_in
from tests.servers import Services, SMTPServer, service_environment, wait_for

pytestmark = pytest.mark.slow

ACCOUNTS = "customer_number,company_code,credit_limit,payment_terms\n0000100011,1000,250000.00,30 días\n"


@pytest.fixture(params=["embedded", "postgresql+redis"])
def stack(
    request: pytest.FixtureRequest, var_dir: Path, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> Services:
    """The environment of the processes, with the drop folder on and short scan and tick periods."""
    if request.param == "embedded":
        database, redis_url, smtp = request.getfixturevalue("sqlite_database"), None, None
    else:
        database, redis_url = request.getfixturevalue("postgres_database"), request.getfixturevalue("redis_url")
        smtp = smtp_server.url
    env = service_environment(
        monkeypatch,
        var_dir,
        EDOCTA_DATABASE_URL=database,
        EDOCTA_REDIS_URL=redis_url,
        EDOCTA_SMTP_URL=smtp,
        EDOCTA_IMPORT_DIR=str(var_dir / "import"),
        EDOCTA_IMPORT_SCAN_SECONDS="0.5",
        EDOCTA_SCHEDULE_TICK_SECONDS="1",
        EDOCTA_SWEEP_SECONDS="1",
    )
    services = Services(env, var_dir)
    yield services  # type: ignore[misc]
    services.stop_all()


def deliver(root: Path, name: str, files: dict[str, str], ready: bool = True) -> None:
    batch = write_folder(root / "incoming" / name, files)
    if ready:
        (batch / "READY").write_text("")


def folder_names(root: Path, kind: str) -> list[str]:
    folder = root / kind
    return sorted(p.name.split("-", 1)[1] for p in folder.iterdir()) if folder.exists() else []


def test_beat_and_a_worker_import_a_good_batch_refuse_a_bad_one_and_leave_a_half_copied_one(
    stack: Services, var_dir: Path
) -> None:
    root = var_dir / "import"
    good = {"companies.csv": COMPANIES, "customers.csv": CUSTOMERS, "accounts.csv": ACCOUNTS}
    bad_items = OPEN_ITEMS + "1000,NOBODY,FAC-0010,invoice,,2026-11-01,,5.00,,\n"
    deliver(root, "good", good)
    deliver(root, "bad", {**good, "open_items.csv": bad_items})
    deliver(root, "half", {"companies.csv": COMPANIES}, ready=False)
    stack.worker(concurrency=2).wait_ready()
    stack.beat()

    wait_for(lambda: folder_names(root, "processed") and folder_names(root, "failed"), 60, "both batches to settle")

    assert folder_names(root, "processed") == ["good"] and folder_names(root, "failed") == ["bad"]
    assert sorted(p.name for p in (root / "incoming").iterdir()) == ["half"]
    assert sorted(p.name for p in (root / "incoming" / "half").iterdir()) == ["companies.csv"]
    errors = next((root / "failed").iterdir()) / "errors.txt"
    lines = errors.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("open_items.csv:7: customer_number: ") and "NOBODY" in lines[0]
    with session_scope() as session:
        records = {r.batch: r for r in session.scalars(select(ImportRecord))}
        assert {name: r.status for name, r in records.items()} == {"good": "succeeded", "bad": "failed"}
        assert session.scalar(select(func.count()).select_from(Company)) == 2
    report = (next((root / "processed").iterdir()) / "report.txt").read_text().splitlines()
    assert report[0] == "companies.csv: 2 inserted, 0 updated, 0 unchanged, 0 deleted"


def test_two_beats_and_two_workers_racing_import_each_batch_once(stack: Services, var_dir: Path) -> None:
    root = var_dir / "import"
    names = [f"batch-{n:02d}" for n in range(12)]
    for n, name in enumerate(names):
        deliver(root, name, {"companies.csv": f"company_code,name\n{9000 + n},Empresa {n}\n"})
    workers = [stack.worker(concurrency=2) for _ in range(2)]
    stack.beat()
    second = Services(stack.env, var_dir / "second-beat")
    second.var.mkdir()
    second.beat()  # a second scheduler started by mistake: its scans race with the first's
    for worker in workers:
        worker.wait_ready()
    try:
        wait_for(lambda: len(folder_names(root, "processed")) == len(names), 90, "every batch to be imported")
    finally:
        second.stop_all()

    assert folder_names(root, "processed") == names
    assert folder_names(root, "failed") == [] and list((root / "working").iterdir()) == []
    with session_scope() as session:
        batches = sorted(session.scalars(select(ImportRecord.batch)))
        assert batches == names  # one import per batch
        assert session.scalar(select(func.count()).select_from(Company)) == len(names)
    # Both schedulers sent scans while the batches were there, and both workers ran them.
    beats = [p for p in [*stack.processes, *second.processes] if "beat" in p.args]
    assert all("Sending due task import-folder (edocta.feed.scan)" in beat.log() for beat in beats)
    assert all("edocta.feed.scan[" in worker.log() for worker in workers)


def test_a_run_held_back_by_stale_data_is_started_by_an_admin_and_mailed(
    stack: Services, var_dir: Path, tmp_path: Path, smtp_server: SMTPServer
) -> None:
    batch = write_folder(
        tmp_path / "erp",
        {
            "companies.csv": COMPANIES,
            "customers.csv": CUSTOMERS,
            "accounts.csv": ACCOUNTS,
            "open_items.csv": OPEN_ITEMS,
        },
    )
    assert run_cli("import", str(batch)).exit_code == 0
    now = dt.datetime.now(dt.UTC)
    with session_scope() as session:
        # The ERP last delivered two days ago, and the scheduler has been ticking since yesterday.
        session.execute(update(ImportRecord).values(finished_at=now - dt.timedelta(hours=48)))
        session.execute(update(Company).values(schedule="daily"))
        session.add(
            SchedulerState(id=1, first_tick_at=now - dt.timedelta(days=1), last_tick_at=now - dt.timedelta(days=1))
        )
    admin = create_test_user(role="admin")
    stack.worker(concurrency=2).wait_ready()
    stack.beat()

    def held() -> list[ScheduleHold]:
        with session_scope() as session:
            holds = list(session.scalars(select(ScheduleHold).where(ScheduleHold.status == "waiting")))
            session.expunge_all()
            return holds

    wait_for(lambda: len(held()) >= 2, 60, "the scheduled runs to be held for stale data")
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(StatementRun)) == 0  # nothing stale was mailed
    hold = next(h for h in held() if h.company_id == 1)

    with portal_test_client() as client:
        assert sign_in(client, admin.username, admin.password).status_code == 303
        page = client.get("/ops").text
        assert f'data-hold="{hold.id}"' in page and "esperando datos al día" in page
        assert "sin actualizar hace más de 36 horas" in page
        started = client.post(f"/ops/holds/{hold.id}/start", data=hidden_inputs(page), follow_redirects=False)
        assert started.status_code == 303 and started.headers["location"].startswith("/ops/runs/")

    def sent() -> int:
        with session_scope() as session:
            return int(
                session.scalar(select(func.count()).select_from(OutboxEmail).where(OutboxEmail.status == "sent")) or 0
            )

    wait_for(lambda: sent() == 2, 90, "the held run's two emails")  # pagos@ and Compras@ of customer 0000100011
    with session_scope() as session:
        run = session.scalars(select(StatementRun)).one()
        assert run.trigger == "admin" and run.run_key == f"scheduled:daily:{hold.cutoff.isoformat()}:1000"
    # Still held: the other company, and the other due cut-offs; the beat goes on retrying them.
    assert {h.company_id for h in held()} >= {2}
