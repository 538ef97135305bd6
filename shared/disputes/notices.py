"""The dispute emails: one row per message and recipient (`DisputeEmail`), sent at most once, with the statement
outbox's rules (`shared.mail.outbox`): the row is written in the transaction that records the message, a send
task per new row is enqueued after the commit, a worker claims the row with a conditional update and a lease,
a 4xx reply or a lost connection puts it back with an exponential back-off for up to `EDOCTA_MAIL_RETRY_HOURS`,
a 5xx reply fails it, and the sweeper enqueues again rows whose message was lost or whose lease expired.

What goes out: opening a dispute (or adding to an open one) emails the collector; a staff reply emails the
customer's statement recipients and the user who opened the dispute, each in their language.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from shared.clock import today, utcnow
from shared.db import dialect_insert, session_scope
from shared.i18n import N_, format_datetime, gettext, normalize_language
from shared.mail import (
    PermanentMailError,
    build_message,
    get_mail_backend,
    render_email,
    retry_delay,
    statement_url,
)
from shared.mail.messages import stable_message_id
from shared.models import Company, Customer, Dispute, DisputeEmail, DisputeMessage
from shared.settings import get_settings
from shared.tasks import send_task
from shared.vocab import EmailStatus, Outcome, Role, Task

log = logging.getLogger(__name__)


def queue_dispute_emails(session: Session, message_id: int, recipients: Iterable[tuple[str, str]]) -> list[int]:
    """One row per (address, language), skipping an address twice; returns the new rows' ids (enqueue them with
    `enqueue_dispute_emails` after the commit)."""
    now = utcnow()
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    for address, language in recipients:
        if not address or address.lower() in seen:
            continue
        seen.add(address.lower())
        rows.append(
            {
                "message_id": message_id,
                "recipient": address,
                "language": normalize_language(language),
                "status": EmailStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "first_queued_at": now,
                "last_error": "",
                "created_at": now,
                "updated_at": now,
            }
        )
    if not rows:
        return []
    statement = (
        dialect_insert(session, DisputeEmail)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["message_id", "recipient"])
        .returning(DisputeEmail.id)
    )
    return [int(row_id) for row_id in session.scalars(statement).all()]


def enqueue_dispute_emails(email_ids: Iterable[int], **options: Any) -> None:
    for email_id in email_ids:
        send_task(Task.SEND_DISPUTE_EMAIL, (email_id,), **options)


@dataclass(frozen=True)
class DisputeSendOutcome:
    email_id: int
    result: Outcome  # sent | not_claimed | retry | failed
    detail: str = ""
    retry_in: float | None = None


def _claim(session: Session, email_id: int, now: dt.datetime) -> str | None:
    token = secrets.token_hex(16)
    lease_until = now + dt.timedelta(seconds=get_settings().mail_lease_seconds)
    for condition in (
        and_(DisputeEmail.status == EmailStatus.PENDING, DisputeEmail.next_attempt_at <= now),
        and_(DisputeEmail.status == EmailStatus.SENDING, DisputeEmail.lease_until < now),
    ):
        result = session.execute(
            update(DisputeEmail)
            .where(DisputeEmail.id == email_id, condition)
            .values(
                status=EmailStatus.SENDING,
                lease_token=token,
                lease_until=lease_until,
                attempts=DisputeEmail.attempts + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return token
    return None


def _release(email_id: int, token: str, **values: Any) -> bool:
    with session_scope() as session:
        result = session.execute(
            update(DisputeEmail)
            .where(DisputeEmail.id == email_id, DisputeEmail.lease_token == token)
            .values(lease_token=None, lease_until=None, updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def collector_address(company: Company, customer: Customer) -> str:
    """Who hears of a new dispute, and whom the customer's reply to a staff answer reaches: the customer's collector,
    else the company's collections desk ("" if none)."""
    return customer.collector_email or company.collections_email or ""


def disputes_url(company: str, customer: str) -> str:
    """Where staff work the customer's disputes (the `/disputes` page, filtered)."""
    return f"{get_settings().base_url}/disputes?{urlencode({'company': company, 'customer': customer})}"


