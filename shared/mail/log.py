"""The email log the operators read: every statement email (one row per recipient and cut-off) and every dispute
email (one row per message and recipient), searchable by customer or address and by state, newest first, a page
at a time; and how delivery is doing right now."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import Session

from shared.clock import utcnow
from shared.db import Page, contains_text, page_of, view_of
from shared.models import Company, Customer, Dispute, DisputeEmail, DisputeMessage, OutboxEmail
from shared.vocab import EmailStatus


def _filtered_page(
    session: Session,
    statement: Any,
    status_column: Any,
    status: str,
    text_columns: Sequence[Any],
    query: str,
    page: int,
    size: int,
) -> tuple[list[Any], int, int]:
    """A log's page: `statement` narrowed to `status` (any when it is not an email state) and to rows where one
    of `text_columns` contains `query` (any when blank)."""
    if status in list(EmailStatus):
        statement = statement.where(status_column == status)
    if query.strip():
        statement = statement.where(contains_text(query.strip(), *text_columns))
    return page_of(session, statement, page, size)


@dataclass(frozen=True)
class LoggedEmail:
    id: int
    run_id: int | None
    company_code: str
    customer_number: str
    customer_name: str
    cutoff: dt.date
    recipient: str
    status: str
    attempts: int
    generation: int
    last_error: str
    created_at: dt.datetime
    sent_at: dt.datetime | None
    updated_at: dt.datetime


def email_log(
    session: Session, *, query: str = "", status: str = "", page: int = 1, size: int = 50
) -> Page[LoggedEmail]:
    """Emails whose recipient, customer number or customer name contains `query`, in `status` (or any)."""
    statement = (
        select(OutboxEmail, Company.code, Customer.number, Customer.name)
        .join(Company, Company.id == OutboxEmail.company_id)
        .join(Customer, Customer.id == OutboxEmail.customer_id)
        .order_by(OutboxEmail.updated_at.desc(), OutboxEmail.id.desc())
    )
    columns = (OutboxEmail.recipient, Customer.number, Customer.name)
    rows, total, number = _filtered_page(session, statement, OutboxEmail.status, status, columns, query, page, size)
    emails = [
        view_of(LoggedEmail, row, company_code=company, customer_number=number, customer_name=name)
        for row, company, number, name in rows
    ]
    return Page(emails, number, size, total)


@dataclass(frozen=True)
class LoggedDisputeEmail:
    id: int
    company_code: str
    customer_number: str
    customer_name: str
    document_number: str
    recipient: str
    status: str
    attempts: int
    last_error: str
    sent_at: dt.datetime | None
    updated_at: dt.datetime


def dispute_email_log(
    session: Session, *, query: str = "", status: str = "", page: int = 1, size: int = 50
) -> Page[LoggedDisputeEmail]:
    """Dispute emails (a message of a dispute's thread to a collector or to the customer) whose recipient,
    customer number, customer name or document number contains `query`, in `status` (or any)."""
    statement = (
        select(DisputeEmail, Company.code, Customer.number, Customer.name, Dispute.document_number)
        .join(DisputeMessage, DisputeMessage.id == DisputeEmail.message_id)
        .join(Dispute, Dispute.id == DisputeMessage.dispute_id)
        .join(Company, Company.id == Dispute.company_id)
        .join(Customer, Customer.id == Dispute.customer_id)
        .order_by(DisputeEmail.updated_at.desc(), DisputeEmail.id.desc())
    )
    columns = (DisputeEmail.recipient, Customer.number, Customer.name, Dispute.document_number)
    rows, total, number = _filtered_page(session, statement, DisputeEmail.status, status, columns, query, page, size)
    emails = [
        view_of(
            LoggedDisputeEmail,
            row,
            company_code=company,
            customer_number=number,
            customer_name=name,
            document_number=document_number,
        )
        for row, company, number, name, document_number in rows
    ]
    return Page(emails, number, size, total)


@dataclass(frozen=True)
class DeliveryState:
    """Mail delivery at a glance: the last email sent, emails waiting (and since when), failures of the last day,
    and the latest reason a server gave for a delay or a refusal."""

    last_sent_at: dt.datetime | None
    waiting: int
    oldest_waiting_since: dt.datetime | None
    failed_last_day: int
    last_error: str
    last_error_at: dt.datetime | None


def delivery_state(session: Session, now: dt.datetime | None = None) -> DeliveryState:
    now = now or utcnow()
    last_sent = session.scalar(select(func.max(OutboxEmail.sent_at)))
    waiting, oldest = session.execute(
        select(func.count(), func.min(OutboxEmail.first_queued_at)).where(
            OutboxEmail.status.in_([EmailStatus.PENDING, EmailStatus.SENDING])
        )
    ).one()
    failed = session.scalar(
        select(func.count()).where(
            OutboxEmail.status == EmailStatus.FAILED, OutboxEmail.updated_at >= now - dt.timedelta(days=1)
        )
    )
    problem = session.execute(
        select(OutboxEmail.last_error, OutboxEmail.updated_at)
        # Written out (not a bound parameter), so the condition matches the partial index `ix_outbox_emails_errors`.
        .where(OutboxEmail.last_error != literal_column("''"), OutboxEmail.status != EmailStatus.CANCELLED)
        .order_by(OutboxEmail.updated_at.desc())
        .limit(1)
    ).first()
    return DeliveryState(
        last_sent_at=last_sent,
        waiting=int(waiting or 0),
        oldest_waiting_since=oldest,
        failed_last_day=int(failed or 0),
        last_error=problem[0] if problem else "",
        last_error_at=problem[1] if problem else None,
    )
