"""Starting background work by task name (`shared.vocab.Task`), without importing the worker.

The web app, the command line and beat start tasks through `send_task`; only the worker imports the task
code. The broker comes from the settings: Redis when `EDOCTA_REDIS_URL` is set, otherwise kombu's filesystem
transport under `var/broker`, so separate processes on one machine share the queues with no service installed.

`celery_config()` is the one place that says how to reach the broker and where each task goes; the worker's
Celery app (worker/celery_app.py) starts from it and adds what only a worker needs.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from celery import Celery
from kombu import Queue as KombuQueue

from shared.settings import Settings, get_settings
from shared.transport import TRANSPORT_PATH
from shared.vocab import QUEUES, Queue, Task

# Hard time limits (seconds) per task; the soft limit is a little shorter, so a task can give up cleanly.
HARD_TIME_LIMITS: dict[str, int] = {
    Task.START_RUN: 600,
    Task.SCHEDULED_TICK: 600,
    Task.PROCESS_ACCOUNT: 300,
    Task.PROCESS_ACCOUNTS: 1500,
    Task.SEND_EMAIL: 120,
    Task.SEND_EMAILS: 1500,  # up to EMAILS_PER_TASK emails, each allowed what one alone would be
    Task.SEND_DISPUTE_EMAIL: 120,
    Task.SWEEP_OUTBOX: 300,
    Task.RENDER_ON_DEMAND: 1200,
    Task.SEND_INVITATION: 120,
    Task.SEND_PASSWORD_RESET: 120,
    Task.SEND_PASSWORD_CHANGED: 120,
    Task.SCAN_IMPORTS: 120,
    Task.IMPORT_BATCH: 1800,  # 200,000 open items take about a minute; see bench/import
}
# A statement on the large-statement queue may take this long (thousands of lines of PDF).
LARGE_RENDER_HARD_LIMIT = 1800
LONGEST_HARD_LIMIT = max([*HARD_TIME_LIMITS.values(), LARGE_RENDER_HARD_LIMIT])
# A message taken but not acknowledged (worker lost) comes back after this many seconds (Redis). It must be
# longer than any task may run, or a task still running would be handed to a second worker.
VISIBILITY_TIMEOUT = LONGEST_HARD_LIMIT * 2

TASK_ROUTES = {
    Task.PROCESS_ACCOUNT: {"queue": Queue.RENDER},
    Task.PROCESS_ACCOUNTS: {"queue": Queue.RENDER},
    Task.RENDER_ON_DEMAND: {"queue": Queue.ON_DEMAND},
    Task.SEND_EMAIL: {"queue": Queue.MAIL},
    Task.SEND_EMAILS: {"queue": Queue.MAIL},
    Task.SEND_DISPUTE_EMAIL: {"queue": Queue.MAIL},
    "edocta.accounts.*": {"queue": Queue.MAIL},
    Task.START_RUN: {"queue": Queue.DEFAULT},
    Task.SCHEDULED_TICK: {"queue": Queue.DEFAULT},
    Task.SWEEP_OUTBOX: {"queue": Queue.DEFAULT},
    Task.SCAN_IMPORTS: {"queue": Queue.DEFAULT},
    Task.IMPORT_BATCH: {"queue": Queue.DEFAULT},
}


def broker_folders(settings: Settings) -> dict[str, Path]:
    """The filesystem transport's folders (producers and consumers share one message folder)."""
    root = settings.broker_dir
    return {
        "messages": root / "messages",
        "processed": root / "processed",
        "control": root / "control",
        "workers": root / "workers",
    }


def celery_config(settings: Settings | None = None) -> dict[str, Any]:
    """Broker, serialization and routing settings shared by every process that talks to the queues."""
    settings = settings or get_settings()
    config: dict[str, Any] = {
        "broker_url": settings.broker_url,
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        "task_default_queue": Queue.DEFAULT,
        "task_queues": [KombuQueue(name, routing_key=name) for name in QUEUES],
        "task_routes": TASK_ROUTES,
        "task_ignore_result": True,
        "timezone": settings.timezone,
        "enable_utc": True,
        "task_send_sent_event": True,
    }
    if settings.uses_embedded_broker:
        folders = broker_folders(settings)
        for folder in folders.values():
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # kombu's filesystem transport, with messages written whole (shared/transport.py).
        config["broker_transport"] = TRANSPORT_PATH
        config["broker_transport_options"] = {
            "data_folder_in": str(folders["messages"]),
            "data_folder_out": str(folders["messages"]),
            # Taken messages are moved here (a rename on the same disk, so two consumers never both get one);
            # the sweeper clears old ones.
            "store_processed": True,
            "processed_folder": str(folders["processed"]),
            "control_folder": str(folders["control"]),
            "polling_interval": 0.2,
        }
    else:
        config["broker_transport_options"] = {"visibility_timeout": VISIBILITY_TIMEOUT}
        config["broker_pool_limit"] = 10
    return config


_CLIENTS: dict[tuple[str, str], Celery] = {}
_LOCK = threading.Lock()


def get_client() -> Celery:
    """A light Celery app for publishing (one per broker and var folder, built on first use)."""
    settings = get_settings()
    cache_key = (settings.broker_url, str(settings.broker_dir))
    with _LOCK:
        client = _CLIENTS.get(cache_key)
        if client is None:
            client = Celery("edocta-client", set_as_current=False)
            client.conf.update(celery_config(settings))
            _CLIENTS[cache_key] = client
    return client


def send_task(
    name: str,
    args: tuple[Any, ...] | list[Any] = (),
    kwargs: dict[str, Any] | None = None,
    queue: str | None = None,
    **options: Any,
) -> str:
    """Enqueue task `name` (a `shared.vocab.Task`) and return its id.

    Arguments must be JSON: ids, ISO dates, short strings. `queue` overrides the route by name; other options
    (countdown, time_limit, soft_time_limit) go to Celery as they are.
    """
    if queue is not None:
        options["queue"] = queue
    result = get_client().send_task(name, args=list(args), kwargs=kwargs or {}, **options)
    return str(result.id)


def reset_clients() -> None:
    """Close the publishing connections (tests switching brokers, or after a fork)."""
    with _LOCK:
        while _CLIENTS:
            _, client = _CLIENTS.popitem()
            client.close()
