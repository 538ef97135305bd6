"""What a portal user may see: customers, companies and statements, scoped to the user's grants.

Every query here that can return customer data takes the user and filters by the user's row in the database
itself (role, status, grants), so a leak between customers cannot happen by forgetting a check in a controller:

- `admin` and `staff` users see every customer;
- `customer` users see only the customers they hold a grant for;
- a disabled (or deleted) user sees nothing.

A customer the user may not see and a customer that does not exist are indistinguishable to the caller:
`load_visible_statement` raises `StatementNotFound` for both.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Connection, Select, and_, bindparam, exists, false, or_, select
from sqlalchemy.orm import Session

from shared.models import Account, Company, Customer, OpenItem, User, UserCustomer
from shared.statements.loading import HEAD_COLUMNS, ITEMS_AT, StatementHead, StatementNotFound
from shared.statements.values import ItemRow, Statement
from shared.vocab import SEES_ALL_CUSTOMERS, Role, UserStatus


class PortalUserLike(Protocol):
    """Anything that names a user by id: the signed-in `PortalUser`, or a `User` row."""

    @property
    def id(self) -> int: ...


def _user_id(user: PortalUserLike | None) -> int | None:
    if user is None:
        return None
    user_id = getattr(user, "id", None)
    return int(user_id) if isinstance(user_id, int) and not isinstance(user_id, bool) else None


def visible_customer_clause(user: PortalUserLike | None) -> ColumnElement[bool]:
    """A condition on `Customer` true exactly for the customers `user` may see (read from the database)."""
    user_id = _user_id(user)
    if user_id is None:
        return false()
    return visible_to(user_id)


def visible_to(user_id: Any) -> ColumnElement[bool]:
    """The grant rule, for a user id (a value or a bound parameter): active staff and admins see every
    customer; active customer users see the customers granted to them."""
    active_user = and_(User.id == user_id, User.status == UserStatus.ACTIVE)
    sees_all = exists().where(active_user, User.role.in_(SEES_ALL_CUSTOMERS))
    is_customer_user = exists().where(active_user, User.role == Role.CUSTOMER)
    granted = (
        exists()
        .where(UserCustomer.user_id == user_id, UserCustomer.customer_id == Customer.id, is_customer_user)
        .correlate(Customer)
    )
    return or_(sees_all, granted)


def fold(text: str) -> str:
    """Lower case without accents: `Bajío` and `BAJIO` fold alike."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def visible_customers(
    session: Session, user: PortalUserLike | None, query: str = "", limit: int = 50
) -> list[Customer]:
    """The customers `user` may see, matching `query` by number prefix or by a piece of the name (case- and
    accent-insensitive); number matches first, then name matches, each in number order. At most `limit`."""
    limit = max(0, min(int(limit), 500))
    if limit == 0:
        return []
    visible = visible_customer_clause(user)
    query = (query or "").strip()[:100]
    if not query:
        return list(session.scalars(select(Customer).where(visible).order_by(Customer.number).limit(limit)))

    by_number = list(
        session.scalars(
            select(Customer)
            .where(visible, Customer.number.startswith(query, autoescape=True))
            .order_by(Customer.number)
            .limit(limit)
        )
    )
    found = {customer.id for customer in by_number}
    results = list(by_number)
    if len(results) >= limit:
        return results
    # Names: folded in Python, so accents match on every database backend.
    needle = fold(query)
    matching_ids: list[int] = []
    rows = session.execute(select(Customer.id, Customer.name).where(visible).order_by(Customer.number))
    for customer_id, name in rows:
        if customer_id not in found and needle in fold(name or ""):
            matching_ids.append(customer_id)
            if len(results) + len(matching_ids) >= limit:
                break
    if matching_ids:
        by_id = {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(matching_ids)))}
        results.extend(by_id[i] for i in matching_ids if i in by_id)
    return results


def visible_customer(session: Session, user: PortalUserLike | None, customer_number: str) -> Customer | None:
    """The customer with this number, if it exists and `user` may see it."""
    if not isinstance(customer_number, str) or not customer_number:
        return None
    return session.scalar(
        select(Customer).where(Customer.number == customer_number, visible_customer_clause(user)).limit(1)
    )


