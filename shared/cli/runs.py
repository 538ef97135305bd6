"""`edocta run` and `edocta runs`: start a run, watch its progress bar, and read runs as tables in a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable

import click
from sqlalchemy import select

from shared.cli.base import UserError, parse_date
from shared.cli.signals import raise_if_stopping
from shared.clock import local_minute
from shared.db import session_scope
from shared.mail import run_failed_emails
from shared.models import Account, Company, Customer, RunAccount
from shared.runs import RunError, RunProgress, list_runs, run_progress, start_run
from shared.vocab import AccountStatus, Trigger

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
            local_minute(run.created_at),
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
            .where(
                RunAccount.run_id == run_id, RunAccount.status.in_([AccountStatus.FAILED, AccountStatus.NO_RECIPIENTS])
            )
            .order_by(Company.code, Customer.number)
        ).all()
    lines = [
        f"run {progress.id}  cut-off {progress.cutoff.isoformat()}  company {progress.company}  "
        f"trigger {progress.trigger}  status {progress.status}",
        f"created {local_minute(progress.created_at)}"
        + (f"  finished {local_minute(progress.finished_at)}" if progress.finished_at else ""),
        f"progress {progress_bar(progress)}",
        f"accounts {progress.accounts}: processed {progress.processed}, skipped (no lines) {progress.skipped}, "
        f"no recipients {progress.no_recipients}, failed {progress.failed_accounts}",
        f"files rendered {progress.rendered}",
        f"emails {progress.emails}: sent {progress.sent}, failed {progress.failed - progress.failed_accounts}, "
        f"waiting {progress.emails_pending}",
    ]
    failures = [row for row in account_rows if row.status == AccountStatus.FAILED]
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
    missing = [row for row in account_rows if row.status == AccountStatus.NO_RECIPIENTS]
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
        raise_if_stopping()
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


@click.command("run")
@click.option("--cutoff", required=True, help="Cut-off date, YYYY-MM-DD.")
@click.option("--company", default=None, help="Only this company's accounts.")
@click.option("--wait", is_flag=True, help="Show progress until the run is done.")
def run_command(cutoff: str, company: str | None, wait: bool) -> None:
    """Start a statement-mailing run now (what beat does on schedule)."""
    cutoff_date = parse_date(cutoff, "--cutoff")
    try:
        run_id = start_run(cutoff_date, company_code=company, trigger=Trigger.CLI)
    except RunError as error:
        raise UserError(str(error)) from None
    click.echo(f"run {run_id} started for cut-off {cutoff_date.isoformat()}")
    if wait:
        ok = watch_run(run_id)
        if not ok:
            sys.exit(1)


@click.command("runs")
@click.argument("action", required=False, type=click.Choice(["show"]))
@click.argument("run_id", required=False, type=int)
def runs_command(action: str | None, run_id: int | None) -> None:
    """List runs, or `runs show ID` for one run's progress and failures."""
    if action == "show":
        if run_id is None:
            raise UserError("usage: edocta runs show ID")
        text = describe_run(run_id)
        if text is None:
            raise UserError(f"no run {run_id}")
        click.echo(text)
    else:
        click.echo(list_runs_table())
