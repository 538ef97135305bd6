"""A statement run end to end: a real Celery worker on Redis, PostgreSQL, and an SMTP server.

Each recipient gets each of their statements exactly once, with the right attachments and figures; accounts
without lines are skipped and accounts without recipients reported; a second run sends and renders nothing.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from pypdf import PdfReader
from sqlalchemy import func, select, update

from shared.broker import live_workers, queue_lengths
from shared.cli.runs import describe_run, list_runs_table, watch_run
from shared.db import session_scope
from shared.mail import failed_emails
from shared.models import AuditEvent, Customer, OpenItem, OutboxEmail, StatementRun
from shared.runs import list_runs, resend_email, run_progress, start_run
from tests.factories import CUTOFF, CustomerSpec, add_company, add_customers
from tests.servers import Services, SMTPServer, wait_for

pytestmark = pytest.mark.slow


def small_data_set() -> None:
    add_company("1000", "Tinacos del Bajío")
    add_company("2000", "Aceros & Alambres <Norte>", currency="USD")
    add_customers(
        "1000",
        [
            CustomerSpec(
                "100001",
                "Ferretería La Paz",
                "pagos@lapaz.example;Contabilidad@LaPaz.example",
                items=(
                    ("F1", "2026-09-15", "1160.00", "MXN"),
                    ("F2", "2026-11-20", "2500.50", "MXN"),
                    ("F3", "2026-10-01", "300.00", "USD"),
                ),
                credit_limit="250000.00",
            ),
            CustomerSpec(
                "0000100002",
                "Constructora Río",
                "cxp@rio.example",
                language="en",
                formats="xlsx",
                items=(("F1", "2026-10-31", "999.99", "MXN"),),
            ),
            CustomerSpec("100003", "Sin Movimientos", "nadie@vacio.example"),  # no lines: skipped
            CustomerSpec("100004", "Sin Correo", "", items=(("F1", "2026-10-10", "50.00", "MXN"),)),
        ],
    )
    # The same customer at a second company gets a second, separate statement (same recipients and formats).
    add_customers("2000", [CustomerSpec("100001", "Ferretería La Paz", items=(("A1", "2026-10-20", "75.25", "USD"),))])


def attachments(message: EmailMessage) -> dict[str, bytes]:
    return {part.get_filename(): part.get_content() for part in message.iter_attachments()}


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    return str(part.get_content())


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def xlsx_values(data: bytes) -> list[object]:
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    return [cell.value for sheet in workbook.worksheets for row in sheet.iter_rows() for cell in row]


def wait_finished(run_id: int, timeout: float = 120) -> None:
    def finished() -> bool:
        with session_scope() as session:
            progress = run_progress(session, run_id)
        return progress is not None and progress.finished

    wait_for(finished, timeout, f"run {run_id} to finish")


def progress_of(run_id: int):  # type: ignore[no-untyped-def]
    with session_scope() as session:
        return run_progress(session, run_id)


def test_a_run_mails_every_statement_once_and_a_rerun_sends_nothing(
    services: Services, smtp_server: SMTPServer, var_dir: Path
) -> None:
    small_data_set()
    worker = services.worker().wait_ready()

    run_id = start_run(CUTOFF)
    lines: list[str] = []
    assert watch_run(run_id, poll_seconds=0.2, timeout=120, write=lines.append) is True
    assert "emails sent 5/5" in "".join(lines)

    # Each recipient got each of their statements exactly once (addresses normalized: the domain in lower case).
    recipients = sorted(str(m["To"]) for m in smtp_server.messages)
    assert recipients == sorted(["pagos@lapaz.example", "Contabilidad@lapaz.example"] * 2 + ["cxp@rio.example"])
    by_subject = {(str(m["To"]), str(m["Subject"])): m for m in smtp_server.messages}
    assert len(by_subject) == 5

    # Spanish, with the company's name and the long date; PDF and XLSX attached and readable.
    lapaz = by_subject[("pagos@lapaz.example", "Estado de cuenta al 31 de octubre de 2026 — Tinacos del Bajío")]
    files = attachments(lapaz)
    assert sorted(files) == [
        "estado-de-cuenta_1000_100001_2026-10-31.pdf",
        "estado-de-cuenta_1000_100001_2026-10-31.xlsx",
    ]
    text = pdf_text(files["estado-de-cuenta_1000_100001_2026-10-31.pdf"])
    assert "Ferretería La Paz" in text
    assert "100001-F2" in text and "100001-F3" in text
    values = xlsx_values(files["estado-de-cuenta_1000_100001_2026-10-31.xlsx"])
    assert "100001-F1" in values
    assert Decimal("2500.50") in [Decimal(str(v)) for v in values if isinstance(v, int | float)]
    plain = body(lapaz, "plain")
    # The five figures, per currency: MXN overdue 1,160.00 (due 2026-09-15), not yet due 2,500.50.
    assert "Vencido" in plain and "1,160.00" in plain
    assert "Por vencer" in plain and "2,500.50" in plain
    assert "Saldo total" in plain and "3,660.50" in plain
    assert "Límite de crédito" in plain and "250,000.00" in plain
    assert "Crédito disponible" in plain and "246,339.50" in plain
    assert "USD" in plain and "300.00" in plain
    assert "https://estados.example.com/statements/1000/100001/2026-10-31" in plain
    html = body(lapaz, "html")
    assert 'href="https://estados.example.com/statements/1000/100001/2026-10-31"' in html

    # English for an English-speaking customer, only the format they asked for, codes with their zeros.
    rio = by_subject[("cxp@rio.example", "Statement as of October 31, 2026 — Tinacos del Bajío")]
    assert sorted(attachments(rio)) == ["account-statement_1000_0000100002_2026-10-31.xlsx"]
    assert "Not yet due" in body(rio, "plain")
    assert "https://estados.example.com/statements/1000/0000100002/2026-10-31" in body(rio, "plain")

    # The second company's statement, with markup in its name escaped in the HTML body.
    norte = [m for m in smtp_server.messages if "Norte" in str(m["Subject"])]
    assert sorted(str(m["To"]) for m in norte) == ["Contabilidad@lapaz.example", "pagos@lapaz.example"]
    assert sorted(attachments(norte[0])) == [
        "estado-de-cuenta_2000_100001_2026-10-31.pdf",
        "estado-de-cuenta_2000_100001_2026-10-31.xlsx",
    ]
    assert "USD" in body(norte[0], "plain") and "75.25" in body(norte[0], "plain")
    assert "Aceros &amp; Alambres &lt;Norte&gt;" in body(norte[0], "html")

    # Counters and the report: 5 accounts, 1 skipped (no lines), 1 without recipients (rendered, reported).
    progress = progress_of(run_id)
    assert (progress.accounts, progress.sent, progress.failed, progress.skipped, progress.no_recipients) == (
        5,
        5,
        0,
        1,
        1,
    )
    assert progress.rendered == 7  # 2 + 1 + 2 (no recipients, still stored) + 2
    assert progress.status == "done"
    report = describe_run(run_id)
    assert report is not None
    assert "no recipients" in report and "1000/100004 Sin Correo" in report
    assert "skipped (no lines) 1" in report
    # The ops page's broker views: the worker answers a ping, nothing waits in the queues.
    assert [name for name in live_workers() if name.startswith("w0@")] != []
    assert queue_lengths() == {"celery": 0, "render": 0, "render_large": 0, "mail": 0, "on_demand": 0}
    with session_scope() as session:
        assert [(r.id, r.status, r.sent) for r in list_runs(session)] == [(run_id, "done", 5)]
        assert failed_emails(session) == []
    table = list_runs_table()
    assert f"{run_id}" in table and "2026-10-31" in table and "done" in table

    # A second run at the same cut-off renders nothing and sends nothing.
    before = len(smtp_server.messages)
    second = start_run(CUTOFF)
    assert watch_run(second, poll_seconds=0.2, timeout=120, write=lambda _: None) is True
    again = progress_of(second)
    assert (again.accounts, again.rendered, again.sent, again.emails) == (5, 0, 0, 0)
    assert len(smtp_server.messages) == before
    assert "Traceback" not in worker.log()


def test_changed_data_and_an_admin_resend_render_once_and_send_one_email(
    services: Services, smtp_server: SMTPServer, var_dir: Path
) -> None:
    small_data_set()
    worker = services.worker().wait_ready()
    first = start_run(CUTOFF)
    wait_finished(first)
    assert len(smtp_server.messages) == 5
    renders_before = worker.log().count(" rendered ")

    # The ERP corrects one invoice of the English-speaking customer (XLSX only: one file to render).
    with session_scope() as session:
        session.execute(
            update(OpenItem).where(OpenItem.document_number == "0000100002-F1").values(amount=Decimal("1234.56"))
        )
        row_id = session.scalar(select(OutboxEmail.id).where(OutboxEmail.recipient == "cxp@rio.example"))
        assert row_id is not None
    resend_email(row_id, by_username="admin")

    wait_for(lambda: len(smtp_server.messages) == 6, 60, "the resent email")
    assert worker.log().count(" rendered ") == renders_before + 1  # one new file: the changed statement
    resent = smtp_server.messages[-1]
    assert str(resent["To"]) == "cxp@rio.example"
    files = attachments(resent)
    assert list(files) == ["account-statement_1000_0000100002_2026-10-31.xlsx"]
    assert 1234.56 in xlsx_values(files["account-statement_1000_0000100002_2026-10-31.xlsx"])
    assert "1,234.56" in body(resent, "plain")
    # One new file in the store (the older version of it pruned); the rest untouched.
    stored = [p for p in (var_dir / "statements").rglob("*.xlsx") if "0000100002" in str(p)]
    assert len(stored) == 1  # the new version only; the old one pruned
    assert 1234.56 in xlsx_values(stored[0].read_bytes())
    assert len(list((var_dir / "statements").rglob("*.xlsx"))) == 4  # the other statements untouched
    with session_scope() as session:
        row = session.get(OutboxEmail, row_id)
        assert row is not None
        assert (row.status, row.generation, row.attempts) == ("sent", 2, 1)
        audit = session.scalars(select(AuditEvent).where(AuditEvent.event == "email_resend")).all()
        assert [(a.username, f"outbox {row_id}" in a.detail) for a in audit] == [("admin", True)]
    wait_finished(first)
    # Nothing else went out: the others were not resent.
    assert len(smtp_server.messages) == 6


def test_a_future_cutoff_or_unknown_company_starts_nothing(services: Services) -> None:
    from shared.runs import RunError

    small_data_set()
    with pytest.raises(RunError, match="future"):
        start_run(dt.date.today() + dt.timedelta(days=2))
    with pytest.raises(RunError, match="no company"):
        start_run(CUTOFF, company_code="9999")
    with session_scope() as session:
        assert session.scalars(select(StatementRun)).all() == []


def test_a_large_run_goes_in_batches_and_each_statement_still_goes_out_once(
    services: Services, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shared.runs.start as start
    from shared.models import RunAccount
    from shared.runs import process_accounts

    small_data_set()
    # An open dispute on La Paz's first item at 1000: the batched statement marks it, as a single account's does.
    from shared.models import Company, Dispute

    with session_scope() as session:
        company = session.scalars(select(Company).where(Company.code == "1000")).one()
        customer = session.scalars(select(Customer).where(Customer.number == "100001")).one()
        dispute = Dispute(company_id=company.id, customer_id=customer.id, document_number="100001-F1", opened_by="t")
        session.add(dispute)
    # As in a run of 5 x 64 accounts: the 5 accounts go to the worker as one batch of 5.
    monkeypatch.setattr(start, "BATCHES_PER_RUN", 1)
    assert start.batch_size(5) == 5 and start.batch_size(10) == 10 and start.batch_size(100_000) == 100
    services.worker().wait_ready()

    first = start_run(CUTOFF)
    wait_finished(first)
    done = progress_of(first)
    assert (done.accounts, done.sent, done.skipped, done.no_recipients, done.rendered) == (5, 5, 1, 1, 7)
    assert len(smtp_server.messages) == 5
    # The batch's emails went as one task, over one SMTP connection.
    assert len({id(session) for session in smtp_server.sessions}) == 1
    marked = [m for m in smtp_server.messages if "En aclaración: 100001-F1" in body(m, "plain")]
    assert len(marked) == 2 and all("lapaz" in str(m["To"]).lower() for m in marked)  # its two recipients

    # The batch delivered again (a worker lost after its commit): nothing is marked or queued twice.
    with session_scope() as session:
        ids = list(session.scalars(select(RunAccount.id).where(RunAccount.run_id == first)))
    outcomes = process_accounts(ids)
    assert [o.status for o in outcomes] == ["already_done"] * 5
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(OutboxEmail)) == 5

    # A rerun in batches reads the stored files: nothing rendered, nothing sent, every account accounted for.
    second = start_run(CUTOFF)
    wait_finished(second)
    again = progress_of(second)
    assert (again.accounts, again.rendered, again.sent, again.emails, again.skipped, again.done) == (5, 0, 0, 0, 1, 3)
    assert again.status == "done" and len(smtp_server.messages) == 5

    # Río names a second recipient: the next rerun mails only them, the statement everyone else already has.
    with session_scope() as session:
        session.execute(
            update(Customer)
            .where(Customer.number == "0000100002")
            .values(statement_emails="cxp@rio.example;tesoreria@rio.example")
        )
    third = start_run(CUTOFF)
    wait_finished(third)
    latest = progress_of(third)
    assert (latest.rendered, latest.sent, latest.emails, latest.done) == (0, 1, 1, 3)
    assert [str(m["To"]) for m in smtp_server.messages[5:]] == ["tesoreria@rio.example"]


def _process_batch(ids: list[int], ready: Any, results: Any) -> None:
    """A worker process's part in the race below: process the batch as soon as the other process is ready too."""
    from shared.runs import process_accounts

    ready.wait(60)
    results.put([outcome.status for outcome in process_accounts(ids)])


