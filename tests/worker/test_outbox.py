"""The outbox's rules, called directly (no worker): claims and leases, back-off, giving up after the retry
period, and a resend as a new generation. Real PostgreSQL/SQLite and a real SMTP server.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select, update

from shared.db import session_scope
from shared.mail import claim_email, send_statement_email
from shared.models import OutboxEmail, RunAccount, utcnow
from shared.runs import process_account, resend_email, start_run
from tests.factories import CUTOFF, CustomerSpec, add_company, add_customers
from tests.servers import SMTPServer, use_environment


@pytest.fixture
def queued_email(database: str, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch, var_dir: Path) -> int:
    """One statement email in the outbox (the account processed in this process), not yet sent."""
    use_environment(
        monkeypatch,
        EDOCTA_SMTP_URL=smtp_server.url,
        EDOCTA_MAIL_RETRY_BASE_SECONDS="60",
        EDOCTA_MAIL_LEASE_SECONDS="300",
    )
    add_company("1000", "Tinacos del Bajío")
    add_customers(
        "1000",
        [
            CustomerSpec(
                "100001",
                "Ferretería La Paz",
                "pagos@lapaz.example",
                formats="xlsx",
                items=(("F1", "2026-10-01", "1160.00", "MXN"),),
            )
        ],
    )
    start_run(CUTOFF)
    with session_scope() as session:
        run_account_id = session.scalars(select(RunAccount.id)).one()
    assert process_account(run_account_id).status == "done"
    with session_scope() as session:
        return session.scalars(select(OutboxEmail.id)).one()


def row(outbox_id: int) -> OutboxEmail:
    with session_scope() as session:
        found = session.get(OutboxEmail, outbox_id)
        assert found is not None
        return found


def test_only_one_claim_wins_and_a_sent_email_is_never_sent_again(queued_email: int, smtp_server: SMTPServer) -> None:
    with session_scope() as session:
        first = claim_email(session, queued_email)
        second = claim_email(session, queued_email)
    assert first is not None and not first.recovered
    assert second is None  # held by a live lease
    # The lease expires (its worker died): the next claim takes it over and says so.
    with session_scope() as session:
        session.execute(
            update(OutboxEmail)
            .values(lease_until=utcnow() - dt.timedelta(seconds=1))
            .where(OutboxEmail.id == queued_email)
        )
    assert send_statement_email(queued_email).result == "sent"
    assert row(queued_email).attempts == 2
    assert send_statement_email(queued_email).result == "not_claimed"
    assert len(smtp_server.messages) == 1


def test_a_421_waits_with_back_off_then_gives_up_after_the_retry_period(
    queued_email: int, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp_server.refuse_all = "421 4.3.2 Service not available"
    before = utcnow()
    outcome = send_statement_email(queued_email)
    assert (outcome.result, outcome.retry_in) == ("retry", 60.0)
    waiting = row(queued_email)
    assert (waiting.status, waiting.attempts, waiting.lease_token) == ("pending", 1, None)
    assert waiting.last_error.startswith("421 4.3.2")
    assert waiting.next_attempt_at >= before + dt.timedelta(seconds=60)
    assert send_statement_email(queued_email).result == "not_claimed"  # not due yet

    # Due again, refused again: the back-off doubles.
    with session_scope() as session:
        session.execute(update(OutboxEmail).values(next_attempt_at=utcnow()).where(OutboxEmail.id == queued_email))
    assert send_statement_email(queued_email).retry_in == 120.0

    # Queued more than 24 hours ago: the next refusal is final.
    with session_scope() as session:
        session.execute(
            update(OutboxEmail)
            .values(next_attempt_at=utcnow(), first_queued_at=utcnow() - dt.timedelta(hours=24, minutes=1))
            .where(OutboxEmail.id == queued_email)
        )
    assert send_statement_email(queued_email).result == "failed"
    failed = row(queued_email)
    assert failed.status == "failed"
    assert failed.last_error.startswith("gave up after 3 attempts over 24 h: 421 4.3.2")
    assert smtp_server.messages == []


def test_a_resend_is_a_new_generation_that_goes_out_once(queued_email: int, smtp_server: SMTPServer) -> None:
    assert send_statement_email(queued_email).result == "sent"
    resend_email(queued_email, by_username="admin")
    again = row(queued_email)
    assert (again.status, again.generation, again.attempts) == ("pending", 2, 0)
    assert send_statement_email(queued_email).result == "sent"
    assert send_statement_email(queued_email).result == "not_claimed"
    ids = [str(m["Message-ID"]) for m in smtp_server.messages]
    assert len(ids) == 2 and ids[0] != ids[1]
    assert f"statement.{queued_email}.1." in ids[0] and f"statement.{queued_email}.2." in ids[1]
