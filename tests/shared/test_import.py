"""`edocta import` (contract §1): good CSV folders and XLSX workbooks, upserts, snapshots, users and grants."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from shared.cli.demo_data import write_demo_data
from tests.factories import COMPANIES, GOOD, OPEN_ITEMS, dump, run_cli, write_folder, write_workbook
from tests.servers import outbox_messages


def item(data: dict[str, list[tuple[Any, ...]]], company: str, document: str) -> tuple[Any, ...]:
    return next(row for row in data["open_items"] if row[0] == company and row[1] == document)


D = dt.date
M = Decimal


# --- good input ---------------------------------------------------------------------------------------------


ALL_NEW = [
    "companies.csv: 2 inserted, 0 updated, 0 unchanged, 0 deleted",
    "customers.csv: 3 inserted, 0 updated, 0 unchanged, 0 deleted",
    "accounts.csv: 3 inserted, 0 updated, 0 unchanged, 0 deleted",
    "open_items.csv: 5 inserted, 0 updated, 0 unchanged, 0 deleted",
    "users.csv: 2 inserted, 0 updated, 0 unchanged, 0 deleted",
]
ALL_UNCHANGED = [
    "companies.csv: 0 inserted, 0 updated, 2 unchanged, 0 deleted",
    "customers.csv: 0 inserted, 0 updated, 3 unchanged, 0 deleted",
    "accounts.csv: 0 inserted, 0 updated, 3 unchanged, 0 deleted",
    "open_items.csv: 0 inserted, 0 updated, 5 unchanged, 0 deleted",
    "users.csv: 0 inserted, 0 updated, 2 unchanged, 0 deleted",
]


def import_ok(path: Path, *extra: str) -> list[str]:
    result = run_cli("import", str(path), *extra)
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()


def file_lines(output: list[str]) -> list[str]:
    return [line for line in output if ".csv:" in line or line.split(":")[0] in SHEETS]


SHEETS = ("companies", "customers", "accounts", "open_items", "users")


def row_versions(url: str) -> list[tuple[str, int, str]]:
    """PostgreSQL's row versions (xmin) of every imported table: any write changes them."""
    engine = create_engine(url)
    with engine.connect() as conn:
        found = [
            (
                table,
                *conn.execute(
                    text(f"SELECT count(*), md5(coalesce(string_agg(xmin::text, ',' ORDER BY {key}), '')) FROM {table}")  # noqa: S608
                ).one(),
            )
            for table, key in (
                ("companies", "id"),
                ("customers", "id"),
                ("accounts", "id"),
                ("open_items", "id"),
                ("users", "id"),
                ("user_customers", "user_id, customer_id"),
            )
        ]
    engine.dispose()
    return found  # type: ignore[return-value]


