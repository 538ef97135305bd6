"""The activity statement (contract section 7): balances, lines, adjustment, items a snapshot dropped, bad periods;
on both databases, through `edocta import` and `edocta statement --from/--to`."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from shared.cli.demo_documents import invoice_pdf, invoice_xml
from shared.clock import today
from shared.db import session_scope
from shared.models import Account, ClearedItem, Company, Customer, Dispute, OpenItem
from shared.statements import load_activity, load_statement
from shared.vocab import DisputeStatus
from tests.factories import run_cli, write_folder

D = dt.date
HEAD = "company_code,customer_number,document_number,document_type,reference,document_date,due_date,amount,currency,"
BASE = {
    "companies.csv": "company_code,name,currency,collections_name,collections_email,collections_phone,"
    "payment_instructions\n1000,Tinacos del Bajío,MXN,Cobranza Bajío,cobranza@example.com,+52 477 100 2000,"
    '"BBVA, CLABE 012345678901234567; referencia: su número de cliente"\n',
    "customers.csv": "customer_number,name,language\n100001,Ferretería Díaz,es\n100002,Hardware Inc.,en\n",
    "accounts.csv": "company_code,customer_number,credit_limit\n1000,100001,50000\n1000,100002,\n",
}
# September: FAC-1 (1000) open; October: FAC-2 (500) paid by PAG-1 on Oct 20, FAC-1 paid by PAG-2 on Oct 25 (a
# payment of an item posted before the period: the adjustment), FAC-3 (300) open, a USD invoice; November: FAC-4.
ITEMS = (
    HEAD
    + """cleared_on
