"""The statement rules (contract §2) and the `Statement` value every renderer draws from.

`build_statement` is a pure function of the rows it is given; `load_statement` reads those rows for one
company, customer and cut-off date, scoped in the query itself, so no other customer's item can reach it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from shared.models import Account, Company, Customer, OpenItem

BUCKETS = ("current", "1-30", "31-60", "61-90", "91-120", "120+")
CENTS = Decimal("0.01")
# Bump when a renderer's output changes, so stored files made by older code are not reused.
RENDER_VERSION = "1"


def money(value: Decimal) -> str:
    """Exactly two decimals, as the contract's JSON writes amounts."""
    return str(value.quantize(CENTS))


def bucket_for(days_overdue: int) -> str:
    if days_overdue <= 0:
        return "current"
    if days_overdue <= 30:
        return "1-30"
    if days_overdue <= 60:
        return "31-60"
    if days_overdue <= 90:
        return "61-90"
    if days_overdue <= 120:
        return "91-120"
    return "120+"


@dataclass(frozen=True)
class Party:
    code: str
    name: str
    tax_id: str = ""
    address: str = ""


@dataclass(frozen=True)
class StatementLine:
    document_number: str
    document_type: str
    reference: str
    document_date: dt.date
    due_date: dt.date
    days_overdue: int
    amount: Decimal
    currency: str

    @property
    def bucket(self) -> str:
        return bucket_for(self.days_overdue)


@dataclass(frozen=True)
class CurrencyTotals:
    total: Decimal
    overdue: Decimal
    not_due: Decimal
    aging: dict[str, Decimal]


