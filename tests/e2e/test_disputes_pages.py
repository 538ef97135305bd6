"""Disputes and invoice documents in a real browser, in both languages: a customer user opens a dispute from the
statement page with JavaScript and without it, staff answer it from /disputes; axe-core (WCAG 2.1 AA) finds no
violation on the statement page (marks, document links, thread, form, a refused form) nor on /disputes, and at
390 px neither page scrolls sideways."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.accessibility import assert_no_sideways_scroll, assert_text_at_least, axe_violations, describe
from tests.servers import Portal, business_today

pytestmark = pytest.mark.e2e

PASSWORD = "una frase de prueba bastante larga"
WIDTHS = {"desktop": 1280, "phone": 390}


@pytest.fixture(scope="module")
def dispute_users(portal: Portal) -> None:
    """Customer users of the demo's first customer (which has invoice documents) and staff, in both languages."""
    script = (
        "from tests.factories import create_test_user\n"
        "for language in ('es', 'en'):\n"
        "    name = f'aclara-{language}'\n"
        "    create_test_user(role='customer', username=name, language=language, customers=['100001'])\n"
        "    create_test_user(role='staff', username=f'cobra-{language}', language=language)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=portal.root, env=portal.env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def sign_in(page: Any, portal: Portal, username: str) -> None:
    page.goto(f"{portal.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.locator("input[name=password]").press("Enter")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()[:2000]


def check(page: Any, name: str, artifacts: Path, found: dict[str, str]) -> None:
    """axe at desktop width, then no sideways scroll and no tiny text at phone width; screenshots of both."""
    page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})
    violations = axe_violations(page)
    if violations:
        found[name] = describe(violations)
    page.screenshot(path=str(artifacts / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size({"width": WIDTHS["phone"], "height": 844})
    assert_no_sideways_scroll(page)
    assert_text_at_least(page, 12)
    violations = axe_violations(page)
    if violations:
        found[f"{name}-phone"] = describe(violations)
    page.screenshot(path=str(artifacts / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})


@pytest.mark.parametrize("language", ["es", "en"])
def test_dispute_pages_with_and_without_javascript(
    portal: Portal, browser: Any, dispute_users: None, artifacts_dir: Path, language: str
) -> None:
    locale = "es-MX" if language == "es" else "en-US"
    statement = f"{portal.url}/statements/1000/100001/{business_today().isoformat()}"
    found: dict[str, str] = {}

    # With JavaScript: "Aclarar" fills in the form in place.
    context = browser.new_context(viewport={"width": WIDTHS["desktop"], "height": 900}, locale=locale)
    page = context.new_page()
    sign_in(page, portal, f"aclara-{language}")
    page.goto(statement)
    assert page.locator("a.st-doc").count() >= 2  # the demo's invoices come with their PDF and XML
    first = page.locator("a.st-dispute-link").first
    document = first.locator("xpath=..").get_attribute("data-value")
    url_before = page.url
    first.click()
    assert page.url.split("#")[0] == url_before.split("#")[0]
    assert page.input_value("#dispute-document") == document
    page.fill("#dispute-message", "x" * 2001)
    page.locator("#dispute-form button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator("#dispute-error").count() == 1
    assert page.input_value("#dispute-message") == "x" * 2001
    check(page, f"statement-refused-{language}", artifacts_dir, found)
    page.fill("#dispute-message", f"Dispute by script ({language})")
    page.locator("#dispute-form button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator(f"text=Dispute by script ({language})").count() == 1
    assert page.locator("tr[data-disputed]").count() >= 1
    check(page, f"statement-disputes-{language}", artifacts_dir, found)
    context.close()

    # Without JavaScript: the link reloads the page with the document filled in, the form posts and returns.
    context = browser.new_context(
        viewport={"width": WIDTHS["desktop"], "height": 900}, locale=locale, java_script_enabled=False
    )
    page = context.new_page()
    sign_in(page, portal, f"aclara-{language}")
    page.goto(statement)
    link = page.locator("a.st-dispute-link").first
    document = link.locator("xpath=..").get_attribute("data-value")
    link.click()
    page.wait_for_load_state()
    assert "dispute=" in page.url
    assert page.input_value("#dispute-document") == document
    page.fill("#dispute-message", f"Dispute without script ({language})")
    page.locator("#dispute-form button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator(f"text=Dispute without script ({language})").count() == 1
    context.close()

    # Staff answer from /disputes.
    context = browser.new_context(viewport={"width": WIDTHS["desktop"], "height": 900}, locale=locale)
    page = context.new_page()
    sign_in(page, portal, f"cobra-{language}")
    page.goto(f"{portal.url}/disputes?customer=100001")
    check(page, f"disputes-{language}", artifacts_dir, found)
    card = page.locator(".dispute-card", has_text=f"Dispute by script ({language})")
    card.locator("textarea").fill(f"Reply ({language})")
    card.locator("form.dispute-reply button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator(f"text=Reply ({language})").count() == 1
    check(page, f"disputes-replied-{language}", artifacts_dir, found)
    context.close()

    assert found == {}
