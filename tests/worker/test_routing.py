"""Where work goes: statements over LARGE_STATEMENT_LINES lines to their own queue, emails to the mail queue;
and the broker views of the ops page on the filesystem broker (no worker: nothing answers, nothing hangs).
"""

from __future__ import annotations

from pathlib import Path

from shared.broker import live_workers, queue_lengths
from shared.runs import start_run
from shared.tasks import send_task
from shared.vocab import LARGE_STATEMENT_LINES, Task
from tests.factories import CUTOFF, CustomerSpec, add_company, add_customers


def test_large_statements_go_to_their_own_queue_and_emails_to_the_mail_queue(
    sqlite_database: str, var_dir: Path
) -> None:
    add_company("1000", "Tinacos del Bajío")
    big = tuple((f"F{k}", "2026-10-01", "1.00", "MXN") for k in range(LARGE_STATEMENT_LINES + 1))
    edge = tuple((f"F{k}", "2026-10-01", "1.00", "MXN") for k in range(LARGE_STATEMENT_LINES))
    add_customers(
        "1000",
        [
            CustomerSpec("1", "Grande", "a@grande.example", items=big),
            CustomerSpec("2", "Justo en el límite", "b@limite.example", items=edge),
            CustomerSpec("3", "Pequeño", "c@chico.example", items=(("F1", "2026-10-01", "1.00", "MXN"),)),
        ],
    )
    assert queue_lengths() == {"celery": 0, "render": 0, "render_large": 0, "mail": 0, "on_demand": 0}

    start_run(CUTOFF)
    send_task(Task.SEND_EMAIL, (1,))
    send_task(
        Task.RENDER_ON_DEMAND,
        kwargs={"company": "1000", "customer": "1", "cutoff": "2026-10-31", "fmt": "pdf", "language": "es"},
    )
    send_task(Task.SWEEP_OUTBOX)

    assert queue_lengths() == {"celery": 1, "render": 2, "render_large": 1, "mail": 1, "on_demand": 1}
    assert live_workers() == []
