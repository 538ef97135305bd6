"""The activity statement in the portal (contract sections 5 and 7): the selector's two kinds, the page, its files
(JSON and XLSX in the request, PDF by a worker), bad periods refused with what was typed kept, and grants; its
lines link their invoice documents and show open disputes (sections 8 and 9), cleared items included."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from litestar.testing import TestClient
from openpyxl import load_workbook
from sqlalchemy import delete, select

from shared.cli.demo_documents import invoice_pdf, invoice_xml
from shared.clock import utcnow
from shared.db import session_scope
from shared.models import ClearedItem, Company, Customer, Dispute, OpenItem
from shared.render import render_on_demand
from shared.statements import load_activity
from shared.vocab import Queue, Task
from tests.factories import run_cli, write_folder
from tests.servers import queued_tasks

PAGE = "/statements/1000/100001/activity/2026-10-01/2026-10-31"


def business_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("America/Mexico_City")).date()


def input_value(html: str, input_id: str) -> str:
    match = re.search(rf'<input[^>]*id="{input_id}"[^>]*value="([^"]*)"', html)
    assert match, f"no input #{input_id}"
    return match.group(1)


def checked_kind(html: str) -> str:
    match = re.search(r'<input type="radio" name="kind" value="([a-z]+)" checked>', html)
    assert match, "no kind checked"
    return match.group(1)


def test_the_selector_offers_both_kinds_and_opens_the_period(portal_client: Callable[[str], TestClient[Any]]) -> None:
    client = portal_client("alice")
    page = client.get("/statements")
    assert "Saldos abiertos a una fecha" in page.text and "Movimientos de un periodo" in page.text
    assert checked_kind(page.text) == "open"
    assert input_value(page.text, "to") == business_today().isoformat()

    response = client.get(
        "/statements",
        params={
            "customer": "100001",
            "company": "1000",
            "kind": "activity",
            "from": "2026-10-01",
            "to": "2026-10-31",
            "action": "generate",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == PAGE


def test_the_activity_page_shows_balances_lines_and_contact(portal_client: Callable[[str], TestClient[Any]]) -> None:
    page = portal_client("alice").get(PAGE)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    text = page.text
    # Opening on Sep 30: FAC-1 1,234.50 and NC-3 -200.00; October posts FAC-2 5,000.00; nothing cleared.
    assert "Saldo inicial al 1 de octubre de 2026" in text
    assert "$1,034.50" in text and "$5,000.00" in text and "$6,034.50" in text
    assert "Ajuste por partidas liquidadas" not in text  # no adjustment, no column
    lines = re.search(r'id="activity-lines".*?<tbody>(.*?)</tbody>', text, re.S)
    assert lines is not None
    assert re.findall(r"<tr><td>([^<]*)", lines.group(1)) == ["FAC-2"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>alert(1)" not in text
    assert 'href="/statements/1000/100001/activity/2026-10-01/2026-10-31.pdf"' in text


def test_activity_files_json_xlsx_and_pdf_through_a_worker(
    portal_client: Callable[[str], TestClient[Any]], var_dir: Path
) -> None:
    client = portal_client("alice")
    response = client.get(f"{PAGE}.json")
    assert response.status_code == 200
    with session_scope() as session:
        expected = load_activity(session, "1000", "100001", dt.date(2026, 10, 1), dt.date(2026, 10, 31)).to_json()
    assert response.json() == json.loads(json.dumps(expected))
    assert response.json()["balances"]["MXN"] == {
        "opening": "1034.50",
        "movements": "5000.00",
        "adjustment": "0.00",
        "closing": "6034.50",
    }
    assert 'filename="movimientos_1000_100001_2026-10-01_2026-10-31.json"' in response.headers["content-disposition"]

    workbook = client.get(f"{PAGE}.xlsx")
    assert workbook.status_code == 200
    sheet = load_workbook(io.BytesIO(workbook.content)).active
    assert sheet is not None
    assert "FAC-2" in [row[0] for row in sheet.iter_rows(values_only=True)]

    # The PDF is made by a worker: the page waits, the task names the period.
    preparing = client.get(f"{PAGE}.pdf")
    assert preparing.status_code == 202
    assert "Preparando tu archivo" in preparing.text
    tasks = [task for task in queued_tasks(var_dir) if task.name == Task.RENDER_ON_DEMAND]
    # On the on-demand queue (a run's accounts are never behind it), holding one of the user's render slots.
    assert [(task.kwargs, task.queue) for task in tasks] == [
        (
            {
                "company": "1000",
                "customer": "100001",
                "cutoff": "2026-10-31",
                "fmt": "pdf",
                "language": "es",
                "start": "2026-10-01",
                "user_id": tasks[0].kwargs.get("user_id"),
            },
            Queue.ON_DEMAND,
        )
    ]
    assert isinstance(tasks[0].kwargs["user_id"], int)
    status = client.get(f"{PAGE}/file-status", params={"format": "pdf"})
    assert status.json()["ready"] is False
    key = render_on_demand("1000", "100001", dt.date(2026, 10, 31), "pdf", "es", dt.date(2026, 10, 1))
    assert key is not None
    assert client.get(f"{PAGE}/file-status", params={"format": "pdf"}).json()["ready"] is True
    pdf = client.get(f"{PAGE}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_bad_periods_are_refused_keeping_what_was_typed(portal_client: Callable[[str], TestClient[Any]]) -> None:
    client = portal_client("alice")
    base = {"customer": "100001", "company": "1000", "kind": "activity", "action": "generate"}
    reversed_period = client.get("/statements", params={**base, "from": "2026-10-31", "to": "2026-10-01"})
    assert reversed_period.status_code == 400
    assert "La fecha inicial no puede ser posterior a la final." in reversed_period.text
    assert (input_value(reversed_period.text, "from"), input_value(reversed_period.text, "to")) == (
        "2026-10-31",
        "2026-10-01",
    )
    assert checked_kind(reversed_period.text) == "activity"

    tomorrow = (business_today() + dt.timedelta(days=1)).isoformat()
    future = client.get("/statements", params={**base, "from": "2026-10-01", "to": tomorrow})
    assert future.status_code == 400 and "La fecha final no puede ser futura." in future.text

    # Before the company's first item (2026-06-01): the page says from when there is data, for page and files.
    early = "/statements/1000/100001/activity/2026-01-01/2026-10-31"
    for address in (early, f"{early}.pdf", f"{early}.json"):
        response = client.get(address)
        assert response.status_code == 400, address
        assert "Los datos de esta empresa empiezan el 2026-06-01" in response.text
        assert input_value(response.text, "from") == "2026-01-01"
    assert client.get(f"/statements/1000/100001/activity/2026-10-01/{tomorrow}.json").status_code == 400
    assert client.get("/statements/1000/100001/activity/2026-10-1/2026-10-31").status_code == 404
    assert client.get("/statements/1000/100001/activity/x/2026-10-31.pdf").status_code == 404


def test_activity_follows_the_grants_and_the_language(portal_client: Callable[[str], TestClient[Any]]) -> None:
    client = portal_client("carla")  # no grant
    for address in (PAGE, f"{PAGE}.json", f"{PAGE}.pdf", f"{PAGE}/file-status?format=pdf"):
        assert client.get(address).status_code == 404, address
    assert client.get("/statements/1000/100001/sent").status_code == 404
    client.post("/logout")

    client = portal_client("bruno")  # English, sees 100002 only
    assert client.get(PAGE).status_code == 404
    own = client.get("/statements/1000/100002/activity/2026-09-01/2026-10-31")
    assert own.status_code == 200
    assert "Opening balance at September 1, 2026" in own.text
    assert "FAC-100" in own.text


def test_activity_lines_link_documents_and_show_open_disputes(
    portal_client: Callable[[str], TestClient[Any]], tmp_path: Path
) -> None:
    pdf = invoice_pdf("Tinacos del Bajío", "FAC-1", "Ferretería Álvarez", Decimal("1234.50"), dt.date(2026, 9, 1))
    xml = invoice_xml("Tinacos del Bajío", "TBA010101AB1", "FAC-1", "Álvarez", Decimal("1234.50"), dt.date(2026, 9, 1))
    client = portal_client("alice")
    folder = write_folder(
        tmp_path / "docs",
        {"documents.csv": "company_code,document_number,file\n1000,FAC-1,FAC-1.pdf\n1000,FAC-1,FAC-1.xml\n"}
        | {"FAC-1.pdf": pdf, "FAC-1.xml": xml},
    )
    result = run_cli("import", str(folder))
    assert result.exit_code == 0, result.output
    # The ERP cleared FAC-1 in October (a snapshot dropped it) while alice's dispute on it was still open.
    with session_scope() as session:
        company = session.scalar(select(Company).where(Company.code == "1000"))
        customer = session.scalar(select(Customer).where(Customer.number == "100001"))
        assert company is not None and customer is not None
        item = session.scalar(
            select(OpenItem).where(OpenItem.company_id == company.id, OpenItem.document_number == "FAC-1")
        )
        assert item is not None
        session.add(
            ClearedItem(
                company_id=company.id,
                customer_id=customer.id,
                document_number="FAC-1",
                document_type=item.document_type,
                reference=item.reference,
                document_date=item.document_date,
                due_date=item.due_date,
                amount=item.amount,
                currency=item.currency,
                cleared_on=dt.date(2026, 10, 15),
                removed_at=utcnow(),
            )
        )
        session.execute(delete(OpenItem).where(OpenItem.id == item.id))
        session.add(Dispute(company_id=company.id, customer_id=customer.id, document_number="FAC-1", opened_by="alice"))
    period = "/statements/1000/100001/activity/2026-09-01/2026-10-31"

    page = client.get(period).text
    lines = re.search(r'id="activity-lines".*?<tbody>(.*?)</tbody>', page, re.S)
    assert lines is not None
    fac1 = re.search(r"<tr data-disputed><td>FAC-1(.*?)</td>", lines.group(1))
    assert fac1 is not None, lines.group(1)
    assert "En aclaración" in fac1.group(1)
    assert 'href="/statements/1000/100001/documents/FAC-1.pdf"' in fac1.group(1)
    assert 'href="/statements/1000/100001/documents/FAC-1.xml"' in fac1.group(1)
    assert lines.group(1).count('class="st-doc"') == 2 and lines.group(1).count("data-disputed") == 1
    assert "En aclaración: partidas con una aclaración abierta con el área de cobranza." in page
    json_lines = client.get(f"{period}.json").json()["lines"]
    marks = {line["document_number"]: (line["documents"], line["disputed"]) for line in json_lines}
    assert marks == {"FAC-1": (["pdf", "xml"], True), "FAC-2": ([], False)}
    # The link of the cleared item serves its file.
    download = client.get("/statements/1000/100001/documents/FAC-1.pdf")
    assert (download.status_code, download.content) == (200, pdf)
    client.post("/logout")

    for name in ("carla", "bruno"):  # no grant; a grant for 100002 only
        client = portal_client(name)
        assert client.get(period).status_code == 404
        assert client.get(f"{period}.json").status_code == 404
        for document in ("/statements/1000/100001/documents/FAC-1.pdf", "/statements/1000/100002/documents/FAC-1.xml"):
            assert client.get(document).status_code == 404, (name, document)
        client.post("/logout")
