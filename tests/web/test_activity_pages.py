"""The activity statement in the portal (contract sections 5 and 7): the selector's two kinds, the page, its files
(JSON and XLSX in the request, PDF by a worker), bad periods refused with what was typed kept, and grants."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from litestar.testing import TestClient
from openpyxl import load_workbook

from shared.db import session_scope
from shared.render import render_on_demand
from shared.statements import load_activity
from shared.vocab import Queue, Task
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
    assert [(task.kwargs, task.queue) for task in tasks] == [
        (
            {
                "company": "1000",
                "customer": "100001",
                "cutoff": "2026-10-31",
                "fmt": "pdf",
                "language": "es",
                "start": "2026-10-01",
            },
            Queue.RENDER,
        )
    ]
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
