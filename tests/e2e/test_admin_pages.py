"""The administrators' and operators' pages in a real browser, in both languages: axe-core (WCAG 2.1 AA) finds no
violation on any of them, and each is captured at desktop (1280 px) and phone (390 px) width, where the page never
scrolls sideways."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.accessibility import axe_violations, describe
from tests.servers import Portal

pytestmark = pytest.mark.e2e

PASSWORD = "una frase de prueba bastante larga"
WIDTHS = {"desktop": 1280, "phone": 390}


@pytest.fixture(scope="module")
def admin_data(portal: Portal) -> dict[str, int]:
    """Two admins (Spanish, English), a customer user whose invitation is pending, a run with every outcome and a
    dispute email the server refused."""
    script = (
        "from tests.factories import create_test_user, seed_run_outcomes\n"
        "from shared.db import session_scope\n"
        "from shared.accounts import create_user\n"
        "es = create_test_user(role='admin', username='ops-es', language='es', full_name='Olga Operaciones')\n"
        "create_test_user(role='admin', username='ops-en', language='en', full_name='Owen Ops')\n"
        "with session_scope() as session:\n"
        "    invited = create_user(session, username='por.invitar', email='por.invitar@example.com').id\n"
        "run = seed_run_outcomes(sent=3).run\n"
        "from sqlalchemy import select\n"
        "from shared.models import Company, Customer, Dispute, DisputeEmail, DisputeMessage\n"
        "with session_scope() as session:\n"
        "    company = session.scalars(select(Company).where(Company.code == '1000')).one()\n"
        "    customer = session.scalars(select(Customer).where(Customer.number == 'S0000')).one()\n"
        "    dispute = Dispute(company_id=company.id, customer_id=customer.id, document_number='FAC-0001')\n"
        "    session.add(dispute)\n"
        "    session.flush()\n"
        "    message = DisputeMessage(dispute_id=dispute.id, author='cliente', author_role='customer', body='?')\n"
        "    session.add(message)\n"
        "    session.flush()\n"
        "    session.add(DisputeEmail(message_id=message.id, recipient='cobranza@example.com', status='failed',\n"
        "                             attempts=3, last_error='550 5.1.1 <cobranza@example.com>: no such user'))\n"
        "print(run, invited)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=portal.root, env=portal.env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    run, invited = (int(word) for word in done.stdout.split())
    return {"run": run, "invited": invited}


def sign_in(page: Any, portal: Portal, username: str) -> None:
    page.goto(f"{portal.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.locator("input[name=password]").press("Enter")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()[:2000]


def pages(data: dict[str, int]) -> list[tuple[str, str]]:
    run, invited = data["run"], data["invited"]
    return [
        ("users", "/users"),
        ("user", f"/users/{invited}"),
        ("user-disable", f"/users/{invited}/disable"),
        ("ops", "/ops"),
        ("run", f"/ops/runs/{run}"),
        ("run-cancel", f"/ops/runs/{run}/cancel"),
        ("workers", "/ops/workers"),
        ("emails", "/ops/emails"),
        ("emails-disputes", "/ops/emails?kind=disputes"),
        ("audit", "/ops/audit"),
    ]


@pytest.mark.parametrize("language", ["es", "en"])
def test_admin_and_ops_pages_have_no_axe_violation_at_desktop_and_phone_width(
    portal: Portal, browser: Any, admin_data: dict[str, int], artifacts_dir: Path, language: str
) -> None:
    locale = "es-MX" if language == "es" else "en-US"
    context = browser.new_context(viewport={"width": WIDTHS["desktop"], "height": 900}, locale=locale)
    page = context.new_page()
    sign_in(page, portal, f"ops-{language}")
    found: dict[str, str] = {}
    wide: dict[str, int] = {}
    for name, path in pages(admin_data):
        page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})
        page.goto(f"{portal.url}{path}")
        assert page.locator("html").get_attribute("lang") == ("es-MX" if language == "es" else "en")
        found[name] = describe(axe_violations(page))
        page.screenshot(path=str(artifacts_dir / f"{name}-{language}-desktop.png"), full_page=True)
        page.set_viewport_size({"width": WIDTHS["phone"], "height": 844})
        page.screenshot(path=str(artifacts_dir / f"{name}-{language}-phone.png"), full_page=True)
        # On a phone the page itself never scrolls sideways (tables become one card per row).
        wide[name] = page.evaluate("document.documentElement.scrollWidth")
    # The confirmation step of a run for every company.
    page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})
    page.goto(f"{portal.url}/ops")
    page.select_option("#run-company", "")
    page.locator("#ops-runs form button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator("#start-title").count() == 1
    found["run-start"] = describe(axe_violations(page))
    page.screenshot(path=str(artifacts_dir / f"run-start-{language}-desktop.png"), full_page=True)
    context.close()
    assert {name: v for name, v in found.items() if v} == {}
    assert {name: width for name, width in wide.items() if width > WIDTHS["phone"]} == {}