def test_a_csv_folder_loads_every_file_verbatim_with_defaults(database: str, tmp_path: Path, var_dir: Path) -> None:
    folder = write_folder(tmp_path / "erp", GOOD)

    output = import_ok(folder)

    assert file_lines(output) == ALL_NEW
    data = dump()
    assert data["companies"] == [
        ("1000", "Tinacos del Bajío, S.A. de C.V.", "TBA850101AB1", "Av. Juárez 1450, Guanajuato", "MXN"),
        ("3000", "Water Solutions USA Inc.", "", "1200 Commerce St., San Antonio", "USD"),
    ]
    assert data["customers"] == [
        (
            "0000100011",
            "Ferretería <La Económica> & Hijos, S. de R.L.",
            "FEC850101AB1",
            "Calle Morelos 12, León",
            "pagos@example.com;Compras@example.mx",
            "es",
            "pdf;xlsx",
        ),
        ("100002", 'Comercial "El Sol" & Cía.', "", "", "", "en", "pdf"),
        ("100003", '=HYPERLINK("x")', "", "", "cobranza@example.com", "es", "pdf;xlsx"),
    ]
    # Columns in any order; the account's currency defaults to the company's.
    assert data["accounts"] == [
        ("1000", "0000100011", M("250000.00"), "MXN", "30 días"),
        ("1000", "100002", None, "MXN", "Contado"),
        ("3000", "100002", M("10000.00"), "USD", ""),
    ]
    assert data["open_items"] == [
        (
            "1000",
            "FAC-0001",
            "0000100011",
            "invoice",
            "PO-7 <b>",
            D(2026, 10, 1),
            D(2026, 10, 31),
            M("1160.00"),
            "MXN",
            None,
        ),
        (
            "1000",
            "FAC-0003",
            "0000100011",
            "invoice",
            "",
            D(2026, 9, 1),
            D(2026, 10, 1),
            M("500.00"),
            "USD",
            D(2026, 11, 15),
        ),
        ("1000", "FAC-0004", "100002", "invoice", "", D(2026, 11, 20), D(2026, 12, 20), M("2000.00"), "MXN", None),
        # due_date defaults to the document date, the currency to the company's.
        (
            "1000",
            "NC-0002",
            "0000100011",
            "credit_note",
            "=1+1",
            D(2026, 10, 5),
            D(2026, 10, 5),
            M("-116.50"),
            "MXN",
            None,
        ),
        ("3000", "INV-1", "100002", "invoice", "", D(2026, 11, 1), D(2026, 12, 1), M("99.99"), "USD", None),
    ]
    assert data["users"] == [
        ("ana", "Ana@example.com", "Ana Núñez", "customer", "en", "active"),
        ("staff1", "staff1@example.com", "", "staff", "es", "active"),
    ]
    assert data["grants"] == [("ana", "0000100011"), ("ana", "100002")]
    # New users get their invitation, once, at their stored address.
    invited = sorted(str(m["To"]) for m in outbox_messages(var_dir))
    assert invited == ["Ana@example.com", "staff1@example.com"]


def test_importing_the_same_files_again_changes_nothing(database: str, tmp_path: Path, var_dir: Path) -> None:
    folder = write_folder(tmp_path / "erp", GOOD)
    import_ok(folder)
    before = dump()
    versions = row_versions(database) if database.startswith("postgresql") else None

    output = import_ok(folder)

    assert file_lines(output) == ALL_UNCHANGED
    assert dump() == before
    if versions is not None:
        assert row_versions(database) == versions  # not a single row was rewritten
    assert len(outbox_messages(var_dir)) == 2  # no second invitation


