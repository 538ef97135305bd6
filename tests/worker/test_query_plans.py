"""A run's queries read the rows they are about, not the run's: each claim, each task's batch of emails and
accounts, and each batch's look-up of the emails its statements already have reads about as many rows as the batch
holds, even while PostgreSQL's statistics predate the run (analysed when the tables were empty, as after a large
run is queued into a large table). Each statement the code sends is run again under EXPLAIN ANALYZE and the rows
its plan read of the run's tables counted. Real PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event, text

from shared.db import autocommit, get_engine, session_scope
from shared.mail import StatementEmails, claim_email
from shared.mail.outbox import _existing_recipients
from shared.mail.statement_rows import read_batch
from shared.runs.account import process_accounts

ROWS = 10_000  # customers, and accounts and emails of each run
LAST_CUTOFF, CUTOFF = dt.date(2026, 9, 30), dt.date(2026, 10, 31)
RUN_TABLES = {"outbox_emails", "run_accounts"}


@pytest.fixture
def run_with_stale_statistics(postgres_database: str) -> str:
    """One company and ROWS customers with an account each; last month's run of all of them (done, its emails
    sent), analysed; then this month's run of all of them queued (pending, an email each), which the statistics do
    not know yet."""
    with get_engine().begin() as connection:
        connection.execute(
            text(
                "INSERT INTO companies (code, name, tax_id, address, currency, schedule)"
                " VALUES ('1000', 'Tinacos del Bajío', 'TTB850101AB1', 'Celaya', 'MXN', '')"
            )
        )
        for statement in (
            "INSERT INTO customers (number, name, tax_id, address, statement_emails, language, statement_formats)"
            " SELECT 'C' || g, 'Cliente ' || g, 'XAXX010101000', 'Celaya', 'c' || g || '@example.com', 'es', 'pdf'"
            " FROM generate_series(1, :rows) g",
            "INSERT INTO accounts (company_id, customer_id, currency, payment_terms)"
            " SELECT 1, g, 'MXN', '30' FROM generate_series(1, :rows) g",
        ):
            connection.execute(text(statement), {"rows": ROWS})
        for run_id, cutoff, state, email_state in ((1, LAST_CUTOFF, "done", "sent"), (2, CUTOFF, "pending", "pending")):
            connection.execute(
                text(
                    "INSERT INTO statement_runs (id, run_key, cutoff, company_id, trigger, status, created_at,"
                    " accounts, rendered, sent, failed, skipped, no_recipients)"
                    " VALUES (:run_id, :key, :cutoff, 1, 'schedule', 'running', now(), :rows, 0, 0, 0, 0, 0)"
                ),
                {"run_id": run_id, "key": f"run-{run_id}", "cutoff": cutoff, "rows": ROWS},
            )
            connection.execute(
                text(
                    "INSERT INTO run_accounts (run_id, account_id, status, fingerprint, rendered, error, updated_at)"
                    " SELECT :run_id, g, :state, '', 0, '', now() FROM generate_series(1, :rows) g"
                ),
                {"run_id": run_id, "state": state, "rows": ROWS},
            )
            connection.execute(
                text(
                    "INSERT INTO outbox_emails (run_id, company_id, customer_id, cutoff, recipient, language,"
                    " fingerprint, attachments, status, attempts, generation, next_attempt_at, first_queued_at,"
                    " last_error, created_at, updated_at) SELECT :run_id, 1, g, :cutoff, 'c' || g || '@example.com',"
                    " 'es', '', '[]', :state, 0, 1, now() - interval '1 minute', now() - interval '1 minute', '',"
                    " now(), now() FROM generate_series(1, :rows) g"
                ),
                {"run_id": run_id, "cutoff": cutoff, "state": email_state, "rows": ROWS},
            )
            if run_id == 1:
                connection.execute(text("ANALYZE"))
    return postgres_database


@pytest.fixture
def sent_statements() -> Iterator[list[tuple[str, Any]]]:
    """Every statement the application sends to the database meanwhile, with its parameters."""
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        sent.append((statement, parameters))

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def rows_read(statement: str, parameters: Any) -> int:
    """The rows of the run's tables the statement's plan reads (returned, or read and dropped by a filter),
    measured by running it again under EXPLAIN ANALYZE (in a transaction rolled back)."""
    raw = get_engine().raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
        plan = cursor.fetchone()[0]
        raw.rollback()
    finally:
        raw.close()
    plan = json.loads(plan) if isinstance(plan, str) else plan

    def walk(node: dict[str, Any]) -> int:
        read = 0
        if node.get("Relation Name") in RUN_TABLES:
            per_loop = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
            read += (per_loop + node.get("Rows Removed by Index Recheck", 0)) * node.get("Actual Loops", 1)
        return read + sum(walk(child) for child in node.get("Plans", []))

    return walk(plan[0]["Plan"])


def read_by(action: Callable[[], object], sent: list[tuple[str, Any]]) -> dict[str, int]:
    """Rows of the run's tables each statement of `action` reads, by the statement's first words."""
    sent.clear()
    action()
    mine = [(statement, parameters) for statement, parameters in sent if RUN_TABLES & set(statement.split())]
    assert mine, "the action sent no statement about the run's tables"
    return {" ".join(statement.split()[:4]): rows_read(statement, parameters) for statement, parameters in mine}


def test_a_claim_reads_its_own_email_only(
    run_with_stale_statistics: str, sent_statements: list[tuple[str, Any]]
) -> None:
    def claim() -> None:
        with autocommit() as connection:
            assert claim_email(connection, ROWS + ROWS // 2) is not None

    for words, read in read_by(claim, sent_statements).items():
        assert read <= 2, f"{words}: {read} rows read for one email"


def test_a_tasks_emails_are_read_by_their_keys(
    run_with_stale_statistics: str, sent_statements: list[tuple[str, Any]]
) -> None:
    ids = list(range(ROWS + ROWS // 2, ROWS + ROWS // 2 + 20))
    for words, read in read_by(lambda: read_batch(ids), sent_statements).items():
        assert read <= 2 * len(ids), f"{words}: {read} rows read for {len(ids)} emails"


def test_a_batch_of_accounts_reads_its_own_accounts(
    run_with_stale_statistics: str, sent_statements: list[tuple[str, Any]]
) -> None:
    ids = list(range(ROWS + ROWS // 2, ROWS + ROWS // 2 + 50))
    reads = read_by(lambda: process_accounts(ids), sent_statements)
    for words, read in reads.items():
        assert read <= 2 * len(ids), f"{words}: {read} rows read for {len(ids)} accounts"
    with session_scope() as session:  # and the batch was processed (no lines: done without an email)
        done = session.execute(
            text("SELECT count(*) FROM run_accounts WHERE run_id = 2 AND status <> 'pending'")
        ).scalar_one()
    assert done == len(ids)


def test_the_emails_a_batch_already_has_are_looked_up_by_their_keys(
    run_with_stale_statistics: str, sent_statements: list[tuple[str, Any]]
) -> None:
    customers = range(ROWS // 2, ROWS // 2 + 50)
    wanted = [StatementEmails(1, 1, customer, CUTOFF, ["x@example.com"], "es", None) for customer in customers]  # type: ignore[arg-type]

    found: set[tuple[int, int, dt.date, str]] = set()

    def look_up() -> None:
        with session_scope() as session:
            found.update(_existing_recipients(session, wanted))

    for words, read in read_by(look_up, sent_statements).items():
        assert read <= 2 * len(wanted), f"{words}: {read} rows read for {len(wanted)} statements"
    assert found == {(1, customer, CUTOFF, f"c{customer}@example.com") for customer in customers}
