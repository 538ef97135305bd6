"""What a portal user may see: customers, companies and statements, scoped to the user's grants.

Every query here that can return customer data takes the user and filters by the user's row in the database
itself (role, status, grants), so a leak between customers cannot happen by forgetting a check in a controller:

- `admin` and `staff` users see every customer;
- `customer` users see only the customers they hold a grant for;
- a disabled (or deleted) user sees nothing.

A customer the user may not see and a customer that does not exist are indistinguishable to the caller:
`load_visible_statement` raises `StatementNotFound` for both.

The functions for the on-demand files (`stored_file`, `render_into_store`, `request_render`) keep the rule
"rendered once per data version": a file is looked up in the statement store by the statement's fingerprint
and rendered (here, or by a worker through `shared.runs.render_on_demand`) only on a miss.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, and_, bindparam, exists, false, or_, select
from sqlalchemy.orm import Session

from shared import task_names
from shared.models import Account, Company, Customer, OpenItem, User, UserCustomer
from shared.settings import get_settings
from shared.statement import Party, Statement, StatementLine, StatementNotFound, build_statement, open_items_at

log = logging.getLogger(__name__)

SEES_ALL_CUSTOMERS = ("staff", "admin")
# The formats a portal user downloads; JSON is rendered in the request, the others may go to a worker.
FILE_FORMATS = ("json", "xlsx", "pdf")
# A render requested from the portal is not requested again while younger than this (seconds); after that,
# a still missing file is requested again (the first message may have been lost with a broker restart).
RENDER_REQUEST_TTL = 120.0


class PortalUserLike(Protocol):
    """Anything that names a user by id: the signed-in `PortalUser`, or a `User` row."""

    @property
    def id(self) -> int: ...


# --- the grant filter -----------------------------------------------------------------------------------------


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
    return _visible_to(user_id)


def _visible_to(user_id: Any) -> ColumnElement[bool]:
    """The grant rule, for a user id (a value or a bound parameter): active staff and admins see every
    customer; active customer users see the customers granted to them."""
    active_user = and_(User.id == user_id, User.status == "active")
    sees_all = exists().where(active_user, User.role.in_(SEES_ALL_CUSTOMERS))
    is_customer_user = exists().where(active_user, User.role == "customer")
    granted = (
        exists()
        .where(UserCustomer.user_id == user_id, UserCustomer.customer_id == Customer.id, is_customer_user)
        .correlate(Customer)
    )
    return or_(sees_all, granted)


def _fold(text: str) -> str:
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
    needle = _fold(query)
    matching_ids: list[int] = []
    rows = session.execute(select(Customer.id, Customer.name).where(visible).order_by(Customer.number))
    for customer_id, name in rows:
        if customer_id not in found and needle in _fold(name or ""):
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


def _company_has_customer(company_id: Any, customer_id: Any) -> ColumnElement[bool]:
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
        session.scalars(select(Company).where(_company_has_customer(Company.id, customer)).order_by(Company.code))
    )


# The two statements of `load_visible_statement`, built once (they are the portal's hottest queries): the
# company, the customer (if the user may see it and it has an account or items at the company) and the account;
# then the customer's items there at the cut-off. `load_statement` reads the same rows; build_statement applies
# the rules to them, so both give the same statement (tests/web/test_grants_portal.py compares them).
_VISIBLE_HEAD = (
    select(
        Company.id,
        Company.code,
        Company.name,
        Company.tax_id,
        Company.address,
        Company.currency,
        Customer.id,
        Customer.number,
        Customer.name,
        Customer.tax_id,
        Customer.address,
        Customer.language,
        Account.currency,
        Account.credit_limit,
        Account.payment_terms,
    )
    .select_from(Company)
    .join(Customer, Customer.number == bindparam("customer"))
    .outerjoin(Account, and_(Account.company_id == Company.id, Account.customer_id == Customer.id))
    .where(
        Company.code == bindparam("company"),
        _visible_to(bindparam("user_id")),
        _company_has_customer(Company.id, Customer.id),
    )
    .limit(1)
)
_VISIBLE_ITEMS = open_items_at(bindparam("company_id"), bindparam("customer_id"), bindparam("cutoff"))


# Statements built from the rows just read, by those rows themselves (compared on every hit): reading the same
# data again reuses the built statement and its fingerprint. Only ever reached after the grant check above.
_BUILT: OrderedDict[tuple[Any, ...], Statement] = OrderedDict()
_BUILT_LOCK = threading.Lock()
STATEMENTS_KEPT = 64


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
    head = connection.execute(_VISIBLE_HEAD, {"company": company, "customer": customer, "user_id": user_id}).first()
    if head is None:
        raise StatementNotFound(f"{company}/{customer}")
    items = connection.execute(_VISIBLE_ITEMS, {"company_id": head[0], "customer_id": head[6], "cutoff": cutoff}).all()
    key = (cutoff, tuple(head), tuple(tuple(item) for item in items))
    with _BUILT_LOCK:
        built = _BUILT.get(key)
        if built is not None:
            _BUILT.move_to_end(key)
            return built
    statement = _build_visible_statement(cutoff, tuple(head), items)
    statement.fingerprint  # noqa: B018 - computed once here, then shared by every request for the same data
    with _BUILT_LOCK:
        _BUILT[key] = statement
        while len(_BUILT) > STATEMENTS_KEPT:
            _BUILT.popitem(last=False)
    return statement


def _build_visible_statement(cutoff: dt.date, head: tuple[Any, ...], items: Sequence[Any]) -> Statement:
    (
        _company_id,
        company_code,
        company_name,
        company_tax_id,
        company_address,
        company_currency,
        _customer_id,
        customer_number,
        customer_name,
        customer_tax_id,
        customer_address,
        customer_language,
        account_currency,
        credit_limit,
        payment_terms,
    ) = head
    has_account = account_currency is not None
    return build_statement(
        Party(company_code, company_name, company_tax_id or "", company_address or ""),
        Party(customer_number, customer_name, customer_tax_id or "", customer_address or ""),
        cutoff,
        list(items),
        account_currency=account_currency if has_account else company_currency,
        credit_limit=credit_limit if has_account else None,
        language=customer_language or "es",
        payment_terms=(payment_terms or "") if has_account else "",
    )


# --- dates ------------------------------------------------------------------------------------------------


def today() -> dt.date:
    """Today in `EDOCTA_TIMEZONE` (the business's day, not the server's)."""
    return dt.datetime.now(ZoneInfo(get_settings().timezone)).date()


def parse_cutoff(text: str | None) -> dt.date | None:
    """A `YYYY-MM-DD` date, or None for anything else."""
    if not isinstance(text, str) or len(text) != 10:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


# --- the lines on the page: search and sort -----------------------------------------------------------------

SORT_COLUMNS = (
    "document_number",
    "document_type",
    "reference",
    "document_date",
    "due_date",
    "days_overdue",
    "amount",
    "currency",
)


def _search_fields(line: StatementLine, extra: Iterable[str]) -> str:
    parts = [
        line.document_number,
        line.document_type,
        line.reference,
        line.document_date.isoformat(),
        line.due_date.isoformat(),
        str(line.days_overdue),
        str(line.amount),
        line.currency,
        *extra,
    ]
    return _fold(" \x00 ".join(parts))


def _sort_key(column: str) -> Any:
    def key(line: StatementLine) -> Any:
        value = getattr(line, column)
        return _fold(value) if isinstance(value, str) else value

    return key


def line_order(
    lines: Sequence[StatementLine],
    query: str = "",
    column: str | None = None,
    direction: str | None = None,
    *,
    shown: dict[int, Sequence[str]] | None = None,
) -> list[int]:
    """The indices of the lines to show, in order: those containing every word of `query` in some column
    (case- and accent-insensitive), ordered by `column` (one of `SORT_COLUMNS`; others keep the statement's
    order), `asc` or `desc`; ties keep the statement's order.

    `shown` may map a line's index to the texts the page displays for it (formatted dates, translated type),
    so what the user reads can be searched too.
    """
    words = [_fold(word) for word in (query or "").split()]
    indices = list(range(len(lines)))
    if words:
        extra = shown or {}
        indices = [
            index
            for index in indices
            if all(word in _search_fields(lines[index], extra.get(index, ())) for word in words)
        ]
    if column in SORT_COLUMNS:
        key = _sort_key(column)
        indices.sort(key=lambda index: key(lines[index]), reverse=direction == "desc")
    return indices


def filter_lines(
    lines: Sequence[StatementLine], query: str, *, shown: dict[int, Sequence[str]] | None = None
) -> list[StatementLine]:
    """The lines containing every word of `query` (see `line_order`)."""
    return [lines[index] for index in line_order(lines, query, shown=shown)]


def sort_lines(lines: Sequence[StatementLine], column: str | None, direction: str | None) -> list[StatementLine]:
    """The lines ordered by `column`, `asc` or `desc` (see `line_order`)."""
    return [lines[index] for index in line_order(lines, "", column, direction)]


# --- files: the store, rendering in the request, rendering by a worker ---------------------------------------


@dataclass(frozen=True)
class RenderPlan:
    """How a file missing from the store is produced: `inline` (now, in the request) or by a worker."""

    inline: bool
    queue: str


def is_large(statement: Statement) -> bool:
    return len(statement.lines) > task_names.LARGE_STATEMENT_LINES


def render_plan(statement: Statement, fmt: str) -> RenderPlan:
    """JSON and small XLSX are rendered in the request; PDF and large XLSX by a worker."""
    queue = task_names.QUEUE_RENDER_LARGE if is_large(statement) else task_names.QUEUE_RENDER
    if fmt == "json":
        return RenderPlan(inline=True, queue=queue)
    if fmt == "xlsx" and not is_large(statement):
        return RenderPlan(inline=True, queue=queue)
    return RenderPlan(inline=False, queue=queue)


def _store_key(statement: Statement, fmt: str) -> Any:
    from shared.store import StoreKey

    # Files are always in the customer's language (like the emails), so the run's files are reused here.
    return StoreKey.for_statement(statement, fmt)


def stored_file(statement: Statement, fmt: str) -> bytes | None:
    """The stored file of this statement's data in `fmt`, or None."""
    from shared.store import get_store

    return get_store().read(_store_key(statement, fmt))


