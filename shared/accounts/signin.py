"""Signing in and changing the password.

A sign-in costs exactly one hash check whether the user exists, is disabled, or not; a temporary password
opens a session that must change the password first (as often as needed until it expires or is replaced).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from shared.accounts.audit import audit
from shared.accounts.passwords import (
    CURRENT_FIELD,
    MAX_PASSWORD_INPUT,
    MISSING_CURRENT,
    NEW_FIELD,
    WRONG_CURRENT,
    AccountError,
    PasswordRejected,
    hash_password,
    needs_rehash,
    normalize,
    password_problems,
    verify_password,
)
from shared.accounts.temporary import (
    TEMPORARY_ALPHABET,
    TEMPORARY_LENGTH,
    latest_expired_temporary_password,
    live_temporary_passwords,
    void_temporary_passwords,
)
from shared.clock import utcnow
from shared.i18n import N_
from shared.models import TemporaryPassword, User
from shared.tasks import send_task
from shared.vocab import Task

log = logging.getLogger("edocta.accounts")

SIGN_IN_FAILED = N_("Usuario o contraseña incorrectos.")


@dataclass(frozen=True)
class SignIn:
    """A successful sign-in. `must_change` when a temporary password was used (then only the change is allowed)."""

    user_id: int
    username: str
    password_version: int
    must_change: bool
    temporary_password_id: int | None = None


def find_user(session: Session, username: str) -> User | None:
    username = username.strip()
    if not username or len(username) > 150:
        return None
    return session.scalar(select(User).options(undefer(User.password_hash)).where(User.username == username))


def looks_temporary(password: str) -> bool:
    """Typed like a temporary password: its length, only its alphabet."""
    return len(password) == TEMPORARY_LENGTH and all(character in TEMPORARY_ALPHABET for character in password)


EXPIRED_TEMPORARY = N_("Esa contraseña temporal ya venció. Pide otra en «Olvidé mi contraseña».")


@dataclass(frozen=True)
class SignInRefused:
    """A refused sign-in; `message` (a msgid) is what the form says."""

    message: str


def sign_in(
    session: Session, username: str, password: str, *, ip: str = "", now: dt.datetime | None = None
) -> SignIn | SignInRefused:
    """Check a user ID and password (personal or temporary): a SignIn, or what to tell the user.

    Exactly one Argon2 check, whoever asks: an unknown or disabled user is checked against a dummy hash, so it
    costs the same time as a known one. A password typed like a temporary one (20 characters of its alphabet) is
    checked against the user's newest live temporary password (else the newest expired one, to say it expired),
    anything else against the personal password. A temporary password signs in into a session that must change
    the password, as often as needed until it expires or is replaced.
    """
    now = now or utcnow()
    if len(password) > MAX_PASSWORD_INPUT or not password:
        audit(session, "sign_in_refused", username=username, ip=ip, detail="reason=unusable password")
        return SignInRefused(SIGN_IN_FAILED)
    user = find_user(session, username)
    if user is None or not user.is_active:
        verify_password(None, password)  # the dummy hash: the same cost as a real check
        reason = "unknown user" if user is None else "user disabled"
        audit(session, "sign_in_refused", username=username, ip=ip, detail=f"reason={reason}")
        return SignInRefused(SIGN_IN_FAILED)
    if looks_temporary(password):
        live = live_temporary_passwords(session, user.id, now)[:1]
        candidate = live[0] if live else latest_expired_temporary_password(session, user.id, now)
        if verify_password(candidate.password_hash if candidate is not None else None, password):
            if live:
                user.last_sign_in_at = now
                if live[0].used_at is None:
                    live[0].used_at = now  # first used; it keeps working until it expires or is replaced
                audit(
                    session, "sign_in", username=user.username, ip=ip, detail=f"temporary password ({live[0].purpose})"
                )
                return SignIn(
                    user.id, user.username, user.password_version, must_change=True, temporary_password_id=live[0].id
                )
            audit(session, "sign_in_refused", username=user.username, ip=ip, detail="reason=expired temporary password")
            return SignInRefused(EXPIRED_TEMPORARY)
    else:
        personal_hash = user.password_hash
        if verify_password(personal_hash, password):
            user.last_sign_in_at = now
            if personal_hash and needs_rehash(personal_hash):
                user.password_hash = hash_password(password)
            audit(session, "sign_in", username=user.username, ip=ip)
            return SignIn(user.id, user.username, user.password_version, must_change=False)
    audit(session, "sign_in_refused", username=user.username, ip=ip, detail="reason=wrong password")
    return SignInRefused(SIGN_IN_FAILED)


def authenticate(
    session: Session, username: str, password: str, *, ip: str = "", now: dt.datetime | None = None
) -> SignIn | None:
    """`sign_in`, with None for every kind of refusal."""
    result = sign_in(session, username, password, ip=ip, now=now)
    return result if isinstance(result, SignIn) else None


# --- password change ----------------------------------------------------------------------------------------


def change_password(
    session: Session,
    user_id: int,
    current: str,
    new: str,
    confirm: str,
    *,
    temporary_password_id: int | None = None,
    ip: str = "",
    now: dt.datetime | None = None,
) -> int:
    """Replace a user's password; returns the new `password_version` (older sessions end with it).

    `current` is the personal password, or, for a session opened with a temporary password
    (`temporary_password_id`), that temporary password. The new password is checked before anything is hashed.
    Raises PasswordRejected with the problems per field. The caller sends the "password changed" email after
    the commit (`notify_password_changed`).
    """
    now = now or utcnow()
    user = session.scalar(select(User).options(undefer(User.password_hash)).where(User.id == user_id))
    if user is None or not user.is_active:
        raise AccountError("unknown user")
    problems = password_problems(new, confirm, username=user.username)
    if not current:
        problems.setdefault(CURRENT_FIELD, MISSING_CURRENT)
    if problems:
        audit(session, "password_change_refused", username=user.username, ip=ip, detail=",".join(sorted(problems)))
        raise PasswordRejected(problems)
    if temporary_password_id is not None:
        temporary = session.get(TemporaryPassword, temporary_password_id)
        current_ok = (
            temporary is not None
            and temporary.user_id == user.id
            and temporary.voided_at is None
            and temporary.expires_at > now
            and verify_password(temporary.password_hash, current)
        )
    else:
        current_ok = verify_password(user.password_hash, current)
    if not current_ok:
        audit(session, "password_change_refused", username=user.username, ip=ip, detail="current_password")
        raise PasswordRejected({CURRENT_FIELD: WRONG_CURRENT})
    if normalize(new) == normalize(current):
        message = (
            N_("La nueva contraseña debe ser distinta de la temporal.")
            if temporary_password_id is not None
            else N_("La nueva contraseña debe ser distinta de la actual.")
        )
        raise PasswordRejected({NEW_FIELD: message})
    user.password_hash = hash_password(new)
    user.password_version = (user.password_version or 0) + 1
    user.password_changed_at = now
    void_temporary_passwords(session, user.id, now)
    if temporary_password_id is not None:
        temporary = session.get(TemporaryPassword, temporary_password_id)
        if temporary is not None and temporary.used_at is None:
            temporary.used_at = now
    audit(session, "password_changed", username=user.username, ip=ip)
    session.flush()
    return user.password_version


def notify_password_changed(user_id: int) -> None:
    """Ask a worker to tell the user by email that the password changed (call after the commit)."""
    try:
        send_task(Task.SEND_PASSWORD_CHANGED, args=[user_id])
    except Exception:  # the change itself is done; a lost notice is logged, never fatal
        log.exception("could not enqueue the password-changed email for user %s", user_id)
