"""Validating a parsed import against itself and the database, before anything is written.

`plan_import` refuses duplicate keys and unknown references (an account or item of a customer or company that
neither the import nor the database has, a user granted an unknown customer), keeping the rows that are fine,
so every problem is reported at once. It returns an `ImportPlan`: what `shared.ingest.load` needs to write.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from shared.ingest.columns import SPECS
from shared.ingest.documents import check_documents, tag_kinds
from shared.ingest.sources import ParsedFile, Problems, Row
from shared.ingest.tables import COMPANIES, CUSTOMERS, StoredRows, stored_rows

DEFAULT_CURRENCY = "MXN"


@dataclass(frozen=True)
class ImportPlan:
    """A validated import: its files by kind, the stored companies and customers (by code, read once), and the
    currency each company will have once imported (a file's empty currency means the default)."""

    files: dict[str, ParsedFile]
    companies: StoredRows
    customers: StoredRows
    currency_of: dict[str, str]
    replace_open_items: bool

    def rows(self, kind: str) -> list[Row]:
        parsed = self.files.get(kind)
        return parsed.rows if parsed is not None else []


def check_duplicates(parsed: ParsedFile, problems: Problems) -> None:
    """Refuse a second row with the same key in one file (the first is kept)."""
    spec = SPECS[parsed.kind]
    first: dict[tuple[str, ...], int] = {}
    kept: list[Row] = []
    for row in parsed.rows:
        key = tuple(row.values[k] for k in spec.key)
        if key in first:
            problems.add(
                parsed.label,
                row.line,
                "+".join(spec.key),
                f"duplicate key {'/'.join(key)} (first on line {first[key]})",
            )
            continue
        first[key] = row.line
        kept.append(row)
    parsed.rows = kept


def _currencies(companies: StoredRows, imported: list[Row]) -> dict[str, str]:
    currency_of: dict[str, str] = {code: values["currency"] for (code,), (_, values) in companies.items()}
    for row in imported:
        code, given = row.values["company_code"], row.values.get("currency")
        if given:
            currency_of[code] = given
        elif code not in currency_of or "currency" in row.values:
            currency_of[code] = DEFAULT_CURRENCY
    return currency_of


def _keep_known(parsed: ParsedFile, known: dict[str, set[Any]], problems: Problems) -> None:
    """Keep the rows whose company and customer exist (in the import or the database); report the others."""
    kept = []
    for row in parsed.rows:
        ok = True
        for column, what in (("company_code", "company"), ("customer_number", "customer")):
            if row.values[column] not in known[column]:
                problems.add(parsed.label, row.line, column, f"unknown {what} {row.values[column]!r}")
                ok = False
        if ok:
            kept.append(row)
    parsed.rows = kept


def plan_import(
    session: Session,
    files: list[ParsedFile],
    problems: Problems,
    *,
    replace_open_items: bool = False,
    base: Path | None = None,
) -> ImportPlan:
    """Check the parsed files against each other and the database; problems go to `problems`. `base` is the
    folder `documents.csv` paths are relative to (the import folder, or the workbook's folder)."""
    by_kind = {parsed.kind: parsed for parsed in files}
    if "documents" in by_kind:
        tag_kinds(by_kind["documents"], problems)
    for parsed in files:
        check_duplicates(parsed, problems)
    companies = stored_rows(session, COMPANIES)
    customers = stored_rows(session, CUSTOMERS)
    plan = ImportPlan(
        files=by_kind,
        companies=companies,
        customers=customers,
        currency_of=_currencies(companies, by_kind["companies"].rows if "companies" in by_kind else []),
        replace_open_items=replace_open_items,
    )
    known = {
        "company_code": {code for (code,) in companies}
        | {row.values["company_code"] for row in plan.rows("companies")},
        "customer_number": {number for (number,) in customers}
        | {row.values["customer_number"] for row in plan.rows("customers")},
    }
    for kind in ("accounts", "open_items"):
        if kind in by_kind:
            _keep_known(by_kind[kind], known, problems)
    users = by_kind.get("users")
    if users is not None:
        for row in users.rows:
            for number in row.values.get("customers", ()):
                if number not in known["customer_number"]:
                    problems.add(users.label, row.line, "customers", f"unknown customer {number!r}")
    documents = by_kind.get("documents")
    if documents is not None:
        _keep_known_company(documents, known["company_code"], problems)
        check_documents(
            session,
            documents,
            problems,
            base=base if base is not None else Path.cwd(),
            imported_items=plan.rows("open_items"),
            replace_open_items=replace_open_items,
        )
    return plan


def _keep_known_company(parsed: ParsedFile, known: set[Any], problems: Problems) -> None:
    kept = []
    for row in parsed.rows:
        if row.values["company_code"] in known:
            kept.append(row)
        else:
            problems.add(parsed.label, row.line, "company_code", f"unknown company {row.values['company_code']!r}")
    parsed.rows = kept
