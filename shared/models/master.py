"""ERP master data: companies, customers, their accounts, and the open items (contract section 1)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.models.base import AwareDateTime, Base, Money
from shared.vocab import DEFAULT_LANGUAGE, DEFAULT_SCHEDULE


class Company(Base):
    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    tax_id: Mapped[str] = mapped_column(String(64), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    currency: Mapped[str] = mapped_column(String(3), default="MXN")
    # Which cut-off rule the scheduled runs use for this company (beat_schedule.py).
    schedule: Mapped[str] = mapped_column(String(16), default=DEFAULT_SCHEDULE)
    # The collections desk customers call, and how to pay (contract section 10).
    collections_name: Mapped[str] = mapped_column(String(255), default="")
    collections_email: Mapped[str] = mapped_column(String(320), default="")
    collections_phone: Mapped[str] = mapped_column(String(64), default="")
    payment_instructions: Mapped[str] = mapped_column(Text, default="")
    # When the last import that changed this company's data committed (statements show it as "data as of").
    data_as_of: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, nullable=True)


def listed(text: str) -> list[str]:
    """The entries of a `;`-separated column (a customer's recipients, its statement formats)."""
    return [entry for entry in text.split(";") if entry]


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    tax_id: Mapped[str] = mapped_column(String(64), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    # Validated addresses, stored `;`-joined in the order given.
    statement_emails: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(2), default=DEFAULT_LANGUAGE)
    statement_formats: Mapped[str] = mapped_column(String(16), default="pdf;xlsx")
    # This customer's own collector, instead of the company's collections desk (any field set).
    collector_name: Mapped[str] = mapped_column(String(255), default="")
    collector_email: Mapped[str] = mapped_column(String(320), default="")
    collector_phone: Mapped[str] = mapped_column(String(64), default="")

    @property
    def recipients(self) -> list[str]:
        return listed(self.statement_emails)

    @property
    def formats(self) -> list[str]:
        return listed(self.statement_formats)


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


class StatementRevision(Base):
    """A number that changes whenever one customer's items at one company, or the invoice documents of those
    items, change: written by the database's own triggers (migration 0011) on every insert, update and delete of
    `open_items` and `invoice_documents`, whoever writes them; read by a statement's data version
    (`shared.statements.version`). A new number is never one the pair had before (PostgreSQL: a sequence;
    SQLite: one more than the largest), and rows are never deleted."""

    __tablename__ = "statement_revisions"
    __table_args__ = (Index("ix_statement_revisions_revision", "revision"),)

    company_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(BigInteger)
    # PostgreSQL: the transaction that last moved the number (64-bit id), so one transaction moves a pair once.
    xact: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ClearedItem(Base):
    """An item a snapshot import (`--replace-open-items`) no longer holds: the ERP cleared it. Kept, with the day
    it was found cleared (or the clearing date the file gave), so activity statements still show it."""

    __tablename__ = "cleared_items"
    __table_args__ = (
        UniqueConstraint("company_id", "document_number"),
        Index("ix_cleared_items_company_customer", "company_id", "customer_id", "document_date"),
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
    cleared_on: Mapped[dt.date] = mapped_column(Date)
    # When the snapshot that dropped it committed.
    removed_at: Mapped[dt.datetime] = mapped_column(AwareDateTime)
