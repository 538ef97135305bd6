"""One account of a run: compute its statement, render the files the store lacks, and queue its emails.

Each account task ends the account in a recorded state: `skipped` (no lines), `no_recipients` (rendered and
stored, reported), `done` (its emails are queued in the outbox in the same transaction), or `failed` (with the
error). The task is idempotent: only a pending account is processed, by a conditional update.

A batch of accounts (`process_accounts`) is read in bulk and recorded in bulk: the accounts whose files the store
holds already (a rerun) or that have no lines are marked by one conditional UPDATE, and their missing emails (none,
on a rerun) queued by one query and at most one INSERT, in one transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, Select, String, Update, bindparam, case, func, select, true, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from shared.clock import utcnow
from shared.db import KeyLookup, key_lookup, session_scope
from shared.mail import StatementEmails, enqueue_sends, queue_many_statement_emails
from shared.models import Account, Company, Customer, RunAccount, StatementRun
from shared.models.master import listed
from shared.render import RenderedFiles, StoredStatement, ensure_rendered, render_missing, store_rendered
from shared.runs.progress import refresh_run_if_settled
from shared.statements import Statement, statement_for
from shared.statements.loading import HEAD_COLUMNS, StatementHead, items_of
from shared.store import StatementStore, StoreKey, get_store
from shared.vocab import DEFAULT_LANGUAGE, EMAILED_FORMATS, AccountStatus, Outcome

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccountOutcome:
    run_account_id: int
    status: str  # done | skipped | no_recipients | failed | already_done
    rendered: int = 0


def process_account(run_account_id: int) -> AccountOutcome:
    """Compute, render (when the store lacks it) and queue the emails of one account of a run. Idempotent.

    When the store already holds every file (a second run at the same cut-off), the whole account is one
    short transaction; otherwise the files are rendered outside any transaction, then recorded.
    """
    store = get_store()
    new_ids: list[int] = []
    with session_scope() as session:
        found = session.execute(
            select(RunAccount.status, StatementRun.id, StatementRun.cutoff, Company, Customer, Account)
            .join(StatementRun, StatementRun.id == RunAccount.run_id)
            .join(Account, Account.id == RunAccount.account_id)
            .join(Company, Company.id == Account.company_id)
            .join(Customer, Customer.id == Account.customer_id)
            .where(RunAccount.id == run_account_id)
        ).first()
        if found is None or found[0] != AccountStatus.PENDING:
            return AccountOutcome(run_account_id, Outcome.ALREADY_DONE)
        _, run_id, cutoff, company, customer, account = found
        work = _AccountWork(
            run_account_id=run_account_id,
            run_id=run_id,
            company_id=company.id,
            customer_id=customer.id,
            cutoff=cutoff,
            recipients=customer.recipients,
            language=customer.language or DEFAULT_LANGUAGE,
        )
        formats = customer.formats or list(EMAILED_FORMATS)
        statement = statement_for(session, company, customer, account, cutoff).in_language(work.language)
        finished = _finished_without_rendering(work, statement, formats, store)
        if finished is not None:
            outcomes, new_ids = _record_accounts(session, [finished])
    if finished is None:
        stored = ensure_rendered(statement, formats, store)
        with session_scope() as session:
            outcomes, new_ids = _record_accounts(session, [_Finished(work, statement.fingerprint, stored)])
    enqueue_sends(new_ids)
    if not new_ids:  # new emails are pending: the run cannot be settled yet
        refresh_run_if_settled(run_id)
    return outcomes[run_account_id]


@dataclass(frozen=True)
class _AccountWork:
    run_account_id: int
    run_id: int
    company_id: int
    customer_id: int
    cutoff: dt.date
    recipients: list[str]
    language: str


@dataclass(frozen=True)
class _Finished:
    """An account ready to be recorded: its statement's fingerprint and its files in the store (None: the statement
    has no lines, so nothing is stored or mailed)."""

    work: _AccountWork
    fingerprint: str
    stored: StoredStatement | None

    @property
    def status(self) -> str:
        if self.stored is None:
            return AccountStatus.SKIPPED
        return AccountStatus.DONE if self.work.recipients else AccountStatus.NO_RECIPIENTS

    @property
    def rendered(self) -> int:
        return self.stored.rendered if self.stored is not None else 0


def _finished_without_rendering(
    work: _AccountWork, statement: Statement, formats: Sequence[str], store: StatementStore
) -> _Finished | None:
    """The account as it can be recorded without rendering (no lines, or every file stored already), else None."""
    if not statement.has_lines:
        return _Finished(work, statement.fingerprint, None)
    keys = [StoreKey.for_statement(statement, fmt) for fmt in formats]
    if store.has_all(keys):
        return _Finished(work, statement.fingerprint, StoredStatement(statement, keys, 0))
    return None


def _record_accounts(session: Session, finished: Sequence[_Finished]) -> tuple[dict[int, AccountOutcome], list[int]]:
    """Mark the accounts (done, without recipients, skipped) and queue the emails of those that have any, in the
    caller's transaction; returns each account's outcome and the new emails' ids, to enqueue after the commit.

    Exactly once: one conditional UPDATE marks only the accounts still pending, and only the accounts it marked get
    their emails queued, in the same transaction (a batch delivered twice, or two workers on it, queue nothing
    twice; the outbox's unique key forbids a second email for a statement anyway)."""
    if not finished:
        return {}, []
    marked = _mark_accounts(
        session, [(one.work.run_account_id, one.status, one.fingerprint, one.rendered) for one in finished]
    )
    outcomes: dict[int, AccountOutcome] = {}
    to_mail: list[StatementEmails] = []
    for one in finished:
        run_account_id = one.work.run_account_id
        if run_account_id not in marked:
            outcomes[run_account_id] = AccountOutcome(run_account_id, Outcome.ALREADY_DONE, one.rendered)
            continue
        outcomes[run_account_id] = AccountOutcome(run_account_id, one.status, one.rendered)
        if one.stored is not None and one.work.recipients:
            work = one.work
            to_mail.append(
                StatementEmails(
                    work.run_id,
                    work.company_id,
                    work.customer_id,
                    work.cutoff,
                    work.recipients,
                    work.language,
                    one.stored,
                )
            )
    return outcomes, queue_many_statement_emails(session, to_mail)


def _mark_accounts(session: Session, marks: Sequence[tuple[int, str, str, int]]) -> set[int]:
    """Record (run account id, status, fingerprint, files rendered) of accounts still pending, in one UPDATE;
    returns the ids it marked (an account no longer pending is left as it is)."""
    if session.get_bind().dialect.name == "postgresql":
        # The marks as four arrays: one statement text whatever the batch (built and compiled once), four
        # parameters instead of a placeholder per id and per CASE branch (parsing those cost a rerun ~10 % of its
        # CPU at 100 accounts a batch).
        ids, statuses, fingerprints, rendered = (list(column) for column in zip(*marks, strict=True))
        parameters = {"ids": ids, "statuses": statuses, "fingerprints": fingerprints, "rendered": rendered}
        found = session.execute(_mark_from_arrays(), {**parameters, "now": utcnow()})
        return {int(run_account_id) for run_account_id in found.scalars()}
    values: dict[str, Any] = {}
    for position, name in ((1, "status"), (2, "fingerprint"), (3, "rendered")):
        distinct = {mark[position] for mark in marks}
        # One value for all (the status and files rendered of a rerun's batch), else one per account.
        if len(distinct) == 1:
            values[name] = distinct.pop()
        else:
            values[name] = case({mark[0]: mark[position] for mark in marks}, value=RunAccount.id)
    result = session.execute(
        update(RunAccount)
        .where(RunAccount.id.in_([mark[0] for mark in marks]), RunAccount.status == AccountStatus.PENDING)
        .values(error="", updated_at=utcnow(), **values)
        .returning(RunAccount.id)
        .execution_options(synchronize_session=False)
    )
    return {int(run_account_id) for run_account_id in result.scalars()}


@lru_cache(maxsize=1)
def _mark_from_arrays() -> Update:
    """PostgreSQL: `_mark_accounts` from the arrays ids, statuses, fingerprints, rendered (bound parameters) and now:
    UPDATE … FROM unnest(…), conditional on the account still pending, returning the ids it marked. Each account
    is found by its key: "still pending" is asked as `(…) IS true`, which the (run, status) index cannot answer (it
    would read every pending account of a run the statistics do not know yet, for each batch)."""
    marks = (
        func.unnest(
            bindparam("ids", type_=postgresql.ARRAY(Integer)),
            bindparam("statuses", type_=postgresql.ARRAY(String)),
            bindparam("fingerprints", type_=postgresql.ARRAY(String)),
            bindparam("rendered", type_=postgresql.ARRAY(Integer)),
        )
        .table_valued("id", "status", "fingerprint", "rendered")
        .render_derived(name="marks")
    )
    return (
        update(RunAccount)
        .where(RunAccount.id == marks.c.id, (RunAccount.status == AccountStatus.PENDING).is_(true()))
        .values(
            status=marks.c.status,
            fingerprint=marks.c.fingerprint,
            rendered=marks.c.rendered,
            error="",
            updated_at=bindparam("now", type_=RunAccount.updated_at.type),
        )
        .returning(RunAccount.id)
        .execution_options(synchronize_session=False)
    )


def _mark_account(
    session: Session, run_account_id: int, status: str, fingerprint: str, rendered: int, error: str = ""
) -> bool:
    result = session.execute(
        update(RunAccount)
        .where(RunAccount.id == run_account_id, RunAccount.status == AccountStatus.PENDING)
        .values(status=status, fingerprint=fingerprint, rendered=rendered, error=error, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _finish_account(
    run_id: int, run_account_id: int, status: str, fingerprint: str, rendered: int = 0, error: str = ""
) -> AccountOutcome:
    with session_scope() as session:
        marked = _mark_account(session, run_account_id, status, fingerprint, rendered, error)
    refresh_run_if_settled(run_id)
    return AccountOutcome(run_account_id, status if marked else Outcome.ALREADY_DONE, rendered)


def fail_account(run_account_id: int, error: str) -> None:
    """Record that an account could not be processed (bad data, a renderer error), so the run can finish."""
    with session_scope() as session:
        run_id = session.scalar(select(RunAccount.run_id).where(RunAccount.id == run_account_id))
    if run_id is not None:
        _finish_account(run_id, run_account_id, AccountStatus.FAILED, "", error=error[:2000])


# --- many accounts in one task ----------------------------------------------------------------------------


# What a batch reads of each pending account: plain rows (no ORM objects), the run's, the customer's recipients and
# formats, then the statement's head (`StatementHead`).
_BATCH_COLUMNS = (
    StatementRun.id,
    StatementRun.cutoff,
    Customer.statement_emails,
    Customer.statement_formats,
    *HEAD_COLUMNS,
)


@lru_cache(maxsize=2)
def _batch_query(dialect_name: str) -> tuple[KeyLookup, Select[Any]]:
    """The batch's accounts still pending, in the order of their ids: found by their ids one by one (`key_lookup`;
    joined to the run, the planner may read every account of the run through its index instead), then asked
    whether still pending."""
    columns = (RunAccount.id, RunAccount.run_id, RunAccount.account_id, RunAccount.status)
    accounts = key_lookup("batch_accounts", columns, (RunAccount.id,), dialect_name)
    found = accounts.rows.c
    return accounts, (
        select(found.id, *_BATCH_COLUMNS)
        .select_from(accounts.rows)
        .join(StatementRun, StatementRun.id == found.run_id)
        .join(Account, Account.id == found.account_id)
        .join(Company, Company.id == Account.company_id)
        .join(Customer, Customer.id == Account.customer_id)
        .where(found.status == AccountStatus.PENDING)
        .order_by(found.id)
    )


def process_accounts(run_account_ids: Sequence[int]) -> list[AccountOutcome]:
    """`process_account` for a batch of accounts (of one run or several), reading them in bulk: their rows in one
    query, their items in one more. Every account whose files the store holds already (a rerun) or that has no
    lines is recorded in one short transaction (`_record_accounts`: one UPDATE, one query for the emails it already
    has, an INSERT only for emails still missing); the others are rendered one by one outside any transaction and
    recorded in groups (`RECORD_EVERY`, `RECORD_SECONDS`). Exactly once as for one account: only a pending account
    is marked, by a conditional update, in the transaction that queues its emails.

    An account that cannot be built or rendered is recorded as failed and the batch goes on."""
    ids = sorted({int(run_account_id) for run_account_id in run_account_ids})
    outcomes = {run_account_id: AccountOutcome(run_account_id, Outcome.ALREADY_DONE) for run_account_id in ids}
    store = get_store()
    to_render: list[tuple[_AccountWork, Statement, list[str]]] = []
    failed: list[tuple[_AccountWork, str]] = []
    ready: list[_Finished] = []
    new_ids: list[int] = []
    run_ids: set[int] = set()
    with session_scope() as session:
        accounts, query = _batch_query(session.get_bind().dialect.name)
        found = session.execute(query, accounts.parameters([(run_account_id,) for run_account_id in ids])).all()
        rows = [
            (run_account_id, run_id, cutoff, StatementHead(*head), emails, formats)
            for run_account_id, run_id, cutoff, emails, formats, *head in found
        ]
        items = items_of(session, [(cutoff, head.company_id, head.customer_id) for _, _, cutoff, head, _, _ in rows])
        for run_account_id, run_id, cutoff, head, emails, statement_formats in rows:
            run_ids.add(run_id)
            work = _AccountWork(
                run_account_id=run_account_id,
                run_id=run_id,
                company_id=head.company_id,
                customer_id=head.customer_id,
                cutoff=cutoff,
                recipients=listed(emails),
                language=head.customer_language or DEFAULT_LANGUAGE,
            )
            formats = listed(statement_formats) or list(EMAILED_FORMATS)
            try:
                statement = head.statement(
                    cutoff, items.get((cutoff, head.company_id, head.customer_id), [])
                ).in_language(work.language)
            except Exception as error:  # bad data: recorded below, the batch goes on
                log.exception("account %s of a run failed", run_account_id)
                failed.append((work, f"{type(error).__name__}: {error}"))
                continue
            finished = _finished_without_rendering(work, statement, formats, store)
            if finished is not None:
                ready.append(finished)
            else:
                to_render.append((work, statement, formats))
        recorded, new_ids = _record_accounts(session, ready)
        outcomes.update(recorded)
    enqueue_sends(new_ids)
    for work, message in failed:
        outcomes[work.run_account_id] = _fail(work, message)
    rendered: list[tuple[_AccountWork, RenderedFiles]] = []
    recorded_at = time.monotonic()
    for position, (work, statement, formats) in enumerate(to_render, 1):
        try:
            rendered.append((work, render_missing(statement, formats, store)))
        except Exception as error:
            log.exception("account %s of a run failed", work.run_account_id)
            outcomes[work.run_account_id] = _fail(work, f"{type(error).__name__}: {error}")
        due = len(rendered) >= RECORD_EVERY and time.monotonic() - recorded_at >= RECORD_SECONDS
        if rendered and (due or position == len(to_render)):
            outcomes.update(_store_and_record(rendered, store))
            rendered = []
            recorded_at = time.monotonic()
    for run_id in sorted(run_ids):
        refresh_run_if_settled(run_id)
    return [outcomes[run_account_id] for run_account_id in ids]


# Rendered accounts of a batch are recorded at least this many and at least this long after the last record (or at
# the batch's end): one commit (a disk flush of the database), two flushes of the store and one email task for
# several accounts, and their emails still go out while the rest of the batch renders. Real statements take
# 0.1 s and more each, so a group is about ten accounts; statements that render at once (small XLSX files) are
# recorded about once a second instead of paying those flushes every ten accounts.
RECORD_EVERY = 10
RECORD_SECONDS = 1.0


def _store_and_record(
    rendered: list[tuple[_AccountWork, RenderedFiles]], store: StatementStore
) -> dict[int, AccountOutcome]:
    """Store the rendered files of several accounts (durable with one flush for all, before anything names them),
    then record the accounts in one transaction and enqueue their new emails."""
    try:
        store_rendered([files for _, files in rendered], store)
    except Exception as error:  # the store cannot take them (disk full): these accounts failed, the batch goes on
        log.exception("the files of %s accounts of a run could not be stored", len(rendered))
        return {work.run_account_id: _fail(work, f"{type(error).__name__}: {error}") for work, _ in rendered}
    with session_scope() as session:
        outcomes, new_ids = _record_accounts(
            session, [_Finished(work, files.stored.statement.fingerprint, files.stored) for work, files in rendered]
        )
    enqueue_sends(new_ids)
    return outcomes


def _fail(work: _AccountWork, error: str) -> AccountOutcome:
    with session_scope() as session:
        marked = _mark_account(session, work.run_account_id, AccountStatus.FAILED, "", 0, error[:2000])
    return AccountOutcome(work.run_account_id, AccountStatus.FAILED if marked else Outcome.ALREADY_DONE)
