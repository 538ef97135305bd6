"""Reading one statement's rows: the company, the customer, the account and the items open at the cut-off.

`load_statement` reads by codes, with no grant check (the command line and the runs). The portal's reads,
scoped to the signed-in user's grants, are in `shared.statements.access`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Select, bindparam, select
from sqlalchemy.orm import Session

from shared.db import KeyLookup, key_lookup
from shared.models import Account, Company, Customer, OpenItem
from shared.statements.marks import MARK_COLUMNS
from shared.statements.rules import build_statement, open_at
from shared.statements.values import Contact, ItemRow, Party, Statement
from shared.vocab import DEFAULT_LANGUAGE


class StatementNotFound(LookupError):
    """No such company, or no such customer (the callers answer both the same way)."""


def open_items_at(company_id: Any, customer_id: Any, cutoff: Any) -> Select:
    """The rows the rules read: one customer's items at one company, open at the cut-off, with their documents
    and open disputes (`shared.statements.marks`).

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
        *MARK_COLUMNS,
    ).where(OpenItem.company_id == company_id, OpenItem.customer_id == customer_id, open_at(cutoff))


# `open_items_at` built once with bound parameters (company_id, customer_id, cutoff): the query the portal and each
# statement email run for one customer's items.
ITEMS_AT = open_items_at(bindparam("company_id"), bindparam("customer_id"), bindparam("cutoff"))


@lru_cache(maxsize=2)
def _items_lookup(dialect_name: str) -> tuple[KeyLookup, Select[Any]]:
    """`open_items_at` for many (company, customer) at one cut-off (bound parameter `cutoff`), each pair one
    look-up in `ix_open_items_company_customer` whatever the database's statistics say (`key_lookup`): on
    PostgreSQL one statement text for any number of pairs, which the driver converts and prepares once. (As an IN
    list of pairs it was a new text for each number of pairs, and with more than 25 pairs one the driver parsed
    anew at every call: `bench/batch`, 3.3–4.4 ms of CPU for 100 customers, now 1.5–1.9 ms.)"""
    cutoff = bindparam("cutoff", type_=OpenItem.document_date.type)
    key = (OpenItem.company_id, OpenItem.customer_id)
    columns = open_items_at(*key, cutoff).selected_columns
    lookup = key_lookup("items", (*key, *columns), key, dialect_name, where=(open_at(cutoff),))
    return lookup, select(lookup.rows)


def items_of(
    session: Session | Connection, wanted: list[tuple[dt.date, int, int]]
) -> dict[tuple[dt.date, int, int], list[Any]]:
    """The open items of many (cut-off, company, customer) at once, as `open_items_at` reads them: one query per
    cut-off (a run's accounts and a batch of its emails have one)."""
    found: dict[tuple[dt.date, int, int], list[Any]] = defaultdict(list)
    by_cutoff: dict[dt.date, set[tuple[int, int]]] = defaultdict(set)
    for cutoff, company_id, customer_id in wanted:
        by_cutoff[cutoff].add((company_id, customer_id))
    bind = session.get_bind() if isinstance(session, Session) else session
    lookup, query = _items_lookup(bind.dialect.name)
    for cutoff, pairs in by_cutoff.items():
        parameters = {**lookup.parameters(sorted(pairs)), "cutoff": cutoff}
        for company_id, customer_id, *item in session.execute(query, parameters):
            found[(cutoff, company_id, customer_id)].append(ItemRow(*item))
    return found


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


# The columns a statement's header needs, in `StatementHead` order: the portal selects them in one prepared
# query (`shared.statements.access`), the runs and the command line read the ORM rows (`statement_for`).
HEAD_COLUMNS = (
    Company.id,
    Company.code,
    Company.name,
    Company.tax_id,
    Company.address,
    Company.currency,
    Company.collections_name,
    Company.collections_email,
    Company.collections_phone,
    Company.payment_instructions,
    Company.data_as_of,
    Customer.id,
    Customer.number,
    Customer.name,
    Customer.tax_id,
    Customer.address,
    Customer.language,
    Customer.collector_name,
    Customer.collector_email,
    Customer.collector_phone,
    Account.currency,
    Account.credit_limit,
    Account.payment_terms,
)


@dataclass(frozen=True)
class StatementHead:
    """What a statement shows besides its lines: the company, the customer and its account there (if any)."""

    company_id: int
    company_code: str
    company_name: str
    company_tax_id: str | None
    company_address: str | None
    company_currency: str
    collections_name: str | None
    collections_email: str | None
    collections_phone: str | None
    payment_instructions: str | None
    data_as_of: dt.datetime | None
    customer_id: int
    customer_number: str
    customer_name: str
    customer_tax_id: str | None
    customer_address: str | None
    customer_language: str | None
    collector_name: str | None
    collector_email: str | None
    collector_phone: str | None
    account_currency: str | None  # None: no account at the company
    credit_limit: Decimal | None
    payment_terms: str | None

    @classmethod
    def of(cls, company: Company, customer: Customer, account: Account | None) -> StatementHead:
        return cls(
            *(getattr(company, column.key) for column in HEAD_COLUMNS if column.class_ is Company),
            *(getattr(customer, column.key) for column in HEAD_COLUMNS if column.class_ is Customer),
            *(
                getattr(account, column.key) if account is not None else None
                for column in HEAD_COLUMNS
                if column.class_ is Account
            ),
        )

    @property
    def contact(self) -> Contact:
        """The customer's collector when any of its fields is set, else the company's collections desk."""
        collector = Contact(self.collector_name or "", self.collector_email or "", self.collector_phone or "")
        if collector:
            return collector
        return Contact(self.collections_name or "", self.collections_email or "", self.collections_phone or "")

    def statement(self, cutoff: dt.date, items: list[Any]) -> Statement:
        """Apply the rules to `items` (the customer's items at the company, as `open_items_at` reads them)."""
        has_account = self.account_currency is not None
        return build_statement(
            Party(self.company_code, self.company_name, self.company_tax_id or "", self.company_address or ""),
            Party(self.customer_number, self.customer_name, self.customer_tax_id or "", self.customer_address or ""),
            cutoff,
            items,
            account_currency=self.account_currency or self.company_currency,
            credit_limit=self.credit_limit if has_account else None,
            language=self.customer_language or DEFAULT_LANGUAGE,
            payment_terms=(self.payment_terms or "") if has_account else "",
            contact=self.contact,
            payment_instructions=self.payment_instructions or "",
            data_as_of=self.data_as_of,
        )


def statement_for(
    session: Session, company: Company, customer: Customer, account: Account | None, cutoff: dt.date
) -> Statement:
    """The statement of rows the caller already holds (the mailing run reads them in one query)."""
    items = session.execute(open_items_at(company.id, customer.id, cutoff)).all()
    return StatementHead.of(company, customer, account).statement(cutoff, list(items))
