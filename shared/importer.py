"""`edocta import`: load ERP exports (a folder of CSV files or one XLSX workbook) in one transaction.

Everything is validated before anything is written. On any problem nothing is written and every problem is
reported as `FILE:LINE: column: message`. Rows are upserted by their natural key; a row whose values did not
change is counted as unchanged and not written, so importing the same files twice changes nothing.

Rows are compared and written in bulk (one query per table to read what exists, executemany inserts and
updates by primary key), never one ORM object per row, so hundreds of thousands of open items load quickly.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.mail import InvalidEmail, validate_email
from shared.models import (
    DOCUMENT_TYPES,
    LANGUAGES,
    ROLES,
    STATEMENT_FORMATS,
    Account,
    Company,
    Customer,
    OpenItem,
    User,
    UserCustomer,
)

log = logging.getLogger(__name__)

FILE_ORDER = ("companies", "customers", "accounts", "open_items", "users")
BATCH = 2000
MAX_AMOUNT = Decimal("9999999999999999.99")  # Numeric(18, 2)

_AMOUNT = re.compile(r"-?\d+(\.\d{1,2})?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")


class ImportFailed(Exception):
    """The import was refused; nothing was written. `errors` are lines `FILE:LINE: column: message`."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass
class FileCounts:
    name: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def line(self) -> str:
        return (
            f"{self.name}: {self.inserted} inserted, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.deleted} deleted"
        )


@dataclass
class ImportReport:
    """What an import did, per file present, plus notes (invitations sent, accounts opened for new items)."""

    files: list[FileCounts] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    new_user_ids: list[int] = field(default_factory=list)

    def counts(self, kind: str) -> FileCounts:
        """The counts of one file by its kind (`open_items`), whatever it was called (`open_items.csv`)."""
        for counts in self.files:
            if counts.name.removesuffix(".csv") == kind:
                return counts
        raise KeyError(kind)

    @property
    def rows_written(self) -> int:
        return sum(c.inserted + c.updated + c.deleted for c in self.files)

    def lines(self) -> list[str]:
        """One line per file present, in load order (what `edocta import` prints)."""
        return [c.line() for c in self.files]


# --- columns and how each value is read ----------------------------------------------------------------------


class CellError(ValueError):
    """A value that cannot be read; the message says why, in words a person understands."""


def _text_of(value: Any) -> str:
    """A cell as text: CSV text as is; XLSX numbers without losing meaning (1000.0 -> "1000")."""
    if value is None:
        return ""
    if isinstance(value, str):
        if "\x00" in value:
            raise CellError("the value contains a NUL character")
        return value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _limited(limit: int) -> Callable[[Any], str]:
    def read(value: Any) -> str:
        text = _text_of(value)
        if len(text) > limit:
            raise CellError(f"too long ({len(text)} characters, at most {limit})")
        return text

    return read


def read_code(value: Any) -> str:
    if isinstance(value, float) and not value.is_integer():
        raise CellError(f"{value!r} is a number with decimals; write codes as text")
    if isinstance(value, dt.date):
        raise CellError("a date is not a code; write codes as text")
    text = _text_of(value)
    if len(text) > 64:
        raise CellError(f"too long ({len(text)} characters, at most 64)")
    return text


