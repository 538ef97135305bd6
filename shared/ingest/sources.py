"""Reading the sources: a folder of CSV files, one CSV file, or an XLSX workbook, into typed rows per file.

Every problem found while reading (unknown files or columns, unreadable values) goes to `Problems` as
`FILE:LINE: column: message`; the rows that read cleanly are kept, so every problem is reported at once.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.ingest.columns import SPECS, CellError, FileSpec, text_of

FILE_ORDER = tuple(SPECS)


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
        names = [text_of(h).lower() for h in header]
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
        if len(record) > width and any(text_of(v) for v in record[width:]):
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
