"""The ops pages: admins only; the overview (services, runs, failed emails, queues, workers), a page per run with
each account's outcome, retry and cancel, starting a run with its confirmation step, the email and audit logs."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from shared import mail, runs
from shared.db import session_scope
from shared.models import Account, AuditEvent, Company, Customer, OutboxEmail, RunAccount, StatementRun
from shared.vocab import Task
from tests.factories import CUTOFF, REFUSED, seed_run_outcomes
from tests.portal import hidden_inputs, post_form
from tests.servers import SMTPServer, queued_tasks, use_environment

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


def cells(row_html: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", c)).strip()
        for c in re.findall(r"<td[^>]*>(.*?)</td>", row_html, re.S)
    ]


def rows(html: str, attribute: str) -> dict[str, str]:
    """The table rows of a page by the value of their `data-<attribute>`."""
    return {m.group(1): m.group(0) for m in re.finditer(rf'<tr data-{attribute}="([^"]+)".*?</tr>', html, re.S)}


def test_ops_pages_are_for_admins_only(portal_client: Callable[[str], TestClient[Any]]) -> None:
    ids = seed_run()
    for name in ("alice", "sofia"):
        client = portal_client(name)
        for path in (
            "/ops",
            "/ops/runs.json",
            f"/ops/runs/{ids['run']}",
            f"/ops/runs/{ids['run']}/progress",
            f"/ops/runs/{ids['run']}/cancel",
            "/ops/workers",
            "/ops/emails?q=nadie",
            "/ops/audit",
        ):
            page = client.get(path, follow_redirects=False)
            assert page.status_code == 403, (name, path)
            assert "nadie@example.com" not in page.text and REASON not in page.text
        form = hidden_inputs(client.get("/statements").text)
        for action in (
            f"/ops/emails/{ids['failed']}/resend",
            f"/ops/runs/{ids['run']}/retry",
            f"/ops/runs/{ids['run']}/cancel",
        ):
            assert client.post(action, data=form, follow_redirects=False).status_code == 403, (name, action)
        started = client.post("/ops/runs", data={**form, "cutoff": CUTOFF.isoformat()}, follow_redirects=False)
        assert started.status_code == 403
    with session_scope() as session:
        row = session.get(OutboxEmail, ids["failed"])
        assert row is not None and row.status == "failed" and row.generation == 1
        run = session.get(StatementRun, ids["run"])
        assert run is not None and run.status == "running"
        assert session.scalar(select(StatementRun.id).where(StatementRun.id != ids["run"])) is None


def test_the_overview_shows_services_runs_failed_emails_queues_and_workers(
    portal_client: Callable[[str], TestClient[Any]], monkeypatch: pytest.MonkeyPatch, var_dir: Path
) -> None:
    ids = seed_run()
    use_environment(monkeypatch, EDOCTA_FLOWER_URL="http://127.0.0.1:5555/flower")
    page = portal_client("ana").get("/ops")
    assert page.status_code == 200
    assert "no-store" in page.headers["cache-control"]
    text = page.text
    run_cells = cells(rows(text, "run")[str(ids["run"])])
    assert run_cells[0] == f"Corrida {ids['run']}" and f'href="/ops/runs/{ids["run"]}"' in text
    assert run_cells[1] == f"{CUTOFF.isoformat()} Todas"
    assert run_cells[4].endswith("3 de 3 cuentas")  # accounts processed of all
    assert run_cells[5] == "1" and run_cells[6] == "1"  # sent, failed
    assert re.search(r'<progress max="100" value="\d+"', rows(text, "run")[str(ids["run"])])
    failed_row = rows(text, "email")[str(ids["failed"])]
    assert "nadie@example.com" in failed_row
    assert "550 5.1.1 &lt;nadie@example.com&gt;: no such user" in failed_row
    assert f'action="/ops/emails/{ids["failed"]}/resend"' in failed_row
    assert str(ids["sent"]) not in rows(text, "email")  # sent emails are not failures
    # Services at a glance: on embedded defaults, the database, the broker folder and the outbox folder answer.
    for service in ("database", "broker", "mail"):
        tile = re.search(rf'<li class="health__tile[^"]*" data-service="{service}">(.*?)</li>', text, re.S)
        assert tile and "responde" in tile.group(1) and "no responde" not in tile.group(1), service
    assert str(var_dir / "outbox") in text
    assert (
        "Correos en espera" in text and "Último aviso del servidor de correo" in text and "550 5.1.1 &lt;nadie" in text
    )
    assert 'id="ops-queues"' in text and "<td>mail</td>" in text and "<td>render</td>" in text
    assert "Ningún trabajador responde." in text
    assert 'href="http://127.0.0.1:5555/flower"' in text
    for link in ('href="/ops/workers"', 'href="/ops/emails"', 'href="/ops/audit"'):
        assert link in text
    data = portal_client("ana").get("/ops/runs.json").json()
    assert [(run["id"], run["sent"], run["failed"]) for run in data["runs"]] == [(ids["run"], 1, 1)]


def test_smtp_health_says_whether_the_server_answers(
    portal_client: Callable[[str], TestClient[Any]], monkeypatch: pytest.MonkeyPatch, smtp_server: SMTPServer
) -> None:
    from shared.health import service_health

    client = portal_client("ana")
    use_environment(monkeypatch, EDOCTA_SMTP_URL=smtp_server.url)
    tile = re.search(r'data-service="mail">(.*?)</li>', client.get("/ops").text, re.S)
    assert tile and "responde" in tile.group(1) and f"smtp://127.0.0.1:{smtp_server.port}" in tile.group(1)
    assert "no responde" not in tile.group(1)
    use_environment(monkeypatch, EDOCTA_SMTP_URL="smtp://127.0.0.1:1")  # nobody listens there
    service_health(fresh=True)
    tile = re.search(r'data-service="mail">(.*?)</li>', client.get("/ops").text, re.S)
    assert tile and "no responde" in tile.group(1) and "health__error" in tile.group(1)


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
    assert str(ids["failed"]) not in rows(after.text, "email")  # no longer failed: pending again
    with session_scope() as session:
        row = session.get(OutboxEmail, ids["failed"])
        assert row is not None
        assert (row.status, row.generation, row.last_error) == ("pending", 2, "")
        event = session.scalar(select(AuditEvent).where(AuditEvent.event == "email_resend"))
        assert event is not None and event.username == "ana"
    assert send_tasks(var_dir) == [[ids["failed"]]]

    missing = client.post("/ops/emails/999999/resend", data=hidden_inputs(after.text), follow_redirects=True)
    assert "Ese correo ya no existe." in missing.text


def test_starting_a_run_asks_first_for_every_company_and_starts_one_company_at_once(
    portal_client: Callable[[str], TestClient[Any]],
) -> None:
    client = portal_client("ana")
    form = hidden_inputs(client.get("/ops").text)
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    assert "La fecha de corte no puede ser futura." in client.post("/ops/runs", data={**form, "cutoff": future}).text
    unknown = client.post("/ops/runs", data={**form, "cutoff": CUTOFF.isoformat(), "company": "nope"})
    assert "No existe esa empresa." in unknown.text
    assert "AAAA-MM-DD" in client.post("/ops/runs", data={**form, "cutoff": "31/10/2026"}).text

    # Every company: a confirmation step that says what the run covers, and nothing started yet.
    asked = client.post("/ops/runs", data={**form, "cutoff": CUTOFF.isoformat(), "company": ""})
    assert asked.status_code == 200
    assert "¿Iniciar la corrida?" in asked.text and "Todas las empresas" in asked.text
    assert re.search(r"<dt>Cuentas</dt><dd>4</dd>", asked.text)
    with session_scope() as session:
        assert session.scalar(select(StatementRun.id)) is None
    confirmed = client.post("/ops/runs", data=hidden_inputs(asked.text), follow_redirects=False)
    assert confirmed.status_code == 303
    with session_scope() as session:
        run = session.scalar(select(StatementRun))
        assert run is not None and run.cutoff == CUTOFF and run.trigger == "admin" and run.company_id is None
    assert confirmed.headers["location"] == f"/ops/runs/{run.id}"
    page = client.get(confirmed.headers["location"])
    assert f"Corrida {run.id} iniciada." in page.text and f"Corrida {run.id}" in page.text

    # One company with nothing mailed yet at that cut-off starts at once.
    one = client.post("/ops/runs", data={**form, "cutoff": CUTOFF.isoformat(), "company": "2000"})
    assert one.status_code == 200 and "iniciada." in one.text
    with session_scope() as session:
        assert session.scalar(select(StatementRun).order_by(StatementRun.id.desc())).company_id is not None


def test_a_rerun_of_a_mailed_cutoff_says_nothing_is_left_to_send(
    app_client: TestClient[Any], make_user: Callable[..., Any], signed_in: Callable[..., Any]
) -> None:
    sent_at = dt.datetime(2026, 11, 1, 16, 0, tzinfo=dt.UTC)
    seeded = seed_run_outcomes(sent=3, sent_at=sent_at)
    with session_scope() as session:  # the rest of the accounts were mailed too
        for run_account_id in [
            a
            for outcome in ("skipped", "no_recipients", "failed", "sending", "pending")
            for a in seeded.accounts[outcome]
        ]:
            account = session.get(Account, session.get(RunAccount, run_account_id).account_id)  # type: ignore[union-attr]
            session.add(
                OutboxEmail(
                    company_id=account.company_id,
                    customer_id=account.customer_id,
                    cutoff=CUTOFF,
                    recipient=f"otro{run_account_id}@example.com",
                    status="sent",
                    sent_at=sent_at,
                )
            )
        session.execute(
            OutboxEmail.__table__.update().where(OutboxEmail.status != "sent").values(status="sent", sent_at=sent_at)
        )
    client = signed_in(app_client, make_user("admin"))
    form = hidden_inputs(client.get("/ops").text)
    asked = client.post("/ops/runs", data={**form, "cutoff": CUTOFF.isoformat(), "company": "1000"})
    assert asked.status_code == 200
    note = re.search(r'<p class="note" id="start-note">(.*?)</p>', asked.text, re.S)
    assert note and note.group(1) == "0 por enviar: las 9 cuentas ya se enviaron el 1 de noviembre de 2026."

    # Started anyway, the run's page says the same once its accounts are processed (nothing new to send).
    started = client.post("/ops/runs", data=hidden_inputs(asked.text), follow_redirects=False)
    run_id = int(started.headers["location"].rsplit("/", 1)[1])
    with session_scope() as session:
        session.execute(RunAccount.__table__.update().where(RunAccount.run_id == run_id).values(status="done"))
    runs.refresh_run(run_id)
    page = client.get(f"/ops/runs/{run_id}")
    note = re.search(r'<p class="note" id="run-note">(.*?)</p>', page.text, re.S)
    assert note and note.group(1) == "0 por enviar: las 9 cuentas ya se enviaron el 1 de noviembre de 2026."
    overview = cells(rows(client.get("/ops").text, "run")[str(run_id)])
    assert overview[5] == "0 (ya enviados antes)"


def test_the_run_page_lists_each_account_s_outcome_filtered_searched_and_paginated(
    app_client: TestClient[Any], make_user: Callable[..., Any], signed_in: Callable[..., Any]
) -> None:
    seeded = seed_run_outcomes()
    client = signed_in(app_client, make_user("admin"))
    page = client.get(f"/ops/runs/{seeded.run}")
    assert page.status_code == 200
    text = page.text
    tabs = dict(re.findall(r'<a href="\?[^"]*"[^>]*>([^<]+?) <span class="count">(\d+)</span>', text))
    assert tabs == {
        "Todas": "58",
        "en espera": "1",
        "enviando": "1",
        "enviado": "52",
        "sin movimientos": "1",
        "sin destinatarios": "1",
        "con falla": "2",
    }
    first_page = rows(text, "account")
    assert len(first_page) == 50 and "1000/S0000" in first_page
    assert "1 a 50 de 58" in text.replace("–", " a ") and 'rel="next"' in text

    second = client.get(f"/ops/runs/{seeded.run}", params={"page": "2"}).text
    assert set(rows(second, "account")) == {
        "1000/S0050",
        "1000/S0051",
        "1000/X-BROKEN",
        "1000/X-NOREC",
        "1000/X-REFUSED",
        "1000/X-SKIP",
        "1000/X-TODO",
        "1000/X-WAIT",
    }
    assert 'rel="prev"' in second and 'rel="next"' not in second

    failed = client.get(f"/ops/runs/{seeded.run}", params={"outcome": "failed"}).text
    failed_rows = rows(failed, "account")
    assert set(failed_rows) == {"1000/X-BROKEN", "1000/X-REFUSED"}
    assert "ValueError: the statement could not be rendered" in failed_rows["1000/X-BROKEN"]
    assert "550 5.1.1 &lt;nadie@example.com&gt;: no such user" in failed_rows["1000/X-REFUSED"]
    assert "pagos.X-REFUSED@example.com" in failed_rows["1000/X-REFUSED"]
    for outcome, number, label in (
        ("skipped", "X-SKIP", "sin movimientos"),
        ("no_recipients", "X-NOREC", "sin destinatarios"),
        ("pending", "X-TODO", "en espera"),
        ("sending", "X-WAIT", "enviando"),
    ):
        found = rows(client.get(f"/ops/runs/{seeded.run}", params={"outcome": outcome}).text, "account")
        assert list(found) == [f"1000/{number}"] and label in found[f"1000/{number}"], outcome
    searched = rows(client.get(f"/ops/runs/{seeded.run}", params={"q": "s0012"}).text, "account")
    assert list(searched) == ["1000/S0012"] and "enviado" in searched["1000/S0012"]
    nothing = client.get(f"/ops/runs/{seeded.run}", params={"outcome": "sent", "q": "X-"}).text
    assert "Ninguna cuenta coincide." in nothing
    assert client.get("/ops/runs/999999").status_code == 404
    progress = client.get(f"/ops/runs/{seeded.run}/progress").json()
    assert progress["status"] == "running" and progress["accounts"] == 58 and progress["processed"] == 57


def test_retry_the_failed_ones_processes_the_failed_account_and_resends_the_refused_email(
    app_client: TestClient[Any], make_user: Callable[..., Any], signed_in: Callable[..., Any], var_dir: Path
) -> None:
    seeded = seed_run_outcomes(sent=2)
    client = signed_in(app_client, make_user("admin", username="ops.admin"))
    page = client.get(f"/ops/runs/{seeded.run}")
    assert "Reintentar los fallidos (2)" in page.text
    response = post_form(client, f"/ops/runs/{seeded.run}", f"/ops/runs/{seeded.run}/retry", {})
    assert response.status_code == 303 and response.headers["location"] == f"/ops/runs/{seeded.run}"
    assert "Reintento en marcha: cuentas 1, correos 1." in client.get(response.headers["location"]).text
    broken, refused = seeded.accounts["failed"][0], seeded.emails["failed"][0]
    with session_scope() as session:
        account = session.get(RunAccount, broken)
        assert account is not None and (account.status, account.error) == ("pending", "")
        email = session.get(OutboxEmail, refused)
        assert email is not None and (email.status, email.generation, email.last_error) == ("pending", 2, "")
        sent = session.get(OutboxEmail, seeded.emails["sent"][0])
        assert sent is not None and (sent.status, sent.generation) == ("sent", 1)  # nothing else is touched
        event = session.scalar(select(AuditEvent).where(AuditEvent.event == "run_retried"))
        assert event is not None and event.username == "ops.admin" and "accounts=1 emails=1" in event.detail
    tasks = [(t.name, t.args) for t in queued_tasks(var_dir)]
    assert (Task.PROCESS_ACCOUNT, [broken]) in tasks and (Task.SEND_EMAIL, [refused]) in tasks


def test_cancel_asks_first_then_stops_what_has_not_gone_and_keeps_what_was_sent(
    app_client: TestClient[Any], make_user: Callable[..., Any], signed_in: Callable[..., Any]
) -> None:
    seeded = seed_run_outcomes(sent=2)
    client = signed_in(app_client, make_user("admin", username="ops.admin"))
    asked = client.get(f"/ops/runs/{seeded.run}/cancel")
    assert asked.status_code == 200 and f"¿Cancelar la corrida {seeded.run}?" in asked.text
    assert "Cuentas por procesar: 1. Correos por enviar: 1." in asked.text
    with session_scope() as session:
        assert session.get(StatementRun, seeded.run).status == "running"  # type: ignore[union-attr]
    response = client.post(f"/ops/runs/{seeded.run}/cancel", data=hidden_inputs(asked.text), follow_redirects=False)
    assert response.status_code == 303
    page = client.get(response.headers["location"]).text
    assert "Corrida cancelada; ya no se enviarán: cuentas 1, correos 1." in page
    assert "cancelada" in page and "por ops.admin" in page and "Cancelar la corrida" not in page
    assert "Reintentar los fallidos" not in page
    todo, waiting = seeded.accounts["pending"][0], seeded.emails["pending"][0]
    with session_scope() as session:
        run = session.get(StatementRun, seeded.run)
        assert run is not None and run.status == "cancelled" and run.cancelled_by == "ops.admin"
        assert session.get(RunAccount, todo).status == "cancelled"  # type: ignore[union-attr]
        assert session.get(OutboxEmail, waiting).status == "cancelled"  # type: ignore[union-attr]
        assert [
            e.status
            for e in session.scalars(
                select(OutboxEmail).where(OutboxEmail.id.in_(seeded.emails["sent"] + seeded.emails["failed"]))
            )
        ] == ["sent", "sent", "failed"]
    # The tasks already in the queues find nothing to do: the account is not processed, the email is not sent.
    assert runs.process_account(todo).status == "already_done"
    assert mail.send_statement_email(waiting).result == "not_claimed"
    assert runs.enqueue_run_accounts(seeded.run) == 0
    # A cancelled run cannot be cancelled again nor retried; its page shows the cancelled accounts.
    again = post_form(client, f"/ops/runs/{seeded.run}", f"/ops/runs/{seeded.run}/cancel", {})
    assert f"La corrida {seeded.run} ya terminó" in client.get(again.headers["location"]).text
    retried = post_form(client, f"/ops/runs/{seeded.run}", f"/ops/runs/{seeded.run}/retry", {})
    assert "está cancelada" in client.get(retried.headers["location"]).text
    cancelled = rows(client.get(f"/ops/runs/{seeded.run}", params={"outcome": "cancelled"}).text, "account")
    assert set(cancelled) == {"1000/X-TODO", "1000/X-WAIT"}


def test_the_email_log_searches_by_customer_or_address_and_by_state_a_page_at_a_time(
    app_client: TestClient[Any], make_user: Callable[..., Any], signed_in: Callable[..., Any]
) -> None:
    seeded = seed_run_outcomes(sent=55)
    client = signed_in(app_client, make_user("admin"))
    first = client.get("/ops/emails").text
    assert len(rows(first, "email")) == 50 and "1–50 de 57" in first
    assert len(rows(client.get("/ops/emails", params={"page": "2"}).text, "email")) == 7
    by_address = rows(client.get("/ops/emails", params={"q": "PAGOS.S0007@"}).text, "email")
    assert len(by_address) == 1 and "pagos.S0007@example.com" in next(iter(by_address.values()))
    by_name = rows(client.get("/ops/emails", params={"q": "cliente x-refused"}).text, "email")
    assert list(by_name) == [str(seeded.emails["failed"][0])]
    assert REFUSED.replace("<", "&lt;").replace(">", "&gt;") in by_name[str(seeded.emails["failed"][0])]
    waiting = rows(client.get("/ops/emails", params={"status": "pending"}).text, "email")
    assert list(waiting) == [str(seeded.emails["pending"][0])]
    assert "Ningún correo coincide." in client.get("/ops/emails", params={"q": "nadie-aqui"}).text
    # A resend from the log comes back to the log, as it was filtered.
    log_page = "/ops/emails?status=failed"
    form = hidden_inputs(client.get(log_page).text)
    back = client.post(
        f"/ops/emails/{seeded.emails['failed'][0]}/resend",
        data=form,
        headers={"referer": f"http://127.0.0.1:8000{log_page}"},
        follow_redirects=False,
    )
    assert back.headers["location"] == log_page


def test_the_email_log_shows_dispute_emails_by_customer_document_or_address_and_by_state(
    app_client: TestClient[Any], make_user: Callable[..., Any], signed_in: Callable[..., Any]
) -> None:
    from shared.disputes import open_dispute
    from shared.models import DisputeEmail, User
    from tests.factories import seed_portal_data

    seed_portal_data()
    seeded = seed_run_outcomes(sent=2)
    with session_scope() as session:
        company = session.scalars(select(Company).where(Company.code == "1000")).one()
        company.collections_email = "cobranza@bajio.example"
        alice = session.scalars(select(User).where(User.username == "alice")).one()
        [email_id] = open_dispute(session, alice, "1000", "100001", "FAC-1", "No reconocemos el cargo.").email_ids
    with session_scope() as session:
        email = session.get(DisputeEmail, email_id)
        assert email is not None
        email.status, email.attempts, email.last_error = "failed", 3, "550 5.1.1 <cobranza@bajio.example>: no such user"
    client = signed_in(app_client, make_user("admin", username="jefa"))

    statements = client.get("/ops/emails").text
    assert rows(statements, "dispute-email") == {} and "cobranza@bajio.example" not in statements
    assert len(rows(statements, "email")) == len([i for ids in seeded.emails.values() for i in ids])
    disputes = client.get("/ops/emails", params={"kind": "disputes"}).text
    assert rows(disputes, "email") == {} and '<option value="disputes" selected>' in disputes
    row = cells(rows(disputes, "dispute-email")[str(email_id)])
    assert row[1:] == [
        "cobranza@bajio.example",
        row[2],
        "1000",
        "FAC-1",
        "fallido",
        "3",
        "550 5.1.1 <cobranza@bajio.example>: no such user".replace("<", "&lt;").replace(">", "&gt;"),
    ]
    assert row[2].startswith("100001 — ")
    assert "/disputes?company=1000&amp;customer=100001" in disputes
    for found in ({"q": "fac-1"}, {"q": "COBRANZA@"}, {"q": "100001", "status": "failed"}):
        assert list(rows(client.get("/ops/emails", params={"kind": "disputes", **found}).text, "dispute-email")) == [
            str(email_id)
        ], found
    for none in ({"q": "FAC-999"}, {"status": "pending"}):
        page = client.get("/ops/emails", params={"kind": "disputes", **none}).text
        assert rows(page, "dispute-email") == {} and "Ningún correo coincide." in page
    # An unknown kind is the statement emails' log.
    assert rows(client.get("/ops/emails", params={"kind": "x"}).text, "dispute-email") == {}


def test_the_audit_log_filters_by_event_and_searches_by_user_a_page_at_a_time(
    app_client: TestClient[Any], make_user: Callable[..., Any], signed_in: Callable[..., Any]
) -> None:
    from shared.accounts import record_event

    for n in range(60):
        record_event("sign_in_refused", username=f"intruso{n}", ip="203.0.113.9", detail="reason=wrong password")
    admin = make_user("admin", username="jefa")
    client = signed_in(app_client, admin)
    page = client.get("/ops/audit").text
    assert len(rows(page, "event")) == 50 and 'rel="next"' in page
    assert '<option value="sign_in_refused">' in page and '<option value="user_created">' in page
    newest = cells(next(iter(rows(page, "event").values())))
    assert newest[1] == "sign_in" and newest[2] == "jefa"
    refused = client.get("/ops/audit", params={"event": "sign_in_refused", "q": "intruso5"}).text
    found = [cells(row)[2] for row in rows(refused, "event").values()]
    assert sorted(found) == [
        "intruso5",
        "intruso50",
        "intruso51",
        "intruso52",
        "intruso53",
        "intruso54",
        "intruso55",
        "intruso56",
        "intruso57",
        "intruso58",
        "intruso59",
    ]
    assert "203.0.113.9" in refused and "reason=wrong password" in refused
    assert "Ningún evento coincide." in client.get("/ops/audit", params={"q": "zzz"}).text


def test_the_ops_pages_speak_english_to_an_english_admin(
    app_client: TestClient[Any], make_user: Callable[..., Any], signed_in: Callable[..., Any]
) -> None:
    seeded = seed_run_outcomes(sent=1)
    client = signed_in(app_client, make_user("admin", language="en"))
    overview = client.get("/ops").text
    assert "Services" in overview and "Statement runs" in overview and "Failed emails" in overview
    run_page = client.get(f"/ops/runs/{seeded.run}").text
    assert "Retry the failed ones (2)" in run_page and "Cancel the run…" in run_page
    assert "no recipients" in run_page and "failed" in run_page
    assert "Email log" in client.get("/ops/emails").text and "Audit log" in client.get("/ops/audit").text
    assert "Workers and queues" in client.get("/ops/workers").text
