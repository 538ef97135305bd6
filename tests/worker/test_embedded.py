"""On embedded defaults (SQLite, the filesystem broker under var/broker, emails into var/outbox/), `edocta
worker` and `edocta run --cutoff D --wait` work as two separate processes, and the operations views agree.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.broker import live_workers, queue_lengths, worker_records
from tests.factories import CUTOFF, CustomerSpec, add_company, add_customers, many_customers
from tests.servers import ROOT, Process, outbox_messages, service_environment, wait_for

pytestmark = pytest.mark.slow
EDOCTA = str(Path(sys.executable).parent / "edocta")


def test_edocta_worker_and_edocta_run_wait_mail_every_statement_into_the_outbox_folder(
    sqlite_database: str, var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = service_environment(monkeypatch, var_dir, EDOCTA_DATABASE_URL=sqlite_database)
    add_company("1000", "Tinacos del Bajío")
    customers = many_customers("E", 4)
    add_customers(
        "1000",
        [
            *customers,
            CustomerSpec("E9999", "Sin Correo", "", formats="pdf", items=(("F1", "2026-10-01", "5.00", "MXN"),)),
        ],
    )
    worker = Process([EDOCTA, "worker", "-c", "2"], env, var_dir / "edocta-worker.log").start()
    try:
        worker.wait_ready()
        wait_for(lambda: live_workers() != [], 10, "the worker to announce itself")

        run = subprocess.run(
            [EDOCTA, "run", "--cutoff", CUTOFF.isoformat(), "--wait"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert run.returncode == 0, run.stderr
        assert "run 1 started for cut-off 2026-10-31" in run.stdout
        assert "run 1 done: 5 accounts" in run.stdout
        assert "4 emails sent, 0 failed" in run.stdout
        assert "1 without recipients" in run.stdout

        messages = outbox_messages(var_dir)
        assert sorted(str(m["To"]) for m in messages) == sorted(c.emails for c in customers)
        for message in messages:
            names = [part.get_filename() for part in message.iter_attachments()]
            assert len(names) == 1 and names[0].startswith("estado-de-cuenta_1000_E") and names[0].endswith(".pdf")
        assert queue_lengths() == {"celery": 0, "render": 0, "render_large": 0, "mail": 0, "on_demand": 0}
        # On the filesystem broker the worker's own record is what the ops pages can know: queues, concurrency,
        # and what it processed (5 accounts, 4 emails), written at its heartbeats.
        wait_for(lambda: sum(r.processed for r in worker_records()) >= 9, 10, "the worker's record to count the run")
        (record,) = worker_records()
        assert record.queues == ["celery", "mail", "on_demand", "render", "render_large"] and record.concurrency == 2
        assert record.processed_by_task["edocta.runs.process_account"] == 5
        assert record.processed_by_task["edocta.mail.send_statement_email"] == 4

        listing = subprocess.run([EDOCTA, "runs"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert listing.returncode == 0
        header, _, row = listing.stdout.splitlines()[:3]
        assert header.split()[:5] == ["id", "cut-off", "company", "trigger", "status"]
        assert row.split()[:5] == ["1", "2026-10-31", "all", "cli", "done"]
        shown = subprocess.run(
            [EDOCTA, "runs", "show", "1"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert "emails 4: sent 4, failed 0, waiting 0" in shown.stdout
        assert "1000/E9999 Sin Correo" in shown.stdout
        missing = subprocess.run(
            [EDOCTA, "runs", "show", "42"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert missing.returncode == 2 and "no run 42" in missing.stderr

        # Bad input: one line, exit status 2, nothing started.
        bad = subprocess.run(
            [EDOCTA, "run", "--cutoff", "2999-01-01"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert bad.returncode == 2 and "in the future" in bad.stderr and "Traceback" not in bad.stderr
        unknown = subprocess.run(
            [EDOCTA, "run", "--cutoff", "2026-10-31", "--company", "nope"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert unknown.returncode == 2 and "no company 'nope'" in unknown.stderr
    finally:
        worker.stop()
    assert "Traceback" not in worker.log()
