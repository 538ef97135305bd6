"""The drop folder (contract section 11): ERP batches arrive in `incoming/`, are claimed, imported once and
moved to `processed/` or `failed/`.

    EDOCTA_IMPORT_DIR/
        incoming/<name>/      the exporter writes its files here, and `READY` last
        working/<when>-<name>/  claimed: waiting for or being imported by a worker
        processed/<when>-<name>/  imported, with report.txt
        failed/<when>-<name>/     refused, nothing written, with errors.txt

A scan (beat, every `IMPORT_SCAN_SECONDS`) claims each complete batch by renaming its folder into `working/`:
a rename is atomic, so of two scans racing on one batch exactly one gets it (the other finds it gone). The
claim is then recorded under a unique key in the database and one import task is enqueued; a claimed folder
whose record is missing (a scan stopped between the two) is recorded by the next scan, the key keeping it to
one record. The import task takes the record from queued to running with a conditional update, so a task
delivered twice imports once. A folder without `READY` is never touched.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from shared.clock import utcnow
from shared.db import session_scope
from shared.feed.history import new_record, record_failure, run_import
from shared.ingest import FILE_ORDER, FileCounts, ImportFailed
from shared.models import ImportRecord
from shared.settings import get_settings
from shared.tasks import HARD_TIME_LIMITS, send_task
from shared.vocab import ImportSource, ImportStatus, Task

log = logging.getLogger(__name__)

READY = "READY"
REPLACE_WORD = "replace-open-items"
FOLDERS = ("incoming", "working", "processed", "failed")
STARTED_BY = "drop folder"
KNOWN_FILES = frozenset(f"{kind}.csv" for kind in FILE_ORDER)


class BatchRefused(Exception):
    """A batch that is not a batch of contract section 1: unknown files, a bad READY, a path leaving it."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def import_root() -> Path | None:
    folder = get_settings().import_dir
    if folder is None:
        return None
    for name in FOLDERS:
        (folder / name).mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def claim_name(name: str, now: dt.datetime | None = None) -> str:
    """`20261130T120501Z-<name>`: when the batch was claimed (UTC), then its name."""
    return f"{(now or utcnow()).strftime('%Y%m%dT%H%M%S%fZ')}-{name}"


@dataclass
class ScanReport:
    claimed: list[str]
    enqueued: list[int]


def scan() -> ScanReport:
    """Claim the complete batches of `incoming/` and enqueue one import each; returns what this scan did."""
    report = ScanReport([], [])
    root = import_root()
    if root is None:
        return report
    for entry in sorted((root / "incoming").iterdir()):
        if entry.name.startswith(".") or not entry.is_dir() or not (entry / READY).exists():
            continue  # not a batch, or not complete yet: left alone
        claimed = claim_name(entry.name)
        try:
            os.rename(entry, root / "working" / claimed)
        except FileNotFoundError:
            continue  # another scan took it a moment ago
        log.info("drop folder: claimed %s as %s", entry.name, claimed)
        report.claimed.append(claimed)
    # Every claimed folder gets its record and its task, once (also one a stopped scan left without).
    for folder in sorted((root / "working").iterdir()):
        if not folder.is_dir():
            continue
        import_id = _record_claim(folder.name)
        if import_id is not None:
            send_task(Task.IMPORT_BATCH, (import_id,))
            report.enqueued.append(import_id)
    report.enqueued.extend(_requeue_lost())
    return report


