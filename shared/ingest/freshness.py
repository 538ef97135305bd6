"""Which companies an import named and which it changed, so statements say how fresh their data is.

A company is *refreshed* by every successful import that names it (in companies, accounts or open items),
changed or not: the ERP confirmed its data (the import history records it). Its *data as of* moves only when
the import changed something a statement of that company shows: the company itself, one of its accounts or
open items, or a customer that has an account there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.clock import utcnow
from shared.ingest.plan import ImportPlan
from shared.ingest.tables import IN_LIST, Key, chunks
from shared.models import Account, Company, Customer

# Called with the name of the file being written (`open_items`), so a long import can say where it is.
Progress = Callable[[str], None]


@dataclass
class Changed:
    """The keys of the rows an import wrote, per file."""

    companies: set[Key] = field(default_factory=set)  # (code,)
    customers: set[Key] = field(default_factory=set)  # (number,)
    accounts: set[Key] = field(default_factory=set)  # (company_id, customer_id)
    open_items: set[Key] = field(default_factory=set)  # (company_id, document_number)


def _company_ids_of_customers(session: Session, numbers: list[str]) -> set[int]:
    found: set[int] = set()
    for part in chunks(numbers, IN_LIST):
        query = select(Account.company_id).join(Customer, Customer.id == Account.customer_id)
        found.update(session.scalars(query.where(Customer.number.in_(part))))
    return found


def mark_companies(
    session: Session, plan: ImportPlan, by_code: dict[str, int], changed: Changed
) -> tuple[set[int], set[int]]:
    """Set `data_as_of` on the companies the import changed (in the import's transaction, so it commits with
    the data; an unchanged company's row is not written). Returns (ids named, ids changed)."""
    kinds = ("companies", "accounts", "open_items")
    named_codes = {row.values["company_code"] for kind in kinds for row in plan.rows(kind)}
    named = {by_code[code] for code in named_codes if code in by_code}
    touched = {by_code[code] for (code,) in changed.companies if code in by_code}
    touched.update(company_id for company_id, _ in changed.accounts)
    touched.update(company_id for company_id, _ in changed.open_items)
    if changed.customers:
        touched.update(_company_ids_of_customers(session, [number for (number,) in changed.customers]))
    now = utcnow()
    for part in chunks(sorted(touched), IN_LIST):
        session.execute(update(Company).where(Company.id.in_(part)).values(data_as_of=now))
    return named, touched
