"""A run's queries read the rows they are about, not the run's: each claim, each task's batch of emails and
of accounts, the mark of a batch's accounts and each batch's look-up of the emails its statements already have
read about as many rows as the batch holds, whatever PostgreSQL's statistics say of the run's rows: nothing (the
database analysed before the first run, or early in it) or last month's run only (this month's queued into a
large table since it was analysed, too small a share of it to be analysed again). Each statement the code sends
is run again under EXPLAIN ANALYZE (in a transaction rolled back) and the rows and index entries its plan reads of
the run's tables counted. Real PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Connection, Integer, bindparam, text

from shared.db import autocommit, get_engine, session_scope
from shared.mail import StatementEmails, claim_email
from shared.mail.queueing import _existing_recipients
from shared.mail.statement_rows import read_batch
from shared.runs.account import process_accounts
from shared.runs.progress import refresh_run_if_settled

# Customers, and accounts and emails of each run: enough that reading every row of a run costs more, by the
# planner's own estimates, than looking the batch's rows up (with some 10,000 it reads a small run's rows anyway).
ROWS = 40_000
LAST_CUTOFF, CUTOFF = dt.date(2026, 9, 30), dt.date(2026, 10, 31)
RUN_TABLES = {"outbox_emails", "run_accounts"}


@dataclass(frozen=True)
class ThisMonth:
    """This month's run: the ids of its first account and of its first email."""

    account: int
    email: int


def insert_run(connection: Connection, run_id: int, cutoff: dt.date, state: str, customers: range) -> None:
    """A run of `customers` (ids) in `state` ("done": its emails sent; "pending": its emails waiting)."""
    email_state = "sent" if state == "done" else "pending"
    parameters = {"run_id": run_id, "cutoff": cutoff, "state": state}
    parameters |= {"first": customers.start, "last": customers.stop - 1, "rows": ROWS, "key": f"run-{run_id}"}
    bounds = (bindparam("first", type_=Integer), bindparam("last", type_=Integer))
    connection.execute(
        text(
            "INSERT INTO statement_runs (id, run_key, cutoff, company_id, trigger, status, created_at, accounts,"
            " rendered, sent, failed, skipped, no_recipients) SELECT :run_id, :key, :cutoff, 1, 'schedule',"
            " 'running', now(), :rows, 0, 0, 0, 0, 0 WHERE NOT EXISTS (SELECT 1 FROM statement_runs WHERE id = :run_id)"
        ),
        parameters,
    )
    connection.execute(
        text(
            "INSERT INTO run_accounts (run_id, account_id, status, fingerprint, rendered, error, updated_at)"
            " SELECT :run_id, g, :state, '', 0, '', now() FROM generate_series(:first, :last) g"
        ).bindparams(*bounds),
        parameters,
    )
    insert_emails(connection, run_id, cutoff, email_state, customers)


def insert_emails(connection: Connection, run_id: int, cutoff: dt.date, state: str, customers: range) -> None:
    """An email of the run to each of `customers` (ids), in `state`."""
    connection.execute(
        text(
            "INSERT INTO outbox_emails (run_id, company_id, customer_id, cutoff, recipient, language, fingerprint,"
            " attachments, status, attempts, generation, next_attempt_at, first_queued_at, last_error, created_at,"
            " updated_at) SELECT :run_id, 1, g, :cutoff, 'c' || g || '@example.com', 'es', '', '[]', :state,"
            " 0, 1, now() - interval '1 minute', now() - interval '1 minute', '', now(), now()"
            " FROM generate_series(:first, :last) g"
        ).bindparams(bindparam("first", type_=Integer), bindparam("last", type_=Integer)),
        {"run_id": run_id, "cutoff": cutoff, "state": state, "first": customers.start, "last": customers.stop - 1},
    )


