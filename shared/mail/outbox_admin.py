"""The statement-email outbox's admin actions and reports: an admin's resend (a new generation of a row) and the
failed emails with the server's reason (the ops page, a run's page, `edocta runs show`)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.clock import utcnow
from shared.db import view_of
from shared.models import AuditEvent, Company, Customer, OutboxEmail
from shared.vocab import EmailStatus

# The outbox's logger, as before these were a module of their own (what operators filter on).
log = logging.getLogger("shared.mail.outbox")


class ResendError(LookupError):
    """No such email."""


def renew_for_resend(session: Session, outbox_id: int, *, by_username: str) -> OutboxEmail:
    """Make an email a new generation, pending from now: an admin's explicit new attempt, sent from the current
    data (the worker renders new files if the statement's data changed). Returns the row; the caller commits,
    then enqueues the send (`shared.runs.resend_email` does both)."""
    row = session.get(OutboxEmail, outbox_id)
    if row is None:
        raise ResendError(f"no email {outbox_id}")
    now = utcnow()
    previous = f"generation {row.generation}, {row.status}"
    session.execute(
        update(OutboxEmail)
        .where(OutboxEmail.id == outbox_id)
        .values(
            generation=OutboxEmail.generation + 1,
            status=EmailStatus.PENDING,
            attempts=0,
            lease_token=None,
            lease_until=None,
            next_attempt_at=now,
            first_queued_at=now,
            last_error="",
            sent_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.add(
        AuditEvent(
            event="email_resend",
            username=by_username,
            detail=f"outbox {outbox_id} to {row.recipient} (was {previous})",
        )
    )
    log.info("outbox %s: resend requested by %s", outbox_id, by_username)
    return row


@dataclass(frozen=True)
class FailedEmail:
    id: int
    run_id: int | None
    company_code: str
    company_name: str
    customer_number: str
    customer_name: str
    cutoff: dt.date
    recipient: str
    attempts: int
    generation: int
    last_error: str
    updated_at: dt.datetime


def failed_emails(session: Session, limit: int = 100) -> list[FailedEmail]:
    """The most recent failed emails, with the server's reason (for the ops page and `edocta runs show`)."""
    return _emails(session, limit, OutboxEmail.status == EmailStatus.FAILED)


def _emails(session: Session, limit: int, *conditions: Any) -> list[FailedEmail]:
    rows = session.execute(
        select(OutboxEmail, Company.code, Company.name, Customer.number, Customer.name)
        .join(Company, Company.id == OutboxEmail.company_id)
        .join(Customer, Customer.id == OutboxEmail.customer_id)
        .where(*conditions)
        .order_by(OutboxEmail.updated_at.desc(), OutboxEmail.id.desc())
        .limit(limit)
    ).all()
    return [
        view_of(
            FailedEmail,
            row,
            company_code=company_code,
            company_name=company_name,
            customer_number=customer_number,
            customer_name=customer_name,
        )
        for row, company_code, company_name, customer_number, customer_name in rows
    ]


def run_failed_emails(session: Session, run_id: int, limit: int = 100) -> list[FailedEmail]:
    return _emails(session, limit, OutboxEmail.status == EmailStatus.FAILED, OutboxEmail.run_id == run_id)
