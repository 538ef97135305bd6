"""The ops page: admins only; runs with progress and counters, failed emails with the reason, resend, queues,
workers, starting a run."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from shared.db import session_scope
from shared.models import Account, AuditEvent, Company, Customer, OutboxEmail, RunAccount, StatementRun
from shared.vocab import Task
from tests.factories import CUTOFF
from tests.portal import hidden_inputs
from tests.servers import queued_tasks

REASON = "550 5.1.1 <nadie@example.com>: no such user"


def seed_run() -> dict[str, int]:
    """One run at CUTOFF over two accounts: one email sent, one failed with the server's reply."""
    with session_scope() as session:
        company = session.scalar(select(Company).where(Company.code == "1000"))
        alvarez = session.scalar(select(Customer).where(Customer.number == "100001"))
        acme = session.scalar(select(Customer).where(Customer.number == "100002"))
        assert company and alvarez and acme
        accounts = list(session.scalars(select(Account).where(Account.company_id == company.id).order_by(Account.id)))
        run = StatementRun(run_key="test:ops", cutoff=CUTOFF, trigger="cli", status="running", accounts=len(accounts))
        session.add(run)
        session.flush()
        for account in accounts:
            session.add(RunAccount(run_id=run.id, account_id=account.id, status="done", rendered=2))
        sent = OutboxEmail(
            run_id=run.id,
            company_id=company.id,
            customer_id=acme.id,
            cutoff=CUTOFF,
            recipient="pagos@acme.example",
            status="sent",
            attempts=1,
            sent_at=dt.datetime.now(dt.UTC),
        )
        failed = OutboxEmail(
            run_id=run.id,
            company_id=company.id,
            customer_id=alvarez.id,
            cutoff=CUTOFF,
            recipient="nadie@example.com",
            status="failed",
            attempts=1,
            last_error=REASON,
        )
        session.add_all([sent, failed])
        session.flush()
        return {"run": run.id, "failed": failed.id, "sent": sent.id}


def send_tasks(var: Path) -> list[list[Any]]:
    return [task.args for task in queued_tasks(var) if task.name == Task.SEND_EMAIL]


def test_ops_page_is_for_admins_only(portal_client: Callable[[str], TestClient[Any]]) -> None:
    ids = seed_run()
    for name in ("alice", "sofia"):
        client = portal_client(name)
        page = client.get("/ops", follow_redirects=False)
        assert page.status_code == 403, name
        assert "nadie@example.com" not in page.text and REASON not in page.text
        assert client.get("/ops/runs.json", follow_redirects=False).status_code == 403
        form = hidden_inputs(client.get("/statements").text)
        refused = client.post(f"/ops/emails/{ids['failed']}/resend", data=form, follow_redirects=False)
        assert refused.status_code == 403
        started = client.post("/ops/runs", data={**form, "cutoff": CUTOFF.isoformat()}, follow_redirects=False)
        assert started.status_code == 403
    with session_scope() as session:
        row = session.get(OutboxEmail, ids["failed"])
        assert row is not None and row.status == "failed" and row.generation == 1
        assert session.scalar(select(StatementRun.id).where(StatementRun.id != ids["run"])) is None


def test_ops_page_shows_runs_failed_emails_queues_and_workers(
    portal_client: Callable[[str], TestClient[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = seed_run()
    monkeypatch.setenv("EDOCTA_FLOWER_URL", "http://127.0.0.1:5555/flower")
    from shared.settings import reset_settings

    reset_settings()
    page = portal_client("ana").get("/ops")
    assert page.status_code == 200
    assert "no-store" in page.headers["cache-control"]
    text = page.text
    run_row = re.search(rf'<tr data-run="{ids["run"]}".*?</tr>', text, re.S)
    assert run_row, text
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", run_row.group(0), re.S)]
    assert cells[1] == CUTOFF.isoformat()
    assert cells[7] == "3 de 3"  # accounts processed of all
    assert cells[9] == "1" and cells[10] == "1"  # sent, failed
    assert re.search(r'<progress max="100" value="\d+"', run_row.group(0))
    failed_row = re.search(rf'<tr data-email="{ids["failed"]}">.*?</tr>', text, re.S)
    assert failed_row
    assert "nadie@example.com" in failed_row.group(0)
    assert "550 5.1.1 &lt;nadie@example.com&gt;: no such user" in failed_row.group(0)
    assert f'action="/ops/emails/{ids["failed"]}/resend"' in failed_row.group(0)
    assert f'data-email="{ids["sent"]}"' not in text  # sent emails are not failures
    assert 'id="ops-queues"' in text and "<td>mail</td>" in text and "<td>render</td>" in text
    assert "Ningún trabajador responde." in text
    assert 'href="http://127.0.0.1:5555/flower"' in text
    data = portal_client("ana").get("/ops/runs.json").json()
    assert [(run["id"], run["sent"], run["failed"]) for run in data["runs"]] == [(ids["run"], 1, 1)]


def test_resend_needs_the_csrf_token_and_queues_a_new_attempt(
    portal_client: Callable[[str], TestClient[Any]], var_dir: Path
) -> None:
    ids = seed_run()
    client = portal_client("ana")
    page = client.get("/ops")
    refused = client.post(f"/ops/emails/{ids['failed']}/resend", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert send_tasks(var_dir) == []

    form = hidden_inputs(page.text)
    response = client.post(f"/ops/emails/{ids['failed']}/resend", data=form, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ops"
    after = client.get("/ops")
    assert "Correo reenviado a nadie@example.com." in after.text
    assert f'data-email="{ids["failed"]}"' not in after.text  # no longer failed: pending again
    with session_scope() as session:
        row = session.get(OutboxEmail, ids["failed"])
        assert row is not None
        assert (row.status, row.generation, row.last_error) == ("pending", 2, "")
        event = session.scalar(select(AuditEvent).where(AuditEvent.event == "email_resend"))
        assert event is not None and event.username == "ana"
    assert send_tasks(var_dir) == [[ids["failed"]]]

    missing = client.post("/ops/emails/999999/resend", data=hidden_inputs(after.text), follow_redirects=True)
    assert "Ese correo ya no existe." in missing.text


def test_an_admin_starts_a_run_and_a_future_cutoff_is_refused(portal_client: Callable[[str], TestClient[Any]]) -> None:
    client = portal_client("ana")
    form = hidden_inputs(client.get("/ops").text)
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    refused = client.post("/ops/runs", data={**form, "cutoff": future}, follow_redirects=True)
    assert "La fecha de corte no puede ser futura." in refused.text
    unknown = client.post("/ops/runs", data={**form, "cutoff": CUTOFF.isoformat(), "company": "nope"})
    assert "No existe esa empresa." in unknown.text
    with session_scope() as session:
        assert session.scalar(select(StatementRun.id)) is None
    started = client.post("/ops/runs", data={**form, "cutoff": CUTOFF.isoformat(), "company": "1000"})
    assert started.status_code == 200
    with session_scope() as session:
        run = session.scalar(select(StatementRun))
        assert run is not None and run.cutoff == CUTOFF and run.trigger == "admin"
    assert f"Corrida {run.id} iniciada." in started.text
    assert f'<tr data-run="{run.id}"' in started.text