def _requeue_lost() -> list[int]:
    """Enqueue again the imports whose task was lost (a broker restarted, a worker killed): queued for longer than
    EDOCTA_REQUEUE_AFTER_SECONDS, or running with no progress for longer than the task may run. A task that was
    not lost finds the record taken and does nothing."""
    now = utcnow()
    queued_before = now - dt.timedelta(seconds=get_settings().requeue_after_seconds)
    lost_before = now - dt.timedelta(seconds=HARD_TIME_LIMITS[Task.IMPORT_BATCH])
    with session_scope() as session:
        lost = list(
            session.scalars(
                select(ImportRecord.id).where(
                    ImportRecord.claim_key.is_not(None),
                    or_(
                        (ImportRecord.status == ImportStatus.QUEUED) & (ImportRecord.updated_at < queued_before),
                        (ImportRecord.status == ImportStatus.RUNNING) & (ImportRecord.updated_at < lost_before),
                    ),
                )
            )
        )
        if lost:  # the next scan waits as long again before it re-sends them
            session.execute(
                update(ImportRecord)
                .where(ImportRecord.id.in_(lost), ImportRecord.status == ImportStatus.QUEUED)
                .values(updated_at=now)
            )
    for import_id in lost:
        log.warning("drop folder: import %s was lost on its way to a worker; enqueued again", import_id)
        send_task(Task.IMPORT_BATCH, (import_id,))
    return lost


# A claimed folder whose import finished this long ago but is still in working/ (its worker died between the
# outcome and the move) is moved by the scan.
STRANDED_AFTER_SECONDS = 60


def _record_claim(claimed: str) -> int | None:
    with session_scope() as session:
        record = session.scalar(select(ImportRecord).where(ImportRecord.claim_key == claimed))
        if record is not None:
            _move_if_stranded(record)
            return None
    name = claimed.split("-", 1)[1] if "-" in claimed else claimed
    try:
        return new_record(
            source=ImportSource.FOLDER, started_by=STARTED_BY, batch=name, replace=False, claim_key=claimed
        )
    except IntegrityError:
        return None  # another scan recorded it at the same moment


def _move_if_stranded(record: ImportRecord) -> None:
    root = import_root()
    finished = record.finished_at
    if root is None or finished is None or record.claim_key is None:
        return
    if utcnow() - finished < dt.timedelta(seconds=STRANDED_AFTER_SECONDS):
        return
    folder = root / "working" / record.claim_key
    target = "processed" if record.status == ImportStatus.SUCCEEDED else "failed"
    if target == "failed" and not (folder / "errors.txt").exists():
        _write(folder / "errors.txt", record.errors.splitlines())
    if target == "processed" and not (folder / "report.txt").exists():
        _write(folder / "report.txt", [FileCounts(**counts).line() for counts in record.files])
    log.warning("drop folder: %s was left in working/ after its import; moved to %s/", record.claim_key, target)
    _move(folder, root / target / record.claim_key)


# --- one batch ---------------------------------------------------------------------------------------------


