"""Temporary passwords: emailed (invitation 72 h, reset 1 h), stored hashed. One works (into the forced change
of password) until it expires or is replaced: a newer one voids the older, and any password change voids them all.
Of several simultaneous reset requests exactly one issues a password (`claim_reset`, a conditional UPDATE)."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from shared.accounts.passwords import hash_password
from shared.clock import utcnow
from shared.models import TemporaryPassword, User
from shared.vocab import TemporaryPurpose, UserStatus

TEMPORARY_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/l/I
TEMPORARY_LENGTH = 20
INVITATION_LIFETIME = dt.timedelta(hours=72)
RESET_LIFETIME = dt.timedelta(hours=1)
# A reset asked again within this time does not send another password (the previous email still works).
RESET_RESEND_INTERVAL = dt.timedelta(minutes=2)


def generate_temporary_password() -> str:
    return "".join(secrets.choice(TEMPORARY_ALPHABET) for _ in range(TEMPORARY_LENGTH))


def live_temporary_passwords(session: Session, user_id: int, now: dt.datetime) -> list[TemporaryPassword]:
    return list(
        session.scalars(
            select(TemporaryPassword)
            .where(
                TemporaryPassword.user_id == user_id,
                TemporaryPassword.voided_at.is_(None),
                TemporaryPassword.expires_at > now,
            )
            .order_by(TemporaryPassword.created_at.desc(), TemporaryPassword.id.desc())
        )
    )


def void_temporary_passwords(session: Session, user_id: int, now: dt.datetime | None = None) -> None:
    now = now or utcnow()
    session.execute(
        update(TemporaryPassword)
        .where(TemporaryPassword.user_id == user_id, TemporaryPassword.voided_at.is_(None))
        .values(voided_at=now)
    )


def latest_expired_temporary_password(session: Session, user_id: int, now: dt.datetime) -> TemporaryPassword | None:
    """The newest temporary password that ran out (never voided by a newer one or a change), if any."""
    return session.scalar(
        select(TemporaryPassword)
        .where(
            TemporaryPassword.user_id == user_id,
            TemporaryPassword.voided_at.is_(None),
            TemporaryPassword.expires_at <= now,
        )
        .order_by(TemporaryPassword.expires_at.desc(), TemporaryPassword.id.desc())
        .limit(1)
    )


def claim_reset(session: Session, username: str, now: dt.datetime) -> bool:
    """Claim the right to email `username` a reset now: True for exactly one of simultaneous callers, in any
    number of processes (one conditional UPDATE; the database serializes them), False for an unknown or disabled
    user or when a reset was claimed less than RESET_RESEND_INTERVAL ago (that email still works)."""
    claimed = session.execute(
        update(User)
        .where(
            User.username == username,
            User.status == UserStatus.ACTIVE,
            or_(User.reset_requested_at.is_(None), User.reset_requested_at <= now - RESET_RESEND_INTERVAL),
        )
        .values(reset_requested_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(claimed, "rowcount", 0) == 1)


def release_reset(session: Session, user_id: int, claimed_at: dt.datetime) -> None:
    """Give a claim back (the email could not be sent), so the task's retry may send one."""
    session.execute(
        update(User)
        .where(User.id == user_id, User.reset_requested_at == claimed_at)
        .values(reset_requested_at=None)
        .execution_options(synchronize_session=False)
    )


def issue_temporary_password(session: Session, user: User, purpose: str, *, now: dt.datetime | None = None) -> str:
    """A new one-time password for `user` (the older ones are voided). Returns the text, stored only hashed."""
    if purpose not in (TemporaryPurpose.INVITATION, TemporaryPurpose.RESET):
        raise ValueError(f"unknown purpose {purpose!r}")
    now = now or utcnow()
    void_temporary_passwords(session, user.id, now)
    password = generate_temporary_password()
    lifetime = INVITATION_LIFETIME if purpose == TemporaryPurpose.INVITATION else RESET_LIFETIME
    session.add(
        TemporaryPassword(
            user_id=user.id,
            purpose=purpose,
            password_hash=hash_password(password),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    session.flush()
    return password
