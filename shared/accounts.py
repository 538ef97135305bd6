"""Portal accounts: passwords, temporary passwords, sign-in, invitations, resets, grants and the audit trail.

Rules (NIST SP 800-63B, OWASP):
- passwords are hashed with Argon2id (argon2-cffi defaults); the text is NFKC-normalized first;
- a new password has 12 to 128 characters, any Unicode and spaces, no composition rules, is not a common
  password, does not contain the user ID and differs from the current (or temporary) one;
- temporary passwords come from `secrets`, are 20 characters of a readable alphabet, are stored hashed, live
  72 hours (invitation) or 1 hour (reset), die once used, and a newer one voids the older; any password change
  voids them all. Asking for one changes nothing else: the current password keeps working;
- a sign-in costs the same two hash checks whether the user exists, is disabled, or not;
- the audit trail (table `audit_events` and the `edocta.audit` log) never holds a secret.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session, undefer

from shared.db import session_scope
from shared.models import LANGUAGES, ROLES, AuditEvent, Customer, TemporaryPassword, User, UserCustomer, utcnow
from shared.settings import get_settings

log = logging.getLogger("edocta.accounts")
audit_log = logging.getLogger("edocta.audit")

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
# Anything longer than this is refused before any normalization or hashing (a 1 MB "password" costs nothing).
MAX_PASSWORD_INPUT = 4 * MAX_PASSWORD_LENGTH
TEMPORARY_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/l/I
TEMPORARY_LENGTH = 20
INVITATION_LIFETIME = dt.timedelta(hours=72)
RESET_LIFETIME = dt.timedelta(hours=1)
# A reset asked again within this time does not send another password (the previous email still works).
RESET_RESEND_INTERVAL = dt.timedelta(minutes=2)
USERNAME_PATTERN = re.compile(r"^[\w.@+\-]{1,150}$")

COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "common_passwords.txt"

_hasher = PasswordHasher()


class AccountError(ValueError):
    """A request about accounts that cannot be done, with a reason a person can read."""


@dataclass
class PasswordRejected(AccountError):
    """The new password (or the current one) is not acceptable; `errors` maps form fields to Spanish msgids."""

    errors: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return "; ".join(f"{name}: {message}" for name, message in self.errors.items())


@dataclass(frozen=True)
class SignIn:
    """A successful sign-in. `must_change` when a temporary password was used (then only the change is allowed)."""

    user_id: int
    username: str
    password_version: int
    must_change: bool
    temporary_password_id: int | None = None


# --- hashing ------------------------------------------------------------------------------------------------


def _normalize(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    """Argon2id hash of the NFKC-normalized password."""
    if len(password) > MAX_PASSWORD_INPUT:
        raise AccountError("password too long")
    return _hasher.hash(_normalize(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; never raises for a malformed or missing hash (it just does not match)."""
    if len(password) > MAX_PASSWORD_INPUT:
        return False
    try:
        return bool(_hasher.verify(password_hash or _dummy_hash(), _normalize(password))) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash nobody knows the password of: checked for unknown users so they cost the same time."""
    return _hasher.hash(secrets.token_urlsafe(32))


def generate_temporary_password() -> str:
    return "".join(secrets.choice(TEMPORARY_ALPHABET) for _ in range(TEMPORARY_LENGTH))


# --- password rules -----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The refused passwords (case-insensitive): a list of the most common ones, shipped with the product."""
    words = set()
    for line in COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            words.add(line.casefold())
    return frozenset(words)


_SEQUENCES = ("0123456789" * 3, "abcdefghijklmnopqrstuvwxyz" * 2, "qwertyuiopasdfghjklzxcvbnm" * 2, "1qaz2wsx3edc4rfv")


