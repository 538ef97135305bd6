"""The Celery app of the worker and of beat: `celery -A worker.celery_app worker|beat|flower`.

Broker, serialization and routes come from `shared.task_client.celery_config` (the same settings every
publisher uses); this module adds what only a worker needs: reliability options, time limits, task events,
the schedule from `beat_schedule.py`, and the per-process setup after fork.

Queues: `render` (statements), `render_large` (statements over `LARGE_STATEMENT_LINES` lines; run that worker
with `--max-memory-per-child`), `mail` (emails), `celery` (runs, the schedule tick, the sweeper).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from celery import Celery, signals
from celery.schedules import crontab

import beat_schedule
from shared.settings import get_settings
from shared.tasks import broker_folders, celery_config

log = logging.getLogger(__name__)


def _beat_entries() -> dict[str, dict[str, Any]]:
    """`beat_schedule.ENTRIES` (plain data) as Celery's beat_schedule."""
    entries: dict[str, dict[str, Any]] = {}
    for name, entry in beat_schedule.ENTRIES.items():
        schedule: Any = crontab(**entry["cron"]) if "cron" in entry else float(entry["every_seconds"])
        entries[name] = {
            "task": entry["task"],
            "schedule": schedule,
            "args": tuple(entry.get("args", ())),
            "options": {"expires": entry["expires_seconds"]} if "expires_seconds" in entry else {},
        }
    return entries


def create_celery_app() -> Celery:
    settings = get_settings()
    app = Celery("edocta", include=["worker.tasks", "worker.account_tasks"])
    app.conf.update(celery_config(settings))
    app.conf.update(
        # A task is acknowledged when it has finished, and put back if its process dies: every task here is
        # idempotent (a unique key in the database decides whether its work was already done).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=300,
        task_soft_time_limit=270,
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=True,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        beat_schedule=_beat_entries(),
    )
    return app


app = create_celery_app()


@signals.worker_process_init.connect
def _prepare_process(**_: Any) -> None:
    """After fork: fresh database connections and publishers, and WeasyPrint's per-process setup."""
    from shared.db import dispose_engines
    from shared.tasks import reset_clients

    dispose_engines()
    reset_clients()
    try:
        from shared.render.pdf import prepare_pdf_renderer
    except ImportError:  # the renderer is optional for a mail-only worker
        log.warning("PDF renderer not available in this worker process")
        return
    prepare_pdf_renderer()


def _presence_file(hostname: str) -> Path:
    return broker_folders(get_settings())["workers"] / hostname.replace("/", "_")


@signals.worker_ready.connect
def _announce_worker(sender: Any = None, **_: Any) -> None:
    """On the filesystem broker, workers announce themselves with a file (broadcasts are not reliable there)."""
    if get_settings().uses_embedded_broker and sender is not None:
        path = _presence_file(sender.hostname)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(os.getpid()))


@signals.worker_shutdown.connect
def _withdraw_worker(sender: Any = None, **_: Any) -> None:
    if get_settings().uses_embedded_broker and sender is not None:
        _presence_file(sender.hostname).unlink(missing_ok=True)
