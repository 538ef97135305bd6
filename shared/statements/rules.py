"""The statement rules of contract section 2, as a pure function of the rows it is given.

The rule "open at the cut-off" (posted by the cut-off and not cleared by it) is written here once, for both
sides: `is_open_at` for rows in Python, `open_at` for the same condition in SQL.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from shared.models import OpenItem
from shared.statements.marks import is_disputed, line_documents
from shared.statements.values import (
    BUCKETS,
    CENTS,
    NO_CONTACT,
    Contact,
    CurrencyTotals,
    Party,
    Statement,
    StatementLine,
)
from shared.vocab import DEFAULT_LANGUAGE


def is_open_at(document_date: dt.date, cleared_on: dt.date | None, cutoff: dt.date) -> bool:
    """An item is on the statement at `cutoff` when it was posted by then and not cleared by then."""
    return document_date <= cutoff and (cleared_on is None or cleared_on > cutoff)


def open_at(cutoff: Any) -> ColumnElement[bool]:
    """`is_open_at` as a SQL condition on `OpenItem` (`cutoff` is a date or a bound parameter)."""
    return and_(OpenItem.document_date <= cutoff, or_(OpenItem.cleared_on.is_(None), OpenItem.cleared_on > cutoff))


def build_statement(
    company: Party,
    customer: Party,
    cutoff: dt.date,
    items: list[Any],
    *,
    account_currency: str,
    credit_limit: Decimal | None,
    language: str = DEFAULT_LANGUAGE,
    payment_terms: str = "",
    contact: Contact = NO_CONTACT,
    payment_instructions: str = "",
    data_as_of: dt.datetime | None = None,
) -> Statement:
    """Apply contract section 2 to the given open items of one customer at one company."""
    lines: list[StatementLine] = []
    for item in items:
        if not is_open_at(item.document_date, item.cleared_on, cutoff):
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
                documents=line_documents(item),
                disputed=is_disputed(item),
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
        contact=contact,
        payment_instructions=payment_instructions,
        data_as_of=data_as_of,
    )
