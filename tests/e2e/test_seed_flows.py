"""Every flow of the original portal's manual, in a real browser: first access from the invitation email,
the forced change, "Comenzar de nuevo", sign-in, the statement with its Search box and downloads, and the
forgotten password."""

from __future__ import annotations

import re
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.servers import Portal, emails_to

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "mi contraseña de pruebas 2026"
NEWER_PASSWORD = "otra frase bastante larga 77"


TEMPORARY = re.compile(r"(?:temporal|temporary password)[^:\n]*:\s*(\S{16,})", re.IGNORECASE)


def plain_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def temporary_passwords(portal: Portal, address: str) -> list[str]:
    """The temporary passwords emailed to `address`, oldest first."""
    found = (TEMPORARY.search(plain_text(m)) for m in emails_to(portal.var, address))
    return [match.group(1) for match in found if match]


def wait_for_temporary_password(portal: Portal, address: str, number: int, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        passwords = temporary_passwords(portal, address)
        if len(passwords) >= number:
            return passwords[number - 1]
        time.sleep(0.3)
    raise AssertionError(f"no temporary password number {number} for {address} within {timeout} s")


def first_customer(portal: Portal) -> tuple[str, str]:
    """A customer of the generated data with lines at its first company, as (company, customer)."""
    import csv

    with (portal.root / "data" / "open_items.csv").open(encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    return row["company_code"], row["customer_number"]


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def submit(page: Any, form_selector: str = "main form") -> None:
    page.locator(f"{form_selector} [type=submit]").first.click()


def sign_in(page: Any, portal: Portal, username: str, password: str) -> None:
    page.goto(f"{portal.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.locator("input[name=password]").press("Enter")
    page.wait_for_load_state()


def change_password(page: Any, current: str, new: str) -> None:
    page.fill("input[name=current_password]", current)
    page.fill("input[name=new_password]", new)
    page.fill("input[name=confirm_password]", new)
    page.locator("input[name=confirm_password]").press("Enter")
    page.wait_for_load_state()


def test_first_access_statement_downloads_and_forgotten_password(
    portal: Portal, browser: Any, artifacts_dir: Path
) -> None:
    company, customer = first_customer(portal)
    address = "nueva.usuaria@example.com"
    created = portal.edocta("users", "add", "nueva", "--email", address, "--customers", customer)
    assert created.returncode == 0, created.stderr

    # 1. First access: the invitation carries the user ID, a temporary password and the portal's address.
    temporary = wait_for_temporary_password(portal, address, 1)
    invitation_text = plain_text(emails_to(portal.var, address)[0])
    assert "nueva" in invitation_text
    assert portal.url in invitation_text

    context = browser.new_context(accept_downloads=True, locale="es-MX")
    page = context.new_page()
    page.goto(f"{portal.url}/login")
    shot(page, artifacts_dir, "01-login")
    sign_in(page, portal, "nueva", temporary)
    assert "/password/change" in page.url
    shot(page, artifacts_dir, "02-forced-change")

    # Nothing else is reachable until the password is changed.
    page.goto(f"{portal.url}/statements")
    assert "/password/change" in page.url

    change_password(page, temporary, NEW_PASSWORD)
    shot(page, artifacts_dir, "03-activated")
    page.get_by_text(re.compile("Comenzar de nuevo", re.IGNORECASE)).first.click()
    page.wait_for_load_state()
    assert "/login" in page.url

    # The temporary password died when it was used.
    sign_in(page, portal, "nueva", temporary)
    assert "/login" in page.url

    # 3. Sign in with the personal password.
    sign_in(page, portal, "nueva", NEW_PASSWORD)
    page.goto(f"{portal.url}/statements")
    shot(page, artifacts_dir, "04-selector")
    # The only customer is preselected; pick the company and generate.
    page.select_option("select[name=company]", company)
    submit(page)
    page.wait_for_load_state()
    assert f"/statements/{company}/{customer}/" in page.url
    shot(page, artifacts_dir, "05-statement")
    content = page.content()
    for label in ("Límite de crédito", "Saldo vencido", "Saldo a vencer", "Saldo total", "Crédito disponible"):
        assert label in content

    # Search filters the lines as you type.
    rows = page.locator("#statement-lines tbody tr")
    total_rows = rows.count()
    assert total_rows >= 1
    first_document = rows.first.locator("td").first.inner_text().strip()
    page.fill("#lines-search", first_document)
    page.wait_for_timeout(300)
    visible = [r for r in rows.all() if r.is_visible()]
    assert 1 <= len(visible) <= total_rows
    assert all(first_document in r.inner_text() for r in visible)
    shot(page, artifacts_dir, "06-search")

    # Descargar XLS.
    with page.expect_download() as xlsx_download:
        page.get_by_text(re.compile("Descargar XLS", re.IGNORECASE)).first.click()
    xlsx_path = artifacts_dir / xlsx_download.value.suggested_filename
    xlsx_download.value.save_as(xlsx_path)
    workbook = load_workbook(xlsx_path)
    assert customer in str([c.value for row in workbook.active.iter_rows(max_row=12) for c in row])

    # Descargar PDF: prepared by the worker, then downloaded.
    with page.expect_download(timeout=90_000) as pdf_download:
        page.get_by_text(re.compile("Descargar PDF", re.IGNORECASE)).first.click()
    pdf_path = artifacts_dir / pdf_download.value.suggested_filename
    pdf_download.value.save_as(pdf_path)
    assert pdf_path.read_bytes().startswith(b"%PDF")
    assert pdf_path.name.endswith(".pdf")

    # Sign out.
    page.locator("form[action$='/logout'] [type=submit]").first.click()
    page.wait_for_load_state()
    page.goto(f"{portal.url}/statements")
    assert "/login" in page.url

    # 2. Forgotten password: the same answer, an email, then the first-access flow again.
    page.goto(f"{portal.url}/login")
    page.get_by_text(re.compile("Olvid", re.IGNORECASE)).first.click()
    page.wait_for_load_state()
    assert "/password/forgot" in page.url
    shot(page, artifacts_dir, "07-forgot")
    page.fill("input[name=username]", "nueva")
    page.locator("input[name=username]").press("Enter")
    page.wait_for_load_state()
    shot(page, artifacts_dir, "08-forgot-sent")
    reset_password = wait_for_temporary_password(portal, address, 2)
    assert reset_password != temporary

    # The current password still works until the temporary one is used.
    sign_in(page, portal, "nueva", NEW_PASSWORD)
    page.goto(f"{portal.url}/statements")
    assert "/statements" in page.url
    page.locator("form[action$='/logout'] [type=submit]").first.click()
    page.wait_for_load_state()

    sign_in(page, portal, "nueva", reset_password)
    assert "/password/change" in page.url
    change_password(page, reset_password, NEWER_PASSWORD)
    page.get_by_text(re.compile("Comenzar de nuevo", re.IGNORECASE)).first.click()
    sign_in(page, portal, "nueva", NEWER_PASSWORD)
    page.goto(f"{portal.url}/statements")
    assert "/statements" in page.url
    shot(page, artifacts_dir, "09-signed-in-again")
    context.close()


def test_english_user_sees_english_pages(portal: Portal, browser: Any, artifacts_dir: Path) -> None:
    company, customer = first_customer(portal)
    address = "english.reader@example.com"
    created = portal.edocta("users", "add", "reader", "--email", address, "--customers", customer, "--language", "en")
    assert created.returncode == 0, created.stderr
    temporary = wait_for_temporary_password(portal, address, 1)
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    sign_in(page, portal, "reader", temporary)
    change_password(page, temporary, NEW_PASSWORD)
    sign_in(page, portal, "reader", NEW_PASSWORD)
    page.goto(f"{portal.url}/statements/{company}/{customer}/2026-10-31")
    shot(page, artifacts_dir, "statement-en")
    content = page.content()
    assert "Credit limit" in content or "Credit Limit" in content
    assert "October 31, 2026" in content
    context.close()
