"""Reading one statement's rows: the company, the customer, the account and the items open at the cut-off.

`load_statement` reads by codes, with no grant check (the command line and the runs). The portal's reads,
scoped to the signed-in user's grants, are in `shared.statements.access`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from shared.models import Account, Company, Customer, OpenItem
from shared.statements.rules import build_statement, open_at
from shared.statements.values import Party, Statement
from shared.vocab import DEFAULT_LANGUAGE


class StatementNotFound(LookupError):
    """No such company, or no such customer (the callers answer both the same way)."""


def open_items_at(company_id: Any, customer_id: Any, cutoff: Any) -> Select:
    """The rows the rules read: one customer's items at one company, open at the cut-off.

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
    ).where(OpenItem.company_id == company_id, OpenItem.customer_id == customer_id, open_at(cutoff))


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
        language=customer.language or DEFAULT_LANGUAGE,
        payment_terms=(account.payment_terms or "") if account else "",
    )