def read_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float):
        raise CellError(f"{_text_of(value)!r} is not a date; use YYYY-MM-DD or a date cell")
    text = _text_of(value)
    if not text:
        return None
    if not _DATE.fullmatch(text):
        raise CellError(f"{text!r} is not a date; use YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CellError(f"{text!r} is not a valid date") from None


def read_amount(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise CellError("a true/false value is not an amount")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        exact = Decimal(repr(value))
        amount = exact.quantize(Decimal("0.01"))
        if abs(exact - amount) > Decimal("0.000001"):
            raise CellError(f"{value!r} has more than 2 decimals")
    elif isinstance(value, Decimal):
        amount = value
    else:
        text = _text_of(value)
        if not text:
            return None
        if not _AMOUNT.fullmatch(text):
            if re.fullmatch(r"-?\d+\.\d{3,}", text):
                raise CellError(f"{text!r} has more than 2 decimals")
            if "," in text:
                raise CellError(f"{text!r} is not an amount: no thousands separators, `.` for decimals")
            raise CellError(f"{text!r} is not an amount; write it like -1234.56")
        try:
            amount = Decimal(text)
        except InvalidOperation:  # pragma: no cover (the pattern already refused it)
            raise CellError(f"{text!r} is not an amount") from None
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise CellError(f"{_text_of(value)!r} has more than 2 decimals")
    if abs(amount) > MAX_AMOUNT:
        raise CellError(f"{_text_of(value)!r} is too large")
    return amount.quantize(Decimal("0.01"))


def read_currency(value: Any) -> str:
    text = _text_of(value)
    if text and not _CURRENCY.fullmatch(text):
        raise CellError(f"{text!r} is not a currency code (three capital letters, like MXN or USD)")
    return text


def _choice(allowed: Sequence[str], what: str) -> Callable[[Any], str]:
    def read(value: Any) -> str:
        text = _text_of(value).lower()
        if text and text not in allowed:
            raise CellError(f"{_text_of(value)!r} is not a {what}; use one of: {', '.join(allowed)}")
        return text

    return read


read_language = _choice(LANGUAGES, "language")
read_document_type = _choice(DOCUMENT_TYPES, "document type")
read_role = _choice(ROLES, "role")


def read_formats(value: Any) -> str:
    text = _text_of(value)
    parts = [p.strip().lower() for p in text.split(";") if p.strip()]
    for part in parts:
        if part not in STATEMENT_FORMATS:
            raise CellError(f"{text!r} is not a statement format; use pdf;xlsx, pdf or xlsx")
    if len(set(parts)) != len(parts):
        raise CellError(f"{text!r} names a format twice")
    return ";".join(f for f in STATEMENT_FORMATS if f in parts)


def read_email(value: Any) -> str:
    text = _text_of(value)
    if not text:
        return ""
    try:
        return validate_email(text)
    except InvalidEmail as exc:
        raise CellError(str(exc)) from None


def read_emails(value: Any) -> str:
    text = _text_of(value)
    addresses: list[str] = []
    for part in text.split(";"):
        if not part.strip():
            continue
        try:
            address = validate_email(part.strip())
        except InvalidEmail as exc:
            raise CellError(str(exc)) from None
        if address not in addresses:
            addresses.append(address)
    return ";".join(addresses)


def read_code_list(value: Any) -> tuple[str, ...]:
    text = _text_of(value)
    numbers: list[str] = []
    for part in text.split(";"):
        number = part.strip()
        if number and number not in numbers:
            numbers.append(number)
    return tuple(numbers)


@dataclass(frozen=True)
class Column:
    name: str
    read: Callable[[Any], Any]
    required: bool = False


@dataclass(frozen=True)
class FileSpec:
    kind: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}


SPECS: dict[str, FileSpec] = {
    "companies": FileSpec(
        "companies",
        (
            Column("company_code", read_code, True),
            Column("name", _limited(255), True),
            Column("tax_id", _limited(64)),
            Column("address", _text_of),
            Column("currency", read_currency),
        ),
        ("company_code",),
    ),
    "customers": FileSpec(
        "customers",
        (
            Column("customer_number", read_code, True),
            Column("name", _limited(255), True),
            Column("tax_id", _limited(64)),
            Column("address", _text_of),
            Column("statement_emails", read_emails),
            Column("language", read_language),
            Column("statement_formats", read_formats),
        ),
        ("customer_number",),
    ),
    "accounts": FileSpec(
        "accounts",
        (
            Column("company_code", read_code, True),
            Column("customer_number", read_code, True),
            Column("credit_limit", read_amount),
            Column("currency", read_currency),
            Column("payment_terms", _limited(64)),
        ),
        ("company_code", "customer_number"),
    ),
    "open_items": FileSpec(
        "open_items",
        (
            Column("company_code", read_code, True),
            Column("customer_number", read_code, True),
            Column("document_number", read_code, True),
            Column("document_type", read_document_type, True),
            Column("reference", _limited(255)),
            Column("document_date", read_date, True),
            Column("due_date", read_date),
            Column("amount", read_amount, True),
            Column("currency", read_currency),
            Column("cleared_on", read_date),
        ),
        ("company_code", "document_number"),
    ),
    "users": FileSpec(
        "users",
        (
            Column("username", _limited(150), True),
            Column("email", read_email, True),
            Column("full_name", _limited(255)),
            Column("role", read_role),
            Column("customers", read_code_list),
            Column("language", read_language),
        ),
        ("username",),
    ),
}


# --- reading the sources -------------------------------------------------------------------------------------


@dataclass
class Row:
    line: int
    values: dict[str, Any]


@dataclass
class ParsedFile:
    kind: str
    label: str  # how errors and the report name it: `open_items.csv`, or the sheet name
    columns: tuple[str, ...] = ()
    rows: list[Row] = field(default_factory=list)


class Problems:
    """The errors found so far, in the order found."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def add(self, label: str, line: int | None, column: str | None, message: str) -> None:
        where = label if line is None else f"{label}:{line}"
        self.errors.append(f"{where}: {column}: {message}" if column else f"{where}: {message}")


def _parse_rows(
    spec: FileSpec, label: str, records: Iterator[tuple[int, Sequence[Any]]], problems: Problems
) -> ParsedFile | None:
    """Read the header and every record of one file; type errors go to `problems`."""
    parsed = ParsedFile(spec.kind, label)
    known_errors = len(problems.errors)
    try:
        header_line, header = next(records)
    except StopIteration:
        if len(problems.errors) == known_errors:  # not unreadable, just empty
            problems.add(label, 1, None, "the file is empty: a header row is required")
        return None
    try:
        names = [_text_of(h).lower() for h in header]
    except CellError as exc:
        problems.add(label, header_line, None, f"bad header row: {exc}")
        return None
    while names and names[-1] == "":
        names.pop()
    if len(names) == 1 and ";" in names[0]:
        problems.add(label, header_line, None, "columns must be separated by commas, not semicolons")
        return None
    known = spec.by_name
    bad_header = False
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        if not name:
            problems.add(label, header_line, f"column {position}", "the column has no name")
            bad_header = True
        elif name not in known:
            expected = ", ".join(known)
            problems.add(label, header_line, name, f"unknown column (the columns of this file are: {expected})")
            bad_header = True
        elif name in seen:
            problems.add(label, header_line, name, "the column appears twice")
            bad_header = True
        seen.add(name)
    for column in spec.columns:
        if column.required and column.name not in seen:
            problems.add(label, header_line, column.name, "required column is missing")
            bad_header = True
    if bad_header:
        return None
    parsed.columns = tuple(names)
    width = len(names)
    for line, record in records:
        if len(record) > width and any(_text_of(v) for v in record[width:]):
            problems.add(label, line, None, f"the row has {len(record)} values but the header has {width} columns")
            continue
        values: dict[str, Any] = {}
        row_ok = True
        for index, name in enumerate(names):
            raw = record[index] if index < len(record) else None
            column = known[name]
            try:
                value = column.read(raw)
            except CellError as exc:
                problems.add(label, line, name, str(exc))
                row_ok = False
                continue
            if column.required and (value is None or value == ""):
                problems.add(label, line, name, "a value is required")
                row_ok = False
                continue
            values[name] = value
        if row_ok:
            parsed.rows.append(Row(line, values))
    return parsed


def _csv_records(path: Path, label: str, problems: Problems) -> Iterator[tuple[int, Sequence[Any]]]:
    """(line number, values) for each non-blank record of a CSV file; line = where the record starts."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.add(label, None, None, f"cannot read the file: {exc.strerror or exc}")
        return
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.add(label, line, None, "the file is not UTF-8 text; save it as UTF-8 CSV")
        return
    del raw
    reader = csv.reader(io.StringIO(content, newline=""))
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.add(label, reader.line_num, None, f"not readable as CSV: {exc}")
            return
        if not record or all(not v.strip() for v in record):
            continue
        yield start, record


def _xlsx_records(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[int, Sequence[Any]]]:
    for number, values in enumerate(rows, start=1):
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        yield number, values


def _kind_of(name: str) -> str | None:
    stem = name.strip().lower().removesuffix(".csv")
    return stem if stem in SPECS else None


def read_source(path: Path, problems: Problems) -> list[ParsedFile]:
    """Parse the folder or workbook at `path`. Returns the files found, in load order."""
    if not path.exists():
        problems.add(str(path), None, None, "no such file or folder")
        return []
    found: dict[str, ParsedFile] = {}
    if path.is_dir():
        csv_files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
        for file in csv_files:
            kind = _kind_of(file.name)
            if kind is None:
                expected = ", ".join(f"{k}.csv" for k in FILE_ORDER)
                problems.add(file.name, None, None, f"unknown file (the import reads: {expected})")
                continue
            if kind in found:
                problems.add(file.name, None, None, f"a second file for {kind}.csv")
                continue
            parsed = _parse_rows(SPECS[kind], file.name, _csv_records(file, file.name, problems), problems)
            if parsed is not None:
                found[kind] = parsed
        if not csv_files:
            expected = ", ".join(f"{k}.csv" for k in FILE_ORDER)
            problems.add(str(path), None, None, f"no CSV files to import (expected any of: {expected})")
    elif path.suffix.lower() == ".xlsx":
        found = _read_workbook(path, problems)
    elif path.suffix.lower() == ".csv":
        kind = _kind_of(path.name)
        if kind is None:
            expected = ", ".join(f"{k}.csv" for k in FILE_ORDER)
            problems.add(path.name, None, None, f"unknown file (the import reads: {expected})")
        else:
            parsed = _parse_rows(SPECS[kind], path.name, _csv_records(path, path.name, problems), problems)
            if parsed is not None:
                found[kind] = parsed
    else:
        problems.add(str(path), None, None, "not a folder of CSV files nor an .xlsx workbook")
    return [found[k] for k in FILE_ORDER if k in found]


def _read_workbook(path: Path, problems: Problems) -> dict[str, ParsedFile]:
    import zipfile

    from openpyxl import load_workbook

    found: dict[str, ParsedFile] = {}
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        problems.add(path.name, None, None, f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})")
        return found
    try:
        for sheet in workbook.worksheets:
            kind = _kind_of(sheet.title)
            if kind is None:
                expected = ", ".join(FILE_ORDER)
                problems.add(sheet.title, None, None, f"unknown sheet (the import reads: {expected})")
                continue
            if kind in found:
                problems.add(sheet.title, None, None, f"a second sheet for {kind}")
                continue
            # Some writers store a wrong used range; forget it and read every row there is.
            sheet.reset_dimensions()
            records = _xlsx_records(sheet.iter_rows(values_only=True))
            parsed = _parse_rows(SPECS[kind], sheet.title, records, problems)
            if parsed is not None:
                found[kind] = parsed
        if not workbook.worksheets:
            problems.add(path.name, None, None, "the workbook has no sheets")
    except Exception as exc:  # a damaged workbook fails while its rows are read
        problems.add(path.name, None, None, f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})")
    finally:
        workbook.close()
    return found


