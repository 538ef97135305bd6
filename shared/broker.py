"""The broker as the operators see it: messages waiting per queue, the workers that answer, and the upkeep of
the filesystem broker's folders (embedded defaults)."""

from __future__ import annotations

import logging
import os
import time

from shared.settings import get_settings
from shared.tasks import broker_folders, get_client
from shared.vocab import QUEUES

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
                pid = int(path.read_text().strip() or 0)
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
