"""Users and their customer grants: create (with an invitation), edit, enable, disable, grant, revoke, search.

Every refusal is an `AccountError` with a catalogue message id, so the admin pages show it in their language and
the command line in English.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, func, select
from sqlalchemy.orm import Session, selectinload

from shared.accounts.audit import audit
from shared.accounts.emails import send_invitation
from shared.accounts.passwords import AccountError
from shared.accounts.temporary import void_temporary_passwords
from shared.clock import utcnow
from shared.db import contains_text, session_scope
from shared.i18n import N_
from shared.mail import InvalidEmail, validate_email
from shared.models import Customer, TemporaryPassword, User, UserCustomer
from shared.vocab import DEFAULT_LANGUAGE, LANGUAGES, Role, TemporaryPurpose, UserState, UserStatus

USERNAME_PATTERN = re.compile(r"^[\w.@+\-]{1,150}$")
# Line breaks (CR, LF and the Unicode ones) and other control characters, never kept in a name.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _customers_by_number(session: Session, numbers: Iterable[str]) -> list[Customer]:
    wanted = [n.strip() for n in numbers if n and n.strip()]
    if not wanted:
        return []
    found = {c.number: c for c in session.scalars(select(Customer).where(Customer.number.in_(wanted)))}
    missing = [n for n in wanted if n not in found]
    if missing:
        raise AccountError(N_("No existe el cliente: %(numbers)s."), numbers=", ".join(missing))
    return [found[n] for n in dict.fromkeys(wanted)]


def clean_full_name(full_name: str) -> str:
    """A name on one line: line breaks and other control characters become spaces, runs of spaces one."""
    return " ".join(_CONTROL.sub(" ", full_name).split())[:255]


def _valid_email(email: str) -> str:
    try:
        return validate_email(email)
    except InvalidEmail as error:
        raise AccountError(error.msgid, detail=error.detail, **error.params) from None


def _check_role_and_language(role: str, language: str) -> None:
    if role not in list(Role):
        raise AccountError(N_("El rol %(role)s no existe: usa %(choices)s."), role=repr(role), choices=", ".join(Role))
    if language not in LANGUAGES:
        raise AccountError(
            N_("El idioma %(language)s no existe: usa %(choices)s."),
            language=repr(language),
            choices=", ".join(LANGUAGES),
        )


def create_user(
    session: Session,
    *,
    username: str,
    email: str,
    role: str = Role.CUSTOMER,
    customer_numbers: Sequence[str] = (),
    language: str = DEFAULT_LANGUAGE,
    full_name: str = "",
    by: str = "",
) -> User:
    """A new active user without a password (the invitation brings a temporary one)."""
    username = username.strip()
    if not USERNAME_PATTERN.match(username):
        raise AccountError(
            N_("El usuario %(username)s no es válido: usa de 1 a 150 letras, dígitos o . @ + - _ (sin espacios)."),
            username=repr(username),
        )
    address = _valid_email(email)
    _check_role_and_language(role, language)
    if session.scalar(select(func.count()).select_from(User).where(User.username == username)):
        raise AccountError(N_("Ya existe el usuario %(username)s."), username=repr(username))
    customers = _customers_by_number(session, customer_numbers)
    user = User(
        username=username,
        email=address,
        role=role,
        language=language,
        full_name=clean_full_name(full_name),
        status=UserStatus.ACTIVE,
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
    role: str = Role.CUSTOMER,
    customer_numbers: Sequence[str] = (),
    language: str = DEFAULT_LANGUAGE,
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
            N_("Se creó el usuario %(username)s pero no se pudo enviar la invitación; reenvíala más tarde."),
            detail=str(error),
            username=username,
        ) from None
    return user_id


def _user_by_username(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        raise AccountError(N_("No existe el usuario %(username)s."), username=repr(username))
    return user


def set_user_status(session: Session, user: User, active: bool, *, by: str = "") -> None:
    """Enable or disable a user. Nobody disables their own account (an admin would lock themselves out)."""
    if not active and by and by == user.username:
        raise AccountError(N_("No puedes desactivar tu propia cuenta."))
    user.status = UserStatus.ACTIVE if active else UserStatus.DISABLED
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
    """Users by user ID, name or email (case-insensitive contains)."""
    statement = select(User).order_by(User.username).limit(limit)
    if query.strip():
        statement = statement.where(contains_text(query.strip(), User.username, User.full_name, User.email))
    return list(session.scalars(statement))


def set_language(session: Session, user_id: int, language: str) -> None:
    _check_role_and_language(Role.CUSTOMER, language)
    user = session.get(User, user_id)
    if user is None:
        raise AccountError(N_("No existe el usuario %(username)s."), username=str(user_id))
    user.language = language


def update_user(
    session: Session, user: User, *, email: str, full_name: str, role: str, language: str, by: str = ""
) -> list[str]:
    """Change a user's email, name, role and language; returns the names of what changed (audited).

    An admin cannot take the administrator role away from themselves. A new email address applies to the next
    email sent (an invitation already sent keeps working)."""
    address = _valid_email(email)
    _check_role_and_language(role, language)
    if by and by == user.username and user.role == Role.ADMIN and role != Role.ADMIN:
        raise AccountError(N_("No puedes quitarte a ti mismo el rol de administrador."))
    values = {"email": address, "full_name": clean_full_name(full_name), "role": role, "language": language}
    changed = [name for name, value in values.items() if getattr(user, name) != value]
    for name in changed:
        setattr(user, name, values[name])
    if changed:
        audit(session, "user_updated", username=user.username, detail=f"changed={','.join(changed)} by={by or '-'}")
    return changed


# --- the admin's list -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserSummary:
    """A user as the Users page lists them."""

    id: int
    username: str
    full_name: str
    email: str
    role: str
    language: str
    state: str  # UserState
    created_at: dt.datetime
    last_sign_in_at: dt.datetime | None
    invitation_expires_at: dt.datetime | None  # the live invitation's expiry, while the invitation is pending
    customers: tuple[tuple[str, str], ...]  # (number, name) of the granted customers

    @property
    def invitation_expired(self) -> bool:
        return self.state == UserState.INVITATION_PENDING and self.invitation_expires_at is None


def _state_condition(state: str) -> ColumnElement[bool] | None:
    if state == UserState.DISABLED:
        return User.status == UserStatus.DISABLED
    if state == UserState.INVITATION_PENDING:
        return and_(User.status == UserStatus.ACTIVE, User.password_hash.is_(None))
    if state == UserState.ACTIVE:
        return and_(User.status == UserStatus.ACTIVE, User.password_hash.is_not(None))
    return None


def user_summaries(
    session: Session, query: str = "", state: str = "", limit: int = 200, user_id: int | None = None
) -> list[UserSummary]:
    """Users for the admin pages (by user ID, name or email, case-insensitive contains; by state), with their
    state, last sign-in and the expiry of a pending invitation."""
    now = utcnow()
    invitation = (
        select(func.max(TemporaryPassword.expires_at))
        .where(
            TemporaryPassword.user_id == User.id,
            TemporaryPassword.purpose == TemporaryPurpose.INVITATION,
            TemporaryPassword.voided_at.is_(None),
            TemporaryPassword.expires_at > now,
        )
        .scalar_subquery()
    )
    statement = (
        select(User, User.password_hash.is_(None), invitation)
        .options(selectinload(User.customers))
        .order_by(User.username)
        .limit(limit)
    )
    if user_id is not None:
        statement = statement.where(User.id == user_id)
    condition = _state_condition(state)
    if condition is not None:
        statement = statement.where(condition)
    if query.strip():
        statement = statement.where(contains_text(query.strip(), User.username, User.full_name, User.email))
    summaries = []
    for user, no_password, expires in session.execute(statement):
        if user.status != UserStatus.ACTIVE:
            state_of = UserState.DISABLED
        elif no_password:
            state_of = UserState.INVITATION_PENDING
        else:
            state_of = UserState.ACTIVE
        summaries.append(
            UserSummary(
                id=user.id,
                username=user.username,
                full_name=user.full_name,
                email=user.email,
                role=user.role,
                language=user.language,
                state=state_of,
                created_at=user.created_at,
                last_sign_in_at=user.last_sign_in_at,
                invitation_expires_at=expires if state_of == UserState.INVITATION_PENDING else None,
                customers=tuple((c.number, c.name) for c in user.customers),
            )
        )
    return summaries