1000,100001,FAC-1,invoice,PO-1,2026-09-10,2026-10-10,1000.00,,2026-10-25
1000,100001,FAC-2,invoice,,2026-10-03,2026-11-02,500.00,,2026-10-20
1000,100001,PAG-1,payment,,2026-10-20,,-500.00,,2026-10-20
1000,100001,PAG-2,payment,,2026-10-25,,-1000.00,,2026-10-25
1000,100001,FAC-3,invoice,=1+1,2026-10-28,2026-11-27,300.00,,
1000,100001,INV-9,invoice,,2026-10-05,,40.00,USD,
1000,100001,FAC-4,invoice,,2026-11-03,,70.00,,
"""
)


def import_ok(folder: Path, *extra: str) -> None:
    result = run_cli("import", str(folder), *extra)
    assert result.exit_code == 0, result.stderr


def activity_json(*args: str) -> dict[str, Any]:
    result = run_cli("statement", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_activity_follows_the_contract(database: str, tmp_path: Path) -> None:
    import_ok(write_folder(tmp_path / "erp", {**BASE, "open_items.csv": ITEMS}))

    document = activity_json("1000", "100001", "--from", "2026-10-01", "--to", "2026-10-31")

    assert document["kind"] == "activity"
    assert (document["from"], document["to"]) == ("2026-10-01", "2026-10-31")
    assert document["customer"] == {"number": "100001", "name": "Ferretería Díaz", "tax_id": ""}
    # Opening: FAC-1 (1000). Movements: 500 - 500 - 1000 + 300 = -700. Closing: FAC-3 = 300. FAC-1, posted before
    # the period, was paid in it by PAG-2: 300 - 1000 - (-700) = 0... the payment is a line, so no adjustment.
    assert document["balances"] == {
        "MXN": {"opening": "1000.00", "movements": "-700.00", "adjustment": "0.00", "closing": "300.00"},
        "USD": {"opening": "0.00", "movements": "40.00", "adjustment": "0.00", "closing": "40.00"},
    }
    assert [
        (line["document_number"], line["cleared_on"], line["amount"], line["balance"], line["currency"])
        for line in document["lines"]
    ] == [
        ("FAC-2", "2026-10-20", "500.00", "1500.00", "MXN"),
        ("INV-9", "", "40.00", "40.00", "USD"),
        ("PAG-1", "2026-10-20", "-500.00", "1000.00", "MXN"),
        ("PAG-2", "2026-10-25", "-1000.00", "0.00", "MXN"),
        ("FAC-3", "", "300.00", "300.00", "MXN"),
    ]
    assert document["lines"][-1] == {
        "document_number": "FAC-3",
        "document_type": "invoice",
        "reference": "=1+1",
        "document_date": "2026-10-28",
        "due_date": "2026-11-27",
        "amount": "300.00",
        "currency": "MXN",
        "cleared_on": "",
        "balance": "300.00",
        "documents": [],
        "disputed": False,
    }
    assert document["contact"] == {
        "name": "Cobranza Bajío",
        "email": "cobranza@example.com",
        "phone": "+52 477 100 2000",
    }
    assert document["payment_instructions"].startswith("BBVA, CLABE 012345678901234567")


def test_a_clearing_without_its_payment_in_the_period_is_the_adjustment(database: str, tmp_path: Path) -> None:
    # The payment of FAC-1 is not in the files (the ERP netted it): clearing FAC-1 in October is the adjustment.
    items = "\n".join(line for line in ITEMS.splitlines() if "PAG-2" not in line) + "\n"
    import_ok(write_folder(tmp_path / "erp", {**BASE, "open_items.csv": items}))

    document = activity_json("1000", "100001", "--from", "2026-10-01", "--to", "2026-10-31")

    assert document["balances"]["MXN"] == {
        "opening": "1000.00",
        "movements": "300.00",
        "adjustment": "-1000.00",
        "closing": "300.00",
    }
    # A period with nothing posted, for a customer without items, still answers: all zero, no currency.
    empty = activity_json("1000", "100002", "--from", "2026-10-01", "--to", "2026-10-31")
    assert (empty["balances"], empty["lines"]) == ({}, [])


def test_items_a_snapshot_drops_stay_in_the_activity_as_cleared(database: str, tmp_path: Path) -> None:
    import_ok(write_folder(tmp_path / "erp", {**BASE, "open_items.csv": ITEMS}))
    snapshot = "\n".join(line for line in ITEMS.splitlines() if "FAC-3" not in line) + "\n"
    import_ok(write_folder(tmp_path / "snapshot", {"open_items.csv": snapshot}), "--replace-open-items")
    day = today()

    with session_scope() as session:
        open_now = load_statement(session, "1000", "100001", day)
        activity = load_activity(session, "1000", "100001", D(2026, 10, 1), day)
    assert "FAC-3" not in [line.document_number for line in open_now.lines]
    dropped = next(line for line in activity.lines if line.document_number == "FAC-3")
    assert dropped.cleared_on == day
    assert activity.balances["MXN"].closing == open_now.totals["MXN"].total

    # Back in a later file, it is open again and listed once.
    import_ok(write_folder(tmp_path / "again", {"open_items.csv": ITEMS}))
    with session_scope() as session:
        activity = load_activity(session, "1000", "100001", D(2026, 10, 1), day)
    assert [line.cleared_on for line in activity.lines if line.document_number == "FAC-3"] == [None]


def test_activity_lines_carry_their_documents_and_open_disputes(database: str, tmp_path: Path) -> None:
    # FAC-2 (cleared in October) has its PDF and XML; FAC-3 has a PDF, then a snapshot drops it (a cleared item).
    documents = {
        "documents.csv": "company_code,document_number,file\n1000,FAC-2,FAC-2.pdf\n1000,FAC-2,FAC-2.xml\n"
        "1000,FAC-3,FAC-3.pdf\n",
        "FAC-2.pdf": invoice_pdf("Tinacos del Bajío", "FAC-2", "Ferretería Díaz", Decimal("500"), D(2026, 10, 3)),
        "FAC-2.xml": invoice_xml("Tinacos", "TBA010101AB1", "FAC-2", "Díaz", Decimal("500"), D(2026, 10, 3)),
        "FAC-3.pdf": invoice_pdf("Tinacos del Bajío", "FAC-3", "Ferretería Díaz", Decimal("300"), D(2026, 10, 28)),
    }
    import_ok(write_folder(tmp_path / "erp", {**BASE, "open_items.csv": ITEMS, **documents}))
    snapshot = "\n".join(line for line in ITEMS.splitlines() if "FAC-3" not in line) + "\n"
    import_ok(write_folder(tmp_path / "snapshot", {"open_items.csv": snapshot}), "--replace-open-items")
    with session_scope() as session:
        assert session.scalar(select(ClearedItem.document_number)) == "FAC-3"
        company = session.scalar(select(Company.id).where(Company.code == "1000"))
        diaz = session.scalar(select(Customer.id).where(Customer.number == "100001"))
        other = session.scalar(select(Customer.id).where(Customer.number == "100002"))
        assert company is not None and diaz is not None and other is not None
        session.add_all(
            [
                # Open on the cleared FAC-3: still marked. Resolved on FAC-2, and another customer's on PAG-1: not.
                Dispute(company_id=company, customer_id=diaz, document_number="FAC-3", opened_by="alice"),
                Dispute(
                    company_id=company,
                    customer_id=diaz,
                    document_number="FAC-2",
                    status=DisputeStatus.RESOLVED,
                    opened_by="alice",
                ),
                Dispute(company_id=company, customer_id=other, document_number="PAG-1", opened_by="bruno"),
            ]
        )
    period = ("1000", "100001", "--from", "2026-10-01", "--to", today().isoformat())

    marks = {line["document_number"]: (line["documents"], line["disputed"]) for line in activity_json(*period)["lines"]}
    assert marks == {
        "FAC-2": (["pdf", "xml"], False),
        "INV-9": ([], False),
        "PAG-1": ([], False),
        "PAG-2": ([], False),
        "FAC-3": (["pdf"], True),
        "FAC-4": ([], False),
    }

    pdf, xlsx = tmp_path / "a.pdf", tmp_path / "a.xlsx"
    for fmt, path in (("pdf", pdf), ("xlsx", xlsx)):
        result = run_cli("statement", *period, "--format", fmt, "-o", str(path))
        assert result.exit_code == 0, result.stderr
    text = " ".join(page.extract_text() or "" for page in PdfReader(pdf).pages)
    assert "FAC-3 *" in text and "FAC-2 *" not in text
    assert "* En aclaración: partidas con una aclaración abierta" in " ".join(text.split())

    sheet = load_workbook(xlsx).active
    assert sheet is not None
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    header = next(index for index, row in enumerate(rows) if row[0] == "Documento")
    assert rows[header][8:10] == ["Moneda", "Aclaración"]
    assert {row[0]: row[9] for row in rows[header + 1 :] if row[0]} == {
        "FAC-2": None,
        "INV-9": None,
        "PAG-1": None,
        "PAG-2": None,
        "FAC-3": "En aclaración",
        "FAC-4": None,
    }


def test_bad_periods_are_refused_and_nothing_is_written(database: str, tmp_path: Path) -> None:
    import_ok(write_folder(tmp_path / "erp", {**BASE, "open_items.csv": ITEMS}))
    out = tmp_path / "out.json"
    tomorrow = (today() + dt.timedelta(days=1)).isoformat()
    cases = [
        (["--from", "2026-10-31", "--to", "2026-10-01"], "starts after"),
        (["--from", "2026-10-01", "--to", tomorrow], "future"),
        (["--from", "2026-01-01", "--to", "2026-10-31"], "2026-09-10"),
        (["--from", "2026-10-01"], "both --from and --to"),
        (["--cutoff", "2026-10-31", "--from", "2026-10-01", "--to", "2026-10-31"], "exclude each other"),
        (["--from", "2026-10-1", "--to", "2026-10-31"], "YYYY-MM-DD"),
    ]
    for args, reason in cases:
        result = run_cli("statement", "1000", "100001", *args, "--format", "json", "-o", str(out))
        assert result.exit_code == 2, args
        assert reason in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert not out.exists()


def test_activity_files_in_both_languages(database: str, tmp_path: Path) -> None:
    import_ok(write_folder(tmp_path / "erp", {**BASE, "open_items.csv": ITEMS}))
    xlsx, html = tmp_path / "a.xlsx", tmp_path / "a.html"
    for fmt, path in (("xlsx", xlsx), ("html", html)):
        period = ("--from", "2026-10-01", "--to", "2026-10-31")
        result = run_cli("statement", "1000", "100001", *period, "--format", fmt, "-o", str(path))
        assert result.exit_code == 0, result.stderr

    sheet = load_workbook(xlsx).active
    assert sheet is not None
    rows = [[cell for cell in row] for row in sheet.iter_rows(values_only=True)]
    header = next(index for index, row in enumerate(rows) if row[0] == "Documento")
    assert rows[header][:9] == [
        "Documento",
        "Tipo",
        "Referencia",
        "Fecha",
        "Vencimiento",
        "Liquidada",
        "Importe",
        "Saldo",
        "Moneda",
    ]
    fac2 = rows[header + 1]
    assert fac2[0] == "FAC-2" and fac2[5] == dt.datetime(2026, 10, 20) and fac2[7] == 1500
    fac3 = next(row for row in rows if row[0] == "FAC-3")
    assert fac3[2] == "=1+1" and fac3[5] is None  # text stays text; an open item has no clearing date
    summary = next(row for row in rows if row[0] == "MXN")
    assert summary[1:5] == [1000, -700, 0, 300]

    page = html.read_text(encoding="utf-8")
    assert "Saldo inicial al 1 de octubre de 2026" in page
    assert "Cobranza Bajío" in page and "CLABE 012345678901234567" in page

    # The English customer's file speaks English.
    result = run_cli("statement", "1000", "100002", "--from", "2026-10-01", "--to", "2026-10-31", "--format", "html")
    assert result.exit_code == 0, result.stderr
    assert "Opening balance at October 1, 2026" in result.stdout
    assert "No activity in the period" in result.stdout


# --- the property: balanced clearings leave no adjustment ------------------------------------------------------

PERIOD_START, PERIOD_END = D(2025, 3, 1), D(2025, 6, 30)
_codes = itertools.count(1)


@st.composite
def balanced_history(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Items before and in the period; every clearing in the period clears a group posted in the period whose
    amounts add up to zero (an invoice or several and their payment)."""
    days = st.integers(min_value=0, max_value=(PERIOD_END - PERIOD_START).days)
    cents = st.integers(min_value=1, max_value=5_000_000)
    currency = st.sampled_from(["MXN", "USD"])
    items: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 4))):  # posted before the period, open until after it (or for ever)
        later = draw(st.one_of(st.none(), st.integers(1, 60).map(lambda d: PERIOD_END + dt.timedelta(days=d))))
        amount = Decimal(draw(cents)) / 100 * draw(st.sampled_from([1, -1]))
        posted = PERIOD_START - dt.timedelta(days=draw(st.integers(1, 300)))
        items.append({"date": posted, "amount": amount, "currency": draw(currency), "cleared": later})
    for _ in range(draw(st.integers(0, 6))):  # groups posted in the period
        group_currency = draw(currency)
        invoices = [Decimal(draw(cents)) / 100 for _ in range(draw(st.integers(1, 3)))]
        dates = [PERIOD_START + dt.timedelta(days=draw(days)) for _ in range(len(invoices) + 1)]
        last = max(dates)
        cleared = draw(
            st.sampled_from(["in the period", "after the period", "open"]),
        )
        if cleared == "in the period":
            clearing: dt.date | None = last + dt.timedelta(days=draw(st.integers(0, (PERIOD_END - last).days)))
        elif cleared == "after the period":
            clearing = PERIOD_END + dt.timedelta(days=draw(st.integers(1, 30)))
        else:
            clearing = None
        for amount, posted in zip([*invoices, -sum(invoices)], dates, strict=True):
            items.append({"date": posted, "amount": amount, "currency": group_currency, "cleared": clearing})
    return items


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=balanced_history())
def test_balanced_clearings_leave_no_adjustment_and_close_at_the_open_items(
    database: str, history: list[dict[str, Any]]
) -> None:
    code = f"P{next(_codes)}"
    with session_scope() as session:
        company = Company(code=code, name="Propiedad", currency="MXN")
        customer = Customer(number=code, name="Cliente")
        session.add_all([company, customer])
        session.flush()
        session.add(Account(company_id=company.id, customer_id=customer.id, currency="MXN"))
        # The company's data starts before the period, whatever the example holds.
        session.add(
            OpenItem(
                company_id=company.id,
                customer_id=customer.id,
                document_number="START",
                document_type="other",
                document_date=D(2024, 1, 1),
                due_date=D(2024, 1, 1),
                amount=Decimal("0.00"),
                currency="MXN",
            )
        )
        for number, entry in enumerate(history):
            session.add(
                OpenItem(
                    company_id=company.id,
                    customer_id=customer.id,
                    document_number=f"D-{number}",
                    document_type="invoice" if entry["amount"] > 0 else "payment",
                    document_date=entry["date"],
                    due_date=entry["date"],
                    amount=entry["amount"],
                    currency=entry["currency"],
                    cleared_on=entry["cleared"],
                )
            )

    with session_scope() as session:
        activity = load_activity(session, code, code, PERIOD_START, PERIOD_END)
        at_end = load_statement(session, code, code, PERIOD_END)

    for currency, balance in activity.balances.items():
        assert balance.adjustment == 0, (currency, balance)
        assert balance.opening + balance.movements == balance.closing
        expected = at_end.totals[currency].total if currency in at_end.totals else Decimal("0.00")
        assert balance.closing == expected
    for currency, totals in at_end.totals.items():
        if totals.total:
            assert activity.balances[currency].closing == totals.total
    # Each line's running balance is the opening plus the lines so far, in its currency.
    running = {currency: balance.opening for currency, balance in activity.balances.items()}
    for line in activity.lines:
        running[line.currency] += line.amount
        assert line.balance == running[line.currency]


def test_both_kinds_of_statement_show_who_to_call_and_how_to_pay(database: str, tmp_path: Path) -> None:
    import io

    from pypdf import PdfReader

    import_ok(write_folder(tmp_path / "erp", {**BASE, "open_items.csv": ITEMS}))
    for dates in (("--cutoff", "2026-10-31"), ("--from", "2026-10-01", "--to", "2026-10-31")):
        page = run_cli("statement", "1000", "100001", *dates, "--format", "html")
        assert page.exit_code == 0, page.stderr
        assert "Dudas sobre este estado de cuenta" in page.stdout and "cobranza@example.com" in page.stdout
        assert "+52 477 100 2000" in page.stdout and "CLABE 012345678901234567" in page.stdout
        pdf = tmp_path / "statement.pdf"
        result = run_cli("statement", "1000", "100001", *dates, "--format", "pdf", "-o", str(pdf))
        assert result.exit_code == 0, result.stderr
        text = " ".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf.read_bytes())).pages)
        assert "Cobranza Bajío" in text and "012345678901234567" in text
