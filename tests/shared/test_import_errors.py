"""`edocta import` refuses bad input: exit status 2, every problem listed as `FILE:LINE: column: message`,
and nothing at all written (the database dump is the same before and after)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.factories import GOOD, dump, run_cli, write_folder, write_workbook
from tests.servers import outbox_messages

ITEM_HEADER = "company_code,customer_number,document_number,document_type,reference,document_date,due_date,amount,"
ITEM_HEADER += "currency,cleared_on\n"

BAD_FOLDERS: dict[str, tuple[dict[str, str | bytes], list[str]]] = {
    "unknown column": (
        {"customers.csv": "customer_number,name,fax\n9,X,1\n"},
        ["customers.csv:1: fax: unknown column"],
    ),
    "missing required column": (
        {
            "open_items.csv": "company_code,customer_number,document_number,document_type,document_date\n"
            "1000,100002,F-9,invoice,2026-01-01\n"
        },
        ["open_items.csv:1: amount: required column is missing"],
    ),
    "column named twice": (
        {"companies.csv": "company_code,name,name\n7,A,B\n"},
        ["companies.csv:1: name: the column appears twice"],
    ),
    "duplicate key": (
        {
            "open_items.csv": ITEM_HEADER
            + "1000,100002,F-9,invoice,,2026-01-01,,10.00,,\n"
            + "2000,100002,F-9,invoice,,2026-01-01,,10.00,,\n"
            + "1000,100002,F-9,invoice,,2026-01-02,,11.00,,\n"
        },
        [
            "open_items.csv:4: company_code+document_number: duplicate key 1000/F-9 (first on line 2)",
            "open_items.csv:3: company_code: unknown company '2000'",
        ],
    ),
    "duplicate customer": (
        {"customers.csv": "customer_number,name\n0000100011,A\n100011,B\n0000100011,C\n"},
        ["customers.csv:4: customer_number: duplicate key 0000100011 (first on line 2)"],
    ),
    "unknown references": (
        {
            "open_items.csv": ITEM_HEADER
            + "1000,424242,F-9,invoice,,2026-01-01,,10.00,,\n"
            + "9999,100002,F-10,invoice,,2026-01-01,,10.00,,\n"
            + "1000,100011,F-11,invoice,,2026-01-01,,10.00,,\n",
            "accounts.csv": "company_code,customer_number\n3000,555\n",
        },
        [
            "accounts.csv:2: customer_number: unknown customer '555'",
            "open_items.csv:2: customer_number: unknown customer '424242'",
            "open_items.csv:3: company_code: unknown company '9999'",
            # Codes are text: 100011 is not 0000100011.
            "open_items.csv:4: customer_number: unknown customer '100011'",
        ],
    ),
    "bad item values": (
        {
            "open_items.csv": ITEM_HEADER
            + "1000,100002,F-1,invoice,,2026-02-30,,10.00,,\n"
            + "1000,100002,F-2,invoice,,2026-01-01,31/10/2026,10.00,,\n"
            + '1000,100002,F-3,invoice,,2026-01-01,,"1,160.00",,\n'
            + "1000,100002,F-4,invoice,,2026-01-01,,12.345,,\n"
            + "1000,100002,F-5,invoice,,2026-01-01,,,,\n"
            + "1000,100002,F-6,invoice,,2026-01-01,,10.00,pesos,\n"
            + "1000,100002,F-7,factura,,2026-01-01,,10.00,,\n"
            + "1000,100002,F-8,invoice,,2026-01-01,,$10,,ayer\n"
            + "1000,100002,,invoice,,,,10.00,mxn,\n"
        },
        [
            "open_items.csv:2: document_date: '2026-02-30' is not a valid date",
            "open_items.csv:3: due_date: '31/10/2026' is not a date; use YYYY-MM-DD",
            "open_items.csv:4: amount: '1,160.00' is not an amount",
            "open_items.csv:5: amount: '12.345' has more than 2 decimals",
            "open_items.csv:6: amount: a value is required",
            "open_items.csv:7: currency: 'pesos' is not a currency code",
            "open_items.csv:8: document_type: 'factura' is not a document type",
            "open_items.csv:9: amount: '$10' is not an amount",
            "open_items.csv:9: cleared_on: 'ayer' is not a date",
            "open_items.csv:10: document_number: a value is required",
            "open_items.csv:10: document_date: a value is required",
            "open_items.csv:10: currency: 'mxn' is not a currency code",
        ],
    ),
    "bad customer values": (
        {
            "customers.csv": "customer_number,name,statement_emails,language,statement_formats\n"
            "200,A,pagos@example.com;no-at-sign,,\n"
            "201,B,,fr,\n"
            "202,C,,,docx\n"
            "203,,,,\n"
            '204,D,"x@example.com\nBcc: y@example.com",,\n'
        },
        [
            "customers.csv:2: statement_emails: 'no-at-sign' is not a valid email address",
            "customers.csv:3: language: 'fr' is not a language",
            "customers.csv:4: statement_formats: 'docx' is not a statement format",
            "customers.csv:5: name: a value is required",
            "customers.csv:6: statement_emails:",
        ],
    ),
    "bad users": (
        {
            "users.csv": "username,email,role,customers\n"
            "u1,ana@,customer,\n"
            "u2,u2@example.com,boss,\n"
            "u3,u3@example.com,customer,100002;424242\n"
            "u4,,staff,\n"
        },
        [
            "users.csv:2: email:",
            "users.csv:3: role: 'boss' is not a role",
            "users.csv:4: customers: unknown customer '424242'",
            "users.csv:5: email: a value is required",
        ],
    ),
    "bad company and a good file beside it": (
        {
            "companies.csv": "company_code,name,currency\n5000,Nueva Empresa,MXN\n6000,Otra,mx\n",
            "customers.csv": "customer_number,name\n900,Cliente Nuevo\n",
        },
        ["companies.csv:3: currency: 'mx' is not a currency code"],
    ),
    "row wider than the header": (
        {"customers.csv": "customer_number,name\n300,A,extra,more\n"},
        ["customers.csv:2: the row has 4 values but the header has 2 columns"],
    ),
    "line numbers count the lines of quoted multi-line values": (
        {"customers.csv": 'customer_number,name,language\n301,"Línea uno\nLínea dos",es\n\n302,X,fr\n'},
        ["customers.csv:5: language: 'fr' is not a language"],
    ),
    "semicolon separated": (
        {"companies.csv": "company_code;name\n1;A\n"},
        ["companies.csv:1: columns must be separated by commas, not semicolons"],
    ),
    "NUL character": (
        {"customers.csv": "customer_number,name\n500,A\x00B\n"},
        ["customers.csv:2: name: the value contains a NUL character"],
    ),
    "not UTF-8": (
        {"customers.csv": "customer_number,name\n400,Ferretería\n".encode("latin-1")},
        ["customers.csv:2: the file is not UTF-8 text"],
    ),
    "empty file": ({"customers.csv": ""}, ["customers.csv:1: the file is empty: a header row is required"]),
    "unknown file": (
        {"clientes.csv": "customer_number,name\n1,A\n", "customers.csv": "customer_number,name\n1,A\n"},
        ["clientes.csv: unknown file (the import reads: companies.csv, customers.csv"],
    ),
    "not a workbook": ({"erp.xlsx": b"this is not a zip file"}, ["erp.xlsx: not a readable .xlsx workbook"]),
}


@pytest.fixture
def loaded(database: str, tmp_path: Path) -> dict[str, Any]:
    """The database after a good import: the bad imports below must leave it exactly so."""
    result = run_cli("import", str(write_folder(tmp_path / "good", GOOD)))
    assert result.exit_code == 0, result.stderr
    return dump()


def assert_refused(path: Path, expected: list[str], before: dict[str, Any]) -> list[str]:
    result = run_cli("import", str(path))
    errors = result.stderr.splitlines()
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for line in expected:
        assert any(error.startswith(line) for error in errors), f"{line!r} not in {errors}"
    assert errors[-1].endswith("nothing was written")
    assert result.stdout == ""
    assert dump() == before
    return errors


@pytest.mark.parametrize("case", list(BAD_FOLDERS))
def test_bad_files_are_refused_with_every_error_and_nothing_written(
    case: str, loaded: dict[str, Any], tmp_path: Path, var_dir: Path
) -> None:
    files, expected = BAD_FOLDERS[case]
    folder = write_folder(tmp_path / "bad", files)
    path = folder / "erp.xlsx" if "erp.xlsx" in files else folder
    invitations = len(outbox_messages(var_dir))

    errors = assert_refused(path, expected, loaded)

    # Exactly the listed problems: one line each, plus the summary.
    assert len(errors) == len(expected) + 1, errors
    assert len(outbox_messages(var_dir)) == invitations


def test_a_missing_path_or_an_empty_folder_is_one_clear_line(loaded: dict[str, Any], tmp_path: Path) -> None:
    missing = assert_refused(tmp_path / "nowhere", [f"{tmp_path / 'nowhere'}: no such file or folder"], loaded)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no CSV here")
    nothing = assert_refused(empty, [f"{empty}: no CSV files to import"], loaded)
    assert len(missing) == len(nothing) == 2


def test_bad_workbook_rows_are_named_by_sheet_and_row(loaded: dict[str, Any], tmp_path: Path) -> None:
    header = ["company_code", "customer_number", "document_number", "document_type", "document_date", "amount"]
    workbook = write_workbook(
        tmp_path / "bad.xlsx",
        {
            "open_items": [
                header,
                ["1000", "100002", "X-1", "invoice", dt.date(2026, 1, 1), 10],
                ["1000", "100002", "X-2", "invoice", dt.date(2026, 1, 1), "1,5"],
                ["1000", 100002.5, "X-3", "invoice", 46000, 1.234],
            ],
            "customers": [["customer_number", "name", "colour"], ["1", "A", "red"]],
            "Hoja1": [["anything"]],
        },
    )

    errors = assert_refused(
        workbook,
        [
            "open_items:3: amount: '1,5' is not an amount",
            "open_items:4: customer_number: 100002.5 is a number with decimals",
            "open_items:4: document_date: '46000' is not a date",
            "open_items:4: amount: 1.234 has more than 2 decimals",
            "customers:1: colour: unknown column",
            "Hoja1: unknown sheet",
        ],
        loaded,
    )
    assert len(errors) == 7


def test_the_installed_command_exits_2_with_the_errors_on_stderr(loaded: dict[str, Any], tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    folder = write_folder(
        tmp_path / "bad", {"accounts.csv": "company_code,customer_number,credit_limit\n1000,100002,1.5.0\n"}
    )

    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "import", str(folder)],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "accounts.csv:2: credit_limit: '1.5.0' is not an amount; write it like -1234.56",
        "import failed: 1 error(s), nothing was written",
    ]
    assert dump() == loaded
