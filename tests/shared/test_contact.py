"""Who to call and how to pay (contract sections 1 and 10): the optional contact columns of the import, and the
statement's `contact` and `payment_instructions`, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from shared.db import session_scope
from shared.ingest import ImportFailed, import_path
from shared.models import Company, Customer
from shared.statements import load_statement

CUTOFF = dt.date(2026, 11, 30)

COMPANIES = (
    "company_code,name,currency,collections_name,collections_email,collections_phone,payment_instructions\n"
    '1000,Aceros del Norte,MXN,Cobranza Norte,cobranza@aceros.example,+52 81 5555 0000,"BBVA, CLABE 012 180 0011 '
    '2233 4455 66; escribe tu número de cliente como referencia"\n'
)
CUSTOMERS = (
    "customer_number,name,collector_name,collector_email,collector_phone\n"
    "100001,Tinacos del Bajío,Laura Ríos,laura.rios@aceros.example,\n"
    "100002,Ferretería Núñez,,,\n"
)
ITEMS = (
    "company_code,customer_number,document_number,document_type,document_date,amount\n"
    "1000,100001,F-1,invoice,2026-11-01,100.00\n"
    "1000,100002,F-2,invoice,2026-11-01,200.00\n"
)

ALL_FILES = {"companies.csv": COMPANIES, "customers.csv": CUSTOMERS, "open_items.csv": ITEMS}


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def statement_json(customer: str) -> dict[str, object]:
    with session_scope() as session:
        return load_statement(session, "1000", customer, CUTOFF).to_json()


def test_the_collector_overrides_the_company_desk_and_instructions_come_from_the_company(
    database: str, tmp_path: Path
) -> None:
    import_path(
        write(tmp_path / "a", {"companies.csv": COMPANIES, "customers.csv": CUSTOMERS, "open_items.csv": ITEMS})
    )

    own = statement_json("100001")
    assert own["contact"] == {"name": "Laura Ríos", "email": "laura.rios@aceros.example", "phone": ""}
    desk = statement_json("100002")
    assert desk["contact"] == {
        "name": "Cobranza Norte",
        "email": "cobranza@aceros.example",
        "phone": "+52 81 5555 0000",
    }
    assert own["payment_instructions"] == desk["payment_instructions"]
    assert str(desk["payment_instructions"]).startswith("BBVA, CLABE 012 180 0011 2233 4455 66;")
    assert desk["data_as_of"] is None or isinstance(desk["data_as_of"], str)


def test_files_without_the_new_columns_stay_valid_and_leave_the_contact_alone(database: str, tmp_path: Path) -> None:
    import_path(
        write(tmp_path / "a", {"companies.csv": COMPANIES, "customers.csv": CUSTOMERS, "open_items.csv": ITEMS})
    )
    report = import_path(
        write(
            tmp_path / "b",
            {
                "companies.csv": "company_code,name\n1000,Aceros del Norte\n",
                "customers.csv": "customer_number,name\n100001,Tinacos del Bajío\n",
            },
        )
    )
    assert report.rows_written == 0
    assert statement_json("100001")["contact"] == {
        "name": "Laura Ríos",
        "email": "laura.rios@aceros.example",
        "phone": "",
    }


def test_a_company_without_a_desk_gives_empty_texts(database: str, tmp_path: Path) -> None:
    import_path(
        write(
            tmp_path / "a",
            {
                "companies.csv": "company_code,name\n1000,Aceros del Norte\n",
                "customers.csv": "customer_number,name\n100002,Ferretería Núñez\n",
                "open_items.csv": ITEMS.splitlines()[0] + "\n" + ITEMS.splitlines()[2] + "\n",
            },
        )
    )
    document = statement_json("100002")
    assert document["contact"] == {"name": "", "email": "", "phone": ""}
    assert document["payment_instructions"] == ""


def test_a_bad_contact_email_writes_nothing_and_says_where(database: str, tmp_path: Path) -> None:
    bad = COMPANIES.replace("cobranza@aceros.example", "cobranza at aceros")
    with pytest.raises(ImportFailed) as failure:
        import_path(write(tmp_path / "a", {"companies.csv": bad, "customers.csv": CUSTOMERS}))
    assert len(failure.value.errors) == 1
    assert failure.value.errors[0].startswith("companies.csv:2: collections_email: 'cobranza at aceros' is not a valid")
    with session_scope() as session:
        assert session.scalars(select(Company)).all() == []
        assert session.scalars(select(Customer)).all() == []