def is_stored(statement: Statement, fmt: str) -> bool:
    from shared.store import get_store

    return get_store().get(_store_key(statement, fmt)) is not None


def render_into_store(statement: Statement, fmt: str) -> bytes:
    """Render `fmt` (in the customer's language) and keep it in the store; returns the bytes."""
    from shared.render import render_statement
    from shared.store import get_store

    data = render_statement(statement, fmt)
    get_store().put(_store_key(statement, fmt), data)
    _clear_request_marker(statement, fmt)
    return data


def _request_marker(statement: Statement, fmt: str) -> Path:
    """A small file saying "a worker was asked for this file at <mtime>" (shared by every web process)."""
    digest = hashlib.sha256(_store_key(statement, fmt).as_string().encode()).hexdigest()[:40]
    return get_settings().store_dir / ".requested" / f"{digest}.{fmt}"


def _clear_request_marker(statement: Statement, fmt: str) -> None:
    with contextlib.suppress(OSError):
        _request_marker(statement, fmt).unlink()


def request_render(statement: Statement, fmt: str, *, force: bool = False) -> bool:
    """Ask a worker to render this file into the store, unless it was asked recently (every process shares the
    marker). Returns True when a task was sent."""
    from shared.task_client import send_task

    marker = _request_marker(statement, fmt)
    now = time.time()
    if not force:
        try:
            if now - marker.stat().st_mtime < RENDER_REQUEST_TTL:
                return False
        except OSError:
            pass
    marker.parent.mkdir(parents=True, exist_ok=True)
    temporary = marker.with_name(f".{marker.name}.{os.getpid()}.tmp")
    temporary.write_text(dt.datetime.now(dt.UTC).isoformat())
    os.replace(temporary, marker)
    plan = render_plan(statement, fmt)
    try:
        send_task(
            task_names.RENDER_ON_DEMAND,
            kwargs={
                "company": statement.company.code,
                "customer": statement.customer.code,
                "cutoff": statement.cutoff.isoformat(),
                "fmt": fmt,
                "language": statement.language,
            },
            queue=plan.queue,
        )
    except BaseException:
        # Not queued: the next request must ask again instead of waiting for a message that was never sent.
        _clear_request_marker(statement, fmt)
        raise
    log.info(
        "on-demand render requested: %s/%s/%s.%s (%d lines, queue %s)",
        statement.company.code,
        statement.customer.code,
        statement.cutoff.isoformat(),
        fmt,
        len(statement.lines),
        plan.queue,
    )
    return True


def render_requested_at(statement: Statement, fmt: str) -> dt.datetime | None:
    """When a worker was last asked for this file (None if not pending)."""
    try:
        return dt.datetime.fromtimestamp(_request_marker(statement, fmt).stat().st_mtime, dt.UTC)
    except OSError:
        return None


__all__ = [
    "FILE_FORMATS",
    "SORT_COLUMNS",
    "RenderPlan",
    "StatementNotFound",
    "can_see",
    "companies_for_customer",
    "filter_lines",
    "is_stored",
    "line_order",
    "load_visible_statement",
    "parse_cutoff",
    "render_into_store",
    "render_plan",
    "render_requested_at",
    "request_render",
    "sort_lines",
    "stored_file",
    "today",
    "visible_customer",
    "visible_customer_clause",
    "visible_customers",
]
