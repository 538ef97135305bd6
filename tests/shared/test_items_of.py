"""The open items of many customers read at once (`items_of`, a run's batch of accounts and a task's emails) are
each customer's own, as one customer's query reads them (`ITEMS_AT`): the same rows with the same marks, none of
another company's or cleared by the cut-off, none dated after it. On PostgreSQL the statement is one text whatever
the number of customers, with one array parameter per key column (the driver converts and prepares it once; as a list
of pairs it was a new text, parsed again by the driver at every call). SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from operator import attrgetter
from typing import Any

from sqlalchemy import select

from shared.db import autocommit, session_scope
from shared.models import Company, Customer, Dispute, InvoiceDocument, OpenItem
from shared.statements import ItemRow
from shared.statements.loading import ITEMS_AT, items_of
from tests.factories import add_company, add_customers, many_customers

CUTOFF = dt.date(2026, 10, 31)


def add_items_around_the_cutoff(company_id: int, customer_ids: list[int]) -> None:
    """Per customer: one item cleared before the cut-off, one cleared after it, one dated after it; and for every
    third customer a dispute and an invoice PDF on their first item."""
    with session_scope() as session:
        for position, customer_id in enumerate(customer_ids):
            for suffix, document_date, cleared_on in (
                ("cleared-before", dt.date(2026, 9, 1), dt.date(2026, 10, 15)),
                ("cleared-after", dt.date(2026, 9, 2), dt.date(2026, 11, 5)),
                ("dated-after", dt.date(2026, 11, 2), None),
            ):
                session.add(
                    OpenItem(
                        company_id=company_id,
                        customer_id=customer_id,
                        document_number=f"{customer_id}-{suffix}",
                        document_type="invoice",
                        reference="",
                        document_date=document_date,
                        due_date=document_date + dt.timedelta(days=30),
                        amount=Decimal("100.00") + position,
                        currency="MXN",
                        cleared_on=cleared_on,
                    )
                )
            if position % 3 == 0:
                first = session.scalars(
                    select(OpenItem.document_number)
                    .where(OpenItem.company_id == company_id, OpenItem.customer_id == customer_id)
                    .order_by(OpenItem.document_number)
                ).first()
                session.add(
                    Dispute(
                        company_id=company_id,
                        customer_id=customer_id,
                        document_number=first,
                        status="open",
                    )
                )
                session.add(
                    InvoiceDocument(
                        company_id=company_id,
                        document_number=first,
                        kind="pdf",
                        sha256="0" * 64,
                        size=10,
                    )
                )


def one_by_one(pairs: list[tuple[int, int]]) -> dict[tuple[int, int], list[ItemRow]]:
    with autocommit() as connection:
        return {
            (company_id, customer_id): sorted(
                (
                    ItemRow(*row)
                    for row in connection.execute(
                        ITEMS_AT, {"company_id": company_id, "customer_id": customer_id, "cutoff": CUTOFF}
                    )
                ),
                key=attrgetter("document_number"),
            )
            for company_id, customer_id in pairs
        }


def test_many_customers_items_are_each_customers_own(database: str, sent_statements: list[tuple[str, Any]]) -> None:
    north = add_company("1000", "Aceros del Norte")
    south = add_company("2000", "Aceros del Sur")
    specs = many_customers("N", 60, lines=2)
    add_customers("1000", specs)
    add_customers("2000", specs[:20])  # the same customers at a second company, with items there too
    with session_scope() as session:
        ids = list(session.scalars(select(Customer.id).order_by(Customer.id)))
        assert session.scalar(select(Company.id).where(Company.code == "2000")) == south
    add_items_around_the_cutoff(north, ids)
    add_items_around_the_cutoff(south, ids[:20])

    texts = set()
    some, every = [(north, c) for c in ids[:30]], [(north, c) for c in ids] + [(south, c) for c in ids[:20]]
    for pairs in (some, every):
        expected = one_by_one(pairs)
        sent_statements.clear()
        with autocommit() as connection:
            found = items_of(connection, [(CUTOFF, company_id, customer_id) for company_id, customer_id in pairs])
        assert {pair: sorted(found[(CUTOFF, *pair)], key=attrgetter("document_number")) for pair in pairs} == expected
        assert set(found) == {(CUTOFF, *pair) for pair in pairs}  # no rows of customers not asked for
        # Each customer: its first two items (open), the one cleared after the cut-off; with a dispute and a PDF on
        # every third customer's first item.
        rows = [row for pair in pairs for row in expected[pair]]
        assert len(rows) == 3 * len(pairs)
        assert sum(1 for row in rows if row.disputed) == sum(1 for row in rows if row.has_pdf) > 0
        assert not any(row.document_number.endswith(("cleared-before", "dated-after")) for row in rows)
        if database.startswith("postgresql"):
            (statement, parameters), *others = [(s, p) for s, p in sent_statements if "open_items" in s]
            assert not others
            texts.add((statement, tuple(sorted(parameters))))
            assert {"key_0", "key_1", "cutoff"} <= set(parameters) and len(parameters) < 10, sorted(parameters)
    if database.startswith("postgresql"):
        assert len(texts) == 1, "a new statement text, or other parameters, for another number of customers"
