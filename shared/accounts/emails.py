"""The account emails: the invitation, the password reset and the notice that the password changed, plain text
from the templates of `shared/mail/templates/` in the user's language. They go to the stored address only, with
links built from `EDOCTA_BASE_URL`."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from shared.accounts.audit import audit, record_event
from shared.accounts.signin import find_user
from shared.accounts.temporary import (
    INVITATION_LIFETIME,
    RESET_LIFETIME,
    claim_reset,
    issue_temporary_password,
    release_reset,
)
from shared.clock import utcnow
from shared.db import session_scope
from shared.i18n import N_, format_datetime, gettext, normalize_language
from shared.mail import build_message, get_mail_backend, render_email
from shared.models import User
from shared.settings import get_settings
from shared.vocab import TemporaryPurpose

log = logging.getLogger("edocta.accounts")


def _account_email(user: User, subject: str, template: str, **values: Any) -> tuple[str, str]:
    """The subject (a msgid) and the plain text of an account email, in the user's language."""
    language = normalize_language(user.language)
    context = {
        "language": language,
        "greeting": user.full_name or user.username,
        "username": user.username,
        "url": f"{get_settings().base_url}/login",
        "zone": get_settings().timezone,
        **values,
    }
    return gettext(subject, language), render_email(template, context)


def _expiry(user: User, expires_at: dt.datetime) -> str:
    """When a temporary password stops working, in the business time zone and the user's language."""
    return format_datetime(expires_at, normalize_language(user.language), timezone=get_settings().timezone)


def _invitation_text(user: User, password: str, expires_at: dt.datetime) -> tuple[str, str]:
    subject = N_("Tu acceso al portal de estados de cuenta")
    return _account_email(user, subject, "invitation.txt.j2", password=password, expires_at=_expiry(user, expires_at))


def _reset_text(user: User, password: str, expires_at: dt.datetime) -> tuple[str, str]:
    return _account_email(
        user,
        N_("Tu contraseña temporal"),
        "password_reset.txt.j2",
        password=password,
        expires_at=_expiry(user, expires_at),
        forgot_url=f"{get_settings().base_url}/password/forgot",
    )


def _changed_text(user: User) -> tuple[str, str]:
    """The notice that the password changed, with the moment in the business time zone."""
    settings = get_settings()
    changed_at = format_datetime(
        user.password_changed_at or utcnow(), normalize_language(user.language), timezone=settings.timezone
    )
    return _account_email(
        user,
        N_("Tu contraseña se cambió"),
        "password_changed.txt.j2",
        changed_at=changed_at,
        forgot_url=f"{settings.base_url}/password/forgot",
    )


def _send(user: User, subject: str, text: str) -> None:
    message = build_message(to=user.email, subject=subject, text=text)
    get_mail_backend().send(message)


def send_invitation(user_id: int, *, now: dt.datetime | None = None) -> bool:
    """Issue an invitation (72 h temporary password) and email it to the user's stored address.

    Returns False (and sends nothing) for an unknown or disabled user. The password is committed before the
    email goes out; a failed send raises, so the task retries (a retry issues a new password, voiding this one).
    """
    with session_scope() as session:
        user = session.get(User, user_id)
        if user is None or not user.is_active:
            log.info("invitation not sent: user %s unknown or disabled", user_id)
            return False
        now = now or utcnow()
        password = issue_temporary_password(session, user, TemporaryPurpose.INVITATION, now=now)
        subject, text = _invitation_text(user, password, now + INVITATION_LIFETIME)
        audit(session, "invitation_issued", username=user.username)
        session.expunge(user)
    _send(user, subject, text)
    record_event("invitation_sent", username=user.username, detail=f"to={user.email}")
    return True


def send_invitations(user_ids: Sequence[int]) -> None:
    """Invitations for several users (after an import); one failure does not stop the others, it is logged."""
    for user_id in user_ids:
        try:
            send_invitation(user_id)
        except Exception as error:
            log.exception("invitation for user %s failed", user_id)
            record_event("invitation_failed", detail=f"user_id={user_id} error={type(error).__name__}")


def send_password_reset(username: str, *, now: dt.datetime | None = None) -> bool:
    """A reset (1 h temporary password) emailed to the stored address. Does nothing for an unknown or disabled
    user, or when a reset was sent moments ago (the owner has that email, and its password keeps working).

    Simultaneous requests (several workers) race for one claim in the database (`claim_reset`): exactly one
    issues the password and sends it; a failed send gives the claim back so the task's retry can send."""
    now = now or utcnow()
    username = username.strip()[:150]
    with session_scope() as session:
        claimed = bool(username) and claim_reset(session, username, now)
    with session_scope() as session:
        user = find_user(session, username)
        if user is None or not user.is_active:
            audit(session, "reset_ignored", username=username, detail="unknown or disabled user")
            return False
        if not claimed:
            audit(session, "reset_throttled", username=user.username)
            return False
        password = issue_temporary_password(session, user, TemporaryPurpose.RESET, now=now)
        subject, text = _reset_text(user, password, now + RESET_LIFETIME)
        audit(session, "reset_issued", username=user.username)
        session.expunge(user)
    try:
        _send(user, subject, text)
    except Exception:
        with session_scope() as session:
            release_reset(session, user.id, now)
        raise
    record_event("reset_sent", username=user.username, detail=f"to={user.email}")
    return True


def send_password_changed(user_id: int) -> bool:
    """The notice that the password changed (no secret in it)."""
    with session_scope() as session:
        user = session.get(User, user_id)
        if user is None:
            return False
        subject, text = _changed_text(user)
        session.expunge(user)
    _send(user, subject, text)
    record_event("password_changed_notice_sent", username=user.username)
    return True
