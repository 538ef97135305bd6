"""Statement-mailing runs: starting one (`start`), one account's work (`account`), progress counted from the rows
(`progress`), each account's outcome and what was already mailed (`outcomes`), the sweeper that recovers lost work
(`sweeper`), the cut-off rules of the schedule (`schedule`), its tick with the runs held for stale data (`tick`)
and the administrator's actions (`admin`)."""

from shared.runs.account import AccountOutcome, fail_account, process_account, process_accounts
from shared.runs.admin import RunAction, RunActionError, cancel_run, resend_email, retry_failed
from shared.runs.outcomes import (
    AccountLine,
    EmailLine,
    Mailed,
    account_lines,
    mailed_before_start,
    mailed_in_run,
    outcome_counts,
    outcome_of,
)
from shared.runs.progress import (
    RunProgress,
    list_runs,
    refresh_run,
    refresh_run_if_settled,
    reopen_run,
    run_progress,
)
from shared.runs.schedule import RULES, DueRun, cutoff_for, due_runs, scheduled_run_key
from shared.runs.start import RunError, create_run, enqueue_run_accounts, start_run
from shared.runs.sweeper import SweepReport, sweep
from shared.runs.tick import held_runs, last_tick, recheck_holds, scheduled_tick, start_held_run, upcoming_runs

__all__ = [
    "RULES",
    "AccountLine",
    "AccountOutcome",
    "DueRun",
    "EmailLine",
    "Mailed",
    "RunAction",
    "RunActionError",
    "RunError",
    "RunProgress",
    "SweepReport",
    "account_lines",
    "cancel_run",
    "create_run",
    "cutoff_for",
    "due_runs",
    "enqueue_run_accounts",
    "fail_account",
    "held_runs",
    "last_tick",
    "list_runs",
    "mailed_before_start",
    "mailed_in_run",
    "outcome_counts",
    "outcome_of",
    "process_account",
    "process_accounts",
    "recheck_holds",
    "refresh_run",
    "refresh_run_if_settled",
    "reopen_run",
    "resend_email",
    "retry_failed",
    "run_progress",
    "scheduled_run_key",
    "scheduled_tick",
    "start_held_run",
    "start_run",
    "sweep",
    "upcoming_runs",
]