def test_an_xlsx_workbook_gives_the_same_data_as_the_csv_files(database: str, tmp_path: Path) -> None:
    workbook = write_workbook(
        tmp_path / "erp.xlsx",
        {
            "companies": [
                ["company_code", "name", "tax_id", "address", "currency"],
                [1000, "Tinacos del Bajío, S.A. de C.V.", "TBA850101AB1", "Av. Juárez 1450, Guanajuato", "MXN"],
                [3000.0, "Water Solutions USA Inc.", None, "1200 Commerce St., San Antonio", "USD"],
            ],
            "customers": [
                ["customer_number", "name", "tax_id", "address", "statement_emails", "language", "statement_formats"],
                [
                    "0000100011",
                    "Ferretería <La Económica> & Hijos, S. de R.L.",
                    "FEC850101AB1",
                    "Calle Morelos 12, León",
                    "pagos@example.com;Compras@Example.MX",
                    "es",
                    "pdf;xlsx",
                ],
                [100002, 'Comercial "El Sol" & Cía.', None, None, None, "en", "pdf"],
                ["100003", '=HYPERLINK("x")', None, None, "cobranza@example.com", None, None],
            ],
            "accounts": [
                ["customer_number", "company_code", "credit_limit", "payment_terms"],
                ["0000100011", "1000", 250000, "30 días"],
                ["100002", "1000", None, "Contado"],
                ["100002", "3000", 10000.0, None],
            ],
            "open_items": [
                [
                    "company_code",
                    "customer_number",
                    "document_number",
                    "document_type",
                    "reference",
                    "document_date",
                    "due_date",
                    "amount",
                    "currency",
                    "cleared_on",
                ],
                [
                    "1000",
                    "0000100011",
                    "FAC-0001",
                    "invoice",
                    "PO-7 <b>",
                    D(2026, 10, 1),
                    D(2026, 10, 31),
                    1160,
                    "MXN",
                    None,
                ],
                [
                    "1000",
                    "0000100011",
                    "NC-0002",
                    "credit_note",
                    "=1+1",
                    dt.datetime(2026, 10, 5),
                    None,
                    -116.5,
                    None,
                    None,
                ],
                [
                    "1000",
                    "0000100011",
                    "FAC-0003",
                    "invoice",
                    None,
                    "2026-09-01",
                    D(2026, 10, 1),
                    500.0,
                    "USD",
                    D(2026, 11, 15),
                ],
                ["1000", "100002", "FAC-0004", "invoice", None, D(2026, 11, 20), D(2026, 12, 20), 2000, None, None],
                [],
                [3000, 100002, "INV-1", "invoice", None, D(2026, 11, 1), D(2026, 12, 1), 99.99, None, None],
            ],
            "users": [
                ["username", "email", "full_name", "role", "customers", "language"],
                ["ana", "Ana@Example.com", "Ana Núñez", "customer", "0000100011;100002", "en"],
                ["staff1", "staff1@example.com", None, "staff", None, None],
            ],
        },
    )

    output = import_ok(workbook)
    from_workbook = dump()
    again = import_ok(write_folder(tmp_path / "erp", GOOD))

    assert [line.split(":", 1)[1] for line in file_lines(output)] == [line.split(":", 1)[1] for line in ALL_NEW]
    assert file_lines(again) == ALL_UNCHANGED  # the CSV files hold exactly what the workbook loaded
    assert dump() == from_workbook
    assert item(from_workbook, "1000", "NC-0002")[4:] == (
        "=1+1",
        D(2026, 10, 5),
        D(2026, 10, 5),
        M("-116.50"),
        "MXN",
        None,
    )
    assert [c[0] for c in from_workbook["customers"]] == ["0000100011", "100002", "100003"]


def test_changed_rows_are_updated_and_missing_columns_keep_stored_values(database: str, tmp_path: Path) -> None:
    import_ok(write_folder(tmp_path / "first", GOOD))
    changed = {
        "customers.csv": "name,customer_number\nFerretería La Nueva,0000100011\n",
        "open_items.csv": OPEN_ITEMS.replace("1160.00,MXN,", "1200.00,MXN,2026-11-02"),
    }

    output = import_ok(write_folder(tmp_path / "second", changed))

    assert file_lines(output) == [
        "customers.csv: 0 inserted, 1 updated, 0 unchanged, 0 deleted",
        "open_items.csv: 0 inserted, 1 updated, 4 unchanged, 0 deleted",
    ]
    data = dump()
    customer = next(c for c in data["customers"] if c[0] == "0000100011")
    # Only the name came in the file: the emails, tax id and address stay as they were.
    assert customer == (
        "0000100011",
        "Ferretería La Nueva",
        "FEC850101AB1",
        "Calle Morelos 12, León",
        "pagos@example.com;Compras@example.mx",
        "es",
        "pdf;xlsx",
    )
    assert item(data, "1000", "FAC-0001")[7:] == (M("1200.00"), "MXN", D(2026, 11, 2))


