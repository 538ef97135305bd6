"""The data feed's records: every import (command line or drop folder) with its outcome, the companies each
one named, the scheduled runs held back for stale data, and the schedule's own tick record."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shared.clock import utcnow
from shared.models.base import AwareDateTime, Base
from shared.vocab import HoldStatus, ImportStatus


class ImportRecord(Base):
    """One import: who or what started it, when, its files with their counts, and its outcome."""

    __tablename__ = "imports"
    __table_args__ = (Index("ix_imports_status_created_at", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    started_by: Mapped[str] = mapped_column(String(150), default="")
    # The path given to `edocta import`, or the batch folder's name.
    batch: Mapped[str] = mapped_column(String(500), default="")
    # A drop-folder batch's claim (`<when>-<name>`): unique, so a batch is imported once.
    claim_key: Mapped[str | None] = mapped_column(String(300), unique=True, nullable=True)
    replace_open_items: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=ImportStatus.RUNNING)
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, nullable=True)
    # Progress of a running import: where it is and how many rows of how many (the ops page shows it).
    updated_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    phase: Mapped[str] = mapped_column(String(64), default="")
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    # [{"name", "inserted", "updated", "unchanged", "deleted"}, ...] in load order.
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    # The first errors (all of them are in the batch's errors.txt).
    errors: Mapped[str] = mapped_column(Text, default="")


class ImportCompany(Base):
    """A company a successful import named, and whether the import changed its data."""

    __tablename__ = "import_companies"
    __table_args__ = (Index("ix_import_companies_company_id", "company_id", "import_id"),)

    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id", ondelete="CASCADE"), primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True)
    changed: Mapped[bool] = mapped_column(Boolean, default=False)


class ScheduleHold(Base):
    """A scheduled run for one company at one cut-off, held back because the company's data was stale."""

    __tablename__ = "schedule_holds"
    __table_args__ = (UniqueConstraint("rule", "cutoff", "company_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(16))
    cutoff: Mapped[dt.date] = mapped_column(Date)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=HoldStatus.WAITING)
    held_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    wait_until: Mapped[dt.datetime] = mapped_column(AwareDateTime)
    checked_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    # When the company's data was last refreshed, as seen at the last check (None: never).
    refreshed_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, nullable=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("statement_runs.id"), nullable=True)
    started_by: Mapped[str] = mapped_column(String(150), default="")


class SchedulerState(Base):
    """One row: when the schedule first and last ticked (the first tick bounds how far back it catches up)."""

    __tablename__ = "scheduler_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    first_tick_at: Mapped[dt.datetime] = mapped_column(AwareDateTime)
    last_tick_at: Mapped[dt.datetime] = mapped_column(AwareDateTime)