@pytest.fixture(params=["before any run", "early in the first run", "next run"])
def this_month(request: pytest.FixtureRequest, postgres_database: str) -> ThisMonth:
    """One company and ROWS customers with an account each, and this month's run of all of them queued (pending,
    an email each), the database analysed: before any run (with the customers and their accounts only); early in
    this, the first run (its first 300 accounts and emails queued); or with last month's run of all of them done
    (the next run). The statistics never know most of this month's rows."""
    everyone = range(1, ROWS + 1)
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
        if request.param == "before any run":
            connection.execute(text("ANALYZE"))
            insert_run(connection, 2, CUTOFF, "pending", everyone)
        elif request.param == "early in the first run":
            insert_run(connection, 2, CUTOFF, "pending", range(1, 301))
            connection.execute(text("ANALYZE"))
            insert_run(connection, 2, CUTOFF, "pending", range(301, ROWS + 1))
        else:
            insert_run(connection, 1, LAST_CUTOFF, "done", everyone)
            connection.execute(text("ANALYZE"))
            insert_run(connection, 2, CUTOFF, "pending", everyone)
        account = connection.execute(text("SELECT min(id) FROM run_accounts WHERE run_id = 2")).scalar_one()
        email = connection.execute(text("SELECT min(id) FROM outbox_emails WHERE run_id = 2")).scalar_one()
    return ThisMonth(account=account, email=email)


def explain(statement: str, parameters: Any, options: str = "ANALYZE") -> dict[str, Any]:
    """The statement's plan, with what it read: the statement run again under EXPLAIN (`options`, FORMAT JSON), in
    a transaction rolled back."""
    raw = get_engine().raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(f"EXPLAIN ({options}, FORMAT JSON) " + statement, parameters)
        plan = cursor.fetchone()[0]
        raw.rollback()
    finally:
        raw.close()
    return dict((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])


def rows_read(statement: str, parameters: Any) -> int:
    """The rows and index entries of the run's tables the statement's plan reads (returned, or read and dropped by
    a filter), measured by running it again under EXPLAIN ANALYZE (in a transaction rolled back)."""
    with get_engine().connect() as connection:
        run_indexes = set(
            connection.scalars(
                text("SELECT indexname FROM pg_indexes WHERE tablename = ANY(:tables)"), {"tables": sorted(RUN_TABLES)}
            )
        )

    def walk(node: dict[str, Any]) -> int:
        read = 0
        if node.get("Relation Name") in RUN_TABLES or node.get("Index Name") in run_indexes:
            per_loop = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
            read += (per_loop + node.get("Rows Removed by Index Recheck", 0)) * node.get("Actual Loops", 1)
        return read + sum(walk(child) for child in node.get("Plans", []))

    return walk(explain(statement, parameters))


def read_by(action: Callable[[], object], sent: list[tuple[str, Any]]) -> list[tuple[str, int]]:
    """Rows of the run's tables each statement of `action` about them reads, with the statement's first words."""
    sent.clear()
    action()
    mine = [(statement, parameters) for statement, parameters in sent if RUN_TABLES & set(statement.split())]
    assert mine, "the action sent no statement about the run's tables"
    return [(" ".join(statement.split()[:4]), rows_read(statement, parameters)) for statement, parameters in mine]


