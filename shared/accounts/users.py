"""Users and their customer grants: create (with an invitation), enable, disable, grant, revoke, search."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from shared.accounts.audit import audit
from shared.accounts.emails import send_invitation
from shared.accounts.passwords import AccountError
from shared.accounts.temporary import void_temporary_passwords
from shared.db import session_scope
from shared.mail import InvalidEmail, validate_email
from shared.models import Customer, User, UserCustomer
from shared.vocab import DEFAULT_LANGUAGE, LANGUAGES, Role, UserStatus

USERNAME_PATTERN = re.compile(r"^[\w.@+\-]{1,150}$")


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
    role: str = Role.CUSTOMER,
    customer_numbers: Sequence[str] = (),
    language: str = DEFAULT_LANGUAGE,
    full_name: str = "",
    by: str = "",
) -> User:
    """A new active user without a password (the invitation brings a temporary one)."""
    username = username.strip()
    if not USERNAME_PATTERN.match(username):
        raise AccountError(f"invalid user ID {username!r}: use 1 to 150 letters, digits or . @ + - _ (no spaces)")
    try:
        address = validate_email(email)
    except InvalidEmail as error:
        raise AccountError(str(error)) from None
    if role not in list(Role):
        raise AccountError(f"invalid role {role!r}: one of {', '.join(Role)}")
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
            f"user {username} was created but the invitation could not be sent ({error}); resend it later"
        ) from None
    return user_id


def _user_by_username(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        raise AccountError(f"no user {username!r}")
    return user


def set_user_status(session: Session, user: User, active: bool, *, by: str = "") -> None:
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
