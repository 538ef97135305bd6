"""A batch's statements queue one outbox row per recipient they do not have yet (`queue_many_statement_emails`):
a recipient named twice (in any case) once, one who has the statement already (an earlier run's) not again, and
nothing at all when every recipient has it. Each row holds what its statement gives, pending for a first attempt,
and its id is returned. On PostgreSQL the rows go as one array per column: one statement text whatever the number
of rows, with a few parameters (as a multi-row VALUES it was ~16 parameters a row, a text the driver parsed anew at
each batch). SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from shared.db import session_scope
from shared.mail import StatementEmails
from shared.mail.queueing import queue_many_statement_emails
from shared.models import Customer, OutboxEmail
from tests.factories import add_company, add_customers, many_customers

CUTOFF = dt.date(2026, 10, 31)


@dataclass(frozen=True)
class Key:
    text: str

    def as_string(self) -> str:
        return self.text


@dataclass(frozen=True)
class Stored:
    """What the queueing reads of a stored statement: its fingerprint and its files' keys."""

    statement: Any
    keys: list[Key]


@dataclass(frozen=True)
class Fingerprinted:
    fingerprint: str


def stored(customer_id: int) -> Any:
    return Stored(
        Fingerprinted(f"{customer_id:064d}"),
        [Key(f"1000/{customer_id}/2026-10-31/a.pdf"), Key(f"1000/{customer_id}/2026-10-31/a.xlsx")],
    )


def queue(company_id: int, customers: list[int], recipients: list[str], language: str = "es") -> list[int]:
    wanted = [
        StatementEmails(None, company_id, customer, CUTOFF, recipients, language, stored(customer))
        for customer in customers
    ]
    with session_scope() as session:
        return queue_many_statement_emails(session, wanted)


def test_a_batch_queues_each_missing_recipient_once(database: str, sent_statements: list[tuple[str, Any]]) -> None:
    company_id = add_company("1000", "Aceros del Norte")
    add_customers("1000", many_customers("N", 80, lines=1))
    with session_scope() as session:
        customers = list(session.scalars(select(Customer.id).order_by(Customer.id)))

    first = queue(company_id, customers[:30], ["pagos@example.com", "PAGOS@example.com", "cxp@example.com"])
    assert len(first) == len(set(first)) == 60
    second = queue(company_id, customers, ["pagos@example.com", "tesoreria@example.com"], language="en")
    assert len(second) == 30 + 50 * 2  # the first 30 have pagos@ already
    assert queue(company_id, customers, ["pagos@example.com", "tesoreria@example.com"]) == []

    with session_scope() as session:
        rows = session.scalars(select(OutboxEmail).order_by(OutboxEmail.id)).all()
        assert [row.id for row in rows] == sorted(first + second)
        by_id = {row.id: row for row in rows}
        assert {(by_id[i].customer_id, by_id[i].recipient) for i in first} == {
            (customer, address) for customer in customers[:30] for address in ("pagos@example.com", "cxp@example.com")
        }
        for row in rows:
            assert (row.company_id, row.cutoff, row.run_id) == (company_id, CUTOFF, None)
            assert row.language == ("es" if row.id in first else "en")
            assert row.fingerprint == f"{row.customer_id:064d}"
            assert row.attachments == [key.text for key in stored(row.customer_id).keys]
            assert (row.status, row.attempts, row.generation, row.last_error) == ("pending", 0, 1, "")
            assert row.next_attempt_at == row.first_queued_at == row.created_at == row.updated_at
            assert row.lease_token is None and row.sent_at is None

    if database.startswith("postgresql"):
        inserts = [(text, parameters) for text, parameters in sent_statements if "INSERT INTO outbox" in text]
        assert len(inserts) == 2  # the third wrote nothing
        assert inserts[0][0] == inserts[1][0], "a new statement text for another number of rows"
        assert all(len(parameters) < 20 for _, parameters in inserts), [sorted(p) for _, p in inserts]
