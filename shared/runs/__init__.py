"""Statement-mailing runs: starting one (`start`), one account's work (`account`), progress counted from the rows
(`progress`), the sweeper that recovers lost work (`sweeper`), the cut-off rules of the schedule (`schedule`) and
the administrator's actions (`admin`)."""

from shared.runs.account import AccountOutcome, fail_account, process_account
from shared.runs.admin import resend_email
from shared.runs.progress import (
    RunProgress,
    list_runs,
    refresh_run,
    refresh_run_if_settled,
    reopen_run,
    run_progress,
)
from shared.runs.schedule import RULES, DueRun, cutoff_for, due_runs, scheduled_run_key
from shared.runs.start import RunError, create_run, enqueue_run_accounts, scheduled_tick, start_run
from shared.runs.sweeper import SweepReport, sweep

__all__ = [
    "RULES",
    "AccountOutcome",
    "DueRun",
    "RunError",
    "RunProgress",
    "SweepReport",
    "create_run",
    "cutoff_for",
    "due_runs",
    "enqueue_run_accounts",
    "fail_account",
    "list_runs",
    "process_account",
    "refresh_run",
    "refresh_run_if_settled",
    "reopen_run",
    "resend_email",
    "run_progress",
    "scheduled_run_key",
    "scheduled_tick",
    "start_run",
    "sweep",
]
