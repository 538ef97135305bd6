"""Reading disputes: the staff list (open first, filtered by company and customer, a page at a time) and a
customer's disputes at a company with their threads (the statement page)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session

from shared.models import Company, Customer, Dispute, DisputeMessage, OpenItem
from shared.vocab import DisputeStatus

PER_PAGE = 25


@dataclass(frozen=True)
class ThreadMessage:
    author: str
    author_role: str
    body: str
    created_at: dt.datetime


@dataclass(frozen=True)
class DisputeView:
    id: int
    company_code: str
    company_name: str
    customer_number: str
    customer_name: str
    document_number: str
    status: str
    opened_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    resolved_at: dt.datetime | None
    resolved_by: str
    # The item is gone from the company's data (a snapshot import left it out): the dispute stays, marked.
    item_missing: bool
    messages: list[ThreadMessage] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status == DisputeStatus.OPEN


@dataclass(frozen=True)
class DisputePage:
    disputes: list[DisputeView]
    total: int
    page: int
    pages: int
    open_count: int


def _item_exists() -> object:
    return (
        exists()
        .where(
            OpenItem.company_id == Dispute.company_id,
            OpenItem.document_number == Dispute.document_number,
            OpenItem.customer_id == Dispute.customer_id,
        )
        .correlate(Dispute)
    )


_COLUMNS = (
    Dispute.id,
    Company.code,
    Company.name,
    Customer.number,
    Customer.name,
    Dispute.document_number,
    Dispute.status,
    Dispute.opened_by,
    Dispute.created_at,
    Dispute.updated_at,
    Dispute.resolved_at,
    Dispute.resolved_by,
    ~_item_exists(),  # type: ignore[operator]
)
_OPEN_FIRST = case((Dispute.status == DisputeStatus.OPEN, 0), else_=1)


def _views(session: Session, query: object) -> list[DisputeView]:
    rows = session.execute(query).all()  # type: ignore[call-overload]
    views = [DisputeView(*row) for row in rows]
    if not views:
        return views
    by_id = {view.id: view for view in views}
    messages = session.execute(
        select(DisputeMessage)
        .where(DisputeMessage.dispute_id.in_(list(by_id)))
        .order_by(DisputeMessage.created_at, DisputeMessage.id)
    ).scalars()
    for message in messages:
        by_id[message.dispute_id].messages.append(
            ThreadMessage(message.author, message.author_role, message.body, message.created_at)
        )
    return views


def list_disputes(
    session: Session, *, company: str = "", customer: str = "", page: int = 1, per_page: int = PER_PAGE
) -> DisputePage:
    """Staff's list: open disputes first, then the others, most recently active first within each; filtered by
    company code and customer number (exact) when given."""
    conditions = []
    if company:
        conditions.append(Company.code == company)
    if customer:
        conditions.append(Customer.number == customer)
    joined = (
        select(*_COLUMNS)
        .select_from(Dispute)
        .join(Company, Company.id == Dispute.company_id)
        .join(Customer, Customer.id == Dispute.customer_id)
        .where(*conditions)
    )
    counted = (
        select(func.count(), func.count().filter(Dispute.status == DisputeStatus.OPEN))
        .select_from(Dispute)
        .join(Company, Company.id == Dispute.company_id)
        .join(Customer, Customer.id == Dispute.customer_id)
        .where(*conditions)
    )
    total, open_count = session.execute(counted).one()
    pages = max(1, -(-int(total) // per_page))
    page = min(max(1, page), pages)
    query = (
        joined.order_by(_OPEN_FIRST, Dispute.updated_at.desc(), Dispute.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return DisputePage(_views(session, query), int(total), page, pages, int(open_count))


def customer_disputes(session: Session, company_code: str, customer_number: str, limit: int = 50) -> list[DisputeView]:
    """The disputes of a customer at a company with their threads, open first (the caller checked the grant)."""
    query = (
        select(*_COLUMNS)
        .select_from(Dispute)
        .join(Company, Company.id == Dispute.company_id)
        .join(Customer, Customer.id == Dispute.customer_id)
        .where(Company.code == company_code, Customer.number == customer_number)
        .order_by(_OPEN_FIRST, Dispute.updated_at.desc(), Dispute.id.desc())
        .limit(limit)
    )
    return _views(session, query)
