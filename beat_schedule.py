"""The schedule, as data. `edocta beat` (exactly one beat process, ever) reads it through worker/celery_app.py.

A rule's run is due at 06:00 in `EDOCTA_TIMEZONE` on its run days. Beat ticks every `SCHEDULE_TICK_SECONDS`
(`EDOCTA_SCHEDULE_TICK_SECONDS`, default 300); each tick starts every run that became due since the schedule
first ticked (at most `EDOCTA_SCHEDULE_CATCHUP_DAYS` back) and has none yet, one per due rule, for the
companies that follow it (`Company.schedule`), so a tick missed while beat was down is caught up
(shared/runs/tick.py, which also holds a company's run back while its data is stale):

| rule          | runs on                         | cut-off                          |
| ------------- | ------------------------------- | -------------------------------- |
| `monthly`     | the 1st (the default)           | the last day of the previous month |
| `semimonthly` | the 16th and the 1st            | the 15th; the previous month end |
| `weekly`      | Monday                          | the Sunday before                |
| `daily`       | every day                       | yesterday                        |

Each run has a key like `scheduled:monthly:2026-11-30`, unique in the database: a tick delivered twice, or
a second beat started by mistake, starts no second run.

The drop folder's scan (every `IMPORT_SCAN_SECONDS`) claims the complete ERP batches and enqueues their imports.

The sweeper (every minute) re-enqueues emails and accounts whose messages were lost (a worker killed, a
broker restarted), retries emails whose back-off has passed, and closes finished runs.

This module imports nothing heavy: it is data.
"""

from __future__ import annotations

import os
from typing import Any

from shared.vocab import ScheduleRule, Task

RUN_HOUR = 6
RUN_MINUTE = 0

# Cut-off rules, by the value of Company.schedule: on which days a run starts, and which cut-off it covers.
RULES = {
    ScheduleRule.MONTHLY: {"runs_on": "day 1", "cutoff": "last day of the previous month"},
    ScheduleRule.SEMIMONTHLY: {"runs_on": "days 1 and 16", "cutoff": "the 15th, or the last day of the previous month"},
    ScheduleRule.WEEKLY: {"runs_on": "Monday", "cutoff": "the previous Sunday"},
    ScheduleRule.DAILY: {"runs_on": "every day", "cutoff": "yesterday"},
}
DEFAULT_RULE = ScheduleRule.MONTHLY

SCHEDULE_TICK_SECONDS = float(os.environ.get("EDOCTA_SCHEDULE_TICK_SECONDS") or 300)
SWEEP_EVERY_SECONDS = float(os.environ.get("EDOCTA_SWEEP_SECONDS") or 60)
# The drop folder (EDOCTA_IMPORT_DIR) is scanned this often; the scan does nothing when the folder is unset.
IMPORT_SCAN_SECONDS = float(os.environ.get("EDOCTA_IMPORT_SCAN_SECONDS") or 30)

ENTRIES: dict[str, dict[str, Any]] = {
    "statement-runs": {
        "task": Task.SCHEDULED_TICK,
        "every_seconds": SCHEDULE_TICK_SECONDS,
        "expires_seconds": max(SCHEDULE_TICK_SECONDS * 2, 60),
    },
    "import-folder": {
        "task": Task.SCAN_IMPORTS,
        "every_seconds": IMPORT_SCAN_SECONDS,
        "expires_seconds": max(IMPORT_SCAN_SECONDS * 2, 30),
    },
    "sweep-outbox": {
        "task": Task.SWEEP_OUTBOX,
        "every_seconds": SWEEP_EVERY_SECONDS,
        "expires_seconds": max(SWEEP_EVERY_SECONDS * 2, 30),
    },
}
