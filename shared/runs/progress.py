"""A run's progress, counted from its rows: accounts by state and emails by state.

The counters are derived from the `RunAccount` rows and from the outbox rows of the run, so they are right
whatever order workers finish in; a run is done when no account is pending and none of its emails is pending
or being sent, and `failed` when any account or email failed. A cancelled run stays cancelled.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, exists, func, literal_column, or_, select, text, update
from sqlalchemy.orm import Session

from shared.clock import utcnow
from shared.db import session_scope
from shared.models import Company, OutboxEmail, RunAccount, StatementRun
from shared.models.runs import ACCOUNT_WAITING, EMAIL_WAITING
from shared.vocab import AccountStatus, EmailStatus, RunStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunProgress:
    id: int
    run_key: str
    cutoff: dt.date
    company_code: str | None
    trigger: str
    status: str
    created_at: dt.datetime
    finished_at: dt.datetime | None
    accounts: int
    accounts_pending: int
    rendered: int
    emails: int
    emails_pending: int
    sent: int
    failed: int
    failed_accounts: int
    skipped: int
    no_recipients: int
    done: int = 0  # accounts whose emails were queued (or had all been sent before)
    cancelled: int = 0  # accounts not processed because the run was cancelled
    emails_cancelled: int = 0
    cancelled_at: dt.datetime | None = None
    cancelled_by: str = ""

    @property
    def processed(self) -> int:
        return self.accounts - self.accounts_pending

    @property
    def finished(self) -> bool:
        return self.status != RunStatus.RUNNING

    @property
    def fraction(self) -> float:
        """Progress between 0 and 1: accounts processed and emails finished, over all of them."""
        total = self.accounts + self.emails
        if total == 0:
            return 1.0
        return (self.processed + self.emails - self.emails_pending) / total

    @property
    def company(self) -> str:
        return self.company_code or "all"


def _counts(session: Session, run_id: int) -> dict[str, int]:
    counts = {
        "accounts": 0,
        "accounts_pending": 0,
        "rendered": 0,
        "skipped": 0,
        "no_recipients": 0,
        "failed_accounts": 0,
        "done": 0,
        "cancelled": 0,
        "emails_cancelled": 0,
        "emails": 0,
        "emails_pending": 0,
        "sent": 0,
        "failed_emails": 0,
    }
    for status, number, rendered in session.execute(
        select(RunAccount.status, func.count(), func.coalesce(func.sum(RunAccount.rendered), 0))
        .where(RunAccount.run_id == run_id)
        .group_by(RunAccount.status)
    ):
        counts["accounts"] += number
        counts["rendered"] += int(rendered)
        if status == AccountStatus.PENDING:
            counts["accounts_pending"] += number
        elif status == AccountStatus.SKIPPED:
            counts["skipped"] += number
        elif status == AccountStatus.NO_RECIPIENTS:
            counts["no_recipients"] += number
        elif status == AccountStatus.FAILED:
            counts["failed_accounts"] += number
        elif status == AccountStatus.DONE:
            counts["done"] += number
        elif status == AccountStatus.CANCELLED:
            counts["cancelled"] += number
    for status, number in session.execute(
        select(OutboxEmail.status, func.count()).where(OutboxEmail.run_id == run_id).group_by(OutboxEmail.status)
    ):
        counts["emails"] += number
        if status in (EmailStatus.PENDING, EmailStatus.SENDING):
            counts["emails_pending"] += number
        elif status == EmailStatus.SENT:
            counts["sent"] += number
        elif status == EmailStatus.FAILED:
            counts["failed_emails"] += number
        elif status == EmailStatus.CANCELLED:
            counts["emails_cancelled"] += number
    return counts


# A done or failed run has nothing pending (else it would be running): its counters, stored by `refresh_run` when it
# finished and again whenever an action reopens it (a resend, a retry), are read from its row, not counted from its
# accounts and emails (a pass over 100,000 rows each, for every finished run the runs table lists).
SETTLED = (RunStatus.DONE, RunStatus.FAILED)


def _stored_counts(run: StatementRun) -> dict[str, int]:
    return {
        "accounts": run.accounts,
        "accounts_pending": 0,
        "rendered": run.rendered,
        "skipped": run.skipped,
        "no_recipients": run.no_recipients,
        "failed_accounts": run.failed_accounts,
        "done": run.done_accounts,
        "cancelled": run.cancelled_accounts,
        "emails_cancelled": run.cancelled_emails,
        "emails": run.emails,
        "emails_pending": 0,
        "sent": run.sent,
        "failed_emails": run.failed - run.failed_accounts,
    }


def _counts_of(session: Session, run: StatementRun) -> dict[str, int]:
    """A run's counters: from its row when it is settled, else counted from its rows now."""
    return _stored_counts(run) if run.status in SETTLED else _counts(session, run.id)


