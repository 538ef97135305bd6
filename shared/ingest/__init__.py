"""Loading ERP exports (contract section 1): the files' columns (`columns`), reading CSV folders and XLSX
workbooks (`sources`), validation before anything is written (`plan`), the bulk upserts (`load`), and
`import_path`, which does all of it in one transaction: any problem, and nothing is written."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from shared.accounts import send_invitations
from shared.db import session_scope
from shared.ingest.columns import SPECS, CellError, Column, FileSpec
from shared.ingest.freshness import Progress
from shared.ingest.load import load
from shared.ingest.plan import ImportPlan, plan_import
from shared.ingest.report import FileCounts, ImportFailed, ImportReport
from shared.ingest.sources import FILE_ORDER, ParsedFile, Problems, read_source

log = logging.getLogger(__name__)


def import_path(
    path: Path | str, *, replace_open_items: bool = False, progress: Progress | None = None
) -> ImportReport:
    """Import a folder of CSV files or one XLSX workbook in one transaction.

    Raises ImportFailed with every problem found when anything is wrong; then nothing is written.
    New users get their invitation email after the data is committed. `progress`, when given, is called with
    each phase (`reading`, `checking`, then the name of each file as it is written).
    """
    path = Path(path)
    step = progress or (lambda phase: None)
    problems = Problems()
    step("reading")
    files = read_source(path, problems)
    if not files and not problems.errors:
        problems.add(str(path), None, None, "nothing to import")
    if problems.errors and not files:
        raise ImportFailed(problems.errors)

    with session_scope() as session:
        base = path if path.is_dir() else path.parent
        step("checking")
        plan = plan_import(session, files, problems, replace_open_items=replace_open_items, base=base)
        if problems.errors:
            raise ImportFailed(problems.errors)
        try:
            report = load(session, plan, step)
        except IntegrityError as exc:
            # Only another writer at the same moment can cause this: everything was validated above.
            log.warning("import refused by the database: %s", exc)
            raise ImportFailed(
                ["the database refused the import (another import or user change ran at the same time); run it again"]
            ) from None

    if report.new_user_ids:
        report.notes.append(_invite(report.new_user_ids))
    return report


def _invite(user_ids: list[int]) -> str:
    """Send the new users their invitation (after the commit: an email never names a user that is not there)."""
    try:
        send_invitations(user_ids)
    except Exception as exc:
        log.exception("invitations failed after the import")
        return f"invitations: could not be sent to {len(user_ids)} new user(s): {exc}"
    return f"invitations: sent to {len(user_ids)} new user(s)"


__all__ = [
    "FILE_ORDER",
    "SPECS",
    "CellError",
    "Column",
    "FileCounts",
    "FileSpec",
    "ImportFailed",
    "ImportPlan",
    "ImportReport",
    "ParsedFile",
    "Problems",
    "Progress",
    "import_path",
    "plan_import",
    "read_source",
]
