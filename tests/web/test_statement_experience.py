"""The statement pages' rough edges, over HTTP: Buscar with one match, searching amounts with or without thousands
separators, files in the language on screen, the menu that remembers the last customer and company, and "not
found" pages that keep the menu of a signed-in user."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

from litestar.testing import TestClient
from openpyxl import load_workbook

from shared.db import session_scope
from shared.models import UserCustomer
from tests.factories import CUTOFF
from tests.portal import post_form
from tests.servers import queued_tasks

MENU = '<nav class="site-nav"'


def options(html: str, select_id: str) -> list[tuple[str, bool]]:
    match = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', html, re.S)
    assert match, f"no select #{select_id}"
    found = re.findall(r'<option value="([^"]*)"( selected)?', match.group(1))
    return [(value, bool(selected)) for value, selected in found if value]


def shown_documents(html: str) -> list[str]:
    body = re.search(r'id="statement-lines".*?<tbody>(.*?)</tbody>', html, re.S)
    return [number.strip() for number in re.findall(r"<tr[^>]*><td[^>]*>([^<]*)", body.group(1))] if body else []


def test_buscar_with_one_match_chooses_it_over_an_earlier_choice(
    portal_client: Callable[[str], TestClient[Any]],
) -> None:
    client = portal_client("sofia")
    one_company = client.get("/statements", params={"q": "acme", "customer": "100001", "action": "search"})
    assert options(one_company.text, "customer") == [("100002", True)]
    assert options(one_company.text, "company") == [("1000", True)]

    two_companies = client.get("/statements", params={"q": "Álvarez", "action": "search"})
    assert options(two_companies.text, "customer") == [("100001", True)]
    assert options(two_companies.text, "company") == [("1000", False), ("2000", False)]
    assert 'role="alert"' not in two_companies.text  # nothing is wrong yet: the company is the next step

    several = client.get("/statements", params={"q": "10000", "action": "search"})
    assert not any(selected for _, selected in options(several.text, "customer"))


def test_searching_an_amount_ignores_thousands_separators(portal_client: Callable[[str], TestClient[Any]]) -> None:
    client = portal_client("alice")
    page = f"/statements/1000/100001/{CUTOFF.isoformat()}"
    assert len(shown_documents(client.get(page).text)) == 3
    for query in ("1,234.50", "1234.50", "1234.5", "1,234"):
        assert shown_documents(client.get(page, params={"q": query}).text) == ["FAC-1"], query
    assert shown_documents(client.get(page, params={"q": "1,23"}).text) == ["FAC-1"]  # a piece of what is shown
    assert shown_documents(client.get(page, params={"q": "5000"}).text) == ["FAC-2"]


def test_files_are_in_the_language_on_screen(portal_client: Callable[[str], TestClient[Any]], var_dir: Any) -> None:
    client = portal_client("alice")  # customer 100001 reads Spanish, and so does alice until she switches
    base = f"/statements/1000/100001/{CUTOFF.isoformat()}"
    spanish = client.get(base + ".xlsx")
    assert "estado-de-cuenta_1000_100001_2026-10-31.xlsx" in spanish.headers["content-disposition"]

    switched = post_form(client, "/statements", "/language", {"language": "en"})
    assert switched.status_code == 303
    english = client.get(base + ".xlsx")
    assert english.status_code == 200
    assert "account-statement_1000_100001_2026-10-31.xlsx" in english.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(english.content)).active
    words = " ".join(str(cell.value) for row in sheet.iter_rows(max_row=15) for cell in row if cell.value)
    assert "Account statement" in words and "Estado de cuenta" not in words

    # The PDF is prepared by a worker, in English, under its English name.
    preparing = client.get(base + ".pdf")
    assert preparing.status_code == 202
    assert "account-statement_1000_100001_2026-10-31.pdf" in preparing.text
    (task,) = [t for t in queued_tasks(var_dir) if t.kwargs.get("fmt") == "pdf"]
    assert task.kwargs["language"] == "en"


def test_the_menu_opens_the_last_customer_and_company(portal_client: Callable[[str], TestClient[Any]]) -> None:
    client = portal_client("alice")
    assert client.get(f"/statements/2000/100001/{CUTOFF.isoformat()}").status_code == 200
    selector = client.get("/statements")
    assert options(selector.text, "customer") == [("100001", True)]
    assert options(selector.text, "company") == [("1000", False), ("2000", True)]

    # Asked for something else, the form shows what was asked.
    other = client.get("/statements", params={"customer": "100001", "company": "1000", "action": "edit"})
    assert options(other.text, "company") == [("1000", True), ("2000", False)]

    # A customer no longer granted is forgotten without a word.
    with session_scope() as session:
        session.query(UserCustomer).delete()
    again = client.get("/statements")
    assert again.status_code == 200 and 'role="alert"' not in again.text
    assert "No tienes clientes asignados" in again.text


def test_not_found_pages_keep_the_menu_while_signed_in(
    portal_client: Callable[[str], TestClient[Any]], app_client: TestClient[Any]
) -> None:
    signed_out = app_client.get("/no/such/page")
    assert signed_out.status_code == 404 and MENU not in signed_out.text
    client = portal_client("alice")
    for path in ("/no-such-page", "/statements/a/b/c/d/e", "/statements/2000/100002/2026-10-31"):
        page = client.get(path)
        assert page.status_code == 404, path
        assert MENU in page.text and "Salir" in page.text, path
    assert MENU in client.get("/ops").text  # 403 too
