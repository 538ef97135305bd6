"""The import history: every import, from `edocta import` or the drop folder, recorded with who or what started
it, when, its files with their counts, and its outcome; and how fresh each company's data is."""

from __future__ import annotations

import datetime as dt
import getpass
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from shared.clock import utcnow
from shared.db import session_scope
from shared.ingest import ImportFailed, ImportReport, import_path
from shared.models import Company, ImportCompany, ImportRecord
from shared.settings import get_settings
from shared.vocab import ImportSource, ImportStatus

log = logging.getLogger(__name__)

# The first errors are kept with the record (all of a drop-folder batch's are in its errors.txt).
ERRORS_KEPT = 200


def who_runs_this() -> str:
    """The operating-system user running a command (recorded as who started a command-line import)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def new_record(*, source: str, started_by: str, batch: str, replace: bool, claim_key: str | None = None) -> int:
    """Record an import about to start (status running; a claimed drop-folder batch is queued instead)."""
    status = ImportStatus.QUEUED if claim_key is not None else ImportStatus.RUNNING
    now = utcnow()
    with session_scope() as session:
        record = ImportRecord(
            source=source,
            started_by=started_by[:150],
            batch=batch[:500],
            claim_key=claim_key,
            replace_open_items=replace,
            status=status,
            created_at=now,
            started_at=None if claim_key else now,
            updated_at=now,
            phase="",
            rows_done=0,
            rows_total=0,
            files=[],
            notes="",
            error_count=0,
            errors="",
        )
        session.add(record)
        session.flush()
        return record.id


def _progress_writer(import_id: int) -> Callable[[str], None]:
    """Record each phase of a running import. On SQLite the import's transaction holds the only write lock once
    it writes, so there the phases stop being recorded when writing begins ("writing")."""
    sqlite = get_settings().is_sqlite
    writing = False

    def step(phase: str) -> None:
        nonlocal writing
        if writing and sqlite:
            return
        if phase not in ("reading", "checking"):
            writing = True
            phase = "writing" if sqlite else f"writing {phase}"
        with session_scope() as session:
            session.execute(
                update(ImportRecord).where(ImportRecord.id == import_id).values(phase=phase, updated_at=utcnow())
            )

    return step


def run_import(
    path: Path,
    *,
    source: str,
    started_by: str,
    batch: str | None = None,
    replace: bool = False,
    import_id: int | None = None,
    rows_total: int = 0,
) -> ImportReport:
    """`import_path` with its record: the outcome, the counts per file, the companies named and changed.

    Raises ImportFailed (recorded as failed) like `import_path`."""
    if import_id is None:
        import_id = new_record(source=source, started_by=started_by, batch=batch or str(path), replace=replace)
    with session_scope() as session:
        session.execute(
            update(ImportRecord)
            .where(ImportRecord.id == import_id)
            .values(status=ImportStatus.RUNNING, started_at=utcnow(), updated_at=utcnow(), rows_total=rows_total)
        )
    try:
        report = import_path(path, replace_open_items=replace, progress=_progress_writer(import_id))
    except ImportFailed as failure:
        record_failure(import_id, failure.errors)
        raise
    except Exception as error:
        record_failure(import_id, [f"the import stopped: {type(error).__name__}: {error}"])
        raise
    record_success(import_id, report)
    return report


def record_success(import_id: int, report: ImportReport) -> None:
    now = utcnow()
    with session_scope() as session:
        session.execute(
            update(ImportRecord)
            .where(ImportRecord.id == import_id)
            .values(
                status=ImportStatus.SUCCEEDED,
                finished_at=now,
                updated_at=now,
                phase="",
                rows_done=sum(c.inserted + c.updated + c.unchanged for c in report.files),
                files=[c.__dict__ for c in report.files],
                notes="\n".join(report.notes),
            )
        )
        companies = sorted(report.named_companies | report.changed_companies)
        if companies:
            session.execute(
                insert(ImportCompany),
                [
                    {"import_id": import_id, "company_id": c, "changed": c in report.changed_companies}
                    for c in companies
                ],
            )


def record_failure(import_id: int, errors: list[str]) -> None:
    now = utcnow()
    with session_scope() as session:
        session.execute(
            update(ImportRecord)
            .where(ImportRecord.id == import_id)
            .values(
                status=ImportStatus.FAILED,
                finished_at=now,
                updated_at=now,
                phase="",
                error_count=len(errors),
                errors="\n".join(errors[:ERRORS_KEPT]),
            )
        )


# --- reading the history ------------------------------------------------------------------------------------


def list_imports(session: Session, *, limit: int = 20, status: str | None = None) -> list[ImportRecord]:
    query = select(ImportRecord).order_by(ImportRecord.created_at.desc(), ImportRecord.id.desc()).limit(limit)
    if status is not None:
        query = query.where(ImportRecord.status == status)
    return list(session.scalars(query))


@dataclass(frozen=True)
class Freshness:
    """How fresh one company's data is: its last successful import (changed or not) and its data as of."""

    company_id: int
    code: str
    name: str
    data_as_of: dt.datetime | None
    refreshed_at: dt.datetime | None
    last_import_id: int | None
    stale: bool


def last_refreshed(session: Session) -> dict[int, tuple[dt.datetime, int]]:
    """Per company id: when the last successful import that named it finished, and that import's id."""
    latest = (
        select(ImportCompany.company_id, func.max(ImportRecord.id).label("import_id"))
        .join(ImportRecord, ImportRecord.id == ImportCompany.import_id)
        .where(ImportRecord.status == ImportStatus.SUCCEEDED)
        .group_by(ImportCompany.company_id)
        .subquery()
    )
    rows = session.execute(
        select(latest.c.company_id, ImportRecord.finished_at, ImportRecord.id).join(
            ImportRecord, ImportRecord.id == latest.c.import_id
        )
    )
    return {company_id: (finished, import_id) for company_id, finished, import_id in rows if finished is not None}


def is_stale(refreshed_at: dt.datetime | None, now: dt.datetime | None = None) -> bool:
    """Older than EDOCTA_STALE_AFTER_HOURS (a company never imported with a record is stale too)."""
    if refreshed_at is None:
        return True
    limit = dt.timedelta(hours=get_settings().stale_after_hours)
    return (now or utcnow()) - refreshed_at > limit


def company_freshness(session: Session, now: dt.datetime | None = None) -> list[Freshness]:
    refreshed = last_refreshed(session)
    companies = session.execute(
        select(Company.id, Company.code, Company.name, Company.data_as_of).order_by(Company.code)
    )
    result = []
    for company_id, code, name, data_as_of in companies:
        moment, import_id = refreshed.get(company_id, (None, None))
        result.append(Freshness(company_id, code, name, data_as_of, moment, import_id, is_stale(moment, now)))
    return result


__all__ = [
    "ERRORS_KEPT",
    "Freshness",
    "ImportSource",
    "company_freshness",
    "is_stale",
    "last_refreshed",
    "list_imports",
    "new_record",
    "record_failure",
    "record_success",
    "run_import",
    "who_runs_this",
]
