"""What a statement email is built from: its statement's rows (company, customer, account and the items open at the
cut-off), read for one email, or for the emails of one task together (two queries instead of two per email)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import Connection, Row, Select, and_, bindparam, select

from shared.db import KeyLookup, autocommit, key_lookup
from shared.models import Account, Company, Customer, OutboxEmail
from shared.statements import StatementNotFound
from shared.statements.loading import HEAD_COLUMNS, ITEMS_AT, items_of

log = logging.getLogger(__name__)

# How long the rows read for a task's emails are used: a later email of the task (a slow server, a statement to
# render again) reads them anew, so no email is built from data read longer ago than this before its claim.
BATCH_ROWS_SECONDS = 1.0

# What an email reads first, built once with bound parameters (company_id, customer_id): the statement's head
# (company, customer and account, as `StatementHead`), then the customer's formats; its items are `ITEMS_AT`'s.
# Plain rows, no ORM objects: this runs once per email.
_EMAIL_HEAD = (
    select(*HEAD_COLUMNS, Customer.statement_formats)
    .select_from(Company)
    .join(Customer, Customer.id == bindparam("customer_id"))
    .outerjoin(Account, and_(Account.company_id == Company.id, Account.customer_id == Customer.id))
    .where(Company.id == bindparam("company_id"))
)


@lru_cache(maxsize=2)
def _batch_heads(dialect_name: str) -> tuple[KeyLookup, Select[Any]]:
    """The same for the emails of a task at once, with the key each email reads its rows by: the emails found by
    their ids one by one (`key_lookup`), then their statements' heads."""
    columns = (OutboxEmail.company_id, OutboxEmail.customer_id, OutboxEmail.cutoff)
    emails = key_lookup("batch_emails", columns, (OutboxEmail.id,), dialect_name)
    found = emails.rows.c
    return emails, (
        select(found.company_id, found.customer_id, found.cutoff)
        .add_columns(*HEAD_COLUMNS, Customer.statement_formats)
        .select_from(emails.rows)
        .join(Company, Company.id == found.company_id)
        .join(Customer, Customer.id == found.customer_id)
        .outerjoin(Account, and_(Account.company_id == Company.id, Account.customer_id == Customer.id))
    )


@dataclass(frozen=True)
class BatchRows:
    """The statement rows of several emails, read together (`read_batch`)."""

    heads: dict[tuple[int, int], tuple[Any, ...]]  # (company_id, customer_id): `_EMAIL_HEAD`'s row
    items: dict[tuple[dt.date, int, int], list[Any]]  # (cut-off, company_id, customer_id): its open items
    read: frozenset[tuple[dt.date, int, int]]  # the statements read (a statement with no items has none above)
    read_at: float = field(default_factory=time.monotonic)

    def fresh(self) -> bool:
        return time.monotonic() - self.read_at < BATCH_ROWS_SECONDS


def read_batch(outbox_ids: Sequence[int]) -> BatchRows | None:
    """The statement rows of these emails; None when they could not be read (each email then reads its own, and
    fails or retries on its own)."""
    try:
        with autocommit() as connection:
            heads: dict[tuple[int, int], tuple[Any, ...]] = {}
            wanted: set[tuple[dt.date, int, int]] = set()
            emails, query = _batch_heads(connection.dialect.name)
            for company_id, customer_id, cutoff, *head in connection.execute(
                query, emails.parameters([(outbox_id,) for outbox_id in outbox_ids])
            ):
                heads[(company_id, customer_id)] = tuple(head)
                wanted.add((cutoff, company_id, customer_id))
            items = items_of(connection, sorted(wanted)) if wanted else {}
    except SoftTimeLimitExceeded:  # the task's time is up: it stops here, as between two emails
        raise
    except Exception:
        log.exception("the statements of %s emails could not be read together; each reads its own", len(outbox_ids))
        return None
    return BatchRows(heads, dict(items), frozenset(wanted))


def statement_rows(
    connection: Connection, email: OutboxEmail | Row[Any], batch: BatchRows | None
) -> tuple[tuple[Any, ...], str, list[Any]]:
    """An email's statement head (`StatementHead`'s fields), its customer's formats and its open items: `batch`'s
    when it read them and is fresh, else read now. Raises `StatementNotFound` (company or customer gone)."""
    statement_key = (email.cutoff, email.company_id, email.customer_id)
    if batch is not None and statement_key in batch.read and batch.fresh():
        *head, statement_formats = batch.heads[(email.company_id, email.customer_id)]
        return tuple(head), statement_formats, batch.items.get(statement_key, [])
    keys = {"company_id": email.company_id, "customer_id": email.customer_id}
    found = connection.execute(_EMAIL_HEAD, keys).first()
    if found is None:
        raise StatementNotFound(f"company {email.company_id} / customer {email.customer_id}")
    *head, statement_formats = found
    return tuple(head), statement_formats, list(connection.execute(ITEMS_AT, {**keys, "cutoff": email.cutoff}))
