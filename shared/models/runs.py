"""The mailing runs' records: runs, each account's part in a run, and the statement-email outbox."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.clock import utcnow
from shared.models.base import AwareDateTime, Base
from shared.models.master import Account, Company, Customer
from shared.vocab import DEFAULT_LANGUAGE, AccountStatus, EmailStatus, RunStatus, Trigger

# A run's rows still waiting (an account pending; an email pending or being sent), each table's in an index of its
# own: on PostgreSQL, "is anything of the run still waiting?" reads these, newest first (`shared.runs.progress`).
# The queries write the same condition, literally: a partial index serves a query whose condition is its own.
ACCOUNT_WAITING = f"status = '{AccountStatus.PENDING}'"
EMAIL_WAITING = f"status IN ('{EmailStatus.PENDING}', '{EmailStatus.SENDING}')"


class StatementRun(Base):
    """One mailing run at a cut-off (from beat, the CLI or an admin)."""

    __tablename__ = "statement_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique: a schedule tick (or a CLI run) delivered twice creates one run.
    run_key: Mapped[str] = mapped_column(String(128), unique=True)
    cutoff: Mapped[dt.date] = mapped_column(Date)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), nullable=True)
    trigger: Mapped[str] = mapped_column(String(16), default=Trigger.CLI)
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.RUNNING)
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, nullable=True)
    accounts: Mapped[int] = mapped_column(Integer, default=0)
    rendered: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    no_recipients: Mapped[int] = mapped_column(Integer, default=0)
    # The rest of the counters a finished run shows (stored with the above by `refresh_run`), so the runs table
    # reads a finished run from its row instead of counting its accounts and emails.
    done_accounts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed_accounts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cancelled_accounts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    emails: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cancelled_emails: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set when an administrator cancels the run (then `status` is cancelled).
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, nullable=True)
    cancelled_by: Mapped[str] = mapped_column(String(150), default="", server_default="")

    company: Mapped[Company | None] = relationship()


class RunAccount(Base):
    """One account's part of a run: nothing is dropped silently, each ends in a recorded state."""

    __tablename__ = "run_accounts"
    # A run's page lists its accounts in the order the run took them, a page at a time. Its counters (accounts by
    # status, files rendered) are read from the second index alone; "is any account still pending?" from the third.
    __table_args__ = (
        UniqueConstraint("run_id", "account_id"),
        Index("ix_run_accounts_run_id_id", "run_id", "id"),
        Index("ix_run_accounts_run_status", "run_id", "status", "rendered"),
        Index(
            "ix_run_accounts_waiting",
            "run_id",
            "id",
            postgresql_where=text(ACCOUNT_WAITING),
            sqlite_where=text(ACCOUNT_WAITING),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Indexed first in the indexes above, as in the outbox: an index of `run_id` alone would only be another to
    # write at each change, and the planner, when its statistics do not know a run yet, took it for "the run's
    # newest rows" and sorted every row of the run.
    run_id: Mapped[int] = mapped_column(ForeignKey("statement_runs.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=AccountStatus.PENDING)
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
        # The email log lists the latest first.
        Index("ix_outbox_emails_updated_at", "updated_at"),
        # A run's emails by status (its counters); whether any is still waiting, from the waiting ones' own index.
        Index("ix_outbox_emails_run_status", "run_id", "status"),
        Index(
            "ix_outbox_emails_waiting",
            "run_id",
            "id",
            postgresql_where=text(EMAIL_WAITING),
            sqlite_where=text(EMAIL_WAITING),
        ),
        # The ops page's "last email sent" and "the mail server's latest complaint", without reading every row.
        Index(
            "ix_outbox_emails_sent_at",
            "sent_at",
            postgresql_where=text("sent_at IS NOT NULL"),
            sqlite_where=text("sent_at IS NOT NULL"),
        ),
        Index(
            "ix_outbox_emails_errors",
            "updated_at",
            postgresql_where=text("last_error <> ''"),
            sqlite_where=text("last_error <> ''"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("statement_runs.id", ondelete="SET NULL"))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    cutoff: Mapped[dt.date] = mapped_column(Date)
    recipient: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(2), default=DEFAULT_LANGUAGE)
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    # Store keys of the files to attach, and the summary figures for the body.
    attachments: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default=EmailStatus.PENDING)
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


class RenderDuration(Base):
    """How long statement files take to render, as histogram buckets: one row per format, kind of process
    (worker, portal) and bucket, counting the renders that fell in that bucket and their seconds. Written where
    each render happens, so every process that serves /metrics reads the same figures."""

    __tablename__ = "render_durations"

    format: Mapped[str] = mapped_column(String(8), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    # The bucket's upper bound as Prometheus writes it ("0.25", "+Inf"); each render counts in one bucket.
    bucket: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
