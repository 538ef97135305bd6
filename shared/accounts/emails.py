"""The account emails: the invitation, the password reset and the notice that the password changed. They go
to the stored address only, with links built from `EDOCTA_BASE_URL`."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from shared.accounts.audit import audit, record_event
from shared.accounts.signin import find_user
from shared.accounts.temporary import RESET_RESEND_INTERVAL, issue_temporary_password, live_temporary_passwords
from shared.clock import utcnow
from shared.db import session_scope
from shared.mail import build_message, get_mail_backend
from shared.models import User
from shared.settings import get_settings
from shared.vocab import Language, TemporaryPurpose

log = logging.getLogger("edocta.accounts")


def _login_url() -> str:
    return f"{get_settings().base_url}/login"


def _greeting(user: User) -> str:
    return user.full_name or user.username


def _invitation_text(user: User, password: str) -> tuple[str, str]:
    url = _login_url()
    if user.language == Language.EN:
        return (
            "Your access to the account statements portal",
            f"Hello {_greeting(user)},\n\n"
            "An account was created for you on the account statements portal.\n\n"
            f"Portal: {url}\n"
            f"User ID: {user.username}\n"
            f"Temporary password: {password}\n\n"
            "This one-time password expires in 72 hours. When you sign in with it, the portal asks you to choose\n"
            "a personal password; then start again and sign in with it.\n\n"
            "If you did not expect this email, you can ignore it.\n",
        )
    return (
        "Tu acceso al portal de estados de cuenta",
        f"Hola {_greeting(user)},\n\n"
        "Se creó tu acceso al portal de estados de cuenta.\n\n"
        f"Portal: {url}\n"
        f"Usuario: {user.username}\n"
        f"Contraseña temporal: {password}\n\n"
        "Esta contraseña sirve una sola vez y vence en 72 horas. Al ingresar con ella, el portal te pide elegir\n"
        "una contraseña personal; después comienza de nuevo e ingresa con ella.\n\n"
        "Si no esperabas este correo, puedes ignorarlo.\n",
    )


def _reset_text(user: User, password: str) -> tuple[str, str]:
    url = _login_url()
    if user.language == Language.EN:
        return (
            "Your temporary password",
            f"Hello {_greeting(user)},\n\n"
            "Someone (hopefully you) asked to reset the password of your account statements portal user.\n\n"
            f"Portal: {url}\n"
            f"User ID: {user.username}\n"
            f"Temporary password: {password}\n\n"
            "This one-time password expires in 1 hour. Your current password keeps working until you use it.\n"
            "If you did not ask for it, ignore this email: nothing changes.\n",
        )
    return (
        "Tu contraseña temporal",
        f"Hola {_greeting(user)},\n\n"
        "Alguien (esperamos que tú) pidió restablecer la contraseña de tu usuario del portal de estados de cuenta.\n\n"
        f"Portal: {url}\n"
        f"Usuario: {user.username}\n"
        f"Contraseña temporal: {password}\n\n"
        "Esta contraseña sirve una sola vez y vence en 1 hora. Tu contraseña actual sigue funcionando hasta que\n"
        "la uses. Si no la pediste, ignora este correo: nada cambia.\n",
    )


def _changed_text(user: User) -> tuple[str, str]:
    settings = get_settings()
    forgot = f"{settings.base_url}/password/forgot"
    when = (user.password_changed_at or utcnow()).strftime("%Y-%m-%d %H:%M UTC")
    if user.language == Language.EN:
        return (
            "Your password was changed",
            f"Hello {_greeting(user)},\n\n"
            f"The password of your account statements portal user {user.username} was changed on {when}.\n\n"
            "If it was you, there is nothing to do. If it was not, ask for a new password at once:\n"
            f"{forgot}\n",
        )
    return (
        "Tu contraseña se cambió",
        f"Hola {_greeting(user)},\n\n"
        f"La contraseña de tu usuario {user.username} del portal de estados de cuenta se cambió el {when}.\n\n"
        "Si fuiste tú, no tienes que hacer nada. Si no, pide una contraseña nueva de inmediato:\n"
        f"{forgot}\n",
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
        password = issue_temporary_password(session, user, TemporaryPurpose.INVITATION, now=now)
        subject, text = _invitation_text(user, password)
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
    user, or when a reset was already sent moments ago and is still unused (the owner has that email)."""
    now = now or utcnow()
    with session_scope() as session:
        user = find_user(session, username)
        if user is None or not user.is_active:
            audit(session, "reset_ignored", username=username[:150], detail="unknown or disabled user")
            return False
        recent = [
            t
            for t in live_temporary_passwords(session, user.id, now)
            if t.purpose == TemporaryPurpose.RESET and now - t.created_at < RESET_RESEND_INTERVAL
        ]
        if recent:
            audit(session, "reset_throttled", username=user.username)
            return False
        password = issue_temporary_password(session, user, TemporaryPurpose.RESET, now=now)
        subject, text = _reset_text(user, password)
        audit(session, "reset_issued", username=user.username)
        session.expunge(user)
    _send(user, subject, text)
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