def _status_for(counts: dict[str, int], stored: str = RunStatus.RUNNING) -> str:
    if stored == RunStatus.CANCELLED:
        return RunStatus.CANCELLED
    if counts["accounts_pending"] or counts["emails_pending"]:
        return RunStatus.RUNNING
    if counts["failed_emails"] or counts["failed_accounts"]:
        return RunStatus.FAILED
    return RunStatus.DONE


def _progress(run: StatementRun, company_code: str | None, counts: dict[str, int]) -> RunProgress:
    return RunProgress(
        id=run.id,
        run_key=run.run_key,
        cutoff=run.cutoff,
        company_code=company_code,
        trigger=run.trigger,
        status=_status_for(counts, run.status),
        created_at=run.created_at,
        finished_at=run.finished_at,
        accounts=counts["accounts"],
        accounts_pending=counts["accounts_pending"],
        rendered=counts["rendered"],
        emails=counts["emails"],
        emails_pending=counts["emails_pending"],
        sent=counts["sent"],
        failed=counts["failed_emails"] + counts["failed_accounts"],
        failed_accounts=counts["failed_accounts"],
        skipped=counts["skipped"],
        no_recipients=counts["no_recipients"],
        done=counts["done"],
        cancelled=counts["cancelled"],
        emails_cancelled=counts["emails_cancelled"],
        cancelled_at=run.cancelled_at,
        cancelled_by=run.cancelled_by,
    )


def refresh_run(run_id: int) -> RunProgress | None:
    """Recount a run from its rows and store the counters and status (done when nothing is pending)."""
    with session_scope() as session:
        # Take the run's row lock first: refreshes queue up, so the last one counts every committed change.
        locked = session.execute(
            update(StatementRun)
            .where(StatementRun.id == run_id)
            .values(status=StatementRun.status)
            .execution_options(synchronize_session=False)
        )
        if locked.rowcount != 1:  # type: ignore[attr-defined]
            return None
        run = session.get(StatementRun, run_id)
        assert run is not None
        counts = _counts(session, run_id)
        status = _status_for(counts, run.status)
        finished_at = run.finished_at
        if status == RunStatus.CANCELLED:
            finished_at = run.finished_at or run.cancelled_at
        elif status != RunStatus.RUNNING and (run.status == RunStatus.RUNNING or finished_at is None):
            finished_at = utcnow()
        elif status == RunStatus.RUNNING:
            finished_at = None
        session.execute(
            update(StatementRun)
            .where(StatementRun.id == run_id)
            .values(
                status=status,
                finished_at=finished_at,
                accounts=counts["accounts"],
                rendered=counts["rendered"],
                sent=counts["sent"],
                failed=counts["failed_emails"] + counts["failed_accounts"],
                skipped=counts["skipped"],
                no_recipients=counts["no_recipients"],
                done_accounts=counts["done"],
                failed_accounts=counts["failed_accounts"],
                cancelled_accounts=counts["cancelled"],
                emails=counts["emails"],
                cancelled_emails=counts["emails_cancelled"],
            )
            .execution_options(synchronize_session=False)
        )
        if status != RunStatus.RUNNING and run.status == RunStatus.RUNNING:
            log.info("run %s finished: %s", run_id, status)
        company_code = (
            session.scalar(select(Company.code).where(Company.id == run.company_id)) if run.company_id else None
        )
        session.expire(run)
        run = session.get(StatementRun, run_id)
        assert run is not None
        return _progress(run, company_code, counts)