@dataclass(frozen=True)
class Statement:
    company: Party
    customer: Party
    cutoff: dt.date
    currency: str
    credit_limit: Decimal | None
    available_credit: Decimal | None
    totals: dict[str, CurrencyTotals]
    lines: list[StatementLine]
    language: str = "es"
    payment_terms: str = ""
    _fingerprint: list[str] = field(default_factory=list, repr=False, compare=False)

    @property
    def has_lines(self) -> bool:
        return bool(self.lines)

    def to_json(self) -> dict[str, Any]:
        """The contract §3 document."""
        return {
            "company": {"code": self.company.code, "name": self.company.name, "tax_id": self.company.tax_id},
            "customer": {"number": self.customer.code, "name": self.customer.name, "tax_id": self.customer.tax_id},
            "cutoff": self.cutoff.isoformat(),
            "currency": self.currency,
            "credit_limit": None if self.credit_limit is None else money(self.credit_limit),
            "available_credit": None if self.available_credit is None else money(self.available_credit),
            "totals": {
                currency: {
                    "total": money(t.total),
                    "overdue": money(t.overdue),
                    "not_due": money(t.not_due),
                    "aging": {bucket: money(t.aging[bucket]) for bucket in BUCKETS},
                }
                for currency, t in self.totals.items()
            },
            "lines": [
                {
                    "document_number": line.document_number,
                    "document_type": line.document_type,
                    "reference": line.reference,
                    "document_date": line.document_date.isoformat(),
                    "due_date": line.due_date.isoformat(),
                    "days_overdue": line.days_overdue,
                    "amount": money(line.amount),
                    "currency": line.currency,
                }
                for line in self.lines
            ],
        }

    @property
    def fingerprint(self) -> str:
        """A digest of everything a rendered file shows: equal fingerprints mean an identical document."""
        if not self._fingerprint:
            document = self.to_json()
            document["_render"] = {
                "version": RENDER_VERSION,
                "language": self.language,
                "company_address": self.company.address,
                "customer_address": self.customer.address,
                "payment_terms": self.payment_terms,
            }
            digest = hashlib.sha256(json.dumps(document, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
            self._fingerprint.append(digest)
        return self._fingerprint[0]


@dataclass(frozen=True)
class ItemRow:
    """The fields of an open item the rules read (an `OpenItem`, or any row with these attributes)."""

    document_number: str
    document_type: str
    reference: str
    document_date: dt.date
    due_date: dt.date
    amount: Decimal
    currency: str
    cleared_on: dt.date | None


def build_statement(
    company: Party,
    customer: Party,
    cutoff: dt.date,
    items: list[Any],
    *,
    account_currency: str,
    credit_limit: Decimal | None,
    language: str = "es",
    payment_terms: str = "",
) -> Statement:
    """Apply contract §2 to the given open items of one customer at one company."""
    lines: list[StatementLine] = []
    for item in items:
        if item.document_date > cutoff:
            continue
        if item.cleared_on is not None and item.cleared_on <= cutoff:
            continue
        due = item.due_date or item.document_date
        lines.append(
            StatementLine(
                document_number=item.document_number,
                document_type=item.document_type,
                reference=item.reference or "",
                document_date=item.document_date,
                due_date=due,
                days_overdue=max(0, (cutoff - due).days),
                amount=Decimal(item.amount).quantize(CENTS),
                currency=item.currency,
            )
        )
    lines.sort(key=lambda line: (line.due_date, line.document_date, line.document_number))

    totals: dict[str, CurrencyTotals] = {}
    for currency in sorted({line.currency for line in lines}):
        own = [line for line in lines if line.currency == currency]
        aging = {bucket: Decimal("0.00") for bucket in BUCKETS}
        for line in own:
            aging[line.bucket] += line.amount
        overdue = sum((line.amount for line in own if line.days_overdue > 0), Decimal("0.00"))
        not_due = sum((line.amount for line in own if line.days_overdue == 0), Decimal("0.00"))
        totals[currency] = CurrencyTotals(total=overdue + not_due, overdue=overdue, not_due=not_due, aging=aging)

    available: Decimal | None = None
    if credit_limit is not None:
        in_account_currency = totals[account_currency].total if account_currency in totals else Decimal("0.00")
        available = Decimal(credit_limit) - in_account_currency

    return Statement(
        company=company,
        customer=customer,
        cutoff=cutoff,
        currency=account_currency,
        credit_limit=None if credit_limit is None else Decimal(credit_limit).quantize(CENTS),
        available_credit=None if available is None else available.quantize(CENTS),
        totals=totals,
        lines=lines,
        language=language,
        payment_terms=payment_terms,
    )


class StatementNotFound(LookupError):
    """No such company, or no such customer (the callers answer both the same way)."""


def open_items_at(company_id: Any, customer_id: Any, cutoff: Any) -> Select:
    """The rows the rules read: one customer's items at one company posted by the cut-off and not cleared by it.

    The arguments are values or bind parameters (the portal prepares this query once).
    """
    return select(
        OpenItem.document_number,
        OpenItem.document_type,
        OpenItem.reference,
        OpenItem.document_date,
        OpenItem.due_date,
        OpenItem.amount,
        OpenItem.currency,
        OpenItem.cleared_on,
    ).where(
        OpenItem.company_id == company_id,
        OpenItem.customer_id == customer_id,
        OpenItem.document_date <= cutoff,
        or_(OpenItem.cleared_on.is_(None), OpenItem.cleared_on > cutoff),
    )


def load_statement(session: Session, company_code: str, customer_number: str, cutoff: dt.date) -> Statement:
    """Read one customer's statement at one company. Raises `StatementNotFound` for unknown codes.

    A customer with no account at the company gets a statement without a credit limit, in the company's
    currency (empty unless items were posted there).
    """
    company = session.scalar(select(Company).where(Company.code == company_code))
    customer = session.scalar(select(Customer).where(Customer.number == customer_number))
    if company is None or customer is None:
        raise StatementNotFound(f"{company_code}/{customer_number}")
    account = session.scalar(
        select(Account).where(Account.company_id == company.id, Account.customer_id == customer.id)
    )
    return statement_for(session, company, customer, account, cutoff)


def statement_for(
    session: Session, company: Company, customer: Customer, account: Account | None, cutoff: dt.date
) -> Statement:
    """The statement of rows the caller already holds (the mailing run reads them in one query)."""
    items = session.execute(open_items_at(company.id, customer.id, cutoff)).all()
    return build_statement(
        Party(company.code, company.name, company.tax_id or "", company.address or ""),
        Party(customer.number, customer.name, customer.tax_id or "", customer.address or ""),
        cutoff,
        list(items),
        account_currency=account.currency if account else company.currency,
        credit_limit=account.credit_limit if account else None,
        language=customer.language or "es",
        payment_terms=(account.payment_terms or "") if account else "",
    )