def test_a_claim_reads_its_own_email_only(this_month: ThisMonth, sent_statements: list[tuple[str, Any]]) -> None:
    def claim() -> None:
        with autocommit() as connection:
            assert claim_email(connection, this_month.email + ROWS // 2) is not None

    for words, read in read_by(claim, sent_statements):
        assert read <= 2, f"{words}: {read} rows read for one email"


def test_a_record_that_claims_the_next_email_reads_those_two_emails_only(
    this_month: ThisMonth, sent_statements: list[tuple[str, Any]]
) -> None:
    from shared.mail.outbox import SENT_COLUMNS, _record_and_claim

    first, second = this_month.email + ROWS // 2, this_month.email + ROWS // 2 + 1
    with autocommit() as connection:
        claim = claim_email(connection, first)
    assert claim is not None
    values = dict.fromkeys(SENT_COLUMNS, "") | {"status": "sent", "attachments": [], "sent_at": dt.datetime.now(dt.UTC)}

    def record_and_claim() -> None:
        recorded, next_claim = _record_and_claim(first, claim.token, values, second)
        assert recorded and next_claim is not None and next_claim.email is not None
        assert next_claim.email.id == second

    for words, read in read_by(record_and_claim, sent_statements):
        assert read <= 4, f"{words}: {read} rows read for two emails"


def test_a_tasks_emails_are_read_by_their_keys(this_month: ThisMonth, sent_statements: list[tuple[str, Any]]) -> None:
    ids = list(range(this_month.email + ROWS // 2, this_month.email + ROWS // 2 + 20))
    for words, read in read_by(lambda: read_batch(ids), sent_statements):
        assert read <= 2 * len(ids), f"{words}: {read} rows read for {len(ids)} emails"


def test_a_batch_of_accounts_reads_its_own_accounts(
    this_month: ThisMonth, sent_statements: list[tuple[str, Any]]
) -> None:
    ids = list(range(this_month.account + ROWS // 2, this_month.account + ROWS // 2 + 50))
    reads = read_by(lambda: process_accounts(ids), sent_statements)
    for words, read in reads:
        assert read <= 2 * len(ids), f"{words}: {read} rows read for {len(ids)} accounts"
    with session_scope() as session:  # and the batch was processed (no lines: done without an email)
        done = session.execute(
            text("SELECT count(*) FROM run_accounts WHERE run_id = 2 AND status <> 'pending'")
        ).scalar_one()
    assert done == len(ids)


def test_the_emails_a_batch_already_has_are_looked_up_by_their_keys(
    this_month: ThisMonth, sent_statements: list[tuple[str, Any]]
) -> None:
    customers = range(ROWS // 2, ROWS // 2 + 100)
    stored: Any = None  # not read by the look-up
    wanted = [StatementEmails(1, 1, customer, CUTOFF, ["x@example.com"], "es", stored) for customer in customers]

    found: set[tuple[int, int, dt.date, str]] = set()

    def look_up() -> None:
        with session_scope() as session:
            found.update(_existing_recipients(session, wanted))

    for words, read in read_by(look_up, sent_statements):
        assert read <= 2 * len(wanted), f"{words}: {read} rows read for {len(wanted)} statements"
    assert found == {(1, customer, CUTOFF, f"c{customer}@example.com") for customer in customers}


def test_on_sqlite_the_emails_a_batch_already_has_are_searched_in_the_unique_index(
    sqlite_database: str, sent_statements: list[tuple[str, Any]]
) -> None:
    """SQLite reads the whole unique index for a list of (company, customer, cut-off) rows; with a list for each
    column too it searches the index for each key."""
    customers = range(1, 301)
    with get_engine().begin() as connection:
        connection.execute(
            text(
                "INSERT INTO companies (code, name, tax_id, address, currency, schedule)"
                " VALUES ('1000', 'Tinacos del Bajío', 'TTB850101AB1', 'Celaya', 'MXN', '')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO customers (id, number, name, tax_id, address, statement_emails, language,"
                " statement_formats) VALUES (:id, :number, 'Cliente', 'XAXX010101000', 'Celaya', '', 'es', 'pdf')"
            ),
            [{"id": customer, "number": f"C{customer}"} for customer in customers],
        )
        connection.execute(
            text(
                "INSERT INTO outbox_emails (run_id, company_id, customer_id, cutoff, recipient, language,"
                " fingerprint, attachments, status, attempts, generation, next_attempt_at, first_queued_at,"
                " last_error, created_at, updated_at) VALUES (NULL, 1, :customer, :cutoff, :recipient, 'es', '',"
                " '[]', 'sent', 1, 1, :now, :now, '', :now, :now)"
            ),
            [
                {
                    "customer": customer,
                    "cutoff": cutoff,
                    "recipient": f"c{customer}@example.com",
                    "now": dt.datetime.now(dt.UTC),
                }
                for customer in customers
                for cutoff in (LAST_CUTOFF, CUTOFF)
            ],
        )
    wanted_customers = range(101, 151)
    stored: Any = None  # not read by the look-up
    wanted = [StatementEmails(1, 1, customer, CUTOFF, ["x@example.com"], "es", stored) for customer in wanted_customers]
    sent_statements.clear()
    with session_scope() as session:
        found = _existing_recipients(session, wanted)
    assert found == {(1, customer, CUTOFF, f"c{customer}@example.com") for customer in wanted_customers}
    statement, parameters = next((s, p) for s, p in sent_statements if "outbox_emails" in s)
    with get_engine().connect() as connection:
        plan = " ".join(row[-1] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
    assert "SEARCH outbox_emails USING COVERING INDEX" in plan, plan
    assert "(company_id=? AND customer_id=? AND cutoff=?)" in plan, plan


def pages_read(statement: str, parameters: Any) -> int:
    """The pages of tables and indexes the statement's plan reads (in memory or not), measured by running it again
    under EXPLAIN (ANALYZE, BUFFERS), in a transaction rolled back."""
    top = explain(statement, parameters, "ANALYZE, BUFFERS")
    return int(top["Shared Hit Blocks"] + top["Shared Read Blocks"])


def test_whether_a_run_is_settled_is_read_from_its_newest_rows(
    this_month: ThisMonth, sent_statements: list[tuple[str, Any]]
) -> None:
    """After each task the worker asks whether its run is settled. A row done leaves its old index entries behind
    until VACUUM, and while a transaction older than the change is open, PostgreSQL cannot even mark them dead: a
    check that reads the run's waiting rows from the oldest end walks the entries of every row done so far. This
    one reads a few pages, whatever the number of rows done: while the accounts are processed (the mail server
    keeping up: every email queued so far sent) and while the last emails go out."""
    last = range(ROWS - 999, ROWS + 1)  # the customers of the run's last 1,000 accounts
    engine = get_engine()
    with engine.begin() as connection:  # their accounts not processed yet: no emails
        connection.execute(
            text("DELETE FROM outbox_emails WHERE run_id = 2 AND customer_id >= :first"), {"first": last.start}
        )
    older = engine.raw_connection()  # a transaction from before the rows below were done, still open
    try:
        older.cursor().execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        older.cursor().execute("SELECT count(*) FROM run_accounts")

        def check_reads() -> int:
            sent_statements.clear()
            settled = refresh_run_if_settled(2)
            statement, parameters = next((s, p) for s, p in sent_statements if "run_accounts" in s)
            assert settled is None, "the run was taken for settled with work still waiting"
            return pages_read(statement, parameters)

        with engine.begin() as connection:  # every account but the last 1,000 done; their emails sent
            connection.execute(
                text("UPDATE run_accounts SET status = 'done' WHERE run_id = 2 AND account_id < :first"),
                {"first": last.start},
            )
            connection.execute(text("UPDATE outbox_emails SET status = 'sent' WHERE run_id = 2"))
        processing = check_reads()
        with engine.begin() as connection:  # the last 1,000 done too; their emails queued, half of them sent
            connection.execute(text("UPDATE run_accounts SET status = 'done' WHERE run_id = 2"))
            insert_emails(connection, 2, CUTOFF, "pending", last)
            connection.execute(
                text("UPDATE outbox_emails SET status = 'sent' WHERE run_id = 2 AND customer_id < :half"),
                {"half": last.start + 500},
            )
        sending = check_reads()
        assert max(processing, sending) <= 16, f"pages read: {processing} while processing, {sending} while sending"
    finally:
        older.rollback()
        older.close()
    with engine.begin() as connection:  # the last emails sent: the check sees the run settled
        connection.execute(text("UPDATE outbox_emails SET status = 'sent' WHERE run_id = 2"))
    settled = refresh_run_if_settled(2)
    assert settled is not None and settled.finished


def test_on_sqlite_whether_a_run_is_settled_is_looked_up_in_the_runs_indexes(
    sqlite_database: str, sent_statements: list[tuple[str, Any]]
) -> None:
    """SQLite changes an index entry in place, so the run's waiting rows are looked up by (run, status): no sort and
    no pass over the table or over every waiting email."""
    sent_statements.clear()
    assert refresh_run_if_settled(1) is None  # no such run: nothing waits, and there is nothing to refresh
    statement, parameters = next((s, p) for s, p in sent_statements if "run_accounts" in s)
    with get_engine().connect() as connection:
        plan = [row[-1] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
    about_the_run = [step for step in plan if "run_accounts" in step or "outbox_emails" in step]
    assert len(about_the_run) == 2, plan
    assert all("(run_id=? AND status=?)" in step and step.startswith("SEARCH") for step in about_the_run), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan
