"""Celery tasks: thin adapters that parse their arguments (ids and ISO dates) and call one service in shared/.

Every task here is idempotent (a unique key or a conditional update in the database decides whether its work
was done), so all of them are acknowledged late and put back when their worker process dies.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from shared import disputes, feed, mail, render, runs
from shared.tasks import HARD_TIME_LIMITS
from shared.vocab import Outcome, Task
from worker.celery_app import app

log = logging.getLogger(__name__)


def _limits(name: str) -> dict[str, Any]:
    hard = HARD_TIME_LIMITS[name]
    return {"name": name, "time_limit": hard, "soft_time_limit": max(hard - 30, hard * 0.8), "acks_late": True}


@app.task(**_limits(Task.START_RUN))
def start_run(cutoff: str, company_code: str | None = None, trigger: str = "admin") -> int:
    return runs.start_run(dt.date.fromisoformat(cutoff), company_code=company_code, trigger=trigger)


@app.task(**_limits(Task.SCHEDULED_TICK))
def scheduled_tick() -> list[int]:
    return runs.scheduled_tick()


@app.task(**_limits(Task.PROCESS_ACCOUNT))
def process_account(run_account_id: int) -> str:
    try:
        outcome = runs.process_account(int(run_account_id))
    except SoftTimeLimitExceeded:
        runs.fail_account(int(run_account_id), "the statement took too long to render")
        raise
    except Exception as error:
        # A statement that cannot be built or rendered is recorded, so the run can finish and report it. A
        # database that is down cannot record it either: the account stays pending and the sweeper retries.
        log.exception("account %s of a run failed", run_account_id)
        runs.fail_account(int(run_account_id), f"{type(error).__name__}: {error}")
        raise
    return outcome.status


@app.task(**_limits(Task.PROCESS_ACCOUNTS))
def process_accounts(run_account_ids: list[int]) -> dict[str, int]:
    """A batch of accounts; an account that fails is recorded and the batch goes on. Past the soft time limit the
    batch stops: the accounts still pending are enqueued again by the sweeper."""
    outcomes = runs.process_accounts([int(run_account_id) for run_account_id in run_account_ids])
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts


def _follow_up(outcome: mail.SendOutcome) -> int | None:
    """After one statement email: a retry due soon is queued with its countdown (a later one is the sweeper's);
    the run whose state it may have settled, if any."""
    if (
        outcome.result == Outcome.RETRY
        and outcome.retry_in is not None
        and outcome.retry_in <= mail.COUNTDOWN_LIMIT_SECONDS
    ):
        send_statement_email.apply_async((outcome.outbox_id,), countdown=outcome.retry_in)
    return outcome.run_id if outcome.result != Outcome.NOT_CLAIMED else None


@app.task(**_limits(Task.SEND_EMAIL))
def send_statement_email(outbox_id: int) -> str:
    outcome = mail.send_statement_email(int(outbox_id))
    run_id = _follow_up(outcome)
    if run_id is not None:
        runs.refresh_run_if_settled(run_id)
    return outcome.result


@app.task(**_limits(Task.SEND_EMAILS))
def send_statement_emails(outbox_ids: list[int]) -> dict[str, int]:
    """Several statement emails over one SMTP connection; each as `send_statement_email`, the run's state checked
    once at the end."""
    counts: dict[str, int] = {}
    run_ids: set[int] = set()
    for outcome in mail.send_statement_emails([int(outbox_id) for outbox_id in outbox_ids]):
        counts[outcome.result] = counts.get(outcome.result, 0) + 1
        run_id = _follow_up(outcome)
        if run_id is not None:
            run_ids.add(run_id)
    for run_id in sorted(run_ids):
        runs.refresh_run_if_settled(run_id)
    return counts


@app.task(**_limits(Task.SEND_DISPUTE_EMAIL))
def send_dispute_email(email_id: int) -> str:
    outcome = disputes.send_dispute_email(int(email_id))
    if (
        outcome.result == Outcome.RETRY
        and outcome.retry_in is not None
        and outcome.retry_in <= mail.COUNTDOWN_LIMIT_SECONDS
    ):
        send_dispute_email.apply_async((email_id,), countdown=outcome.retry_in)
    return outcome.result


@app.task(**_limits(Task.SWEEP_OUTBOX))
def sweep_outbox() -> dict[str, int]:
    report = runs.sweep()
    return {"emails": report.emails, "accounts": report.accounts, "runs_finished": report.runs_finished}


@app.task(**_limits(Task.RENDER_ON_DEMAND))
def render_on_demand(
    company: str,
    customer: str,
    cutoff: str,
    fmt: str,
    language: str,
    start: str | None = None,
    user_id: int | None = None,
) -> str | None:
    first = dt.date.fromisoformat(start) if start else None
    key = render.render_on_demand(
        company, customer, dt.date.fromisoformat(cutoff), fmt, language, first, user_id=user_id
    )
    return None if key is None else key.as_string()


@app.task(**_limits(Task.SCAN_IMPORTS))
def scan_imports() -> list[int]:
    return feed.scan().enqueued


@app.task(**_limits(Task.IMPORT_BATCH))
def import_batch(import_id: int) -> str:
    return feed.import_batch(int(import_id))
