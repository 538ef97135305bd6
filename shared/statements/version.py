"""A statement's data version: one digest of every row a statement is built from, read in one query together
with what says whether a signed-in user may still see it.

The version is a SHA-256 over the statement's header row (company, customer, account: `HEAD_COLUMNS`), the
pair's statement revision (`StatementRevision`: a number the database's own triggers change with every insert,
update and delete of the customer's items at the company or of those items' invoice documents) and the numbers
of the customer's open disputes there, as text the database itself writes. The items and their documents are
thus read as one number instead of hashed line by line: the query costs the same for 5 lines or 5,000. Equal
versions mean equal rows, hence an equal statement and an equal fingerprint (the language and the renderer's
version aside, which the caller keys by). No writer has to remember anything: an import, a dispute opened or
resolved, a document added, a row changed by hand — anything that changes a row the statement reads changes it.

The same query also says whether the user may see the customer at the company (the grant rule of `access`,
evaluated by the database) and returns the user's status, password version and language: no row means "not
visible" (or no such statement, user or grant), as for `load_visible_statement`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from enum import Enum
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, Dialect, Select, String, bindparam, cast, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import aliased

from shared.models import Company, Customer, Dispute, StatementRevision, User
from shared.statements.access import visible_head_query
from shared.statements.loading import HEAD_COLUMNS
from shared.vocab import DisputeStatus


@dataclass(frozen=True)
class VisibleVersion:
    """What the version query found: the user's row (`USER_COLUMNS`) and the statement's version."""

    user_row: tuple[Any, ...]
    version: str


# The user's columns the query returns first, in this order (the signed-in user's check reads the same ones).
USER_COLUMNS = ("username", "email", "full_name", "role", "language", "status", "password_version")


@cache
def version_query(dialect_name: str) -> Select[Any]:
    """The query, in the JSON functions of `dialect_name` (PostgreSQL hashes in the database: one short text
    comes back; SQLite returns the text, hashed by `statement_version`)."""
    me = aliased(User)
    revision = (
        select(cast(StatementRevision.revision, String))
        .where(StatementRevision.company_id == Company.id, StatementRevision.customer_id == Customer.id)
        .correlate(Company, Customer)
        .scalar_subquery()
    )
    disputed = select(Dispute.document_number).where(
        Dispute.company_id == Company.id, Dispute.customer_id == Customer.id, Dispute.status == DisputeStatus.OPEN
    )
    head: ColumnElement[Any]
    disputes: ColumnElement[Any]
    if dialect_name == "postgresql":
        head = cast(func.json_build_array(*HEAD_COLUMNS), String)
        rows = func.json_agg(aggregate_order_by(Dispute.document_number, Dispute.document_number, Dispute.id))
        disputes = func.coalesce(cast(rows, String), "[]")
    else:
        head = func.json_array(*HEAD_COLUMNS)
        disputes = func.json_group_array(Dispute.document_number)
    disputes_text = disputed.with_only_columns(disputes).correlate(Company, Customer).scalar_subquery()
    text: ColumnElement[Any] = head
    for part in (func.coalesce(revision, ""), disputes_text):
        text = text.op("||")(literal("|")).op("||")(part)
    if dialect_name == "postgresql":
        text = func.encode(func.sha256(func.convert_to(text, "UTF8")), "hex")
    return visible_head_query(*(getattr(me, name) for name in USER_COLUMNS), text).join(
        me, me.id == bindparam("user_id")
    )


@lru_cache(maxsize=4)  # by dialect object: an engine made again (after a fork, in tests) must not pin the old one
def version_sql(dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """The query as the driver's own SQL text and its constant parameters (for a driver used directly, such as
    psycopg's asynchronous connection); the caller adds `user_id`, `company`, `customer` and `cutoff`."""
    compiled = version_query(dialect.name).compile(dialect=dialect)
    # The expanding IN parameters (the roles that see every customer) are written out once, with placeholders for
    # the per-call parameters, which are replaced on every call.
    expanded = compiled.construct_expanded_state(version_params(0, "", "", dt.date.min))
    constants = {
        name: value.value if isinstance(value, Enum) else value
        for name, value in dict(expanded.parameters).items()
        if name not in ("user_id", "company", "customer", "cutoff")
    }
    return expanded.statement, constants


def version_params(user_id: int, company: str, customer: str, cutoff: dt.date) -> dict[str, Any]:
    return {"user_id": user_id, "company": company, "customer": customer, "cutoff": cutoff}


def statement_version(text: str) -> str:
    """The version from what the query's last column holds."""
    return hashlib.sha256(text.encode()).hexdigest()


def visible_version_of(row: Any) -> VisibleVersion | None:
    """The query's row as a `VisibleVersion` (None for no row)."""
    if row is None:
        return None
    *user_row, text = row
    return VisibleVersion(tuple(user_row), statement_version(str(text)))


def visible_version(
    connection: Connection, user_id: int, company: str, customer: str, cutoff: dt.date
) -> VisibleVersion | None:
    """The version query on a SQLAlchemy connection."""
    query = version_query(connection.dialect.name)
    return visible_version_of(connection.execute(query, version_params(user_id, company, customer, cutoff)).first())
