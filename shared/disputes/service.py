"""Opening, answering and resolving disputes (contract section 9), as plain functions over a session.

A customer user who may see customer K opens a dispute on one of K's items at company C: the item must exist,
be K's at C (otherwise `DisputeNotFound`, which the portal answers with 404 like any statement resource) and not
be cleared; the message has 1 to 2,000 characters. While the item has an open dispute, a new one from the
customer adds its message to that dispute. Staff (staff and admin users) reply and resolve. Every message is
kept with its author and time. The caller commits, then enqueues the returned email ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.clock import today, utcnow
from shared.disputes.notices import collector_address, queue_dispute_emails
from shared.i18n import N_, TranslatableError
from shared.models import Company, Customer, Dispute, DisputeMessage, OpenItem, User
from shared.statements import PortalUserLike, visible_customer_clause
from shared.vocab import DEFAULT_LANGUAGE, MAX_DISPUTE_MESSAGE, SEES_ALL_CUSTOMERS, DisputeStatus, Role, UserStatus


class DisputeError(TranslatableError):
    """A dispute request that cannot be done; nothing was written. The message says why, in the page's language."""


class DisputeNotFound(LookupError):
    """No such dispute or item for this user (the portal answers 404, like a statement it may not see)."""


@dataclass(frozen=True)
class DisputeChange:
    """What was recorded: the dispute, its new message, and the emails to enqueue after the commit."""

    dispute_id: int
    message_id: int | None
    email_ids: list[int] = field(default_factory=list)


def clean_message(text: str) -> str:
    """The message as kept: without NUL characters and surrounding blanks, 1 to 2,000 characters."""
    cleaned = (text or "").replace("\x00", "").replace("\r\n", "\n").strip()
    if not cleaned:
        raise DisputeError(N_("Escribe un mensaje."))
    if len(cleaned) > MAX_DISPUTE_MESSAGE:
        raise DisputeError(
            N_("El mensaje tiene %(count)s caracteres; el máximo es %(limit)s."),
            count=f"{len(cleaned):,}",
            limit=f"{MAX_DISPUTE_MESSAGE:,}",
        )
    return cleaned


def _active_user(session: Session, user: PortalUserLike) -> User:
    row = session.get(User, user.id)
    if row is None or row.status != UserStatus.ACTIVE:
        raise DisputeNotFound("user")
    return row


def _language_of(session: Session, address: str, default: str) -> str:
    """The language of the portal user with this address, else `default`."""
    language = session.scalar(select(User.language).where(User.email == address).limit(1))
    return language or default


def open_dispute(
    session: Session, user: PortalUserLike, company_code: str, customer_number: str, document_number: str, text: str
) -> DisputeChange:
    """Open a dispute on an item (or add to the item's open dispute) and queue the collector's email."""
    author = _active_user(session, user)
    if author.role != Role.CUSTOMER:
        raise DisputeNotFound("only customer users open disputes")
    found = session.execute(
        select(Company, Customer, OpenItem)
        .join(OpenItem, OpenItem.company_id == Company.id)
        .join(Customer, Customer.id == OpenItem.customer_id)
        .where(
            Company.code == company_code,
            Customer.number == customer_number,
            OpenItem.document_number == document_number,
            visible_customer_clause(user),
        )
    ).first()
    if found is None:
        raise DisputeNotFound(f"{company_code}/{customer_number}/{document_number}")
    company, customer, item = found
    body = clean_message(text)
    if item.cleared_on is not None and item.cleared_on <= today():
        raise DisputeError(
            N_("El documento %(document)s ya está saldado; no se puede abrir una aclaración."),
            document=document_number,
        )
    now = utcnow()
    dispute = session.scalar(
        select(Dispute).where(
            Dispute.company_id == company.id,
            Dispute.customer_id == customer.id,
            Dispute.document_number == document_number,
            Dispute.status == DisputeStatus.OPEN,
        )
    )
    if dispute is None:
        dispute = Dispute(
            company_id=company.id,
            customer_id=customer.id,
            document_number=document_number,
            status=DisputeStatus.OPEN,
            opened_by_id=author.id,
            opened_by=author.username,
            created_at=now,
            updated_at=now,
        )
        session.add(dispute)
        session.flush()
    dispute.updated_at = now
    message = DisputeMessage(
        dispute_id=dispute.id, author=author.username, author_role=author.role, body=body, created_at=now
    )
    session.add(message)
    session.flush()
    collector = collector_address(company, customer)
    recipients = [(collector, _language_of(session, collector, DEFAULT_LANGUAGE))] if collector else []
    return DisputeChange(dispute.id, message.id, queue_dispute_emails(session, message.id, recipients))


def _staff_dispute(session: Session, user: PortalUserLike, dispute_id: int) -> tuple[User, Dispute]:
    author = _active_user(session, user)
    if author.role not in SEES_ALL_CUSTOMERS:
        raise DisputeNotFound("staff only")
    dispute = session.get(Dispute, dispute_id)
    if dispute is None:
        raise DisputeNotFound(f"dispute {dispute_id}")
    return author, dispute


def reply_to_dispute(session: Session, user: PortalUserLike, dispute_id: int, text: str) -> DisputeChange:
    """A staff reply: kept in the thread and emailed to the customer's recipients and the user who opened it."""
    author, dispute = _staff_dispute(session, user, dispute_id)
    body = clean_message(text)
    if dispute.status != DisputeStatus.OPEN:
        raise DisputeError(N_("Esta aclaración ya está resuelta."))
    now = utcnow()
    message = DisputeMessage(
        dispute_id=dispute.id, author=author.username, author_role=author.role, body=body, created_at=now
    )
    session.add(message)
    dispute.updated_at = now
    session.flush()
    customer = dispute.customer
    recipients = [(address, customer.language) for address in customer.recipients]
    opener = session.get(User, dispute.opened_by_id) if dispute.opened_by_id is not None else None
    if opener is not None and opener.status == UserStatus.ACTIVE:
        recipients.append((opener.email, opener.language))
    return DisputeChange(dispute.id, message.id, queue_dispute_emails(session, message.id, recipients))


def resolve_dispute(session: Session, user: PortalUserLike, dispute_id: int) -> DisputeChange:
    """Close a dispute: its item is no longer marked. Resolving a resolved dispute changes nothing."""
    author, dispute = _staff_dispute(session, user, dispute_id)
    if dispute.status == DisputeStatus.OPEN:
        now = utcnow()
        dispute.status = DisputeStatus.RESOLVED
        dispute.resolved_at = now
        dispute.resolved_by = author.username
        dispute.updated_at = now
    return DisputeChange(dispute.id, None)
