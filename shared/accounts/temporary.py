"""Temporary passwords: one-time, emailed (invitation 72 h, reset 1 h), stored hashed; a newer one voids the
older, and any password change voids them all."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.accounts.passwords import hash_password
from shared.clock import utcnow
from shared.models import TemporaryPassword, User
from shared.vocab import TemporaryPurpose

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
                TemporaryPassword.used_at.is_(None),
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
        .where(
            TemporaryPassword.user_id == user_id,
            TemporaryPassword.used_at.is_(None),
            TemporaryPassword.voided_at.is_(None),
        )
        .values(voided_at=now)
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
