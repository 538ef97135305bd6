"""One account of a run: compute its statement, render the files the store lacks, and queue its emails.

Each account task ends the account in a recorded state: `skipped` (no lines), `no_recipients` (rendered and
stored, reported), `done` (its emails are queued in the outbox in the same transaction), or `failed` (with the
error). The task is idempotent: only a pending account is processed, by a conditional update.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.clock import utcnow
from shared.db import session_scope
from shared.mail import enqueue_sends, queue_statement_emails
from shared.models import Account, Company, Customer, OpenItem, RunAccount, StatementRun
from shared.render import StoredStatement, ensure_rendered
from shared.runs.progress import refresh_run_if_settled
from shared.statements import Statement, open_at, open_items_at, statement_for
from shared.statements.loading import StatementHead
from shared.store import StoreKey, get_store
from shared.vocab import DEFAULT_LANGUAGE, EMAILED_FORMATS, AccountStatus, Outcome

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccountOutcome:
    run_account_id: int
    status: str  # done | skipped | no_recipients | failed | already_done
    rendered: int = 0
    emails: int = 0


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
        stored: StoredStatement | None = None
        if not statement.has_lines:
            marked = _mark_account(session, run_account_id, AccountStatus.SKIPPED, statement.fingerprint, 0)
            outcome = AccountOutcome(run_account_id, AccountStatus.SKIPPED if marked else Outcome.ALREADY_DONE)
        else:
            keys = [StoreKey.for_statement(statement, fmt) for fmt in formats]
            if all(store.get(key) is not None for key in keys):
                stored = StoredStatement(statement, keys, 0)
                outcome, new_ids = _record_account(session, work, stored)
    if statement.has_lines and stored is None:
        stored = ensure_rendered(statement, formats, store)
        with session_scope() as session:
            outcome, new_ids = _record_account(session, work, stored)
    enqueue_sends(new_ids)
    if not new_ids:  # new emails are pending: the run cannot be settled yet
        refresh_run_if_settled(run_id)
    return outcome


@dataclass(frozen=True)
class _AccountWork:
    run_account_id: int
    run_id: int
    company_id: int
    customer_id: int
    cutoff: dt.date
    recipients: list[str]
    language: str


def _record_account(session: Session, work: _AccountWork, stored: StoredStatement) -> tuple[AccountOutcome, list[int]]:
    """Mark the account done (or without recipients) and queue its emails, in the caller's transaction."""
    status = AccountStatus.DONE if work.recipients else AccountStatus.NO_RECIPIENTS
    fingerprint = stored.statement.fingerprint
    if not _mark_account(session, work.run_account_id, status, fingerprint, stored.rendered):
        return AccountOutcome(work.run_account_id, Outcome.ALREADY_DONE, stored.rendered), []
    new_ids = queue_statement_emails(
        session,
        run_id=work.run_id,
        company_id=work.company_id,
        customer_id=work.customer_id,
        cutoff=work.cutoff,
        recipients=work.recipients,
        language=work.language,
        stored=stored,
    )
    return AccountOutcome(work.run_account_id, status, stored.rendered, len(new_ids)), new_ids


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


