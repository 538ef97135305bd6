"""Invoice documents (the CFDI PDF and XML of an item) and disputes (aclaraciones) with their messages and the
emails they send (contract sections 8 and 9).

Both are keyed by company and document number, not by the item's row: a re-import that replaces the open items
(`--replace-open-items`) deletes and recreates rows, and a dispute must survive it (an item that disappears
from a snapshot leaves its dispute in place, shown to staff as such).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.clock import utcnow
from shared.models.base import AwareDateTime, Base
from shared.models.master import Company, Customer
from shared.vocab import DEFAULT_LANGUAGE, DisputeStatus, EmailStatus


class InvoiceDocument(Base):
    """One file of an item (`kind` pdf or xml), kept in the store by its SHA-256."""

    __tablename__ = "invoice_documents"
    __table_args__ = (UniqueConstraint("company_id", "document_number", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    document_number: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)


class Dispute(Base):
    """A customer's dispute of one item; open until staff resolve it."""

    __tablename__ = "disputes"
    __table_args__ = (
        Index("ix_disputes_item", "company_id", "document_number", "status"),
        Index("ix_disputes_status_updated_at", "status", "updated_at"),
        Index("ix_disputes_customer_id", "customer_id", "company_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    document_number: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=DisputeStatus.OPEN)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    opened_by: Mapped[str] = mapped_column(String(150), default="")
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, nullable=True)
    resolved_by: Mapped[str] = mapped_column(String(150), default="")

    company: Mapped[Company] = relationship()
    customer: Mapped[Customer] = relationship()


class DisputeMessage(Base):
    """One message of a dispute's thread, with its author and time (never edited)."""

    __tablename__ = "dispute_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(150))
    # customer, staff or admin: whose side wrote it.
    author_role: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)


class DisputeEmail(Base):
    """One email about one dispute message to one recipient: the outbox of dispute notices (claimed with a
    lease, retried with back-off, sent at most once; see `shared.disputes.notices`)."""

    __tablename__ = "dispute_emails"
    __table_args__ = (
        UniqueConstraint("message_id", "recipient"),
        Index("ix_dispute_emails_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("dispute_messages.id", ondelete="CASCADE"))
    recipient: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(2), default=DEFAULT_LANGUAGE)
    status: Mapped[str] = mapped_column(String(16), default=EmailStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, nullable=True)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    first_queued_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
