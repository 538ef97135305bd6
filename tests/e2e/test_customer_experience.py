"""The statement as a customer meets it, in a real browser at desktop (1280) and phone (390x844) sizes, in Spanish
and English: the phone layout, the downloads in the language on screen and prepared in place, Buscar with one
match, the remembered customer, search and totals; axe-core, text sizes and sideways scrolling checked on every
page a customer sees."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from tests.accessibility import assert_accessible, assert_no_sideways_scroll, assert_text_at_least
from tests.factories import PASSWORD
from tests.servers import ROOT, Portal, business_today

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
USERS = {"es": "ux-es", "en": "ux-en"}
CUTOFF = business_today().isoformat()


@pytest.fixture(scope="module")
def experience(portal: Portal) -> dict[str, str]:
    """The look-and-feel data imported into the running portal, with known passwords for its users."""
    folder = portal.root / "experience-data"
    script = (
        "import sys; from pathlib import Path; from shared.clock import today; "
        "from tests.factories import write_experience_data; write_experience_data(Path(sys.argv[1]), today())"
    )
    written = subprocess.run([sys.executable, "-c", script, str(folder)], cwd=ROOT, env=portal.env, check=False)
    assert written.returncode == 0
    done = portal.edocta("import", str(folder))
    assert done.returncode == 0, done.stderr
    passwords = (
        "from tests.factories import set_password\nfor name in ('ux-es', 'ux-en', 'ux-admin'): set_password(name)"
    )
    done_passwords = subprocess.run(
        [sys.executable, "-c", passwords], cwd=portal.root, env=portal.env, capture_output=True, text=True, check=False
    )
    assert done_passwords.returncode == 0, done_passwords.stderr
    return {"customer": "990001", "single": "990002", "company": "1000", "amount": "104,282.12"}


def open_page(browser: Any, portal: Portal, username: str | None, viewport: dict[str, int], **options: Any) -> Any:
    context = browser.new_context(viewport=viewport, accept_downloads=True, **options)
    page = context.new_page()
    if username:
        page.goto(f"{portal.url}/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.locator("input[name=password]").press("Enter")
        page.wait_for_url("**/statements")
    return page


@pytest.fixture(scope="module")
def pages(browser: Any, portal: Portal, experience: dict[str, str]) -> Iterator[dict[tuple[str, str], Any]]:
    """One signed-in page per language and size, reused by every test of the module."""
    opened = {
        (language, size): open_page(browser, portal, USERS[language], viewport)
        for language in ("es", "en")
        for size, viewport in (("desktop", DESKTOP), ("phone", PHONE))
    }
    yield opened
    for page in opened.values():
        page.context.close()


def statement_path(experience: dict[str, str], company: str | None = None, cutoff: str = CUTOFF) -> str:
    return f"/statements/{company or experience['company']}/{experience['customer']}/{cutoff}"


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def check_everyone_can_read(page: Any) -> None:
    assert_accessible(page)
    assert_text_at_least(page, 12)
    assert_no_sideways_scroll(page)


def looked_at_statement(page: Any, portal: Portal, experience: dict[str, str], artifacts: Path, name: str) -> Any:
    """The statement of the customer with many lines, opened, saved as a screenshot and checked for everyone."""
    page.goto(portal.url + statement_path(experience))
    shot(page, artifacts, name)
    check_everyone_can_read(page)
    return page


@pytest.mark.parametrize("language", ["es", "en"])
def test_statement_on_a_phone_stacks_figures_and_lines(
    pages: dict[tuple[str, str], Any], portal: Portal, experience: dict[str, str], language: str, artifacts_dir: Path
) -> None:
    page = looked_at_statement(pages[(language, "phone")], portal, experience, artifacts_dir, f"phone-{language}")

    # The figures stack: one under the other, each label beside its amount, inside the screen.
    figures = page.locator(".st-figures__table tbody tr").first.locator("td")
    boxes = [figures.nth(i).bounding_box() for i in range(figures.count())]
    assert len(boxes) == 5
    assert all(b is not None and b["x"] >= 0 and b["x"] + b["width"] <= PHONE["width"] for b in boxes)
    assert all(a["y"] + a["height"] <= b["y"] + 1 for a, b in itertools.pairwise(boxes))  # type: ignore[index]
    label = page.evaluate("(cell) => getComputedStyle(cell, '::before').content", figures.nth(3).element_handle())
    assert ("Saldo total" if language == "es" else "Total balance") in label

    # Each line is a card: document, dates, days overdue and amount all visible, within the screen.
    card = page.locator("#statement-lines tbody tr").first
    card_box = card.bounding_box()
    assert card_box is not None and card_box["x"] >= 0 and card_box["x"] + card_box["width"] <= PHONE["width"]
    assert card.evaluate("(row) => getComputedStyle(row).display") == "grid"
    for column in (1, 4, 5, 6, 7):  # document, date, due date, days overdue, amount
        cell = card.locator(f"td:nth-child({column})")
        assert cell.is_visible()
        box = cell.bounding_box()
        assert box is not None and box["x"] + box["width"] <= card_box["x"] + card_box["width"] + 1
    due_label = page.evaluate(
        "(cell) => getComputedStyle(cell, '::before').content", card.locator("td").nth(4).element_handle()
    )
    assert ("Vencimiento" if language == "es" else "Due date") in due_label


@pytest.mark.parametrize("language", ["es", "en"])
def test_statement_on_a_desktop_is_a_table_whose_header_stays_in_view(
    pages: dict[tuple[str, str], Any], portal: Portal, experience: dict[str, str], language: str, artifacts_dir: Path
) -> None:
    page = looked_at_statement(pages[(language, "desktop")], portal, experience, artifacts_dir, f"desktop-{language}")
    rows = page.locator("#statement-lines tbody tr")
    assert rows.count() == 226
    assert rows.first.evaluate("(row) => getComputedStyle(row).display") == "table-row"

    # Scrolled to the 150th line, the header is still at the top of the window.
    rows.nth(150).scroll_into_view_if_needed()
    header = page.locator("#statement-lines thead th").first.bounding_box()
    assert header is not None and -1 <= header["y"] <= 1

    # The totals under the table end where the amounts end.
    amount = rows.nth(0).locator("td:nth-child(7)")
    total = page.locator("#statement-lines tfoot tr").first.locator("td").first
    right = page.evaluate(
        "([a, t]) => [a.getBoundingClientRect().right, t.getBoundingClientRect().right, getComputedStyle(t).textAlign]",
        [amount.element_handle(), total.element_handle()],
    )
    assert abs(right[0] - right[1]) < 1 and right[2] == "right"

    # Searching an amount with or without its thousands separators finds the same line.
    search = page.locator("#lines-search")
    for text in (experience["amount"], experience["amount"].replace(",", "")):
        search.fill(text)
        page.wait_for_timeout(250)
        visible = [row for row in rows.all() if row.is_visible()]
        assert len(visible) == 1 and experience["amount"] in visible[0].inner_text()
    search.fill("")


@pytest.mark.parametrize("language", ["es", "en"])
def test_downloads_use_the_language_on_screen_and_prepare_in_place(
    pages: dict[tuple[str, str], Any], portal: Portal, experience: dict[str, str], language: str, artifacts_dir: Path
) -> None:
    page = pages[(language, "desktop")]
    cutoff = (business_today() - dt.timedelta(days=3 if language == "es" else 4)).isoformat()  # never rendered yet
    page.goto(portal.url + statement_path(experience, cutoff=cutoff))
    address = page.url
    prefix, title = (
        ("estado-de-cuenta_", "ESTADO DE CUENTA") if language == "es" else ("account-statement_", "ACCOUNT STATEMENT")
    )

    # The first PDF is made by a worker: the page says so in place, then the download starts by itself.
    with page.expect_download(timeout=90_000) as pdf_download:
        page.locator(".statement-actions a[href$='.pdf']").click()
        status = page.locator("#download-status")
        status.wait_for(state="visible", timeout=10_000)
        shot(page, artifacts_dir, f"preparing-in-place-{language}")
        assert_accessible(page, "the statement page while a file is prepared")
    assert page.url == address
    download = pdf_download.value
    assert download.suggested_filename == f"{prefix}1000_990001_{cutoff}.pdf"
    pdf_text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(Path(download.path()).read_bytes())).pages)
    assert title in pdf_text

    with page.expect_download(timeout=30_000) as xlsx_download:
        page.locator(".statement-actions a[href$='.xlsx']").click()
    assert xlsx_download.value.suggested_filename == f"{prefix}1000_990001_{cutoff}.xlsx"
    sheet = load_workbook(io.BytesIO(Path(xlsx_download.value.path()).read_bytes())).active
    cells = " ".join(str(c.value) for row in sheet.iter_rows(max_row=15) for c in row if c.value is not None)
    assert ("Estado de cuenta" if language == "es" else "Account statement") in cells

    # The PDF now comes straight from the store.
    with page.expect_download(timeout=30_000) as again:
        page.locator(".statement-actions a[href$='.pdf']").click()
    assert again.value.suggested_filename == download.suggested_filename


@pytest.mark.parametrize("javascript", [True, False], ids=["script", "no-script"])
def test_buscar_with_one_match_selects_it_and_its_company(
    browser: Any, portal: Portal, experience: dict[str, str], javascript: bool, artifacts_dir: Path
) -> None:
    page = open_page(browser, portal, USERS["es"], PHONE if javascript else DESKTOP, java_script_enabled=javascript)
    page.goto(f"{portal.url}/statements")
    page.fill("#q", experience["single"])
    page.locator("button[value=search]").click()
    page.wait_for_load_state()
    assert page.locator("#customer").input_value() == experience["single"]
    assert page.locator("#company").input_value() == experience["company"]  # its only company
    shot(page, artifacts_dir, f"buscar-single-{'script' if javascript else 'no-script'}")
    if javascript:  # (a page without scripts cannot run axe-core)
        check_everyone_can_read(page)

    # One match with two companies: the customer is chosen and both companies are offered.
    page.fill("#q", experience["customer"])
    if javascript:  # as you type, without pressing Buscar
        page.wait_for_function("() => document.querySelector('#customer').value === '990001'")
        page.wait_for_function("() => document.querySelectorAll('#company option').length === 3")
    else:
        page.locator("button[value=search]").click()
        page.wait_for_load_state()
    assert page.locator("#customer").input_value() == experience["customer"]
    companies = page.locator("#company option").all_inner_texts()
    assert any(text.startswith("1000") for text in companies) and any(text.startswith("2000") for text in companies)
    page.context.close()


def test_the_menu_remembers_the_last_customer_and_company(
    pages: dict[tuple[str, str], Any], portal: Portal, experience: dict[str, str]
) -> None:
    page = pages[("es", "phone")]
    page.goto(portal.url + statement_path(experience, company="2000"))
    page.locator(".site-nav a[href='/statements']").click()
    page.wait_for_load_state()
    assert page.locator("#customer").input_value() == experience["customer"]
    assert page.locator("#company").input_value() == "2000"


@pytest.mark.parametrize("language", ["es", "en"])
def test_signed_out_pages_pass_axe(browser: Any, portal: Portal, language: str, artifacts_dir: Path) -> None:
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = open_page(browser, portal, None, viewport)
        page.goto(f"{portal.url}/login?lang={language}")
        for path in ("/login", "/password/forgot", "/no-such-page"):
            page.goto(portal.url + path)
            assert page.locator("html").get_attribute("lang").startswith(language)  # type: ignore[union-attr]
            shot(page, artifacts_dir, f"{path.strip('/').replace('/', '-')}-{size}-{language}")
            check_everyone_can_read(page)
        page.context.close()


def never_rendered(days_ago: int) -> str:
    return (business_today() - dt.timedelta(days=days_ago)).isoformat()


@pytest.mark.parametrize("language", ["es", "en"])
def test_signed_in_pages_pass_axe_and_errors_keep_the_menu(
    pages: dict[tuple[str, str], Any], portal: Portal, experience: dict[str, str], language: str, artifacts_dir: Path
) -> None:
    # A cut-off of its own per language and size: once asked for, a file is soon ready, and then it downloads.
    days = {("es", "desktop"): 5, ("en", "desktop"): 6, ("es", "phone"): 7, ("en", "phone"): 8}
    period_start = (business_today() - dt.timedelta(days=60)).isoformat()
    for size in ("desktop", "phone"):
        page = pages[(language, size)]
        for name, path in (
            ("selector", "/statements"),
            ("password-change", "/password/change"),
            ("not-found", "/no/such/page"),
            ("forbidden", "/ops"),
            ("activity", statement_path(experience, cutoff=f"activity/{period_start}/{CUTOFF}")),
            ("sent", statement_path(experience, cutoff="sent")),
            ("preparing", statement_path(experience, cutoff=never_rendered(days[(language, size)])) + ".pdf"),
        ):
            page.goto(portal.url + path)
            shot(page, artifacts_dir, f"{name}-{size}-{language}")
            check_everyone_can_read(page)
            if name in ("not-found", "forbidden"):
                assert page.locator("nav.site-nav a[href='/statements']").is_visible()


def test_admin_pages_pass_axe_in_both_languages(
    browser: Any, portal: Portal, experience: dict[str, str], artifacts_dir: Path
) -> None:
    # A run (at a cut-off with nothing due, so the worker is done at once) fills the ops page's runs table.
    started = portal.edocta("run", "--cutoff", "2020-01-31", "--company", "3000")
    assert started.returncode == 0, started.stderr
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = open_page(browser, portal, "ux-admin", viewport)
        for language in ("es", "en"):
            if language == "en":
                page.locator("footer button[value=en]").click()
                page.wait_for_load_state()
            for name, path in (("ops", "/ops"), ("users", "/users"), ("user", "/users?q=ux-es")):
                page.goto(portal.url + path)
                if name == "user":
                    page.locator("main table a").first.click()
                    page.wait_for_load_state()
                shot(page, artifacts_dir, f"{name}-{size}-{language}")
                check_everyone_can_read(page)
        page.context.close()
