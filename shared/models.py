"""The data model: ERP master data, portal users and the mailing runs' records."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Money = Numeric(18, 2)

DOCUMENT_TYPES = ("invoice", "credit_note", "debit_note", "payment", "other")
LANGUAGES = ("es", "en")
ROLES = ("customer", "staff", "admin")
STATEMENT_FORMATS = ("pdf", "xlsx")
SCHEDULES = ("monthly", "semimonthly", "weekly", "daily")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AwareDateTime(TypeDecorator[dt.datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime stored; use timezone-aware UTC datetimes")
        if value is not None:
            value = value.astimezone(dt.UTC)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


class Company(Base):
    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    tax_id: Mapped[str] = mapped_column(String(64), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    currency: Mapped[str] = mapped_column(String(3), default="MXN")
    # Which cut-off rule the scheduled runs use for this company (beat_schedule.py).
    schedule: Mapped[str] = mapped_column(String(16), default="monthly")


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    tax_id: Mapped[str] = mapped_column(String(64), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    # Validated addresses, stored `;`-joined in the order given.
    statement_emails: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(2), default="es")
    statement_formats: Mapped[str] = mapped_column(String(16), default="pdf;xlsx")

    @property
    def recipients(self) -> list[str]:
        return [e for e in self.statement_emails.split(";") if e]

    @property
    def formats(self) -> list[str]:
        return [f for f in self.statement_formats.split(";") if f]


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("company_id", "customer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    credit_limit: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    currency: Mapped[str] = mapped_column(String(3))
    payment_terms: Mapped[str] = mapped_column(String(64), default="")

    company: Mapped[Company] = relationship()
    customer: Mapped[Customer] = relationship()


class OpenItem(Base):
    __tablename__ = "open_items"
    __table_args__ = (
        UniqueConstraint("company_id", "document_number"),
        Index("ix_open_items_company_customer", "company_id", "customer_id", "document_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    document_number: Mapped[str] = mapped_column(String(64))
    document_type: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(255), default="")
    document_date: Mapped[dt.date] = mapped_column(Date)
    due_date: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    cleared_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    full_name: Mapped[str] = mapped_column(String(255), default="")
    password_hash: Mapped[str | None] = deferred(mapped_column(String(255), nullable=True))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | disabled
    role: Mapped[str] = mapped_column(String(16), default="customer")
    language: Mapped[str] = mapped_column(String(2), default="es")
    # Bumped at every password change: sessions carry it, so older sessions end.
    password_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, nullable=True)

    customers: Mapped[list[Customer]] = relationship(secondary="user_customers", order_by="Customer.number")

    @property
    def is_active(self) -> bool:
        return self.status == "active"


class UserCustomer(Base):
    """A grant: a `customer` user may see this customer's statements."""

    __tablename__ = "user_customers"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)


class TemporaryPassword(Base):
    """A one-time password sent by email (invitation or reset). Stored hashed; one live per user."""

    __tablename__ = "temporary_passwords"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # invitation | reset
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(AwareDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, nullable=True)
    voided_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, nullable=True)


class StatementRun(Base):
    """One mailing run at a cut-off (from beat, the CLI or an admin)."""

    __tablename__ = "statement_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique: a schedule tick (or a CLI run) delivered twice creates one run.
    run_key: Mapped[str] = mapped_column(String(128), unique=True)
    cutoff: Mapped[dt.date] = mapped_column(Date)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), nullable=True)
    trigger: Mapped[str] = mapped_column(String(16), default="cli")
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | done | failed
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, nullable=True)
    accounts: Mapped[int] = mapped_column(Integer, default=0)
    rendered: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    no_recipients: Mapped[int] = mapped_column(Integer, default=0)

    company: Mapped[Company | None] = relationship()


class RunAccount(Base):
    """One account's part of a run: nothing is dropped silently, each ends in a recorded state."""

    __tablename__ = "run_accounts"
    __table_args__ = (UniqueConstraint("run_id", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("statement_runs.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # pending | done | skipped | no_recipients | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    rendered: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)

    account: Mapped[Account] = relationship()


class OutboxEmail(Base):
    """One statement email to one recipient. The unique key forbids a second email for the same statement."""

    __tablename__ = "outbox_emails"
    __table_args__ = (
        UniqueConstraint("company_id", "customer_id", "cutoff", "recipient"),
        Index("ix_outbox_emails_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("statement_runs.id", ondelete="SET NULL"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    cutoff: Mapped[dt.date] = mapped_column(Date)
    recipient: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(2), default="es")
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    # Store keys of the files to attach, and the summary figures for the body.
    attachments: Mapped[list[str]] = mapped_column(JSON, default=list)
    # pending | sending | sent | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Each admin resend is an explicit new generation of the same row.
    generation: Mapped[int] = mapped_column(Integer, default=1)
    lease_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, nullable=True)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    first_queued_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow, onupdate=utcnow)

    company: Mapped[Company] = relationship()
    customer: Mapped[Customer] = relationship()


class AuditEvent(Base):
    """Security-relevant events (sign-in, refusals, password changes, resends), never with secrets."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow, server_default=func.now())
    event: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(150), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


__all__ = [
    "DOCUMENT_TYPES",
    "LANGUAGES",
    "ROLES",
    "SCHEDULES",
    "STATEMENT_FORMATS",
    "Account",
    "AuditEvent",
    "AwareDateTime",
    "Base",
    "Company",
    "Customer",
    "OpenItem",
    "OutboxEmail",
    "RunAccount",
    "StatementRun",
    "TemporaryPassword",
    "User",
    "UserCustomer",
    "utcnow",
]