def process_accounts(run_account_ids: Sequence[int]) -> list[AccountOutcome]:
    """`process_account` for a batch of accounts (of one run or several), reading them in bulk: their rows in one
    query, their items in one more. Every account whose files the store holds already (a rerun) or that has no
    lines is recorded in one short transaction; the others are rendered one by one outside any transaction and
    each recorded in its own. Exactly once as for one account: only a pending account is marked, by a conditional
    update, in the transaction that queues its emails.

    An account that cannot be built or rendered is recorded as failed and the batch goes on."""
    ids = sorted({int(run_account_id) for run_account_id in run_account_ids})
    outcomes = {run_account_id: AccountOutcome(run_account_id, Outcome.ALREADY_DONE) for run_account_id in ids}
    store = get_store()
    to_render: list[tuple[_AccountWork, Statement, list[str]]] = []
    failed: list[tuple[_AccountWork, str]] = []
    new_ids: list[int] = []
    run_ids: set[int] = set()
    with session_scope() as session:
        found = session.execute(
            select(RunAccount.id, StatementRun.id, StatementRun.cutoff, Company, Customer, Account)
            .join(StatementRun, StatementRun.id == RunAccount.run_id)
            .join(Account, Account.id == RunAccount.account_id)
            .join(Company, Company.id == Account.company_id)
            .join(Customer, Customer.id == Account.customer_id)
            .where(RunAccount.id.in_(ids), RunAccount.status == AccountStatus.PENDING)
        ).all()
        items = _items_of(session, [(cutoff, company.id, customer.id) for _, _, cutoff, company, customer, _ in found])
        for run_account_id, run_id, cutoff, company, customer, account in found:
            run_ids.add(run_id)
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
            try:
                head = StatementHead.of(company, customer, account)
                statement = head.statement(cutoff, items.get((cutoff, company.id, customer.id), [])).in_language(
                    work.language
                )
            except Exception as error:  # bad data: recorded below, the batch goes on
                log.exception("account %s of a run failed", run_account_id)
                failed.append((work, f"{type(error).__name__}: {error}"))
                continue
            if not statement.has_lines:
                marked = _mark_account(session, run_account_id, AccountStatus.SKIPPED, statement.fingerprint, 0)
                outcomes[run_account_id] = AccountOutcome(
                    run_account_id, AccountStatus.SKIPPED if marked else Outcome.ALREADY_DONE
                )
                continue
            keys = [StoreKey.for_statement(statement, fmt) for fmt in formats]
            if all(store.get(key) is not None for key in keys):
                outcome, queued = _record_account(session, work, StoredStatement(statement, keys, 0))
                outcomes[run_account_id] = outcome
                new_ids += queued
            else:
                to_render.append((work, statement, formats))
    enqueue_sends(new_ids)
    for work, message in failed:
        outcomes[work.run_account_id] = _fail(work, message)
    rendered: list[tuple[_AccountWork, StoredStatement]] = []
    for position, (work, statement, formats) in enumerate(to_render, 1):
        try:
            rendered.append((work, ensure_rendered(statement, formats)))
        except Exception as error:
            log.exception("account %s of a run failed", work.run_account_id)
            outcomes[work.run_account_id] = _fail(work, f"{type(error).__name__}: {error}")
        if len(rendered) >= RECORD_EVERY or (rendered and position == len(to_render)):
            outcomes.update(_record_rendered(rendered))
            rendered = []
    for run_id in sorted(run_ids):
        refresh_run_if_settled(run_id)
    return [outcomes[run_account_id] for run_account_id in ids]


# Rendered accounts of a batch are recorded this many at a time: one commit (one disk flush of the database) for
# several accounts, and their emails still go out while the rest of the batch renders.
RECORD_EVERY = 10


def _record_rendered(rendered: list[tuple[_AccountWork, StoredStatement]]) -> dict[int, AccountOutcome]:
    """Record accounts whose files are in the store, in one transaction; then enqueue their new emails."""
    outcomes: dict[int, AccountOutcome] = {}
    new_ids: list[int] = []
    with session_scope() as session:
        for work, stored in rendered:
            outcomes[work.run_account_id], queued = _record_account(session, work, stored)
            new_ids += queued
    enqueue_sends(new_ids)
    return outcomes


def _fail(work: _AccountWork, error: str) -> AccountOutcome:
    with session_scope() as session:
        marked = _mark_account(session, work.run_account_id, AccountStatus.FAILED, "", 0, error[:2000])
    return AccountOutcome(work.run_account_id, AccountStatus.FAILED if marked else Outcome.ALREADY_DONE)


def _items_of(session: Session, wanted: list[tuple[dt.date, int, int]]) -> dict[tuple[dt.date, int, int], list[Any]]:
    """The open items of many (cut-off, company, customer) at once: one query per cut-off (a run has one)."""
    found: dict[tuple[dt.date, int, int], list[Any]] = defaultdict(list)
    by_cutoff: dict[dt.date, set[tuple[int, int]]] = defaultdict(set)
    for cutoff, company_id, customer_id in wanted:
        by_cutoff[cutoff].add((company_id, customer_id))
    for cutoff, pairs in by_cutoff.items():
        columns = open_items_at(OpenItem.company_id, OpenItem.customer_id, cutoff).selected_columns
        query = select(OpenItem.company_id, OpenItem.customer_id, *columns).where(
            OpenItem.customer_id.in_(sorted({customer for _, customer in pairs})),
            OpenItem.company_id.in_(sorted({company for company, _ in pairs})),
            open_at(cutoff),
        )
        for company_id, customer_id, *item in session.execute(query):
            if (company_id, customer_id) in pairs:
                found[(cutoff, company_id, customer_id)].append(_Item(*item))
    return found


@dataclass(frozen=True)
class _Item:
    """An open item as `open_items_at` reads it (the fields the statement rules and the line marks read)."""

    document_number: str
    document_type: str
    reference: str | None
    document_date: dt.date
    due_date: dt.date | None
    amount: Any
    currency: str
    cleared_on: dt.date | None
    # The marks (`shared.statements.marks.MARK_COLUMNS`): its invoice documents and an open dispute.
    has_pdf: bool = False
    has_xml: bool = False
    disputed: bool = False