def test_two_workers_on_the_same_batch_mark_each_account_and_queue_each_email_once(services: Services) -> None:
    import multiprocessing

    from shared.models import RunAccount

    small_data_set()
    run_id = start_run(CUTOFF)  # no worker: the batch is processed here, by two processes at once
    with session_scope() as session:
        ids = sorted(session.scalars(select(RunAccount.id).where(RunAccount.run_id == run_id)))
    context = multiprocessing.get_context("spawn")
    ready, queue = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_process_batch, args=(ids, ready, queue)) for _ in range(2)]
    for process in workers:
        process.start()
    results = [queue.get(timeout=120) for _ in workers]
    for process in workers:
        process.join(30)
    for position, run_account_id in enumerate(ids):
        statuses = sorted(outcomes[position] for outcomes in results)
        assert statuses[0] == "already_done" and statuses[1] != "already_done", (run_account_id, statuses)
    with session_scope() as session:
        rows = session.execute(select(OutboxEmail.company_id, OutboxEmail.customer_id, OutboxEmail.recipient)).all()
        marked = session.scalars(select(RunAccount.status).where(RunAccount.run_id == run_id)).all()
    assert len(rows) == 5 and len(set(rows)) == 5
    assert sorted(marked) == ["done", "done", "done", "no_recipients", "skipped"]
