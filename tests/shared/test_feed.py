"""The drop folder (contract §11) and the import history, in one process: a good batch, a bad one, one without
READY, refused batches (unknown files, a bad READY, a link out of the batch), "data as of" moving only when an
import changed a company's data, and `edocta imports`. The same with real beat and worker processes is in
tests/worker/test_drop_folder.py."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, update

from shared import feed
from shared.db import session_scope
from shared.models import Company, ImportCompany, ImportRecord
from shared.settings import get_settings
from tests.factories import ACCOUNTS, COMPANIES, CUSTOMERS, CUTOFF, OPEN_ITEMS, dump, run_cli, write_folder
from tests.servers import queued_tasks, use_environment

BATCH = {
    "companies.csv": COMPANIES,
    "customers.csv": CUSTOMERS,
    "accounts.csv": ACCOUNTS,
    "open_items.csv": OPEN_ITEMS,
}
BAD_ITEMS = OPEN_ITEMS + "1000,100002,FAC-0009,invoice,,2026-13-01,,12.00,,\n"  # line 7: month 13


@pytest.fixture
def drop(database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "drop"
    use_environment(monkeypatch, EDOCTA_IMPORT_DIR=str(folder))
    feed.import_root()
    return folder


def deliver(drop: Path, name: str, files: dict[str, str], ready: str | None = "") -> Path:
    """What an exporter does: the files first, READY last (None: not yet)."""
    batch = write_folder(drop / "incoming" / name, files)
    if ready is not None:
        (batch / "READY").write_text(ready, encoding="utf-8")
    return batch


def scan_and_import() -> list[str]:
    """A beat scan, then what the worker does with each import task it enqueued."""
    report = feed.scan()
    return [feed.import_batch(import_id) for import_id in report.enqueued]


def only(folder: Path) -> Path:
    entries = list(folder.iterdir())
    assert len(entries) == 1, entries
    return entries[0]


def statement_json(company: str, customer: str) -> dict[str, object]:
    result = run_cli("statement", company, customer, "--cutoff", CUTOFF.isoformat(), "--format", "json")
    assert result.exit_code == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_a_good_batch_is_imported_once_and_moved_to_processed_with_its_report(drop: Path) -> None:
    deliver(drop, "erp-2026-11-30", BATCH)

    assert scan_and_import() == ["succeeded"]
    assert scan_and_import() == []  # nothing left to claim

    assert list((drop / "incoming").iterdir()) == [] and list((drop / "working").iterdir()) == []
    done = only(drop / "processed")
    assert done.name.endswith("-erp-2026-11-30") and done.name[:8].isdigit()
    assert (done / "report.txt").read_text().splitlines() == [
        "companies.csv: 2 inserted, 0 updated, 0 unchanged, 0 deleted",
        "customers.csv: 3 inserted, 0 updated, 0 unchanged, 0 deleted",
        "accounts.csv: 3 inserted, 0 updated, 0 unchanged, 0 deleted",
        "open_items.csv: 5 inserted, 0 updated, 0 unchanged, 0 deleted",
    ]
    assert len(dump()["open_items"]) == 5
    with session_scope() as session:
        record = session.scalars(select(ImportRecord)).one()
        assert (record.source, record.started_by, record.batch, record.status) == (
            "folder",
            "drop folder",
            "erp-2026-11-30",
            "succeeded",
        )
        assert [f["name"] for f in record.files] == ["companies.csv", "customers.csv", "accounts.csv", "open_items.csv"]
        assert record.finished_at is not None and record.claim_key == done.name
        named = session.scalars(select(ImportCompany)).all()
        assert len(named) == 2 and all(n.changed for n in named)
    # The statements say when their data was refreshed, in the business time zone.
    document = statement_json("1000", "0000100011")
    as_of = dt.datetime.fromisoformat(str(document["data_as_of"]))
    assert as_of.utcoffset() == dt.datetime.now(dt.UTC).astimezone(as_of.tzinfo).utcoffset()
    assert abs((as_of - dt.datetime.now(dt.UTC)).total_seconds()) < 600


def test_a_batch_with_one_bad_row_writes_nothing_and_says_why_line_by_line(drop: Path) -> None:
    deliver(drop, "bad", {**BATCH, "open_items.csv": BAD_ITEMS})

    assert scan_and_import() == ["failed"]

    assert dump()["companies"] == [] and dump()["open_items"] == []
    failed = only(drop / "failed")
    errors = (failed / "errors.txt").read_text().splitlines()
    assert len(errors) == 1 and errors[0].startswith("open_items.csv:7: document_date: ")
    assert "2026-13-01" in errors[0]
    assert sorted(p.name for p in failed.iterdir()) == sorted([*BATCH, "READY", "errors.txt"])
    with session_scope() as session:
        record = session.scalars(select(ImportRecord)).one()
        assert record.status == "failed" and record.error_count == 1 and record.errors == errors[0]
        assert session.scalars(select(ImportCompany)).all() == []


def test_a_batch_without_ready_is_never_touched(drop: Path) -> None:
    batch = deliver(drop, "half-copied", {"companies.csv": COMPANIES}, ready=None)
    before = {p.name: p.stat().st_mtime_ns for p in batch.iterdir()}

    assert scan_and_import() == []

    assert {p.name: p.stat().st_mtime_ns for p in batch.iterdir()} == before
    assert list((drop / "working").iterdir()) == [] and dump()["companies"] == []
    with session_scope() as session:
        assert session.scalars(select(ImportRecord)).all() == []
    # When the exporter finishes (READY last), the next scan takes it.
    (batch / "READY").write_text("")
    assert scan_and_import() == ["succeeded"]


def test_unknown_files_a_bad_ready_and_a_link_out_of_the_batch_are_refused(drop: Path, tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere.csv"
    secret.write_text(COMPANIES)
    deliver(drop, "a-unknown", {"companies.csv": COMPANIES, "notes.txt": "hola"})
    deliver(drop, "b-ready", {"companies.csv": COMPANIES}, ready="replace-everything\n")
    linked = deliver(drop, "c-link", {"customers.csv": CUSTOMERS})
    (linked / "companies.csv").symlink_to(secret)
    outside = write_folder(tmp_path / "outside", {"companies.csv": COMPANIES, "READY": ""})
    (drop / "incoming" / "d-folder-link").symlink_to(outside, target_is_directory=True)

    assert scan_and_import() == ["failed", "failed", "failed", "failed"]

    assert dump()["companies"] == [] and dump()["customers"] == []
    reasons = {p.name.split("-", 1)[1]: (p / "errors.txt").read_text() for p in (drop / "failed").iterdir()}
    assert "notes.txt: unknown file" in reasons["a-unknown"]
    assert (
        "READY: unknown content 'replace-everything' (expected nothing or the word replace-open-items)"
        in (reasons["b-ready"])
    )
    assert "companies.csv: a link leading out of the batch folder is refused" in reasons["c-link"]
    assert "the batch is a link (to " in reasons["d-folder-link"]
    assert secret.read_text() == COMPANIES
    assert sorted(p.name for p in outside.iterdir()) == ["READY", "companies.csv"]  # nothing written there


def test_a_batch_brings_the_invoice_files_its_documents_csv_names(drop: Path) -> None:
    import datetime as dt
    from decimal import Decimal

    from shared.cli.demo_documents import invoice_pdf
    from shared.models import InvoiceDocument

    pdf = invoice_pdf("Tinacos del Bajío", "FAC-0001", "Ferretería", Decimal("1160.00"), dt.date(2026, 10, 1))
    listing = "company_code,document_number,file\n1000,FAC-0001,cfdi/FAC-0001.pdf\n1000,FAC-0004,FAC-0004.pdf\n"
    batch = deliver(drop, "with-documents", {**BATCH, "documents.csv": listing, "FAC-0004.pdf": pdf}, ready=None)
    write_folder(batch / "cfdi", {"FAC-0001.pdf": pdf})
    (batch / "READY").write_text("", encoding="utf-8")
    # Without documents.csv a folder in a batch is still refused.
    deliver(drop, "without-documents", {**BATCH, "FAC-0004.pdf": pdf}, ready=None)
    write_folder(drop / "incoming" / "without-documents" / "cfdi", {"FAC-0001.pdf": pdf})
    (drop / "incoming" / "without-documents" / "READY").write_text("", encoding="utf-8")

    assert sorted(scan_and_import()) == ["failed", "succeeded"]

    with session_scope() as session:
        stored = sorted(session.execute(select(InvoiceDocument.document_number, InvoiceDocument.kind)).all())
    assert [tuple(row) for row in stored] == [("FAC-0001", "pdf"), ("FAC-0004", "pdf")]
    refused = (only(drop / "failed") / "errors.txt").read_text()
    assert "cfdi: a folder inside a batch is refused" in refused
    assert "FAC-0004.pdf: unknown file" in refused


def test_ready_saying_replace_open_items_makes_the_items_a_snapshot(drop: Path) -> None:
    deliver(drop, "first", BATCH)
    scan_and_import()
    kept = "\n".join(OPEN_ITEMS.splitlines()[:2]) + "\n"  # the header and FAC-0001
    deliver(drop, "second", {"open_items.csv": kept}, ready="replace-open-items\n")

    assert scan_and_import() == ["succeeded"]

    assert [row[1] for row in dump()["open_items"]] == ["FAC-0001", "INV-1"]  # 3000's items were not in the file
    report = sorted((drop / "processed").iterdir())[-1] / "report.txt"
    assert report.read_text().startswith("open_items.csv: 0 inserted, 0 updated, 1 unchanged, 3 deleted")


def test_data_as_of_changes_only_when_an_import_changed_that_companys_data(drop: Path, tmp_path: Path) -> None:
    deliver(drop, "one", BATCH)
    scan_and_import()
    first = {c: statement_json(c, "100002")["data_as_of"] for c in ("1000", "3000")}
    assert first["1000"] is not None and first["3000"] is not None

    # The same files again: nothing changed, so nothing moves (the import still counts as a refresh).
    deliver(drop, "two", BATCH)
    scan_and_import()
    assert {c: statement_json(c, "100002")["data_as_of"] for c in ("1000", "3000")} == first

    # One amount of company 3000 changes: only 3000's statements get a new "data as of".
    changed = OPEN_ITEMS.replace("2026-12-01,99.99", "2026-12-01,98.00")
    deliver(drop, "three", {"open_items.csv": changed})
    threading.Event().wait(1.1)  # the stamp is to the second: let a second pass
    scan_and_import()
    after = {c: statement_json(c, "100002")["data_as_of"] for c in ("1000", "3000")}
    assert after["1000"] == first["1000"]
    assert after["3000"] != first["3000"]
    with session_scope() as session:
        records = session.scalars(select(ImportRecord).order_by(ImportRecord.id)).all()
        assert [r.status for r in records] == ["succeeded"] * 3
        last = session.scalars(select(ImportCompany).where(ImportCompany.import_id == records[-1].id)).all()
        codes = {session.get(Company, n.company_id).code: n.changed for n in last}  # type: ignore[union-attr]
        assert codes == {"1000": False, "3000": True}


def test_edocta_imports_lists_the_history_of_the_command_line_and_the_folder(drop: Path, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "erp", BATCH)
    assert run_cli("import", str(folder)).exit_code == 0
    deliver(drop, "nightly", {**BATCH, "open_items.csv": BAD_ITEMS})
    scan_and_import()

    result = run_cli("imports")

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert "failed folder (drop folder): nightly" in lines[0] and lines[0].startswith("#2 ")
    assert lines[1].strip().startswith("open_items.csv:7: document_date:")
    cli = next(i for i, line in enumerate(lines) if line.startswith("#1 "))
    assert "succeeded cli (" in lines[cli] and lines[cli].endswith(str(folder))
    assert lines[cli + 1].strip() == "companies.csv: 2 inserted, 0 updated, 0 unchanged, 0 deleted"
    failed_only = run_cli("imports", "--failed").stdout
    assert "nightly" in failed_only and "#1 " not in failed_only


def test_two_scans_racing_claim_a_batch_once(drop: Path) -> None:
    for n in range(5):
        deliver(drop, f"batch-{n}", {"companies.csv": COMPANIES})
    barrier = threading.Barrier(4)
    reports: list[feed.ScanReport] = []

    def tick() -> None:
        barrier.wait()
        reports.append(feed.scan())

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    claimed = [name for report in reports for name in report.claimed]
    enqueued = [i for report in reports for i in report.enqueued]
    assert len(claimed) == 5 and len({c.split("-", 1)[1] for c in claimed}) == 5
    with session_scope() as session:
        records = sorted(session.scalars(select(ImportRecord.id)))
    assert len(records) == 5 and sorted(enqueued) == records
    tasks = [t for t in queued_tasks(get_settings().var_dir) if t.name == "edocta.feed.import_batch"]
    assert sorted(t.args[0] for t in tasks) == records
    # A task delivered twice imports once.
    assert [feed.import_batch(i) for i in (records[0], records[0])] == ["succeeded", "taken"]


def test_an_import_task_lost_on_its_way_is_enqueued_again_and_imports_once(
    drop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deliver(drop, "lost", BATCH)
    first = feed.scan()
    for task in queued_tasks(get_settings().var_dir):  # the broker loses the message
        task.path.unlink()
    assert feed.scan().enqueued == []  # not yet: it may still be on its way

    use_environment(monkeypatch, EDOCTA_REQUEUE_AFTER_SECONDS="0")
    again = feed.scan()

    assert again.enqueued == first.enqueued
    assert [t.args for t in queued_tasks(get_settings().var_dir)] == [first.enqueued]
    assert [feed.import_batch(i) for i in again.enqueued * 2] == ["succeeded", "taken"]
    assert feed.scan().enqueued == []  # done: nothing to re-send


def test_the_page_the_pdf_and_the_email_of_both_kinds_say_when_the_data_was_refreshed(drop: Path) -> None:
    import io

    from pypdf import PdfReader

    from shared.mail import compose_statement_email
    from shared.render import render_statement
    from shared.statements import load_activity, load_statement

    deliver(drop, "nightly", BATCH)
    scan_and_import()
    as_of = dt.datetime.fromisoformat(str(statement_json("1000", "0000100011")["data_as_of"]))
    shown = as_of.strftime("%H:%M")  # the business time zone's clock, as the JSON's offset says
    with session_scope() as session:
        spanish = load_statement(session, "1000", "0000100011", CUTOFF)
        english = load_statement(session, "1000", "100002", CUTOFF)  # an English-speaking customer

    page = render_statement(spanish, "html").decode()
    assert f"Datos al {as_of.day} de " in page and shown in page
    pdf = " ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(render_statement(spanish, "pdf"))).pages)
    assert "Datos al" in pdf and shown in pdf
    email = compose_statement_email(english, "ap@example.com", [])
    text = email.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = email.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Data as of " in text and "Data as of " in html

    # The activity statement carries it too (contract 11: both kinds), in its JSON, page and PDF.
    with session_scope() as session:
        activity = load_activity(session, "1000", "0000100011", dt.date(2026, 10, 1), CUTOFF)
    assert json.loads(render_statement(activity, "json"))["data_as_of"] == as_of.isoformat()
    assert f"Datos al {as_of.day} de " in render_statement(activity, "html").decode()
    pdf = " ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(render_statement(activity, "pdf"))).pages)
    assert "Datos al" in pdf and shown in pdf


def test_a_batch_left_in_working_after_its_import_is_moved_by_a_later_scan(drop: Path) -> None:
    deliver(drop, "stranded", BATCH)
    assert scan_and_import() == ["succeeded"]
    # The worker died after the import committed, before the batch left working/ (put it back as it was then).
    done = only(drop / "processed")
    (done / "report.txt").unlink()
    done.rename(drop / "working" / done.name)
    assert feed.scan().enqueued == []
    assert (drop / "working" / done.name).exists()  # a moment ago: its worker may be moving it right now

    with session_scope() as session:
        session.execute(update(ImportRecord).values(finished_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)))
    assert feed.scan().enqueued == []

    assert list((drop / "working").iterdir()) == []
    assert (only(drop / "processed") / "report.txt").read_text().splitlines()[0] == (
        "companies.csv: 2 inserted, 0 updated, 0 unchanged, 0 deleted"
    )