def compose_dispute_email(session: Session, row: DisputeEmail) -> EmailMessage:
    """The email of one row, from the stored message: the opening (to the collector) or a staff reply."""
    found = session.execute(
        select(DisputeMessage, Dispute, Company, Customer)
        .join(Dispute, Dispute.id == DisputeMessage.dispute_id)
        .join(Company, Company.id == Dispute.company_id)
        .join(Customer, Customer.id == Dispute.customer_id)
        .where(DisputeMessage.id == row.message_id)
    ).one()
    message, dispute, company, customer = found
    language = normalize_language(row.language)
    from_staff = message.author_role != Role.CUSTOMER
    context = {
        "language": language,
        "company": company,
        "customer": customer,
        "document_number": dispute.document_number,
        "author": message.author,
        "body": message.body,
        "when": format_datetime(message.created_at, language, timezone=get_settings().timezone),
        "url": statement_url(company.code, customer.number, today())
        if from_staff
        else disputes_url(company.code, customer.number),
    }
    if from_staff:
        subject = gettext(N_("Respuesta a su aclaración del documento %(document)s"), language)
        template = "dispute_reply.txt.j2"
    else:
        subject = gettext(N_("Aclaración de %(customer)s sobre el documento %(document)s"), language)
        template = "dispute_opened.txt.j2"
    subject = subject % {"document": dispute.document_number, "customer": f"{customer.name} ({customer.number})"}
    # A customer answering the staff's reply writes to the collector, as when answering a statement email.
    reply_to = collector_address(company, customer) if from_staff else None
    # The same row always carries the same id.
    return build_message(
        to=row.recipient,
        subject=subject,
        text=render_email(template, context),
        reply_to=reply_to or None,
        message_id=stable_message_id(f"dispute.{dispute.id}.{message.id}.{row.id}"),
    )


def send_dispute_email(email_id: int) -> DisputeSendOutcome:
    """Claim, build, send and record one row. Safe to call any number of times for the same row."""
    now = utcnow()
    with session_scope() as session:
        token = _claim(session, email_id, now)
    if token is None:
        return DisputeSendOutcome(email_id, Outcome.NOT_CLAIMED)
    with session_scope() as session:
        row = session.get(DisputeEmail, email_id)
        assert row is not None
        attempts, first_queued_at = row.attempts, row.first_queued_at
        try:
            message = compose_dispute_email(session, row)
        except Exception as error:
            detail = f"could not build the email: {type(error).__name__}: {error}"
            _release(email_id, token, status=EmailStatus.FAILED, last_error=detail)
            log.exception("dispute email %s: %s", email_id, detail)
            return DisputeSendOutcome(email_id, Outcome.FAILED, detail)
    try:
        get_mail_backend().send(message)
    except PermanentMailError as error:
        reply = _reply_text(error)
        _release(email_id, token, status=EmailStatus.FAILED, last_error=reply)
        log.warning("dispute email %s: refused permanently: %s", email_id, reply)
        return DisputeSendOutcome(email_id, Outcome.FAILED, reply)
    except Exception as error:  # 4xx, no connection: try again later
        reason = _reply_text(error)
        settings = get_settings()
        if utcnow() - first_queued_at >= dt.timedelta(hours=settings.mail_retry_hours):
            detail = f"gave up after {attempts} attempts: {reason}"
            _release(email_id, token, status=EmailStatus.FAILED, last_error=detail)
            return DisputeSendOutcome(email_id, Outcome.FAILED, detail)
        delay = retry_delay(attempts)
        _release(
            email_id,
            token,
            status=EmailStatus.PENDING,
            last_error=reason,
            next_attempt_at=utcnow() + dt.timedelta(seconds=delay),
        )
        log.info("dispute email %s: temporary failure (%s); next attempt in %.0f s", email_id, reason, delay)
        return DisputeSendOutcome(email_id, Outcome.RETRY, reason, retry_in=delay)
    if not _release(email_id, token, status=EmailStatus.SENT, sent_at=utcnow(), last_error=""):
        log.warning("dispute email %s: sent, but the lease was taken over meanwhile (possible duplicate)", email_id)
    return DisputeSendOutcome(email_id, Outcome.SENT)


def _reply_text(error: BaseException) -> str:
    code = getattr(error, "code", None)
    reply = getattr(error, "reply", None)
    if code is not None and reply is not None:
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        return f"{code} {text}".strip()
    return f"{type(error).__name__}: {error}"


def lost_dispute_emails(
    session: Session, now: dt.datetime, stale: dt.datetime, *, only_expired: bool = False, limit: int = 5000
) -> list[int]:
    """Rows whose send task seems lost: due and waiting since before `stale`, or held by an expired lease (only
    those while the mail queue still holds messages: a waiting row's task may be among them)."""
    due = and_(DisputeEmail.status == EmailStatus.PENDING, DisputeEmail.next_attempt_at <= now)
    expired = and_(DisputeEmail.status == EmailStatus.SENDING, DisputeEmail.lease_until < now)
    ids = list(
        session.scalars(
            select(DisputeEmail.id)
            .where(expired if only_expired else or_(due, expired), DisputeEmail.updated_at <= stale)
            .order_by(DisputeEmail.id)
            .limit(limit)
        )
    )
    if ids:
        session.execute(
            update(DisputeEmail)
            .where(DisputeEmail.id.in_(ids), DisputeEmail.status == EmailStatus.PENDING)
            .values(updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return ids
