"""The activity statement of contract section 7: what happened to one customer's account at one company over a
period F..T, as a value every renderer draws from.

`balance(D)` is the open-item total of section 2 at D (`is_open_at`, the one rule), per currency, over every item
imported for the customer: those still in `open_items` and those a snapshot import dropped (`cleared_items`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select, union_all
from sqlalchemy.orm import Session

from shared.clock import today
from shared.i18n import N_
from shared.models import Account, ClearedItem, Company, Customer, OpenItem
from shared.statements.access import PortalUserLike, visible_head
from shared.statements.loading import StatementHead, StatementNotFound
from shared.statements.marks import is_disputed, line_documents, mark_columns
from shared.statements.rules import is_open_at
from shared.statements.values import (
    CENTS,
    NO_CONTACT,
    Contact,
    Party,
    StatementBehaviour,
    data_as_of_text,
    money,
)
from shared.vocab import DEFAULT_LANGUAGE

ZERO = Decimal("0.00")
ACTIVITY_KIND = "activity"


class ActivityPeriodError(ValueError):
    """A period that cannot be shown: `message` is the user's words (a gettext msgid), `params` fill it in,
    `field` names the form field at fault (`from` or `to`)."""

    def __init__(self, message: str, field: str, **params: str) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.field = field
        self.params = params


@dataclass(frozen=True)
class ActivityBalance:
    """One currency's figures: opening + movements + adjustment = closing."""

    opening: Decimal
    movements: Decimal
    adjustment: Decimal
    closing: Decimal

    def to_json(self) -> dict[str, str]:
        return {
            "opening": money(self.opening),
            "movements": money(self.movements),
            "adjustment": money(self.adjustment),
            "closing": money(self.closing),
        }


@dataclass(frozen=True)
class ActivityLine:
    document_number: str
    document_type: str
    reference: str
    document_date: dt.date
    due_date: dt.date
    amount: Decimal
    currency: str
    cleared_on: dt.date | None
    balance: Decimal  # the running balance in the line's currency, this line included
    # The invoice documents imported for the item (`("pdf", "xml")`), and whether a dispute on it is open.
    documents: tuple[str, ...] = ()
    disputed: bool = False


@dataclass(frozen=True)
class ActivityStatement(StatementBehaviour):
    """One customer's activity at one company over `start`..`end` (contract section 7), in one language."""

    company: Party
    customer: Party
    start: dt.date
    end: dt.date
    currency: str  # the account's currency (shown first)
    balances: dict[str, ActivityBalance]
    lines: list[ActivityLine]
    language: str = DEFAULT_LANGUAGE
    payment_terms: str = ""
    contact: Contact = NO_CONTACT
    payment_instructions: str = ""
    data_as_of: dt.datetime | None = None

    kind = ACTIVITY_KIND

    def __hash__(self) -> int:
        return hash((self.company, self.customer, self.start, self.end, self.language, tuple(self.lines)))

    @property
    def cutoff(self) -> dt.date:
        """The period's last day (where the store and the file names put a statement's date)."""
        return self.end

    def to_json(self) -> dict[str, Any]:
        """The contract section 7 document."""
        return {
            "kind": ACTIVITY_KIND,
            "company": {"code": self.company.code, "name": self.company.name, "tax_id": self.company.tax_id},
            "customer": {"number": self.customer.code, "name": self.customer.name, "tax_id": self.customer.tax_id},
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "balances": {currency: balance.to_json() for currency, balance in self.balances.items()},
            "lines": [
                {
                    "document_number": line.document_number,
                    "document_type": line.document_type,
                    "reference": line.reference,
                    "document_date": line.document_date.isoformat(),
                    "due_date": line.due_date.isoformat(),
                    "amount": money(line.amount),
                    "currency": line.currency,
                    "cleared_on": line.cleared_on.isoformat() if line.cleared_on else "",
                    "balance": money(line.balance),
                    "documents": list(line.documents),
                    "disputed": line.disputed,
                }
                for line in self.lines
            ],
            "contact": self.contact.to_json(),
            "payment_instructions": self.payment_instructions,
            "data_as_of": data_as_of_text(self.data_as_of),
        }


def _balances_at(items: Iterable[Any], day: dt.date) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for item in items:
        if is_open_at(item.document_date, item.cleared_on, day):
            totals[item.currency] = totals.get(item.currency, ZERO) + Decimal(item.amount)
    return totals


