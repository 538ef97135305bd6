"""The statement pages as a user meets them: the selector, the statement page (figures, aging, lines, search,
sort, both languages) and the downloads (JSON, XLSX in the request, PDF through a worker, from the store)."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from shared.db import session_scope
from shared.models import Company, Customer, OpenItem
from shared.render import render_on_demand
from shared.statements import load_statement
from shared.store import StoreKey, get_store
from shared.vocab import LARGE_STATEMENT_LINES, Queue, Task
from tests.factories import CUTOFF, user_row
from tests.servers import queued_tasks
from web.statements import content_disposition

DAY = CUTOFF.isoformat()
PAGE = f"/statements/1000/100001/{DAY}"


def business_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("America/Mexico_City")).date()


def option_values(html: str, select_id: str) -> list[tuple[str, bool]]:
    """The (value, selected) pairs of a <select> on the page."""
    match = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', html, re.S)
    assert match, f"no select #{select_id}"
    return [
        (value, bool(selected))
        for value, selected in re.findall(r'<option value="([^"]*)"( selected)?', match.group(1))
        if value
    ]


def input_value(html: str, input_id: str) -> str:
    match = re.search(rf'<input[^>]*id="{input_id}"[^>]*value="([^"]*)"', html)
    assert match, f"no input #{input_id}"
    return match.group(1)


def line_numbers(html: str) -> list[str]:
    """The document numbers in the lines table, in the order shown."""
    body = re.search(r'<table[^>]*id="statement-lines"[^>]*>.*?<tbody>(.*?)</tbody>', html, re.S)
    if body is None:
        return []
    # The first cell holds the number, then (on screen) its marks and links.
    return [number.strip() for number in re.findall(r"<tr[^>]*><td[^>]*>([^<]*)", body.group(1))]


def broker_tasks(var: Path, name: str) -> list[dict[str, Any]]:
    """Messages for task `name` waiting in the embedded broker: kwargs and queue."""
    return [{"kwargs": task.kwargs, "queue": task.queue} for task in queued_tasks(var) if task.name == name]


# --- the selector -------------------------------------------------------------------------------------------


def test_selector_preselects_a_single_customer_and_lists_only_its_companies(
    portal_client: Callable[[str], TestClient[Any]],
) -> None:
    page = portal_client("alice").get("/statements")
    assert page.status_code == 200
    assert option_values(page.text, "customer") == [("100001", True)]
    assert option_values(page.text, "company") == [("1000", False), ("2000", False)]
    assert input_value(page.text, "cutoff") == business_today().isoformat()
    assert "Acme" not in page.text and "Sin clientes" not in page.text


def test_selector_for_staff_searches_all_customers_and_picks_the_only_company(
    portal_client: Callable[[str], TestClient[Any]],
) -> None:
    client = portal_client("sofia")
    page = client.get("/statements")
    assert [value for value, _ in option_values(page.text, "customer")] == [
        "0000100011",
        "100001",
        "100002",
        "100004",
    ]
    assert not any(selected for _, selected in option_values(page.text, "customer"))
    found = client.get("/statements", params={"q": "acme", "action": "search"})
    assert option_values(found.text, "customer") == [("100002", True)]  # the one match is chosen
    assert option_values(found.text, "company") == [("1000", True)]  # and so is its only company
    chosen = client.get("/statements", params={"q": "acme", "customer": "100002", "action": "search"})
    assert option_values(chosen.text, "company") == [("1000", True)]
    none = client.get("/statements", params={"q": "no existe nadie así"})
    assert "No encontramos clientes con ese número o nombre." in none.text


def test_sent_statements_page_with_nothing_sent_says_so_and_leads_back_to_the_statement(
    portal_client: Callable[[str], TestClient[Any]],
) -> None:
    client = portal_client("alice")
    page = client.get("/statements/1000/100001/sent")
    assert page.status_code == 200
    assert "Todavía no se ha enviado ningún estado de cuenta de este cliente por correo." in page.text
    back = re.search(r'<a id="sent-back" href="([^"]+)"', page.text)
    assert back is not None
    selector = client.get(back.group(1).replace("&amp;", "&"))
    assert option_values(selector.text, "customer") == [("100001", True)]
    assert option_values(selector.text, "company") == [("1000", True), ("2000", False)]


def test_generate_goes_to_the_bookmarkable_statement_address(
    portal_client: Callable[[str], TestClient[Any]],
) -> None:
    client = portal_client("alice")
    response = client.get(
        "/statements",
        params={"customer": "100001", "company": "2000", "cutoff": DAY, "action": "generate"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/statements/2000/100001/{DAY}"
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    assert "Rotomoldeo del Norte" in page.text


def test_a_future_cutoff_is_refused_with_a_message_keeping_what_was_typed(
    portal_client: Callable[[str], TestClient[Any]],
) -> None:
    client = portal_client("alice")
    tomorrow = (business_today() + dt.timedelta(days=1)).isoformat()
    response = client.get(
        "/statements",
        params={"customer": "100001", "company": "1000", "cutoff": tomorrow, "action": "generate"},
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert "La fecha de corte no puede ser futura." in response.text
    assert input_value(response.text, "cutoff") == tomorrow
    assert option_values(response.text, "company") == [("1000", True), ("2000", False)]
    # The statement's own address with a future date shows the same refusal; its files do not exist.
    page = client.get(f"/statements/1000/100001/{tomorrow}")
    assert page.status_code == 400
    assert "La fecha de corte no puede ser futura." in page.text
    assert client.get(f"/statements/1000/100001/{tomorrow}.pdf").status_code == 404
    bad = client.get(
        "/statements", params={"customer": "100001", "company": "1000", "cutoff": "31/10/2026", "action": "generate"}
    )
    assert bad.status_code == 400
    assert "Escribe la fecha de corte como AAAA-MM-DD." in bad.text
    assert input_value(bad.text, "cutoff") == "31/10/2026"


def test_generate_refuses_someone_elses_customer_and_a_foreign_company(
    portal_client: Callable[[str], TestClient[Any]],
) -> None:
    client = portal_client("alice")
    other = client.get(
        "/statements", params={"customer": "100002", "company": "1000", "cutoff": DAY, "action": "generate"}
    )
    assert other.status_code == 400
    assert "Elige un cliente." in other.text
    assert "Acme" not in other.text
    foreign = client.get(
        "/statements", params={"customer": "100001", "company": "3000", "cutoff": DAY, "action": "generate"}
    )
    assert foreign.status_code == 400
    assert "Ese cliente no tiene cuenta en esa empresa." in foreign.text


# --- the statement page -------------------------------------------------------------------------------------


def test_statement_page_in_spanish_shows_the_five_figures_aging_and_lines(
    portal_client: Callable[[str], TestClient[Any]],
) -> None:
    page = portal_client("alice").get(PAGE)
    assert page.status_code == 200
    assert "no-store" in page.headers["cache-control"]
    text = page.text
    for label, value in [
        ("Límite de crédito", "$250,000.00"),
        ("Saldo vencido", "$1,034.50"),
        ("Saldo a vencer", "$5,000.00"),
        ("Saldo total", "$6,034.50"),
        ("Crédito disponible", "$243,965.50"),
    ]:
        assert label in text and value in text, (label, value)
    assert "31 de octubre de 2026" in text
    assert "Antigüedad de saldos" in text and "<svg" in text
    assert line_numbers(text) == ["NC-3", "FAC-1", "FAC-2"]
    assert "FAC-FUTURE" not in text  # posted after the cut-off
    assert "INV-9" not in text  # another company's item
    assert "Descargar XLS" in text and "Descargar PDF" in text
    assert f'href="/statements/1000/100001/{DAY}.xlsx"' in text
    assert f'href="/statements/1000/100001/{DAY}.pdf"' in text


def test_statement_page_in_english_for_an_english_user(portal_client: Callable[[str], TestClient[Any]]) -> None:
    page = portal_client("bruno").get(f"/statements/1000/100002/{DAY}")
    assert page.status_code == 200
    text = page.text
    for label in ("Credit limit", "Overdue balance", "Total balance", "Available credit", "Download PDF"):
        assert label in text, label
    assert "October 31, 2026" in text
    assert "MX$1,000.00" in text  # the credit limit, formatted in English
    assert "MX$999.99" in text
    assert "Saldo vencido" not in text


def test_search_filters_lines_on_the_server_without_javascript(
    portal_client: Callable[[str], TestClient[Any]],
) -> None:
    client = portal_client("alice")
    found = client.get(PAGE, params={"q": "devolución"})
    assert line_numbers(found.text) == ["NC-3"]
    assert "Mostrando 1 de 3 partidas." in found.text
    assert input_value(found.text, "lines-search") == "devolución"
    # The figures stay those of the whole statement.
    assert "$6,034.50" in found.text
    none = client.get(PAGE, params={"q": "zzz"})
    assert line_numbers(none.text) == []
    assert "Ninguna partida coincide con la búsqueda." in none.text
    assert "Sin movimientos" not in none.text  # the statement has lines; the search found none
    # What the page shows can be searched too: the date as displayed, the translated document type.
    assert line_numbers(client.get(PAGE, params={"q": "01/06/2026"}).text) == ["NC-3"]
    assert line_numbers(client.get(PAGE, params={"q": "nota de crédito"}).text) == ["NC-3"]
    by_amount = client.get(PAGE, params={"sort": "amount", "dir": "desc"})
    assert line_numbers(by_amount.text) == ["FAC-2", "FAC-1", "NC-3"]
    by_number = client.get(PAGE, params={"sort": "document_number", "dir": "asc", "q": "fac"})
    assert line_numbers(by_number.text) == ["FAC-1", "FAC-2"]


def test_markup_in_the_data_is_shown_as_text(portal_client: Callable[[str], TestClient[Any]]) -> None:
    page = portal_client("alice").get(PAGE)
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert '<b>"Q"</b>' not in page.text
    assert "Ferretería Álvarez &amp; Hijos &lt;b&gt;" in page.text
    # No inline script at all (the CSP forbids it): scripts come from /static.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page.text) == []


# --- the files ----------------------------------------------------------------------------------------------


def test_json_download_equals_the_command_lines_json(portal_client: Callable[[str], TestClient[Any]]) -> None:
    from shared.cli import main

    response = portal_client("alice").get(f"{PAGE}.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert "no-store" in response.headers["cache-control"]
    assert response.headers["content-disposition"] == (
        'attachment; filename="estado-de-cuenta_1000_100001_2026-10-31.json"; '
        "filename*=UTF-8''estado-de-cuenta_1000_100001_2026-10-31.json"
    )
    cli = CliRunner().invoke(main, ["statement", "1000", "100001", "--cutoff", DAY, "--format", "json"])
    assert cli.exit_code == 0, cli.output
    assert response.content == cli.stdout_bytes
    document = response.json()
    assert document["totals"]["MXN"]["total"] == "6034.50"
    assert [line["document_number"] for line in document["lines"]] == ["NC-3", "FAC-1", "FAC-2"]


def test_small_xlsx_is_rendered_in_the_request_stored_and_then_served_from_the_store(
    portal_client: Callable[[str], TestClient[Any]], var_dir: Path
) -> None:
    client = portal_client("alice")
    response = client.get(f"{PAGE}.xlsx")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="estado-de-cuenta_1000_100001_2026-10-31.xlsx"'
    )
    assert "no-store" in response.headers["cache-control"]
    workbook = load_workbook(io.BytesIO(response.content))
    cells = [cell.value for sheet in workbook.worksheets for row in sheet.iter_rows() for cell in row]
    assert "FAC-1" in cells and "NC-3" in cells
    assert any(isinstance(v, int | float | Decimal) and Decimal(str(v)) == Decimal("1234.50") for v in cells)
    assert "<script>alert(1)</script>" in cells  # text stays text
    with session_scope() as session:
        statement = load_statement(session, "1000", "100001", CUTOFF)
    stored = get_store().get(StoreKey.for_statement(statement, "xlsx"))
    assert stored is not None and stored.read_bytes() == response.content
    before = stored.stat().st_mtime_ns
    again = client.get(f"{PAGE}.xlsx")
    assert again.status_code == 200 and again.content == response.content
    assert stored.stat().st_mtime_ns == before  # served, not rendered again
    assert broker_tasks(var_dir, Task.RENDER_ON_DEMAND) == []


def test_pdf_is_prepared_by_a_worker_then_downloaded_from_the_store(
    portal_client: Callable[[str], TestClient[Any]], var_dir: Path
) -> None:
    client = portal_client("alice")
    first = client.get(f"{PAGE}.pdf")
    assert first.status_code == 202
    assert first.headers["content-type"].startswith("text/html")
    assert first.headers["retry-after"] == "2"
    assert "Preparando tu archivo" in first.text
    status_url = f"{PAGE}/file-status?format=pdf"
    assert f'data-status-url="{status_url}"' in first.text
    assert f'href="{PAGE}.pdf"' in first.text  # the link that works without JavaScript
    assert re.search(r'<script src="/static/statements\.js', first.text)
    assert client.get(status_url).json() == {"ready": False, "url": f"{PAGE}.pdf"}
    # Asking again while the worker is busy does not queue the work twice.
    assert client.get(f"{PAGE}.pdf").status_code == 202
    tasks = broker_tasks(var_dir, Task.RENDER_ON_DEMAND)
    assert tasks == [
        {
            "kwargs": {
                "company": "1000",
                "customer": "100001",
                "cutoff": DAY,
                "fmt": "pdf",
                "language": "es",
                "user_id": user_row("alice").id,  # whose slot the worker gives back
            },
            "queue": Queue.ON_DEMAND,
        }
    ]

    # What the worker does with that message.
    kwargs = tasks[0]["kwargs"]
    cutoff = dt.date.fromisoformat(kwargs["cutoff"])
    key = render_on_demand(
        kwargs["company"], kwargs["customer"], cutoff, kwargs["fmt"], kwargs["language"], user_id=kwargs["user_id"]
    )
    assert key is not None
    stored = get_store().get(key)
    assert stored is not None

    assert client.get(status_url).json()["ready"] is True
    ready = client.get(f"{PAGE}.pdf")
    assert ready.status_code == 200
    assert ready.headers["content-type"] == "application/pdf"
    assert ready.content.startswith(b"%PDF")
    assert ready.content == stored.read_bytes()
    assert ready.headers["content-disposition"].startswith(
        'attachment; filename="estado-de-cuenta_1000_100001_2026-10-31.pdf"'
    )
    assert "no-store" in ready.headers["cache-control"]
    before = stored.stat().st_mtime_ns
    assert client.get(f"{PAGE}.pdf").content == ready.content
    assert stored.stat().st_mtime_ns == before
    assert len(broker_tasks(var_dir, Task.RENDER_ON_DEMAND)) == 1


def test_changed_data_is_rendered_again(portal_client: Callable[[str], TestClient[Any]], var_dir: Path) -> None:
    client = portal_client("alice")
    first = client.get(f"{PAGE}.xlsx").content
    assert "1,234.50" in client.get(PAGE).text
    with session_scope() as session:
        item = session.scalar(select(OpenItem).where(OpenItem.document_number == "FAC-1"))
        assert item is not None
        item.amount = Decimal("4321.00")
    page = client.get(PAGE).text
    assert "4,321.00" in page and "1,234.50" not in page  # the page shows the new data at once
    second = client.get(f"{PAGE}.xlsx")
    assert second.status_code == 200 and second.content != first
    cells = [c.value for s in load_workbook(io.BytesIO(second.content)).worksheets for r in s.iter_rows() for c in r]
    assert any(isinstance(v, int | float | Decimal) and Decimal(str(v)) == Decimal("4321") for v in cells)
    # The PDF of the new data is not in the store: it goes to a worker again.
    assert client.get(f"{PAGE}.pdf").status_code == 202


def test_a_large_statements_xlsx_goes_to_the_large_statement_queue(
    portal_client: Callable[[str], TestClient[Any]], var_dir: Path
) -> None:
    with session_scope() as session:
        company = session.scalar(select(Company).where(Company.code == "1000"))
        customer = session.scalar(select(Customer).where(Customer.number == "0000100011"))
        assert company is not None and customer is not None
        session.add_all(
            OpenItem(
                company_id=company.id,
                customer_id=customer.id,
                document_number=f"BIG-{n:05d}",
                document_type="invoice",
                reference="",
                document_date=dt.date(2026, 10, 1),
                due_date=dt.date(2026, 10, 30),
                amount=Decimal("10.00"),
                currency="MXN",
            )
            for n in range(LARGE_STATEMENT_LINES)
        )
    response = portal_client("sofia").get(f"/statements/1000/0000100011/{DAY}.xlsx")
    assert response.status_code == 202
    [task] = broker_tasks(var_dir, Task.RENDER_ON_DEMAND)
    assert task["queue"] == Queue.RENDER_LARGE
    assert task["kwargs"]["fmt"] == "xlsx" and task["kwargs"]["customer"] == "0000100011"


def test_file_names_with_quotes_line_breaks_and_accents_are_safe(
    portal_client: Callable[[str], TestClient[Any]],
) -> None:
    with session_scope() as session:
        company = session.scalar(select(Company).where(Company.code == "1000"))
        assert company is not None
        company.code = 'Bají"o 1'
    response = portal_client("alice").get(f"/statements/Bají%22o%201/100001/{DAY}.json")
    assert response.status_code == 200
    header = response.headers["content-disposition"]
    assert "\r" not in header and "\n" not in header
    assert header.startswith("attachment; filename=")
    fallback = re.search(r'filename="([^"]*)"', header)
    assert fallback and re.fullmatch(r"[A-Za-z0-9._-]+", fallback.group(1))
    assert "filename*=UTF-8''" in header


def test_content_disposition_encodes_any_name_per_rfc_6266() -> None:
    header = content_disposition('estado "de" cuenta\r\nSet-Cookie: x=1_Bajío.pdf')
    assert "\r" not in header and "\n" not in header
    assert header == (
        'attachment; filename="estado_de_cuentaSet-Cookie_x_1_Bajio.pdf"; '
        "filename*=UTF-8''estado%20%22de%22%20cuentaSet-Cookie%3A%20x%3D1_Baj%C3%ADo.pdf"
    )
    assert content_disposition("../../etc/passwd") == (
        "attachment; filename=\"etc_passwd\"; filename*=UTF-8''_.._etc_passwd"
    )
    assert content_disposition("") == "attachment; filename=\"download\"; filename*=UTF-8''download"


def test_a_form_filling_client_gets_the_statement_whichever_button_it_names(
    portal_client: Callable[[str], TestClient[Any]],
) -> None:
    client = portal_client("alice")
    complete = {"customer": "100001", "company": "1000", "cutoff": DAY}
    target = f"/statements/1000/100001/{DAY}"
    for extra in ({}, {"action": "search", "q": ""}, {"action": "generate"}):
        response = client.get("/statements", params={**complete, **extra}, follow_redirects=False)
        assert response.status_code == 303, extra
        assert response.headers["location"] == target
    # A search text means "search"; `edit` shows the filled-in form (the page's "Cambiar consulta" link).
    searching = client.get("/statements", params={**complete, "action": "search", "q": "ferre"})
    assert searching.status_code == 200 and option_values(searching.text, "customer") == [("100001", True)]
    page = client.get(target)
    change = re.search(r'href="(/statements\?[^"]*action=edit[^"]*)"', page.text)
    assert change, "no link back to the selector"
    editing = client.get(change.group(1).replace("&amp;", "&"), follow_redirects=False)
    assert editing.status_code == 200
    assert option_values(editing.text, "company") == [("1000", True), ("2000", False)]
    assert input_value(editing.text, "cutoff") == DAY
    # An incomplete form is shown again, without complaints.
    partial = client.get("/statements", params={"customer": "100001"})
    assert partial.status_code == 200 and 'role="alert"' not in partial.text


def test_a_render_request_the_broker_refused_is_asked_again_on_the_next_request(
    portal_client: Callable[[str], TestClient[Any]], var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shared.render.stored

    client = portal_client("alice")
    real_send_task = shared.render.stored.send_task

    def broker_down(*args: Any, **kwargs: Any) -> str:
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(shared.render.stored, "send_task", broker_down)
    refused = client.get(f"{PAGE}.pdf")
    assert refused.status_code >= 500
    assert not refused.content.startswith(b"%PDF")
    monkeypatch.setattr(shared.render.stored, "send_task", real_send_task)
    again = client.get(f"{PAGE}.pdf")
    assert again.status_code == 202
    assert len(broker_tasks(var_dir, Task.RENDER_ON_DEMAND)) == 1