def is_common_password(password: str) -> bool:
    """Common passwords, and the usual ways of stretching one: repeats, sequences, a common word plus digits."""
    folded = _normalize(password).casefold()
    compact = re.sub(r"[\s_\-.!@#$%^&*]+", "", folded)
    words = common_passwords()
    if folded in words or compact in words:
        return True
    if len(set(compact)) <= 2:
        return True
    for sequence in _SEQUENCES:
        if compact in sequence or compact in sequence[::-1]:
            return True
    stem = re.sub(r"\d+$", "", compact)
    stem = re.sub(r"^\d+", "", stem)
    if stem in words and len(stem) >= 4:
        return True
    # A common word repeated ("passwordpassword", "holaholahola").
    for size in range(3, len(compact) // 2 + 1):
        if len(compact) % size == 0 and compact[:size] * (len(compact) // size) == compact:
            return True
    return False


# What is wrong with a new password, as Spanish msgids (the portal translates them).
TOO_LONG = "La contraseña puede tener como máximo 128 caracteres."
TOO_SHORT = "La contraseña debe tener al menos 12 caracteres."
CONTAINS_USERNAME = "La contraseña no puede contener tu usuario."
TOO_COMMON = "Esa contraseña es demasiado común. Elige otra, por ejemplo una frase."
NO_MATCH = "Las contraseñas no coinciden."
MISSING_CURRENT = "Escribe tu contraseña actual."
WRONG_CURRENT = "La contraseña actual no es correcta."
NEW_FIELD, CONFIRM_FIELD, CURRENT_FIELD = "new_password", "confirm_password", "current_password"


def password_problems(new: str, confirm: str, *, username: str) -> dict[str, str]:
    """What is wrong with a new password, per form field (Spanish msgids). Never hashes anything."""
    problems: dict[str, str] = {}
    if len(new) > MAX_PASSWORD_LENGTH:
        problems[NEW_FIELD] = TOO_LONG
        return problems
    normalized = _normalize(new)
    if len(normalized) < MIN_PASSWORD_LENGTH:
        problems[NEW_FIELD] = TOO_SHORT
    elif len(normalized) > MAX_PASSWORD_LENGTH:
        problems[NEW_FIELD] = TOO_LONG
    elif username and username.casefold() in normalized.casefold():
        problems[NEW_FIELD] = CONTAINS_USERNAME
    elif is_common_password(new):
        problems[NEW_FIELD] = TOO_COMMON
    if confirm != new:
        problems[CONFIRM_FIELD] = NO_MATCH
    return problems


# --- audit --------------------------------------------------------------------------------------------------


def audit(session: Session, event: str, *, username: str = "", ip: str = "", detail: str = "") -> None:
    """Record a security event (sign-in, refusal, password change, resend...). Never pass a secret here."""
    session.add(AuditEvent(event=event, username=username[:150], ip=ip[:64], detail=detail))
    audit_log.info("%s user=%r ip=%s %s", event, username[:150], ip or "-", detail)


def record_event(event: str, *, username: str = "", ip: str = "", detail: str = "") -> None:
    """`audit` in its own transaction."""
    with session_scope() as session:
        audit(session, event, username=username, ip=ip, detail=detail)


# --- temporary passwords ------------------------------------------------------------------------------------


def _live_temporary_passwords(session: Session, user_id: int, now: dt.datetime) -> list[TemporaryPassword]:
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
    if purpose not in ("invitation", "reset"):
        raise ValueError(f"unknown purpose {purpose!r}")
    now = now or utcnow()
    void_temporary_passwords(session, user.id, now)
    password = generate_temporary_password()
    lifetime = INVITATION_LIFETIME if purpose == "invitation" else RESET_LIFETIME
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


# --- sign-in ------------------------------------------------------------------------------------------------


def find_user(session: Session, username: str) -> User | None:
    username = username.strip()
    if not username or len(username) > 150:
        return None
    return session.scalar(select(User).options(undefer(User.password_hash)).where(User.username == username))


def authenticate(
    session: Session, username: str, password: str, *, ip: str = "", now: dt.datetime | None = None
) -> SignIn | None:
    """Check a user ID and password (personal or temporary). None for every kind of failure.

    Always two Argon2 checks (the personal password and the newest live temporary one, or a dummy hash in their
    place), so an unknown or disabled user costs the same time as a known one. Using a temporary password marks
    it used: it signs in once, into a session that must change the password.
    """
    now = now or utcnow()
    if len(password) > MAX_PASSWORD_INPUT or not password:
        audit(session, "sign_in_refused", username=username, ip=ip, detail="reason=unusable password")
        return None
    user = find_user(session, username)
    active = user is not None and user.is_active
    personal_hash = user.password_hash if active and user is not None else None
    temporary = _live_temporary_passwords(session, user.id, now)[:1] if active and user is not None else []
    personal_ok = verify_password(personal_hash, password)
    temporary_ok = verify_password(temporary[0].password_hash if temporary else None, password)
    if user is None or not active:
        reason = "unknown user" if user is None else "user disabled"
        audit(session, "sign_in_refused", username=username, ip=ip, detail=f"reason={reason}")
        return None
    if personal_ok:
        if personal_hash and _hasher.check_needs_rehash(personal_hash):
            user.password_hash = hash_password(password)
        audit(session, "sign_in", username=user.username, ip=ip)
        return SignIn(user.id, user.username, user.password_version, must_change=False)
    if temporary_ok:
        temporary[0].used_at = now
        audit(session, "sign_in", username=user.username, ip=ip, detail=f"temporary password ({temporary[0].purpose})")
        return SignIn(
            user.id, user.username, user.password_version, must_change=True, temporary_password_id=temporary[0].id
        )
    audit(session, "sign_in_refused", username=user.username, ip=ip, detail="reason=wrong password")
    return None


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
    if _normalize(new) == _normalize(current):
        message = (
            "La nueva contraseña debe ser distinta de la temporal."
            if temporary_password_id is not None
            else "La nueva contraseña debe ser distinta de la actual."
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
    from shared import task_names
    from shared.task_client import send_task

    try:
        send_task(task_names.SEND_PASSWORD_CHANGED, args=[user_id])
    except Exception:  # the change itself is done; a lost notice is logged, never fatal
        log.exception("could not enqueue the password-changed email for user %s", user_id)


# --- emails -------------------------------------------------------------------------------------------------


def _login_url() -> str:
    return f"{get_settings().base_url}/login"


def _greeting(user: User) -> str:
    return user.full_name or user.username


def _invitation_text(user: User, password: str) -> tuple[str, str]:
    url = _login_url()
    if user.language == "en":
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
    if user.language == "en":
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
    if user.language == "en":
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
    from shared.mail import build_message, get_mail_backend

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
        password = issue_temporary_password(session, user, "invitation", now=now)
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
            for t in _live_temporary_passwords(session, user.id, now)
            if t.purpose == "reset" and now - t.created_at < RESET_RESEND_INTERVAL
        ]
        if recent:
            audit(session, "reset_throttled", username=user.username)
            return False
        password = issue_temporary_password(session, user, "reset", now=now)
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


# --- users and grants ---------------------------------------------------------------------------------------


def _customers_by_number(session: Session, numbers: Iterable[str]) -> list[Customer]:
    wanted = [n.strip() for n in numbers if n and n.strip()]
    if not wanted:
        return []
    found = {c.number: c for c in session.scalars(select(Customer).where(Customer.number.in_(wanted)))}
    missing = [n for n in wanted if n not in found]
    if missing:
        raise AccountError(f"unknown customer number(s): {', '.join(missing)}")
    return [found[n] for n in dict.fromkeys(wanted)]


def create_user(
    session: Session,
    *,
    username: str,
    email: str,
    role: str = "customer",
    customer_numbers: Sequence[str] = (),
    language: str = "es",
    full_name: str = "",
    by: str = "",
) -> User:
    """A new active user without a password (the invitation brings a temporary one)."""
    from shared.mail import InvalidEmail, validate_email

    username = username.strip()
    if not USERNAME_PATTERN.match(username):
        raise AccountError(f"invalid user ID {username!r}: use 1 to 150 letters, digits or . @ + - _ (no spaces)")
    try:
        address = validate_email(email)
    except InvalidEmail as error:
        raise AccountError(str(error)) from None
    if role not in ROLES:
        raise AccountError(f"invalid role {role!r}: one of {', '.join(ROLES)}")
    if language not in LANGUAGES:
        raise AccountError(f"invalid language {language!r}: one of {', '.join(LANGUAGES)}")
    if session.scalar(select(func.count()).select_from(User).where(User.username == username)):
        raise AccountError(f"user {username!r} already exists")
    customers = _customers_by_number(session, customer_numbers)
    user = User(
        username=username,
        email=address,
        role=role,
        language=language,
        full_name=full_name.strip()[:255],
        status="active",
        password_version=0,
    )
    user.customers = customers
    session.add(user)
    session.flush()
    audit(session, "user_created", username=username, detail=f"role={role} by={by or '-'}")
    return user


def create_user_and_invite(
    *,
    username: str,
    email: str,
    role: str = "customer",
    customer_numbers: Sequence[str] = (),
    language: str = "es",
    full_name: str = "",
) -> int:
    """Create a user and send the invitation now (the command line). Returns the user's id."""
    with session_scope() as session:
        user = create_user(
            session,
            username=username,
            email=email,
            role=role,
            customer_numbers=customer_numbers,
            language=language,
            full_name=full_name,
            by="cli",
        )
        user_id = user.id
    try:
        send_invitation(user_id)
    except Exception as error:
        raise AccountError(
            f"user {username} was created but the invitation could not be sent ({error}); resend it later"
        ) from None
    return user_id


def _user_by_username(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        raise AccountError(f"no user {username!r}")
    return user


def set_user_status(session: Session, user: User, active: bool, *, by: str = "") -> None:
    user.status = "active" if active else "disabled"
    if not active:
        void_temporary_passwords(session, user.id)
    audit(session, "user_enabled" if active else "user_disabled", username=user.username, detail=f"by={by or '-'}")


def disable_user(username: str) -> None:
    """Disable a user: their sessions end on their next request, their temporary passwords die."""
    with session_scope() as session:
        set_user_status(session, _user_by_username(session, username), False, by="cli")


def enable_user(username: str) -> None:
    with session_scope() as session:
        set_user_status(session, _user_by_username(session, username), True, by="cli")


def set_customer_grants(session: Session, user: User, numbers: Sequence[str], *, by: str = "") -> None:
    """Make exactly these customers visible to `user` (effective on the next request)."""
    customers = _customers_by_number(session, numbers)
    user.customers = customers
    audit(
        session,
        "grants_set",
        username=user.username,
        detail=f"customers={';'.join(c.number for c in customers)} by={by or '-'}",
    )


def grant_customers(username: str, numbers: Sequence[str]) -> None:
    with session_scope() as session:
        user = _user_by_username(session, username)
        customers = _customers_by_number(session, numbers)
        have = {c.id for c in user.customers}
        for customer in customers:
            if customer.id not in have:
                session.add(UserCustomer(user_id=user.id, customer_id=customer.id))
        audit(session, "grants_added", username=user.username, detail=f"customers={';'.join(numbers)} by=cli")


def revoke_customers(username: str, numbers: Sequence[str]) -> None:
    with session_scope() as session:
        user = _user_by_username(session, username)
        customers = _customers_by_number(session, numbers)
        ids = [c.id for c in customers]
        if ids:
            session.execute(
                delete(UserCustomer).where(UserCustomer.user_id == user.id, UserCustomer.customer_id.in_(ids))
            )
        audit(session, "grants_revoked", username=user.username, detail=f"customers={';'.join(numbers)} by=cli")


def search_users(session: Session, query: str = "", limit: int = 200) -> list[User]:
    """Users for the admin page, by user ID, name or email (case-insensitive contains)."""
    statement = select(User).order_by(User.username).limit(limit)
    query = query.strip()
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").lower() + "%"
        statement = statement.where(
            or_(
                func.lower(User.username).like(pattern, escape="\\"),
                func.lower(User.full_name).like(pattern, escape="\\"),
                func.lower(User.email).like(pattern, escape="\\"),
            )
        )
    return list(session.scalars(statement))


def set_language(session: Session, user_id: int, language: str) -> None:
    if language not in LANGUAGES:
        raise AccountError(f"invalid language {language!r}")
    user = session.get(User, user_id)
    if user is None:
        raise AccountError("unknown user")
    user.language = language
