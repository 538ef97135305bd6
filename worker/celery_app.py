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
import time
from typing import Any

from celery import Celery, signals
from celery.schedules import crontab

import beat_schedule
from shared.broker import publish_worker_record, withdraw_worker_record
from shared.render.timings import set_process_role
from shared.settings import get_settings, restrict_file_modes
from shared.tasks import celery_config
from shared.vocab import ProcessRole

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
    restrict_file_modes(settings)  # `celery -A worker.celery_app` started directly: its files are private too
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


@signals.worker_init.connect
def _import_database_driver(**_: Any) -> None:
    """Import the configured database's driver (psycopg for PostgreSQL) in the worker's main process, before its
    pool starts: the pool's processes are forked from it and find it imported, where each imported it on its first
    task (~0.4 s of CPU for each process, again whenever the pool replaces one). Only a worker: beat and `celery
    inspect` (the compose health check) do not pay for it."""
    from sqlalchemy.engine import make_url

    try:
        make_url(get_settings().database_url).get_dialect().import_dbapi()
    except Exception as error:  # a bad URL or a missing driver: the first task that connects says so, as before
        log.warning("could not import the database driver before the pool starts: %s", type(error).__name__)


app = create_celery_app()
set_process_role(ProcessRole.WORKER)


@signals.worker_ready.connect
def _hangup_stops_the_worker(**_: Any) -> None:
    """SIGHUP (a closed terminal, a supervisor's stop) is a warm shutdown like SIGTERM, not Celery's restart into
    the background: the worker and its pool stop."""
    import signal

    signal.signal(signal.SIGHUP, signal.getsignal(signal.SIGTERM))


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


# What this worker says of itself at each heartbeat (set when it is ready).
_FACTS: dict[str, Any] = {}


def _describe_worker() -> dict[str, Any]:
    """This worker's record: its queues and concurrency, the tasks it runs now, how many it has processed."""
    from celery.worker import state

    active = [
        {"name": request.name, "started": request.time_start}
        for request in list(state.active_requests)
        if getattr(request, "name", None)
    ]
    return {
        **_FACTS,
        "active": active,
        "processed": int(state.all_total_count[0]),
        "processed_by_task": dict(state.total_count),
        "heartbeat": time.time(),
    }


def _publish() -> None:
    if not _FACTS:
        return
    try:
        publish_worker_record(_describe_worker())
    except Exception:  # the broker is down: the record waits for the next heartbeat
        log.debug("could not publish this worker's record", exc_info=True)


@signals.worker_ready.connect
def _announce_worker(sender: Any = None, **_: Any) -> None:
    """Say who this worker is (queues, concurrency) as soon as it is ready; heartbeats keep the record fresh."""
    if sender is None:
        return
    try:
        queues = sorted(queue.name for queue in sender.task_consumer.queues)
    except AttributeError:
        queues = sorted(sender.app.amqp.queues.consume_from or [])
    controller = getattr(sender, "controller", None)
    _FACTS.update(
        hostname=sender.hostname,
        pid=os.getpid(),
        queues=queues,
        concurrency=int(getattr(controller, "concurrency", 0) or 0),
        started=time.time(),
    )
    _publish()


@signals.heartbeat_sent.connect
def _heartbeat(**_: Any) -> None:
    _publish()


@signals.worker_shutdown.connect
def _withdraw_worker(sender: Any = None, **_: Any) -> None:
    if _FACTS:
        hostname = _FACTS["hostname"]
        _FACTS.clear()  # the last heartbeat ("offline") comes after this and must not bring the record back
        try:
            withdraw_worker_record(hostname)
        except Exception:
            log.debug("could not withdraw this worker's record", exc_info=True)