# --- validation against the database and the other files, then writing ---------------------------------------


def _check_duplicates(parsed: ParsedFile, problems: Problems) -> None:
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


def _merge(existing: dict[str, Any] | None, defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The row as it should be: what the file gives; for columns the file lacks, what exists (or defaults)."""
    merged = dict(defaults if existing is None else existing)
    merged.update(given)
    return merged


@dataclass
class Plan:
    counts: FileCounts
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[int] = field(default_factory=list)


def _diff(
    counts: FileCounts,
    desired: Iterable[tuple[Any, dict[str, Any]]],
    existing: dict[Any, tuple[int, dict[str, Any]]],
) -> Plan:
    """Compare the desired rows with the stored ones (by natural key): what to insert, update, leave alone."""
    plan = Plan(counts)
    for key, values in desired:
        stored = existing.get(key)
        if stored is None:
            plan.inserts.append(values)
            counts.inserted += 1
            continue
        row_id, old = stored
        changed = {name: value for name, value in values.items() if old.get(name) != value}
        if changed:
            changed["id"] = row_id
            plan.updates.append(changed)
            counts.updated += 1
        else:
            counts.unchanged += 1
    return plan


def _chunks(rows: list[Any], size: int = BATCH) -> Iterator[list[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _write(session: Session, model: type[Any], plan: Plan) -> None:
    for chunk in _chunks(plan.inserts):
        session.execute(insert(model), chunk)
    # Bulk UPDATE by primary key groups rows by the set of columns they change.
    by_columns: dict[frozenset[str], list[dict[str, Any]]] = {}
    for values in plan.updates:
        by_columns.setdefault(frozenset(values), []).append(values)
    for group in by_columns.values():
        for chunk in _chunks(group):
            session.execute(update(model), chunk)
    for chunk in _chunks(plan.deletes):
        session.execute(delete(model).where(model.id.in_(chunk)))


class _Importer:
    def __init__(self, session: Session, files: list[ParsedFile], problems: Problems, replace_open_items: bool):
        self.session = session
        self.files = {f.kind: f for f in files}
        self.problems = problems
        self.replace_open_items = replace_open_items
        self.report = ImportReport()

    # The stored master data, read once.
    def load_master_data(self) -> None:
        self.companies = {
            code: (row_id, {"name": name, "tax_id": tax_id, "address": address, "currency": currency})
            for row_id, code, name, tax_id, address, currency in self.session.execute(
                select(Company.id, Company.code, Company.name, Company.tax_id, Company.address, Company.currency)
            )
        }
        self.customers = {
            number: (
                row_id,
                {
                    "name": name,
                    "tax_id": tax_id,
                    "address": address,
                    "statement_emails": emails,
                    "language": language,
                    "statement_formats": formats,
                },
            )
            for row_id, number, name, tax_id, address, emails, language, formats in self.session.execute(
                select(
                    Customer.id,
                    Customer.number,
                    Customer.name,
                    Customer.tax_id,
                    Customer.address,
                    Customer.statement_emails,
                    Customer.language,
                    Customer.statement_formats,
                )
            )
        }

    def validate_references(self) -> None:
        imported_companies = {r.values["company_code"]: r for r in self.files.get("companies", ParsedFile("", "")).rows}
        self.known_companies = set(self.companies) | set(imported_companies)
        imported_customers = {r.values["customer_number"] for r in self.files.get("customers", ParsedFile("", "")).rows}
        self.known_customers = set(self.customers) | imported_customers
        # The currency each company will have once imported (a file's empty currency means the default).
        self.currency_of: dict[str, str] = {code: values["currency"] for code, (_, values) in self.companies.items()}
        for code, row in imported_companies.items():
            given = row.values.get("currency")
            if given:
                self.currency_of[code] = given
            elif code not in self.currency_of or "currency" in row.values:
                self.currency_of[code] = "MXN"

        for kind in ("accounts", "open_items"):
            parsed = self.files.get(kind)
            if parsed is None:
                continue
            kept = []
            for row in parsed.rows:
                ok = True
                if row.values["company_code"] not in self.known_companies:
                    self.problems.add(
                        parsed.label, row.line, "company_code", f"unknown company {row.values['company_code']!r}"
                    )
                    ok = False
                if row.values["customer_number"] not in self.known_customers:
                    self.problems.add(
                        parsed.label,
                        row.line,
                        "customer_number",
                        f"unknown customer {row.values['customer_number']!r}",
                    )
                    ok = False
                if ok:
                    kept.append(row)
            parsed.rows = kept
        users = self.files.get("users")
        if users is not None:
            for row in users.rows:
                missing = [n for n in row.values.get("customers", ()) if n not in self.known_customers]
                for number in missing:
                    self.problems.add(users.label, row.line, "customers", f"unknown customer {number!r}")

    # --- writing, file by file, in load order ---

    def write_companies(self) -> None:
        parsed = self.files.get("companies")
        if parsed is None:
            return
        defaults = {"tax_id": "", "address": "", "currency": "MXN"}
        desired = []
        for row in parsed.rows:
            code = row.values["company_code"]
            given = {k: v for k, v in row.values.items() if k != "company_code"}
            if given.get("currency") == "":
                given["currency"] = "MXN"
            existing = self.companies.get(code)
            values = _merge(existing[1] if existing else None, defaults, given)
            if existing is None:
                values["code"] = code
            desired.append((code, values))
        plan = _diff(FileCounts(parsed.label), desired, self.companies)
        _write(self.session, Company, plan)
        self.report.files.append(plan.counts)

    def write_customers(self) -> None:
        parsed = self.files.get("customers")
        if parsed is None:
            return
        defaults = {
            "tax_id": "",
            "address": "",
            "statement_emails": "",
            "language": "es",
            "statement_formats": "pdf;xlsx",
        }
        desired = []
        for row in parsed.rows:
            number = row.values["customer_number"]
            given = {k: v for k, v in row.values.items() if k != "customer_number"}
            for name in ("language", "statement_formats"):
                if given.get(name) == "":
                    given[name] = defaults[name]
            existing = self.customers.get(number)
            values = _merge(existing[1] if existing else None, defaults, given)
            if existing is None:
                values["number"] = number
            desired.append((number, values))
        plan = _diff(FileCounts(parsed.label), desired, self.customers)
        _write(self.session, Customer, plan)
        self.report.files.append(plan.counts)

    def load_ids(self) -> None:
        self.company_ids = {code: row_id for code, row_id in self.session.execute(select(Company.code, Company.id))}
        self.customer_ids = {num: row_id for num, row_id in self.session.execute(select(Customer.number, Customer.id))}

    def write_accounts(self) -> None:
        parsed = self.files.get("accounts")
        if parsed is None:
            return
        company_ids = [self.company_ids[c] for c in {r.values["company_code"] for r in parsed.rows}]
        existing = self._existing_accounts(company_ids)
        defaults = {"credit_limit": None, "payment_terms": ""}
        desired = []
        for row in parsed.rows:
            company_id = self.company_ids[row.values["company_code"]]
            customer_id = self.customer_ids[row.values["customer_number"]]
            key = (company_id, customer_id)
            given = {k: v for k, v in row.values.items() if k not in ("company_code", "customer_number")}
            stored = existing.get(key)
            if given.get("currency") == "" or ("currency" not in given and stored is None):
                given["currency"] = self.currency_of[row.values["company_code"]]
            values = _merge(stored[1] if stored else None, defaults, given)
            if stored is None:
                values["company_id"], values["customer_id"] = key
            desired.append((key, values))
        plan = _diff(FileCounts(parsed.label), desired, existing)
        _write(self.session, Account, plan)
        self.report.files.append(plan.counts)

    def _existing_accounts(self, company_ids: list[int]) -> dict[Any, tuple[int, dict[str, Any]]]:
        if not company_ids:
            return {}
        rows = self.session.execute(
            select(
                Account.id,
                Account.company_id,
                Account.customer_id,
                Account.credit_limit,
                Account.currency,
                Account.payment_terms,
            ).where(Account.company_id.in_(company_ids))
        )
        return {
            (company_id, customer_id): (
                row_id,
                {"credit_limit": limit, "currency": currency, "payment_terms": terms},
            )
            for row_id, company_id, customer_id, limit, currency, terms in rows
        }

    def write_open_items(self) -> None:
        parsed = self.files.get("open_items")
        if parsed is None:
            return
        codes = sorted({r.values["company_code"] for r in parsed.rows})
        company_ids = [self.company_ids[c] for c in codes]
        existing: dict[Any, tuple[int, dict[str, Any]]] = {}
        for chunk in _chunks(company_ids, 500):
            rows = self.session.execute(
                select(
                    OpenItem.id,
                    OpenItem.company_id,
                    OpenItem.document_number,
                    OpenItem.customer_id,
                    OpenItem.document_type,
                    OpenItem.reference,
                    OpenItem.document_date,
                    OpenItem.due_date,
                    OpenItem.amount,
                    OpenItem.currency,
                    OpenItem.cleared_on,
                ).where(OpenItem.company_id.in_(chunk))
            )
            for item in rows:
                existing[(item[1], item[2])] = (
                    item[0],
                    {
                        "customer_id": item[3],
                        "document_type": item[4],
                        "reference": item[5],
                        "document_date": item[6],
                        "due_date": item[7],
                        "amount": item[8],
                        "currency": item[9],
                        "cleared_on": item[10],
                    },
                )
        has = set(parsed.columns)
        desired = []
        pairs: set[tuple[int, int]] = set()
        for row in parsed.rows:
            v = row.values
            company_id = self.company_ids[v["company_code"]]
            customer_id = self.customer_ids[v["customer_number"]]
            pairs.add((company_id, customer_id))
            key = (company_id, v["document_number"])
            values: dict[str, Any] = {
                "customer_id": customer_id,
                "document_type": v["document_type"],
                "document_date": v["document_date"],
                "amount": v["amount"],
            }
            # An optional column the file lacks leaves a stored item's value alone; new items get the default.
            stored = existing.get(key)
            if "due_date" in has or stored is None:
                values["due_date"] = v.get("due_date") or v["document_date"]
            if "currency" in has or stored is None:
                values["currency"] = v.get("currency") or self.currency_of[v["company_code"]]
            if "reference" in has or stored is None:
                values["reference"] = v.get("reference", "")
            if "cleared_on" in has or stored is None:
                values["cleared_on"] = v.get("cleared_on")
            if stored is None:
                values["company_id"], values["document_number"] = key
            desired.append((key, values))
        plan = _diff(FileCounts(parsed.label), desired, existing)
        if self.replace_open_items:
            wanted = {key for key, _ in desired}
            plan.deletes = [row_id for key, (row_id, _) in existing.items() if key not in wanted]
            plan.counts.deleted = len(plan.deletes)
        del existing
        _write(self.session, OpenItem, plan)
        self.report.files.append(plan.counts)
        self._open_missing_accounts(pairs)

    def _open_missing_accounts(self, pairs: set[tuple[int, int]]) -> None:
        """An item's customer gets an account at the item's company (no credit limit) if it has none yet."""
        if not pairs:
            return
        existing = set(self._existing_accounts(sorted({c for c, _ in pairs})))
        currency_by_id = {
            self.company_ids[code]: cur for code, cur in self.currency_of.items() if code in self.company_ids
        }
        missing = sorted(pairs - existing)
        rows = [
            {
                "company_id": c,
                "customer_id": k,
                "currency": currency_by_id[c],
                "credit_limit": None,
                "payment_terms": "",
            }
            for c, k in missing
        ]
        for chunk in _chunks(rows):
            self.session.execute(insert(Account), chunk)
        if rows:
            self.report.notes.append(f"accounts opened for customers with open items: {len(rows)}")

    def write_users(self) -> None:
        parsed = self.files.get("users")
        if parsed is None:
            return
        counts = FileCounts(parsed.label)
        usernames = [r.values["username"] for r in parsed.rows]
        stored: dict[str, User] = {}
        for chunk in _chunks(usernames, 500):
            for user in self.session.scalars(select(User).where(User.username.in_(chunk))):
                stored[user.username] = user
        grants: dict[int, set[int]] = {}
        if stored:
            ids = [u.id for u in stored.values()]
            for chunk in _chunks(ids, 500):
                for user_id, customer_id in self.session.execute(
                    select(UserCustomer.user_id, UserCustomer.customer_id).where(UserCustomer.user_id.in_(chunk))
                ):
                    grants.setdefault(user_id, set()).add(customer_id)
        new_users: list[tuple[User, tuple[str, ...] | None]] = []
        for row in parsed.rows:
            v = row.values
            wanted_customers = v.get("customers")
            found = stored.get(v["username"])
            if found is None:
                user = User(
                    username=v["username"],
                    email=v["email"],
                    full_name=v.get("full_name", ""),
                    role=v.get("role") or "customer",
                    language=v.get("language") or "es",
                    status="active",
                    password_hash=None,
                )
                self.session.add(user)
                new_users.append((user, wanted_customers))
                counts.inserted += 1
                continue
            user = found
            # A column the file lacks leaves the stored value alone; an empty cell means the default.
            wanted = {"email": v["email"]}
            if "full_name" in v:
                wanted["full_name"] = v["full_name"]
            if "role" in v:
                wanted["role"] = v["role"] or "customer"
            if "language" in v:
                wanted["language"] = v["language"] or "es"
            changed = False
            for name, value in wanted.items():
                if getattr(user, name) != value:
                    setattr(user, name, value)
                    changed = True
            if wanted_customers is not None:
                want = {self.customer_ids[n] for n in wanted_customers}
                have = grants.get(user.id, set())
                if want != have:
                    self._set_grants(user.id, want, have)
                    changed = True
            if changed:
                counts.updated += 1
            else:
                counts.unchanged += 1
        self.session.flush()
        for user, wanted_customers in new_users:
            if wanted_customers:
                self._set_grants(user.id, {self.customer_ids[n] for n in wanted_customers}, set())
            self.report.new_user_ids.append(user.id)
        self.report.files.append(counts)

    def _set_grants(self, user_id: int, want: set[int], have: set[int]) -> None:
        removed = sorted(have - want)
        if removed:
            self.session.execute(
                delete(UserCustomer).where(UserCustomer.user_id == user_id, UserCustomer.customer_id.in_(removed))
            )
        added = sorted(want - have)
        if added:
            self.session.execute(insert(UserCustomer), [{"user_id": user_id, "customer_id": c} for c in added])


def import_path(path: Path | str, *, replace_open_items: bool = False) -> ImportReport:
    """Import a folder of CSV files or one XLSX workbook (contract §1) in one transaction.

    Raises ImportFailed with every problem found when anything is wrong; then nothing is written.
    New users get their invitation email after the data is committed.
    """
    from shared.db import session_scope

    path = Path(path)
    problems = Problems()
    files = read_source(path, problems)
    for parsed in files:
        _check_duplicates(parsed, problems)
    if not files and not problems.errors:
        problems.add(str(path), None, None, "nothing to import")
    if problems.errors and not files:
        raise ImportFailed(problems.errors)

    with session_scope() as session:
        importer = _Importer(session, files, problems, replace_open_items)
        importer.load_master_data()
        importer.validate_references()
        if problems.errors:
            raise ImportFailed(problems.errors)
        try:
            importer.write_companies()
            importer.write_customers()
            importer.load_ids()
            importer.write_accounts()
            importer.write_open_items()
            importer.write_users()
            session.flush()
        except IntegrityError as exc:
            # Only another writer at the same moment can cause this: everything was validated above.
            log.warning("import refused by the database: %s", exc)
            raise ImportFailed(
                ["the database refused the import (another import or user change ran at the same time); run it again"]
            ) from None
        report = importer.report

    if report.new_user_ids:
        report.notes.append(_invite(report.new_user_ids))
    return report


def _invite(user_ids: list[int]) -> str:
    """Send the new users their invitation (after the commit: an email never names a user that is not there)."""
    try:
        from shared.accounts import send_invitations
    except ImportError:
        log.warning("invitations not sent: the accounts module is not available")
        return f"invitations: not sent to {len(user_ids)} new user(s) (invitations are not available)"
    try:
        send_invitations(user_ids)
    except Exception as exc:
        log.exception("invitations failed after the import")
        return f"invitations: could not be sent to {len(user_ids)} new user(s): {exc}"
    return f"invitations: sent to {len(user_ids)} new user(s)"


__all__ = ["ImportFailed", "ImportReport", "import_path"]
