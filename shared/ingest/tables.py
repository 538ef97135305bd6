"""The tables an import writes, by natural key, and how what they hold is read back in bulk for comparison."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.models import Account, Company, Customer, InvoiceDocument, OpenItem

BATCH = 2000
# How many ids go in one `IN (...)` list when reading what exists.
IN_LIST = 500

Key = tuple[Any, ...]
StoredRows = dict[Key, tuple[int, dict[str, Any]]]


@dataclass(frozen=True)
class Table:
    """A table the import writes: its model, the columns of its natural key, and the columns it compares."""

    model: Any
    key: tuple[str, ...]
    columns: tuple[str, ...]


COMPANIES = Table(
    Company,
    ("code",),
    (
        "name",
        "tax_id",
        "address",
        "currency",
        "collections_name",
        "collections_email",
        "collections_phone",
        "payment_instructions",
    ),
)
CUSTOMERS = Table(
    Customer,
    ("number",),
    (
        "name",
        "tax_id",
        "address",
        "statement_emails",
        "language",
        "statement_formats",
        "collector_name",
        "collector_email",
        "collector_phone",
    ),
)
ACCOUNTS = Table(Account, ("company_id", "customer_id"), ("credit_limit", "currency", "payment_terms"))
OPEN_ITEMS = Table(
    OpenItem,
    ("company_id", "document_number"),
    ("customer_id", "document_type", "reference", "document_date", "due_date", "amount", "currency", "cleared_on"),
)

DOCUMENTS = Table(InvoiceDocument, ("company_id", "document_number", "kind"), ("sha256", "size"))


def chunks(rows: list[Any], size: int = BATCH) -> Iterator[list[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def stored_rows(session: Session, table: Table, *, where_in: tuple[str, list[Any]] | None = None) -> StoredRows:
    """The stored rows of `table` (all, or those whose column `where_in[0]` is in `where_in[1]`), by key."""
    model = table.model
    query = select(model.id, *(getattr(model, c) for c in table.key), *(getattr(model, c) for c in table.columns))
    width = len(table.key)
    if where_in is None:
        batches: Iterable[Any] = [session.execute(query)]
    else:
        column, values = where_in
        batches = (session.execute(query.where(getattr(model, column).in_(part))) for part in chunks(values, IN_LIST))
    found: StoredRows = {}
    for rows in batches:
        for row in rows:
            found[tuple(row[1 : 1 + width])] = (row[0], dict(zip(table.columns, row[1 + width :], strict=True)))
    return found