def test_optional_columns_left_out_of_a_file_keep_what_is_stored(database: str, tmp_path: Path) -> None:
    import_ok(write_folder(tmp_path / "first", GOOD))
    before = dump()
    partial = {
        "open_items.csv": "company_code,customer_number,document_number,document_type,document_date,amount\n"
        "1000,0000100011,FAC-0003,invoice,2026-09-01,500.00\n",
        "accounts.csv": "company_code,customer_number\n3000,100002\n",
    }

    output = import_ok(write_folder(tmp_path / "partial", partial))

    assert file_lines(output) == [
        "accounts.csv: 0 inserted, 0 updated, 1 unchanged, 0 deleted",
        "open_items.csv: 0 inserted, 0 updated, 1 unchanged, 0 deleted",
    ]
    assert dump() == before  # the USD item keeps its currency, due date and clearing date


def test_replace_open_items_deletes_what_the_file_no_longer_has_for_its_companies(
    database: str, tmp_path: Path
) -> None:
    import_ok(write_folder(tmp_path / "first", GOOD))
    snapshot = OPEN_ITEMS.splitlines()[0] + "\n" + OPEN_ITEMS.splitlines()[1] + "\n"
    folder = write_folder(tmp_path / "snapshot", {"open_items.csv": snapshot})

    without_flag = import_ok(folder)
    assert file_lines(without_flag) == ["open_items.csv: 0 inserted, 0 updated, 1 unchanged, 0 deleted"]
    assert len(dump()["open_items"]) == 5

    output = import_ok(folder, "--replace-open-items")

    assert file_lines(output) == ["open_items.csv: 0 inserted, 0 updated, 1 unchanged, 3 deleted"]
    # Company 3000 is not in the file: its items stay.
    assert [(row[0], row[1]) for row in dump()["open_items"]] == [("1000", "FAC-0001"), ("3000", "INV-1")]


def test_users_file_sets_grants_to_exactly_the_listed_customers(database: str, tmp_path: Path, var_dir: Path) -> None:
    import_ok(write_folder(tmp_path / "first", GOOD))
    users = "username,email,customers\nana,Ana@Example.com,100002;100003\n"

    output = import_ok(write_folder(tmp_path / "second", {"users.csv": users}))

    assert file_lines(output) == ["users.csv: 0 inserted, 1 updated, 0 unchanged, 0 deleted"]
    data = dump()
    assert data["grants"] == [("ana", "100002"), ("ana", "100003")]
    # Columns the file lacks (full name, role, language) keep their stored values.
    assert ("ana", "Ana@example.com", "Ana Núñez", "customer", "en", "active") in data["users"]
    assert len(outbox_messages(var_dir)) == 2

    emptied = import_ok(
        write_folder(tmp_path / "third", {"users.csv": "username,email,customers\nana,ana@example.com,\n"})
    )
    assert file_lines(emptied) == ["users.csv: 0 inserted, 1 updated, 0 unchanged, 0 deleted"]
    assert dump()["grants"] == []


def test_items_may_reference_customers_created_by_the_same_import_or_earlier(database: str, tmp_path: Path) -> None:
    import_ok(write_folder(tmp_path / "first", {"companies.csv": COMPANIES}))
    same_import = {
        "customers.csv": "customer_number,name\n777,Nuevo Cliente\n",
        "open_items.csv": "company_code,customer_number,document_number,document_type,document_date,amount\n"
        "1000,777,F-1,invoice,2026-11-01,10\n",
    }
    assert file_lines(import_ok(write_folder(tmp_path / "second", same_import))) == [
        "customers.csv: 1 inserted, 0 updated, 0 unchanged, 0 deleted",
        "open_items.csv: 1 inserted, 0 updated, 0 unchanged, 0 deleted",
    ]
    earlier = {
        "open_items.csv": "company_code,customer_number,document_number,document_type,document_date,amount\n"
        "3000,777,F-2,payment,2026-11-03,-5.00\n"
    }
    assert file_lines(import_ok(write_folder(tmp_path / "third", earlier))) == [
        "open_items.csv: 1 inserted, 0 updated, 0 unchanged, 0 deleted"
    ]
    data = dump()
    assert item(data, "3000", "F-2")[2:] == (
        "777",
        "payment",
        "",
        D(2026, 11, 3),
        D(2026, 11, 3),
        M("-5.00"),
        "USD",
        None,
    )
    # A customer with items at a company has an account there, so scheduled runs mail its statement.
    assert ("1000", "777", None, "MXN", "") in data["accounts"]
    assert ("3000", "777", None, "USD", "") in data["accounts"]


