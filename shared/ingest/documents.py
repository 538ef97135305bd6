"""The `documents.csv` rows: checked against the import folder and the items before anything is written, then
recorded (company, document number, kind) and their files kept in the store.

A row is bad when its file is not a `.pdf`/`.xml`, leaves the import folder, is missing, empty or not what its
extension says, or when its item exists neither in the same import nor in the database (with
`--replace-open-items`, the file's items of that company are the only ones left). Every bad row is reported as
`documents.csv:LINE: column: message`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.documents import DocumentFileError, check_document_file, kind_of
from shared.ingest.sources import ParsedFile, Problems
from shared.ingest.tables import IN_LIST, chunks
from shared.models import Company, OpenItem


def tag_kinds(parsed: ParsedFile, problems: Problems) -> None:
    """Give each row its `kind` (pdf or xml, from the file's extension), the third part of its key."""
    kept = []
    for row in parsed.rows:
        try:
            row.values["kind"] = kind_of(row.values["file"])
        except DocumentFileError as error:
            problems.add(parsed.label, row.line, "file", str(error))
            continue
        kept.append(row)
    parsed.rows = kept


def _stored_items(session: Session, company_codes: list[str]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for part in chunks(company_codes, IN_LIST):
        rows = session.execute(
            select(Company.code, OpenItem.document_number)
            .join(OpenItem, OpenItem.company_id == Company.id)
            .where(Company.code.in_(part))
        )
        found.update((code, number) for code, number in rows)
    return found


def check_documents(
    session: Session,
    parsed: ParsedFile,
    problems: Problems,
    *,
    base: Path,
    imported_items: list[Any],
    replace_open_items: bool,
) -> None:
    """Keep the rows whose item exists and whose file is good; attach the checked file to each (`_file`)."""
    codes = sorted({row.values["company_code"] for row in parsed.rows})
    replaced = {row.values["company_code"] for row in imported_items} if replace_open_items else set()
    items = {(code, number) for code, number in _stored_items(session, codes) if code not in replaced}
    items |= {(row.values["company_code"], row.values["document_number"]) for row in imported_items}
    kept = []
    for row in parsed.rows:
        values = row.values
        ok = True
        if (values["company_code"], values["document_number"]) not in items:
            problems.add(
                parsed.label,
                row.line,
                "document_number",
                f"unknown item {values['document_number']!r} of company {values['company_code']!r}",
            )
            ok = False
        try:
            values["_file"] = check_document_file(base, values["file"])
        except DocumentFileError as error:
            problems.add(parsed.label, row.line, "file", str(error))
            ok = False
        if ok:
            kept.append(row)
    parsed.rows = kept