def build_activity(
    company: Party,
    customer: Party,
    start: dt.date,
    end: dt.date,
    items: list[Any],
    *,
    account_currency: str,
    language: str = DEFAULT_LANGUAGE,
    payment_terms: str = "",
    contact: Contact = NO_CONTACT,
    payment_instructions: str = "",
    data_as_of: dt.datetime | None = None,
) -> ActivityStatement:
    """Apply contract section 7 to every item (open or cleared) of one customer at one company."""
    if start > end:
        raise ValueError("the period starts after it ends")
    opening = _balances_at(items, start - dt.timedelta(days=1))
    closing = _balances_at(items, end)
    posted = sorted(
        (item for item in items if start <= item.document_date <= end),
        key=lambda item: (item.document_date, item.document_number),
    )
    running = dict(opening)
    movements: dict[str, Decimal] = {}
    lines: list[ActivityLine] = []
    for item in posted:
        amount = Decimal(item.amount).quantize(CENTS)
        running[item.currency] = running.get(item.currency, ZERO) + amount
        movements[item.currency] = movements.get(item.currency, ZERO) + amount
        lines.append(
            ActivityLine(
                document_number=item.document_number,
                document_type=item.document_type,
                reference=item.reference or "",
                document_date=item.document_date,
                due_date=item.due_date or item.document_date,
                amount=amount,
                currency=item.currency,
                cleared_on=item.cleared_on,
                balance=running[item.currency].quantize(CENTS),
                documents=line_documents(item),
                disputed=is_disputed(item),
            )
        )
    currencies = {c for c, v in opening.items() if v} | {c for c, v in closing.items() if v} | set(movements)
    balances: dict[str, ActivityBalance] = {}
    for currency in sorted(currencies, key=lambda c: (c != account_currency, c)):
        first = opening.get(currency, ZERO).quantize(CENTS)
        last = closing.get(currency, ZERO).quantize(CENTS)
        moved = movements.get(currency, ZERO).quantize(CENTS)
        balances[currency] = ActivityBalance(first, moved, last - first - moved, last)
    return ActivityStatement(
        company=company,
        customer=customer,
        start=start,
        end=end,
        currency=account_currency,
        balances=balances,
        lines=lines,
        language=language,
        payment_terms=payment_terms,
        contact=contact,
        payment_instructions=payment_instructions,
        data_as_of=data_as_of,
    )


def activity_items(company_id: Any, customer_id: Any, start: dt.date, end: dt.date) -> Any:
    """Every item of one customer at one company that the period can show: posted by `end` and not cleared
    before `start` (others count in no balance of the period), from the open and the cleared items, each with its
    documents and open dispute (`shared.statements.marks`), in the same query."""

    def rows(model: Any) -> Any:
        return select(
            model.document_number,
            model.document_type,
            model.reference,
            model.document_date,
            model.due_date,
            model.amount,
            model.currency,
            model.cleared_on,
            *mark_columns(model),
        ).where(
            model.company_id == company_id,
            model.customer_id == customer_id,
            model.document_date <= end,
            or_(model.cleared_on.is_(None), model.cleared_on >= start, model.document_date >= start),
        )

    return union_all(rows(OpenItem), rows(ClearedItem))


def first_posting(session: Session, company_id: int) -> dt.date | None:
    """The earliest document date of the company's data (open or cleared items), None when it has none."""
    dates = [
        session.scalar(select(func.min(OpenItem.document_date)).where(OpenItem.company_id == company_id)),
        session.scalar(select(func.min(ClearedItem.document_date)).where(ClearedItem.company_id == company_id)),
    ]
    known = [day for day in dates if day is not None]
    return min(known) if known else None


def check_period(start: dt.date, end: dt.date, first: dt.date | None) -> None:
    """Raise `ActivityPeriodError` for a period that cannot be shown: reversed, ending in the future, or starting
    before the company's first posted item (nothing is known before it)."""
    if start > end:
        raise ActivityPeriodError(N_("La fecha inicial no puede ser posterior a la final."), "from")
    if end > today():
        raise ActivityPeriodError(N_("La fecha final no puede ser futura."), "to")
    if first is None:
        raise ActivityPeriodError(N_("Esta empresa todavía no tiene partidas registradas."), "from")
    if start < first:
        raise ActivityPeriodError(
            N_("Los datos de esta empresa empiezan el %(date)s: elige una fecha inicial desde ese día."),
            "from",
            date=first.isoformat(),
        )


def activity_for(session: Session, head: StatementHead, start: dt.date, end: dt.date) -> ActivityStatement:
    """The activity statement of the customer and company `head` names, after checking the period."""
    check_period(start, end, first_posting(session, head.company_id))
    items = session.execute(activity_items(head.company_id, head.customer_id, start, end)).all()
    has_account = head.account_currency is not None
    return build_activity(
        Party(head.company_code, head.company_name, head.company_tax_id or "", head.company_address or ""),
        Party(head.customer_number, head.customer_name, head.customer_tax_id or "", head.customer_address or ""),
        start,
        end,
        list(items),
        account_currency=head.account_currency or head.company_currency,
        language=head.customer_language or DEFAULT_LANGUAGE,
        payment_terms=(head.payment_terms or "") if has_account else "",
        contact=head.contact,
        payment_instructions=head.payment_instructions or "",
        data_as_of=head.data_as_of,
    )


def load_activity(
    session: Session, company_code: str, customer_number: str, start: dt.date, end: dt.date
) -> ActivityStatement:
    """Read one customer's activity at one company by codes (no grant check: the command line and the workers).
    Raises `StatementNotFound` for unknown codes and `ActivityPeriodError` for a bad period."""
    company = session.scalar(select(Company).where(Company.code == company_code))
    customer = session.scalar(select(Customer).where(Customer.number == customer_number))
    if company is None or customer is None:
        raise StatementNotFound(f"{company_code}/{customer_number}")
    account = session.scalar(
        select(Account).where(Account.company_id == company.id, Account.customer_id == customer.id)
    )
    return activity_for(session, StatementHead.of(company, customer, account), start, end)


def load_visible_activity(
    session: Session, user: PortalUserLike | None, company: str, customer: str, start: dt.date, end: dt.date
) -> ActivityStatement:
    """The activity of `customer` at `company`, if `user` may see it (`StatementNotFound` otherwise, exactly as
    for an open-item statement); `ActivityPeriodError` for a bad period."""
    return activity_for(session, visible_head(session, user, company, customer), start, end)
