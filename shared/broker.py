"""The broker as the operators see it: messages waiting per queue, the workers that answer, what each worker
says of itself at every heartbeat (queues, concurrency, active tasks, processed counts), and the upkeep of the
filesystem broker's folders (embedded defaults).

Each worker writes its own record at every Celery heartbeat (`worker/celery_app.py`): on Redis a key that
expires when the heartbeats stop, on the filesystem broker its presence file. The ops pages read them at once,
without a broadcast that would wait for replies.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from shared.settings import get_settings
from shared.tasks import broker_folders, get_client
from shared.vocab import QUEUES

WORKER_KEY_PREFIX = "edocta:workers:"
# A record lives this long without a new heartbeat (Redis); a worker silent for STALE_AFTER seconds is shown so.
WORKER_RECORD_SECONDS = 600
STALE_AFTER_SECONDS = 15.0

log = logging.getLogger(__name__)


def clear_processed_messages(older_than_seconds: float = 3600) -> None:
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


def queue_lengths() -> dict[str, int]:
    """Messages waiting in each queue (Redis list lengths, or files on the filesystem broker)."""
    settings = get_settings()
    if settings.uses_embedded_broker:
        counts: dict[str, int] = {str(queue): 0 for queue in QUEUES}
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
                pid = _record_pid(path.read_text())
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


def _record_pid(text: str) -> int:
    """The pid in a presence file: a worker record (JSON), or a bare number."""
    text = text.strip()
    if text.startswith("{"):
        return int(json.loads(text).get("pid") or 0)
    return int(text or 0)


# --- what each worker says of itself ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveTask:
    name: str
    started_at: dt.datetime | None


@dataclass(frozen=True)
class WorkerRecord:
    """A worker as its last heartbeat described it."""

    hostname: str
    pid: int
    queues: list[str]
    concurrency: int
    active: list[ActiveTask]
    processed: int
    processed_by_task: dict[str, int]
    heartbeat_at: dt.datetime
    started_at: dt.datetime | None
    stale: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


_REDIS_CLIENTS: dict[str, Any] = {}
_REDIS_LOCK = threading.Lock()


def _redis(url: str) -> Any:
    import redis

    with _REDIS_LOCK:
        client = _REDIS_CLIENTS.get(url)
        if client is None:
            client = _REDIS_CLIENTS[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return client


def _presence_file(hostname: str) -> Any:
    return broker_folders(get_settings())["workers"] / hostname.replace("/", "_")


def publish_worker_record(record: dict[str, Any]) -> None:
    """Store a worker's description of itself (called by the worker at each heartbeat; JSON-able values)."""
    settings = get_settings()
    text = json.dumps(record, sort_keys=True)
    if settings.redis_url:
        _redis(settings.redis_url).set(WORKER_KEY_PREFIX + record["hostname"], text, ex=WORKER_RECORD_SECONDS)
        return
    path = _presence_file(record["hostname"])
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def withdraw_worker_record(hostname: str) -> None:
    """A worker going away says so (its record would otherwise linger until it expires)."""
    settings = get_settings()
    if settings.redis_url:
        _redis(settings.redis_url).delete(WORKER_KEY_PREFIX + hostname)
    else:
        _presence_file(hostname).unlink(missing_ok=True)


def _moment(value: Any) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(float(value), dt.UTC) if isinstance(value, int | float) else None


def _parse_record(text: str | bytes, now: float) -> WorkerRecord | None:
    try:
        data = json.loads(text)
        heartbeat = float(data["heartbeat"])
        return WorkerRecord(
            hostname=str(data["hostname"]),
            pid=int(data.get("pid") or 0),
            queues=[str(q) for q in data.get("queues", [])],
            concurrency=int(data.get("concurrency") or 0),
            active=[ActiveTask(str(t.get("name", "")), _moment(t.get("started"))) for t in data.get("active", [])],
            processed=int(data.get("processed") or 0),
            processed_by_task={str(k): int(v) for k, v in (data.get("processed_by_task") or {}).items()},
            heartbeat_at=dt.datetime.fromtimestamp(heartbeat, dt.UTC),
            started_at=_moment(data.get("started")),
            stale=now - heartbeat > STALE_AFTER_SECONDS,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def worker_records() -> list[WorkerRecord]:
    """Every worker that sent a heartbeat recently, by name (on the filesystem broker, those whose process lives)."""
    settings = get_settings()
    now = time.time()
    records: list[WorkerRecord] = []
    if settings.redis_url:
        client = _redis(settings.redis_url)
        keys = sorted(client.scan_iter(match=WORKER_KEY_PREFIX + "*", count=100))
        texts = client.mget(keys) if keys else []
        records = [r for r in (_parse_record(t, now) for t in texts if t) if r is not None]
    else:
        for path in sorted(broker_folders(settings)["workers"].glob("*")):
            if path.name.startswith("."):
                continue
            try:
                text = path.read_text()
                record = _parse_record(text, now)
                if record is None or record.pid <= 0:
                    continue
                os.kill(record.pid, 0)
            except PermissionError:
                pass  # alive, owned by another user
            except (OSError, ProcessLookupError):
                continue
            if record is not None:
                records.append(record)
    return sorted(records, key=lambda r: r.hostname)