def refresh_run_if_settled(run_id: int) -> RunProgress | None:
    """Refresh the run when nothing of it is pending any more (called after each account and email).

    Each caller checks after its own commit, so the last one to finish sees everything and closes the run;
    the live views count from the rows anyway, and the sweeper refreshes running runs too.
    """
    with session_scope() as session:
        # One round trip (it runs after every email): either kind of work still waiting keeps the run open.
        pending = session.scalar(_still_pending(session.get_bind().dialect.name), {"run_id": run_id})
    if pending:
        return None
    return refresh_run(run_id)


@lru_cache(maxsize=2)
def _still_pending(dialect: str) -> Select[tuple[bool]]:
    """Whether a run (bound parameter `run_id`) has an account pending or an email pending or being sent.

    On PostgreSQL: a run takes its accounts and sends its emails oldest first, so each question is asked of the
    newest rows, and the next only when it found none waiting: is the run's newest account pending (while its
    accounts are being processed, it is); is any email waiting (once they are all processed, the newest are), and
    only then, is any account pending. The last two read an index of the waiting rows alone. An index keeps the
    entries a row done left behind until VACUUM: read from the oldest end, as this query did before, every check
    walked the entries of the rows done so far (7 ms a check at 100,000 accounts, one after every task).

    Each reads the newest row of the runs up to this one, in the order of its index, and checks that it is this
    run's: a plan that sorts the rows instead would sort every row of those runs, so the planner takes the index
    even when its statistics do not know this run yet (it sorted "the few rows" of this run otherwise).
    """
    run_id = bindparam("run_id", type_=RunAccount.run_id.type)
    if dialect == "sqlite":
        # SQLite changes an index entry in place, leaving none behind, and without statistics its planner read the
        # form below through the index of the status, sorting every waiting email: the run's waiting rows are
        # looked up in the indexes of (run_id, status).
        return select(
            or_(
                exists().where(RunAccount.run_id == run_id, RunAccount.status == AccountStatus.PENDING),
                exists().where(
                    OutboxEmail.run_id == run_id, OutboxEmail.status.in_([EmailStatus.PENDING, EmailStatus.SENDING])
                ),
            )
        )
    one: ColumnElement[int] = literal_column("1")  # written out: a generic plan would not know a parameter's limit

    def newest(table: type[RunAccount] | type[OutboxEmail], read: Any, *where: Any) -> Any:
        """`read` of the newest row (`where`) of the runs up to this one, by the table's index (run_id, id)."""
        return (
            select(read)
            .where(table.run_id <= run_id, *where)
            .order_by(table.run_id.desc(), table.id.desc())
            .limit(one)
            .scalar_subquery()
        )

    this_run_pending = (RunAccount.run_id == run_id) & (RunAccount.status == AccountStatus.PENDING)
    return select(
        or_(
            newest(RunAccount, this_run_pending),
            newest(OutboxEmail, OutboxEmail.run_id, text(EMAIL_WAITING)) == run_id,
            newest(RunAccount, RunAccount.run_id, text(ACCOUNT_WAITING)) == run_id,
        )
    )


def reopen_run(run_id: int) -> None:
    """A resend adds work to a finished run: count it as running again until that email is settled."""
    refresh_run(run_id)


def run_progress(session: Session, run_id: int) -> RunProgress | None:
    """The live progress of one run (counted from its rows now)."""
    row = session.execute(
        select(StatementRun, Company.code)
        .outerjoin(Company, Company.id == StatementRun.company_id)
        .where(StatementRun.id == run_id)
    ).first()
    if row is None:
        return None
    run, company_code = row
    return _progress(run, company_code, _counts_of(session, run))


def list_runs(session: Session, limit: int = 20) -> list[RunProgress]:
    """The most recent runs, newest first, with live counters (for the ops page and `edocta runs`)."""
    rows = session.execute(
        select(StatementRun, Company.code)
        .outerjoin(Company, Company.id == StatementRun.company_id)
        .order_by(StatementRun.id.desc())
        .limit(limit)
    ).all()
    return [_progress(run, company_code, _counts_of(session, run)) for run, company_code in rows]