def _take(import_id: int) -> ImportRecord | None:
    """Queued -> running, once: a second delivery of the task finds it taken. A record left running by a
    worker that died (no progress for longer than a task may run) may be taken again."""
    lost_before = utcnow() - dt.timedelta(seconds=HARD_TIME_LIMITS[Task.IMPORT_BATCH])
    with session_scope() as session:
        taken = session.execute(
            update(ImportRecord)
            .where(
                ImportRecord.id == import_id,
                or_(
                    ImportRecord.status == ImportStatus.QUEUED,
                    (ImportRecord.status == ImportStatus.RUNNING) & (ImportRecord.updated_at < lost_before),
                ),
            )
            .values(status=ImportStatus.RUNNING, updated_at=utcnow())
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return None
        record = session.get(ImportRecord, import_id)
        if record is not None:
            session.expunge(record)
        return record


def check_batch(folder: Path) -> tuple[Path, bool, int]:
    """What to import from a batch folder, whether READY asks to replace the open items, and how many rows
    its CSV files hold. Raises BatchRefused with every reason found."""
    errors: list[str] = []
    inside = folder.resolve()
    ready_text = ""
    workbooks: list[Path] = []
    csv_files: list[Path] = []
    # With documents.csv, the invoice files it names come along (in the batch or a folder of it); the import
    # checks each one (inside the batch, present, of its kind) and refuses the batch for any it cannot use.
    with_documents = (folder / "documents.csv").is_file()
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink() or inside not in entry.resolve().parents:
            errors.append(f"{entry.name}: a link leading out of the batch folder is refused")
        elif with_documents and (entry.is_dir() or entry.suffix.lower() in (".pdf", ".xml")):
            continue
        elif entry.is_dir():
            errors.append(f"{entry.name}: a folder inside a batch is refused (a batch holds files only)")
        elif entry.name == READY:
            ready_text = entry.read_text(encoding="utf-8", errors="replace").strip()
        elif entry.name in KNOWN_FILES:
            csv_files.append(entry)
        elif entry.suffix.lower() == ".xlsx":
            workbooks.append(entry)
        else:
            expected = ", ".join(sorted(KNOWN_FILES))
            errors.append(
                f"{entry.name}: unknown file (a batch holds {expected}, or one .xlsx workbook, and READY; with"
                " documents.csv, the PDF and XML files it names)"
            )
    if ready_text not in ("", REPLACE_WORD):
        shown = ready_text if len(ready_text) <= 40 else ready_text[:40] + "…"
        errors.append(f"READY: unknown content {shown!r} (expected nothing or the word {REPLACE_WORD})")
    if (workbooks and csv_files) or len(workbooks) > 1:
        errors.append("a batch holds CSV files or one .xlsx workbook, not both or several workbooks")
    if not workbooks and not csv_files and not errors:
        errors.append("the batch holds no file to import")
    if errors:
        raise BatchRefused(errors)
    rows = sum(max(0, _count_lines(path) - 1) for path in csv_files)
    return (workbooks[0] if workbooks else folder), ready_text == REPLACE_WORD, rows


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def import_batch(import_id: int) -> str:
    """Import the claimed batch of record `import_id`, then move it to processed/ or failed/. Returns its status
    (or "taken" when another delivery of the task has it)."""
    root = import_root()
    record = _take(import_id)
    if record is None or root is None or record.claim_key is None:
        return "taken"
    folder = root / "working" / record.claim_key
    if not folder.is_dir():
        log.warning("drop folder: %s is gone from working/", record.claim_key)
        _finish_without_folder(import_id, record.claim_key)
        return ImportStatus.FAILED
    if folder.is_symlink():  # never follow it: the errors go into a folder of our own, the target is untouched
        target = os.readlink(folder)
        folder.unlink()
        folder.mkdir(mode=0o700)
        errors = [f"{record.batch}: the batch is a link (to {target}), not a folder inside incoming/; refused"]
        record_failure(import_id, errors)
        _write(folder / "errors.txt", errors)
        _move(folder, root / "failed" / record.claim_key)
        return ImportStatus.FAILED
    try:
        source, replace, rows = check_batch(folder)
        if replace:
            with session_scope() as session:
                session.execute(
                    update(ImportRecord).where(ImportRecord.id == import_id).values(replace_open_items=True)
                )
        report = run_import(
            source,
            source=ImportSource.FOLDER,
            started_by=STARTED_BY,
            replace=replace,
            import_id=import_id,
            rows_total=rows,
        )
    except (BatchRefused, ImportFailed) as failure:
        if isinstance(failure, BatchRefused):
            record_failure(import_id, failure.errors)
        _write(folder / "errors.txt", failure.errors)
        _move(folder, root / "failed" / record.claim_key)
        log.info("drop folder: %s refused, %s error(s)", record.claim_key, len(failure.errors))
        return ImportStatus.FAILED
    _write(folder / "report.txt", [*report.lines(), *report.notes])
    _move(folder, root / "processed" / record.claim_key)
    log.info("drop folder: %s imported", record.claim_key)
    return ImportStatus.SUCCEEDED


def _finish_without_folder(import_id: int, claimed: str) -> None:
    record_failure(import_id, [f"{claimed}: the batch folder left working/ before it was imported"])


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def _move(folder: Path, target: Path) -> None:
    if target.exists():  # a second delivery after a crash: keep both, the later one suffixed
        target = target.with_name(f"{target.name}-{utcnow().strftime('%H%M%S%f')}")
    try:
        os.rename(folder, target)
    except FileNotFoundError:  # a scan moved it meanwhile
        log.info("drop folder: %s was already moved", folder.name)
