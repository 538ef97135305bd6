"""Statement-mailing runs: start one, process each account, sweep what was lost, and report progress.

A run is a record plus one `RunAccount` row per account in scope, committed before any task is enqueued
(one task per account, by id). Each account task computes the statement and ends the account in a recorded
state: `skipped` (no lines), `no_recipients` (rendered and stored, reported), `done` (its emails are queued in
the outbox in the same transaction), or `failed` (with the error). The run's counters are derived from those
rows and from the outbox rows of the run, so they are right whatever order workers finish in; a run is done
when no account is pending and none of its emails is pending or being sent.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared import task_names
from shared.db import session_scope
from shared.models import Account, Company, Customer, OpenItem, OutboxEmail, RunAccount, StatementRun, utcnow
from shared.outbox import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    StoredStatement,
    enqueue_sends,
    ensure_rendered,
    queue_statement_emails,
    run_failed_emails,
    statement_in_language,
)
from shared.schedule import due_runs
from shared.settings import get_settings
from shared.statement import StatementNotFound, load_statement, statement_for
from shared.store import StoreKey, get_store
from shared.task_client import (
    LARGE_RENDER_HARD_LIMIT,
    QUEUES,
    broker_folders,
    get_client,
    send_task,
)

log = logging.getLogger(__name__)

ACCOUNT_PENDING, ACCOUNT_DONE, ACCOUNT_SKIPPED, ACCOUNT_NO_RECIPIENTS, ACCOUNT_FAILED = (
    "pending",
    "done",
    "skipped",
    "no_recipients",
    "failed",
)
RUN_RUNNING, RUN_DONE, RUN_FAILED = "running", "done", "failed"


class RunError(ValueError):
    """A run that cannot start (unknown company, a cut-off in the future)."""


# --- starting runs ----------------------------------------------------------------------------------------


def today_local() -> dt.date:
    return dt.datetime.now(ZoneInfo(get_settings().timezone)).date()


def start_run(cutoff: dt.date, *, company_code: str | None = None, trigger: str = "cli") -> int:
    """Start a run for every account (or one company's) at `cutoff`; returns the run id.

    Each call is a new run (its key is unique); a run at a cut-off that was already mailed sends nothing new.
    """
    if cutoff > today_local():
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
            account_query = select(Account.id)
            if company_ids is not None:
                account_query = account_query.where(Account.company_id.in_(company_ids))
            account_ids = list(session.scalars(account_query.order_by(Account.id)))
            now = utcnow()
            if account_ids:
                session.execute(
                    insert(RunAccount),
                    [
                        {
                            "run_id": run.id,
                            "account_id": account_id,
                            "status": ACCOUNT_PENDING,
                            "fingerprint": "",
                            "rendered": 0,
                            "error": "",
                            "updated_at": now,
                        }
                        for account_id in account_ids
                    ],
                )
            run.accounts = len(account_ids)
            if not account_ids:
                run.status = RUN_DONE
                run.finished_at = now
            run_id = run.id
    except IntegrityError:
        with session_scope() as session:
            existing = session.scalar(select(StatementRun.id).where(StatementRun.run_key == run_key))
        if existing is None:
            raise
        log.info("run %s already exists (%s): nothing started", existing, run_key)
        return existing, False
    log.info("run %s (%s) created for cut-off %s with %s accounts", run_id, run_key, cutoff, len(account_ids))
    enqueue_run_accounts(run_id)
    return run_id, True


def _large_accounts(session: Session, cutoff: dt.date, account_ids: list[int] | None = None) -> set[int]:
    """Accounts whose statement at `cutoff` has more than LARGE_STATEMENT_LINES lines."""
    query = (
        select(Account.id)
        .join(OpenItem, (OpenItem.company_id == Account.company_id) & (OpenItem.customer_id == Account.customer_id))
        .where(OpenItem.document_date <= cutoff, or_(OpenItem.cleared_on.is_(None), OpenItem.cleared_on > cutoff))
        .group_by(Account.id)
        .having(func.count(OpenItem.id) > task_names.LARGE_STATEMENT_LINES)
    )
    if account_ids is not None:
        query = query.where(Account.id.in_(account_ids))
    return set(session.scalars(query))


def enqueue_run_accounts(run_id: int, run_account_ids: list[int] | None = None) -> int:
    """Enqueue the account tasks of a run (all its pending accounts, or these); returns how many."""
    with session_scope() as session:
        run = session.get(StatementRun, run_id)
        if run is None:
            return 0
        query = select(RunAccount.id, RunAccount.account_id).where(
            RunAccount.run_id == run_id, RunAccount.status == ACCOUNT_PENDING
        )
        if run_account_ids is not None:
            query = query.where(RunAccount.id.in_(run_account_ids))
        pairs = session.execute(query.order_by(RunAccount.id)).all()
        large = _large_accounts(session, run.cutoff, [a for _, a in pairs] if run_account_ids is not None else None)
    for run_account_id, account_id in pairs:
        if account_id in large:
            send_task(
                task_names.PROCESS_ACCOUNT,
                (run_account_id,),
                queue=task_names.QUEUE_RENDER_LARGE,
                time_limit=LARGE_RENDER_HARD_LIMIT,
                soft_time_limit=LARGE_RENDER_HARD_LIMIT - 60,
            )
        else:
            send_task(task_names.PROCESS_ACCOUNT, (run_account_id,))
    return len(pairs)


def scheduled_tick(moment: dt.datetime | None = None) -> list[int]:
    """The beat tick: start the runs due now (one per due rule with companies on it); returns their ids.

    Safe to deliver twice: each run's key (`scheduled:<rule>:<cut-off>`) is unique.
    """
    moment = moment or utcnow()
    settings = get_settings()
    started = []
    for due in due_runs(moment, settings.timezone):
        with session_scope() as session:
            company_ids = list(session.scalars(select(Company.id).where(_follows_rule(due.rule))))
        if not company_ids:
            continue
        run_id, created = create_run(
            due.cutoff,
            run_key=due.run_key,
            trigger="schedule",
            company_ids=company_ids,
            company_id=company_ids[0] if len(company_ids) == 1 else None,
        )
        if created:
            started.append(run_id)
    return started


def _follows_rule(rule: str) -> ColumnElement[bool]:
    from shared.schedule import RULES

    if rule == "monthly":  # the default, also for an empty or unknown schedule
        return or_(Company.schedule == "monthly", Company.schedule.is_(None), Company.schedule.not_in(RULES))
    return Company.schedule == rule


# --- one account ------------------------------------------------------------------------------------------


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
        if found is None or found[0] != ACCOUNT_PENDING:
            return AccountOutcome(run_account_id, "already_done")
        _, run_id, cutoff, company, customer, account = found
        work = _AccountWork(
            run_account_id=run_account_id,
            run_id=run_id,
            company_id=company.id,
            customer_id=customer.id,
            cutoff=cutoff,
            recipients=customer.recipients,
            language=customer.language or "es",
        )
        formats = customer.formats or ["pdf", "xlsx"]
        statement = statement_in_language(statement_for(session, company, customer, account, cutoff), work.language)
        stored: StoredStatement | None = None
        if not statement.has_lines:
            marked = _mark_account(session, run_account_id, ACCOUNT_SKIPPED, statement.fingerprint, 0)
            outcome = AccountOutcome(run_account_id, ACCOUNT_SKIPPED if marked else "already_done")
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
    status = ACCOUNT_DONE if work.recipients else ACCOUNT_NO_RECIPIENTS
    fingerprint = stored.statement.fingerprint
    if not _mark_account(session, work.run_account_id, status, fingerprint, stored.rendered):
        return AccountOutcome(work.run_account_id, "already_done", stored.rendered), []
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
        .where(RunAccount.id == run_account_id, RunAccount.status == ACCOUNT_PENDING)
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
    return AccountOutcome(run_account_id, status if marked else "already_done", rendered)


def fail_account(run_account_id: int, error: str) -> None:
    """Record that an account could not be processed (bad data, a renderer error), so the run can finish."""
    with session_scope() as session:
        run_id = session.scalar(select(RunAccount.run_id).where(RunAccount.id == run_account_id))
    if run_id is not None:
        _finish_account(run_id, run_account_id, ACCOUNT_FAILED, "", error=error[:2000])


# --- progress ---------------------------------------------------------------------------------------------


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

    @property
    def processed(self) -> int:
        return self.accounts - self.accounts_pending

    @property
    def finished(self) -> bool:
        return self.status != RUN_RUNNING

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
        if status == ACCOUNT_PENDING:
            counts["accounts_pending"] += number
        elif status == ACCOUNT_SKIPPED:
            counts["skipped"] += number
        elif status == ACCOUNT_NO_RECIPIENTS:
            counts["no_recipients"] += number
        elif status == ACCOUNT_FAILED:
            counts["failed_accounts"] += number
    for status, number in session.execute(
        select(OutboxEmail.status, func.count()).where(OutboxEmail.run_id == run_id).group_by(OutboxEmail.status)
    ):
        counts["emails"] += number
        if status in (PENDING, SENDING):
            counts["emails_pending"] += number
        elif status == SENT:
            counts["sent"] += number
        elif status == FAILED:
            counts["failed_emails"] += number
    return counts


def _status_for(counts: dict[str, int]) -> str:
    if counts["accounts_pending"] or counts["emails_pending"]:
        return RUN_RUNNING
    if counts["failed_emails"] or counts["failed_accounts"]:
        return RUN_FAILED
    return RUN_DONE


def _progress(run: StatementRun, company_code: str | None, counts: dict[str, int]) -> RunProgress:
    return RunProgress(
        id=run.id,
        run_key=run.run_key,
        cutoff=run.cutoff,
        company_code=company_code,
        trigger=run.trigger,
        status=_status_for(counts),
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
        status = _status_for(counts)
        finished_at = run.finished_at
        if status != RUN_RUNNING and (run.status == RUN_RUNNING or finished_at is None):
            finished_at = utcnow()
        elif status == RUN_RUNNING:
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
            )
            .execution_options(synchronize_session=False)
        )
        if status != RUN_RUNNING and run.status == RUN_RUNNING:
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
        pending = session.scalar(
            select(RunAccount.id).where(RunAccount.run_id == run_id, RunAccount.status == ACCOUNT_PENDING).limit(1)
        ) or session.scalar(
            select(OutboxEmail.id)
            .where(OutboxEmail.run_id == run_id, OutboxEmail.status.in_([PENDING, SENDING]))
            .limit(1)
        )
    if pending is not None:
        return None
    return refresh_run(run_id)


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
    return _progress(run, company_code, _counts(session, run_id))


def list_runs(session: Session, limit: int = 20) -> list[RunProgress]:
    """The most recent runs, newest first, with live counters (for the ops page and `edocta runs`)."""
    rows = session.execute(
        select(StatementRun, Company.code)
        .outerjoin(Company, Company.id == StatementRun.company_id)
        .order_by(StatementRun.id.desc())
        .limit(limit)
    ).all()
    return [_progress(run, company_code, _counts(session, run.id)) for run, company_code in rows]


# --- the command line's views -----------------------------------------------------------------------------


RUN_COLUMNS = (
    "id",
    "cut-off",
    "company",
    "trigger",
    "status",
    "created",
    "accounts",
    "rendered",
    "sent",
    "failed",
    "skipped",
    "no recipients",
)


def _local(moment: dt.datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(get_settings().timezone)).strftime("%Y-%m-%d %H:%M")


def _table(header: Iterable[str], rows: list[list[str]]) -> str:
    header = list(header)
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * width for width in widths))
    for row in rows:
        lines.append("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def list_runs_table(limit: int = 50) -> str:
    """`edocta runs`: the latest runs as a table."""
    with session_scope() as session:
        runs = list_runs(session, limit)
    if not runs:
        return "no runs yet"
    rows = [
        [
            str(run.id),
            run.cutoff.isoformat(),
            run.company,
            run.trigger,
            run.status,
            _local(run.created_at),
            str(run.accounts),
            str(run.rendered),
            str(run.sent),
            str(run.failed),
            str(run.skipped),
            str(run.no_recipients),
        ]
        for run in runs
    ]
    return _table(RUN_COLUMNS, rows)


def describe_run(run_id: int) -> str | None:
    """`edocta runs show ID`: progress, then every failure with its reason, and who has no recipients."""
    with session_scope() as session:
        progress = run_progress(session, run_id)
        if progress is None:
            return None
        failed = run_failed_emails(session, run_id, limit=500)
        account_rows = session.execute(
            select(RunAccount.status, RunAccount.error, Company.code, Customer.number, Customer.name)
            .join(Account, Account.id == RunAccount.account_id)
            .join(Company, Company.id == Account.company_id)
            .join(Customer, Customer.id == Account.customer_id)
            .where(RunAccount.run_id == run_id, RunAccount.status.in_([ACCOUNT_FAILED, ACCOUNT_NO_RECIPIENTS]))
            .order_by(Company.code, Customer.number)
        ).all()
    lines = [
        f"run {progress.id}  cut-off {progress.cutoff.isoformat()}  company {progress.company}  "
        f"trigger {progress.trigger}  status {progress.status}",
        f"created {_local(progress.created_at)}"
        + (f"  finished {_local(progress.finished_at)}" if progress.finished_at else ""),
        f"progress {progress_bar(progress)}",
        f"accounts {progress.accounts}: processed {progress.processed}, skipped (no lines) {progress.skipped}, "
        f"no recipients {progress.no_recipients}, failed {progress.failed_accounts}",
        f"files rendered {progress.rendered}",
        f"emails {progress.emails}: sent {progress.sent}, failed {progress.failed - progress.failed_accounts}, "
        f"waiting {progress.emails_pending}",
    ]
    failures = [row for row in account_rows if row.status == ACCOUNT_FAILED]
    if failed or failures:
        lines.append("")
        lines.append("failures:")
        for email in failed:
            lines.append(
                f"  email {email.id}  {email.company_code}/{email.customer_number} {email.customer_name}  "
                f"to {email.recipient}: {email.last_error}"
            )
        for row in failures:
            lines.append(f"  account {row.code}/{row.number} {row.name}: {row.error}")
    missing = [row for row in account_rows if row.status == ACCOUNT_NO_RECIPIENTS]
    if missing:
        lines.append("")
        lines.append("no recipients (statement stored, not emailed):")
        for row in missing:
            lines.append(f"  {row.code}/{row.number} {row.name}")
    return "\n".join(lines)


def progress_bar(progress: RunProgress, width: int = 30) -> str:
    filled = round(progress.fraction * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] {progress.fraction * 100:5.1f}%"


def watch_run(
    run_id: int,
    *,
    poll_seconds: float = 0.5,
    timeout: float | None = None,
    write: Callable[[str], None] | None = None,
) -> bool:
    """Show a run's progress until it is finished; print a summary. True when every email went out.

    Returns False when something failed (or on `timeout`). Tells the user when no worker seems to be running.
    """
    out = write or _terminal_writer()
    interactive = write is None and sys.stdout.isatty()
    started = time.monotonic()
    last_line = ""
    last_change = time.monotonic()
    hinted = False
    while True:
        with session_scope() as session:
            progress = run_progress(session, run_id)
        if progress is None:
            out(f"no run {run_id}\n")
            return False
        line = (
            f"{progress_bar(progress)}  accounts {progress.processed}/{progress.accounts}  "
            f"emails sent {progress.sent}/{progress.emails}  failed {progress.failed}"
        )
        if line != last_line:
            out(("\r" + line) if interactive else line + "\n")
            last_line = line
            last_change = time.monotonic()
        if progress.finished:
            break
        if not hinted and time.monotonic() - last_change > 15:
            out(("\n" if interactive else "") + "waiting for a worker (start one with `edocta worker`)...\n")
            hinted = True
        if timeout is not None and time.monotonic() - started > timeout:
            out("\n" if interactive else "")
            return False
        time.sleep(poll_seconds)
    if interactive:
        out("\n")
    out(
        f"run {progress.id} {progress.status}: {progress.accounts} accounts, {progress.rendered} files rendered, "
        f"{progress.sent} emails sent, {progress.failed} failed, {progress.skipped} skipped (no lines), "
        f"{progress.no_recipients} without recipients\n"
    )
    if progress.failed:
        out(f"see `edocta runs show {progress.id}` for the reasons\n")
    return progress.failed == 0


def _terminal_writer() -> Callable[[str], None]:
    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    return write


# --- the sweeper ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepReport:
    emails: int
    accounts: int
    runs_finished: int


def sweep(now: dt.datetime | None = None, limit: int = 5000) -> SweepReport:
    """Enqueue again what waited too long (a lost message), due retries and expired leases; close finished runs."""
    now = now or utcnow()
    settings = get_settings()
    stale = now - dt.timedelta(seconds=settings.requeue_after_seconds)
    # A message still waiting in its queue is not lost: while a queue has messages, only what its workers cannot
    # be holding (expired leases) is enqueued again. A waiting run of many accounts is not duplicated this way.
    try:
        lengths = queue_lengths()
    except Exception as error:  # the broker is down: nothing can be enqueued now anyway
        log.warning("sweeper: the broker does not answer (%s); trying again at the next sweep", error)
        lengths = None
    renders_waiting = lengths is None or bool(
        lengths.get(task_names.QUEUE_RENDER, 0) + lengths.get(task_names.QUEUE_RENDER_LARGE, 0)
    )
    mail_waiting = lengths is None or bool(lengths.get(task_names.QUEUE_MAIL, 0))
    due_pending = (OutboxEmail.status == PENDING) & (OutboxEmail.next_attempt_at <= now)
    expired = (OutboxEmail.status == SENDING) & (OutboxEmail.lease_until < now)
    with session_scope() as session:
        email_ids = (
            list(
                session.scalars(
                    select(OutboxEmail.id)
                    .where(expired if mail_waiting else or_(due_pending, expired), OutboxEmail.updated_at <= stale)
                    .order_by(OutboxEmail.id)
                    .limit(limit)
                )
            )
            if lengths is not None
            else []
        )
        if email_ids:
            session.execute(
                update(OutboxEmail)
                .where(OutboxEmail.id.in_(email_ids), OutboxEmail.status == PENDING)
                .values(updated_at=now)
                .execution_options(synchronize_session=False)
            )
        stale_accounts = (
            session.execute(
                select(RunAccount.run_id, RunAccount.id)
                .where(RunAccount.status == ACCOUNT_PENDING, RunAccount.updated_at <= stale)
                .order_by(RunAccount.id)
                .limit(limit)
            ).all()
            if not renders_waiting
            else []
        )
        if stale_accounts:
            session.execute(
                update(RunAccount)
                .where(RunAccount.id.in_([ra_id for _, ra_id in stale_accounts]))
                .values(updated_at=now)
                .execution_options(synchronize_session=False)
            )
        running = list(session.scalars(select(StatementRun.id).where(StatementRun.status == RUN_RUNNING)))
    if email_ids:
        log.info("sweeper: enqueueing %s emails again", len(email_ids))
        enqueue_sends(email_ids)
    by_run: dict[int, list[int]] = {}
    for run_id, run_account_id in stale_accounts:
        by_run.setdefault(run_id, []).append(run_account_id)
    for run_id, ids in by_run.items():
        log.info("sweeper: enqueueing %s accounts of run %s again", len(ids), run_id)
        enqueue_run_accounts(run_id, ids)
    finished = 0
    for run_id in running:
        progress = refresh_run(run_id)
        if progress is not None and progress.finished:
            finished += 1
    if settings.uses_embedded_broker:
        _clear_processed_messages()
    return SweepReport(len(email_ids), len(stale_accounts), finished)


def _clear_processed_messages(older_than_seconds: float = 3600) -> None:
    folders = broker_folders(get_settings())
    limit = time.time() - older_than_seconds
    for path in folders["processed"].glob("*.msg"):
        try:
            if path.stat().st_mtime < limit:
                path.unlink()
        except FileNotFoundError:
            pass
    # Messages for queues nobody reads any more (a killed worker's control queue) are dropped after a day.
    ours = {f"{queue}.msg" for queue in QUEUES}
    day_ago = time.time() - 86400
    for path in folders["messages"].glob("*.msg"):
        try:
            if path.name.partition(".")[2] not in ours and path.stat().st_mtime < day_ago:
                path.unlink()
        except FileNotFoundError:
            pass


# --- the statement files on demand (the portal's PDFs and large XLSX) -------------------------------------


def render_on_demand(company: str, customer: str, cutoff: dt.date, fmt: str, language: str) -> StoreKey | None:
    """Render one statement file into the store unless it is there; returns its key (None: no such statement)."""
    with session_scope() as session:
        try:
            statement = load_statement(session, company, customer, cutoff)
        except StatementNotFound:
            log.warning("on-demand render: no statement %s/%s", company, customer)
            return None
    stored = ensure_rendered(statement_in_language(statement, language), [fmt])
    return stored.keys[0]


# --- the broker, for the ops page -------------------------------------------------------------------------


def queue_lengths() -> dict[str, int]:
    """Messages waiting in each queue (Redis list lengths, or files on the filesystem broker)."""
    settings = get_settings()
    if settings.uses_embedded_broker:
        counts = dict.fromkeys(QUEUES, 0)
        folder = broker_folders(settings)["messages"]
        for path in folder.glob("*.msg"):
            queue = path.name.partition(".")[2].removesuffix(".msg")
            if queue in counts:
                counts[queue] += 1
        return counts
    import redis

    client = redis.Redis.from_url(settings.redis_url or "", socket_timeout=2, socket_connect_timeout=2)
    try:
        counts = {}
        for queue in QUEUES:
            # kombu keeps priorities in separate lists: the queue's name, then name + separator + priority.
            total = int(client.llen(queue))
            for key in client.scan_iter(match=f"{queue}\x06\x16*", count=100):
                total += int(client.llen(key))
            counts[queue] = total
        return counts
    finally:
        client.close()


def live_workers(timeout: float = 1.0) -> list[str]:
    """Names of the workers that answer now (a ping with a short timeout; never hangs)."""
    settings = get_settings()
    if settings.uses_embedded_broker:
        names = []
        for path in sorted(broker_folders(settings)["workers"].glob("*")):
            try:
                pid = int(path.read_text().strip() or 0)
                if pid <= 0:
                    continue
                os.kill(pid, 0)
            except PermissionError:
                pass  # alive, owned by another user
            except (ValueError, ProcessLookupError, FileNotFoundError):
                continue
            names.append(path.name)
        return names
    try:
        replies = get_client().control.inspect(timeout=timeout).ping() or {}
    except Exception as error:  # the broker is down: no worker can be reached either
        log.warning("could not ping the workers: %s", error)
        return []
    return sorted(replies)
