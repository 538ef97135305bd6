"""The dispute emails' outbox, called directly (no worker): one email per message and recipient however often
the task runs, back-off on a 4xx reply, failure on a 5xx reply, and the sweeper enqueueing a lost one again.
Real PostgreSQL/SQLite and a real SMTP server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select, update

from shared.db import session_scope
from shared.disputes import open_dispute, send_dispute_email
from shared.models import Company, DisputeEmail, User, utcnow
from shared.runs import sweep
from shared.vocab import Task
from tests.factories import seed_portal_data
from tests.servers import SMTPServer, queued_tasks, use_environment

COLLECTOR = "cobranza@bajio.example"


@pytest.fixture
def dispute_email(database: str, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch) -> int:
    """alice opens a dispute on FAC-1; its email to the collector is queued, not sent."""
    use_environment(
        monkeypatch,
        EDOCTA_SMTP_URL=smtp_server.url,
        EDOCTA_MAIL_RETRY_BASE_SECONDS="60",
        EDOCTA_MAIL_LEASE_SECONDS="300",
    )
    seed_portal_data()
    with session_scope() as session:
        company = session.scalars(select(Company).where(Company.code == "1000")).one()
        company.collections_email = COLLECTOR
        alice = session.scalars(select(User).where(User.username == "alice")).one()
        change = open_dispute(session, alice, "1000", "100001", "FAC-1", "No reconocemos el cargo.")
    [email_id] = change.email_ids
    return email_id


def row(email_id: int) -> DisputeEmail:
    with session_scope() as session:
        found = session.get(DisputeEmail, email_id)
        assert found is not None
        return found


def test_the_collector_gets_one_email_however_often_the_task_runs(dispute_email: int, smtp_server: SMTPServer) -> None:
    assert send_dispute_email(dispute_email).result == "sent"
    assert send_dispute_email(dispute_email).result == "not_claimed"
    [message] = smtp_server.received_by(COLLECTOR)
    assert "No reconocemos el cargo." in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert (row(dispute_email).status, row(dispute_email).attempts) == ("sent", 1)
    # One Message-ID, the row's own: a receiving system recognises a repeated delivery.
    [message_id] = message.get_all("Message-ID")
    assert message_id.startswith("<dispute.") and message_id.endswith(f".{dispute_email}@localhost>")


def test_a_4xx_waits_with_back_off_and_a_5xx_fails(dispute_email: int, smtp_server: SMTPServer) -> None:
    smtp_server.replies[COLLECTOR] = "451 4.7.1 Try again later"
    outcome = send_dispute_email(dispute_email)
    assert (outcome.result, outcome.retry_in) == ("retry", 60.0)
    waiting = row(dispute_email)
    assert (waiting.status, waiting.lease_token) == ("pending", None)
    assert waiting.last_error.startswith("451 4.7.1")
    assert send_dispute_email(dispute_email).result == "not_claimed"  # not due yet

    smtp_server.replies[COLLECTOR] = "550 5.1.1 No such user"
    with session_scope() as session:
        session.execute(update(DisputeEmail).values(next_attempt_at=utcnow()).where(DisputeEmail.id == dispute_email))
    assert send_dispute_email(dispute_email).result == "failed"
    assert row(dispute_email).last_error.startswith("550 5.1.1")
    assert smtp_server.messages == []


def test_the_sweeper_enqueues_a_lost_email_again(dispute_email: int, var_dir: Path) -> None:
    with session_scope() as session:
        session.execute(
            update(DisputeEmail)
            .values(updated_at=utcnow() - dt.timedelta(hours=1))
            .where(DisputeEmail.id == dispute_email)
        )
    sweep()
    queued = [task for task in queued_tasks(var_dir) if task.name == Task.SEND_DISPUTE_EMAIL]
    assert [task.args for task in queued] == [[dispute_email]]
