"""Starting runs: a run record plus one `RunAccount` row per account in scope, committed before any task is
enqueued (one task per account, by id), from the command line, an admin, or the schedule's tick (`tick`)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator

from sqlalchemy import func, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.clock import today, utcnow
from shared.db import session_scope
from shared.models import Account, Company, OpenItem, RunAccount, StatementRun
from shared.models.base import AwareDateTime
from shared.statements import open_at
from shared.tasks import LARGE_RENDER_HARD_LIMIT, send_task
from shared.vocab import LARGE_STATEMENT_LINES, AccountStatus, Queue, RunStatus, Task, Trigger

log = logging.getLogger(__name__)


class RunError(ValueError):
    """A run that cannot start (unknown company, a cut-off in the future)."""


# --- starting runs ----------------------------------------------------------------------------------------


def start_run(cutoff: dt.date, *, company_code: str | None = None, trigger: str = Trigger.CLI) -> int:
    """Start a run for every account (or one company's) at `cutoff`; returns the run id.

    Each call is a new run (its key is unique); a run at a cut-off that was already mailed sends nothing new.
    """
    if cutoff > today():
        raise RunError(f"the cut-off {cutoff.isoformat()} is in the future")
    company_ids: list[int] | None = None
    company_id: int | None = None
    if company_code is not None:
        with session_scope() as session:
            company_id = session.scalar(select(Company.id).where(Company.code == company_code))
        if company_id is None:
            raise RunError(f"no company {company_code!r}")
        company_ids = [company_id]
    run_id, _ = create_run(
        cutoff,
        run_key=f"{trigger}:{uuid.uuid4().hex}",
        trigger=trigger,
        company_ids=company_ids,
        company_id=company_id,
    )
    return run_id


def create_run(
    cutoff: dt.date,
    *,
    run_key: str,
    trigger: str,
    company_ids: list[int] | None,
    company_id: int | None = None,
) -> tuple[int, bool]:
    """Create the run and its accounts in one transaction, then enqueue one task per account.

    Returns (run id, created). When a run with `run_key` exists already, nothing is created or enqueued.
    """
    try:
        with session_scope() as session:
            run = StatementRun(run_key=run_key, cutoff=cutoff, company_id=company_id, trigger=trigger)
            session.add(run)
            session.flush()
            # The run's accounts are copied by the database itself (no list of them in this process).
            account_query = select(
                literal(run.id),
                Account.id,
                literal(AccountStatus.PENDING),
                literal(""),
                literal(0),
                literal(""),
                literal(utcnow(), AwareDateTime()),
            )
            if company_ids is not None:
                account_query = account_query.where(Account.company_id.in_(company_ids))
            session.execute(
                insert(RunAccount).from_select(
                    ["run_id", "account_id", "status", "fingerprint", "rendered", "error", "updated_at"],
                    account_query.order_by(Account.id),
                )
            )
            # Counted, not the cursor's rowcount: psycopg reports -1 for an INSERT ... SELECT sent this way.
            accounts = session.scalar(select(func.count()).where(RunAccount.run_id == run.id)) or 0
            now = utcnow()
            run.accounts = accounts
            if not accounts:
                run.status = RunStatus.DONE
                run.finished_at = now
            run_id = run.id
    except IntegrityError:
        with session_scope() as session:
            existing = session.scalar(select(StatementRun.id).where(StatementRun.run_key == run_key))
        if existing is None:
            raise
        log.info("run %s already exists (%s): nothing started", existing, run_key)
        return existing, False
    log.info("run %s (%s) created for cut-off %s with %s accounts", run_id, run_key, cutoff, accounts)
    enqueue_run_accounts(run_id)
    return run_id, True


def _large_accounts(session: Session, cutoff: dt.date, account_ids: list[int] | None = None) -> set[int]:
    """Accounts whose statement at `cutoff` has more than LARGE_STATEMENT_LINES lines."""
    query = (
        select(Account.id)
        .join(OpenItem, (OpenItem.company_id == Account.company_id) & (OpenItem.customer_id == Account.customer_id))
        .where(open_at(cutoff))
        .group_by(Account.id)
        .having(func.count(OpenItem.id) > LARGE_STATEMENT_LINES)
    )
    if account_ids is not None:
        query = query.where(Account.id.in_(account_ids))
    return set(session.scalars(query))


# While enqueueing a large run, look this often whether it was cancelled meanwhile.
CANCEL_CHECK_EVERY = 500
# A run's accounts go out in batches (one task each, read in bulk) of at most this many accounts, and small runs
# one account per task: a batch is about 1/BATCHES_PER_RUN of the run, so every worker process still gets work.
MAX_BATCH = 100
BATCHES_PER_RUN = 64


def batch_size(accounts: int) -> int:
    """How many accounts one task takes in a run of `accounts` (1: one `process_account` task each)."""
    return max(1, min(MAX_BATCH, accounts // BATCHES_PER_RUN))


def _cancelled(run_id: int) -> bool:
    with session_scope() as session:
        return session.scalar(select(StatementRun.status).where(StatementRun.id == run_id)) == RunStatus.CANCELLED


def enqueue_run_accounts(run_id: int, run_account_ids: list[int] | None = None) -> int:
    """Enqueue the account tasks of a run (all its pending accounts, or these); returns how many.

    A cancelled run enqueues nothing more: the check is repeated every `CANCEL_CHECK_EVERY` tasks."""
    with session_scope() as session:
        run = session.get(StatementRun, run_id)
        if run is None or run.status == RunStatus.CANCELLED:
            return 0
        cutoff = run.cutoff
        pending = select(func.count()).where(RunAccount.run_id == run_id, RunAccount.status == AccountStatus.PENDING)
        if run_account_ids is not None:
            pending = pending.where(RunAccount.id.in_(run_account_ids))
        total = int(session.scalar(pending) or 0)
    size = batch_size(total)
    batch: list[int] = []
    position = 0
    for run_account_id, _account_id, large in _pending_accounts(run_id, cutoff, run_account_ids):
        if position and position % CANCEL_CHECK_EVERY == 0 and _cancelled(run_id):
            log.info("run %s was cancelled: %s of %s accounts enqueued", run_id, position - len(batch), total)
            return position - len(batch)
        position += 1
        if large:
            send_task(
                Task.PROCESS_ACCOUNT,
                (run_account_id,),
                queue=Queue.RENDER_LARGE,
                time_limit=LARGE_RENDER_HARD_LIMIT,
                soft_time_limit=LARGE_RENDER_HARD_LIMIT - 60,
            )
        elif size == 1:
            send_task(Task.PROCESS_ACCOUNT, (run_account_id,))
        else:
            batch.append(run_account_id)
            if len(batch) == size:
                send_task(Task.PROCESS_ACCOUNTS, (batch,))
                batch = []
    if batch:
        send_task(Task.PROCESS_ACCOUNTS, (batch,))
    return position


# The pending accounts of a run are read this many at a time (each page in its own short transaction).
PAGE = 5000


def _pending_accounts(
    run_id: int, cutoff: dt.date, run_account_ids: list[int] | None
) -> Iterator[tuple[int, int, bool]]:
    """(run account id, account id, large?) of a run's pending accounts (or of these), in id order, a page at a
    time: a run of any size is never one list in memory nor one long transaction."""
    after = 0
    while True:
        with session_scope() as session:
            query = select(RunAccount.id, RunAccount.account_id).where(
                RunAccount.run_id == run_id, RunAccount.status == AccountStatus.PENDING, RunAccount.id > after
            )
            if run_account_ids is not None:
                query = query.where(RunAccount.id.in_(run_account_ids))
            page = session.execute(query.order_by(RunAccount.id).limit(PAGE)).all()
            if not page:
                return
            large = _large_accounts(session, cutoff, [account_id for _, account_id in page])
        for run_account_id, account_id in page:
            yield run_account_id, account_id, account_id in large
        after = page[-1][0]