def can_see(session: Session, user: PortalUserLike | None, customer_number: str) -> bool:
    """True when the customer exists and `user` may see it."""
    if not isinstance(customer_number, str) or not customer_number:
        return False
    found = session.scalar(
        select(Customer.id).where(Customer.number == customer_number, visible_customer_clause(user)).limit(1)
    )
    return found is not None


def company_has_customer(company_id: Any, customer_id: Any) -> ColumnElement[bool]:
    """The customer has an account at the company, or items posted there."""
    return or_(
        exists().where(Account.company_id == company_id, Account.customer_id == customer_id).correlate_except(Account),
        exists()
        .where(OpenItem.company_id == company_id, OpenItem.customer_id == customer_id)
        .correlate_except(OpenItem),
    )


def companies_for_customer(session: Session, user: PortalUserLike | None, customer_number: str) -> list[Company]:
    """The companies where the customer has an account (or open items), if `user` may see the customer."""
    if not isinstance(customer_number, str) or not customer_number:
        return []
    customer = (
        select(Customer.id).where(Customer.number == customer_number, visible_customer_clause(user)).scalar_subquery()
    )
    return list(
        session.scalars(select(Company).where(company_has_customer(Company.id, customer)).order_by(Company.code))
    )


# The two statements of `load_visible_statement`, built once (they are the portal's hottest queries): the
# company, the customer (if the user may see it and it has an account or items at the company) and the account;
# then the customer's items there at the cut-off. `load_statement` reads the same rows; build_statement applies
# the rules to them, so both give the same statement (tests/web/test_grants_portal.py compares them).
def visible_head_query(*columns: Any) -> Select[Any]:
    """`columns` of the statement's head row (bound parameters `company`, `customer`, `user_id`): the company, the
    customer if user `user_id` may see it and it has an account or items at the company, and the account."""
    return (
        select(*columns)
        .select_from(Company)
        .join(Customer, Customer.number == bindparam("customer"))
        .outerjoin(Account, and_(Account.company_id == Company.id, Account.customer_id == Customer.id))
        .where(
            Company.code == bindparam("company"),
            visible_to(bindparam("user_id")),
            company_has_customer(Company.id, Customer.id),
        )
        .limit(1)
    )


_VISIBLE_HEAD = visible_head_query(*HEAD_COLUMNS)


def load_visible_statement(
    session: Session | Connection, user: PortalUserLike | None, company: str, customer: str, cutoff: dt.date
) -> Statement:
    """The statement of `customer` at `company` on `cutoff`, if `user` may see it.

    Raises `StatementNotFound` alike for an unknown company or customer, a customer of someone else, and a
    company where the customer has neither an account nor items. Two queries, no ORM objects: this runs on
    every statement page and file request (`session` may be a plain connection).
    """
    user_id = _user_id(user)
    if user_id is None or not isinstance(company, str) or not isinstance(customer, str) or not company or not customer:
        raise StatementNotFound(f"{company}/{customer}")
    connection = session if isinstance(session, Connection) else session.connection()
    head = visible_head(connection, user, company, customer)
    items = connection.execute(
        ITEMS_AT, {"company_id": head.company_id, "customer_id": head.customer_id, "cutoff": cutoff}
    ).all()
    return _built_statement(cutoff, head, tuple(tuple(item) for item in items))


def visible_head(
    session: Session | Connection, user: PortalUserLike | None, company: str, customer: str
) -> StatementHead:
    """The header rows of `customer` at `company` if `user` may see them there; `StatementNotFound` otherwise."""
    user_id = _user_id(user)
    if user_id is None or not isinstance(company, str) or not isinstance(customer, str) or not company or not customer:
        raise StatementNotFound(f"{company}/{customer}")
    connection = session if isinstance(session, Connection) else session.connection()
    row = connection.execute(_VISIBLE_HEAD, {"company": company, "customer": customer, "user_id": user_id}).first()
    if row is None:
        raise StatementNotFound(f"{company}/{customer}")
    return StatementHead(*tuple[Any, ...](row))


# Statements built from the rows just read, keyed by those rows themselves (compared on every hit): reading the
# same data again reuses the built statement and its fingerprint. Only ever reached after the grant check above.
@lru_cache(maxsize=64)
def _built_statement(cutoff: dt.date, head: StatementHead, items: tuple[tuple[Any, ...], ...]) -> Statement:
    statement = head.statement(cutoff, [ItemRow(*item) for item in items])
    statement.fingerprint  # noqa: B018 - computed once here, then shared by every request for the same data
    return statement