def test_the_report_counts_per_file_and_notes_what_else_happened(database: str, tmp_path: Path) -> None:
    from shared.ingest import import_path

    report = import_path(write_folder(tmp_path / "erp", GOOD))

    assert report.lines() == ALL_NEW
    assert report.counts("open_items").inserted == 5
    assert report.rows_written == 15
    assert report.notes == ["invitations: sent to 2 new user(s)"]
    again = import_path(tmp_path / "erp")
    assert again.rows_written == 0
    assert again.notes == []


def test_a_bom_and_windows_line_endings_are_tolerated(database: str, tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        name: ("\ufeff" + content).replace("\n", "\r\n").encode("utf-8") for name, content in GOOD.items()
    }
    assert file_lines(import_ok(write_folder(tmp_path / "erp", files))) == ALL_NEW
    assert file_lines(import_ok(write_folder(tmp_path / "plain", GOOD))) == ALL_UNCHANGED


def test_the_statement_after_an_import_follows_the_contract(database: str, tmp_path: Path) -> None:
    import_ok(write_folder(tmp_path / "erp", GOOD))

    result = run_cli("statement", "1000", "0000100011", "--cutoff", "2026-10-31", "--format", "json")

    assert result.exit_code == 0, result.stderr
    statement = json.loads(result.stdout)
    assert statement["company"] == {"code": "1000", "name": "Tinacos del Bajío, S.A. de C.V.", "tax_id": "TBA850101AB1"}
    assert statement["customer"] == {
        "number": "0000100011",
        "name": "Ferretería <La Económica> & Hijos, S. de R.L.",
        "tax_id": "FEC850101AB1",
    }
    assert statement["cutoff"] == "2026-10-31"
    assert statement["currency"] == "MXN"
    assert statement["credit_limit"] == "250000.00"
    assert statement["available_credit"] == "248956.50"
    assert [
        (line["document_number"], line["days_overdue"], line["amount"], line["currency"]) for line in statement["lines"]
    ] == [
        ("FAC-0003", 30, "500.00", "USD"),
        ("NC-0002", 26, "-116.50", "MXN"),
        ("FAC-0001", 0, "1160.00", "MXN"),
    ]
    assert statement["lines"][1]["reference"] == "=1+1"
    assert statement["lines"][2]["reference"] == "PO-7 <b>"
    assert statement["totals"]["MXN"]["total"] == "1043.50"
    assert statement["totals"]["MXN"]["overdue"] == "-116.50"
    assert statement["totals"]["MXN"]["not_due"] == "1160.00"
    assert statement["totals"]["USD"]["aging"]["1-30"] == "500.00"


def test_the_generated_demo_data_imports_cleanly_and_again_unchanged(database: str, tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    write_demo_data(folder, customers=40, seed=3, anchor=D(2026, 11, 29))

    first = file_lines(import_ok(folder))
    second = file_lines(import_ok(folder))

    assert all(" 0 updated, 0 unchanged, 0 deleted" in line for line in first)
    assert all(line.endswith(" unchanged, 0 deleted") and ": 0 inserted, 0 updated," in line for line in second)
    data = dump()
    assert len(data["companies"]) == 3
    assert len(data["customers"]) == 40
    assert len(data["open_items"]) > 500
    assert {"admin", "cobranza", "cliente"} <= {u[0] for u in data["users"]}
    assert any(row[8] == "USD" and row[0] == "1000" for row in data["open_items"])  # dollars at a peso company
    # A few invoices come with their CFDI, PDF and XML.
    assert any(line.startswith("documents.csv: 18 inserted") for line in first), first
