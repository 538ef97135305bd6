"""Portal users, their customer grants, temporary passwords and the audit trail."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from shared.clock import utcnow
from shared.models.base import AwareDateTime, Base
from shared.models.master import Customer
from shared.vocab import DEFAULT_LANGUAGE, Role, UserStatus


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    full_name: Mapped[str] = mapped_column(String(255), default="")
    password_hash: Mapped[str | None] = deferred(mapped_column(String(255), nullable=True))
    status: Mapped[str] = mapped_column(String(16), default=UserStatus.ACTIVE)
    role: Mapped[str] = mapped_column(String(16), default=Role.CUSTOMER)
    language: Mapped[str] = mapped_column(String(2), default=DEFAULT_LANGUAGE)
    # Bumped at every password change: sessions carry it, so older sessions end.
    password_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, nullable=True)
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, nullable=True)
    # When the last emailed reset was claimed: of simultaneous requests, the one whose UPDATE sets it sends.
    reset_requested_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, nullable=True)

    customers: Mapped[list[Customer]] = relationship(secondary="user_customers", order_by="Customer.number")

    @property
    def is_active(self) -> bool:
        return self.status == UserStatus.ACTIVE


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
    purpose: Mapped[str] = mapped_column(String(16))  # TemporaryPurpose
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(AwareDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, nullable=True)
    voided_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, nullable=True)


class AuditEvent(Base):
    """Security-relevant events (sign-in, refusals, password changes, resends), never with secrets."""

    __tablename__ = "audit_events"
    # The audit log filters by event (newest first), and /metrics counts the sign-in refusals.
    __table_args__ = (Index("ix_audit_events_event_at", "event", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow, server_default=func.now())
    event: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(150), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
