"""The embedded broker: kombu's filesystem transport, made safe for many writers and readers at once.

kombu's own transport creates a message file and then writes into it, so a worker listing the folder in between
takes an empty or half-written file, fails to decode it and dies (`Unrecoverable error: JSONDecodeError`). Here a
message is written under a temporary name that no reader looks at (a leading dot, no `.msg` suffix), flushed,
and renamed into place: a `.msg` file is always complete. A reader that still meets a file it cannot decode
(written by an older producer, or damaged on disk) logs it and moves it to the `broken` folder beside the
processed one, and goes on with the next message; an exchange table being rewritten is read again.

Every file is created readable by its owner only (0600), whatever the umask.

Celery uses it through `broker_transport` (`shared.tasks.celery_config`) with the `filesystem://` URL.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path
from queue import Empty
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

log = logging.getLogger(__name__)

TRANSPORT_PATH = "shared.transport:Transport"
BROKEN_FOLDER = "broken"
# A file that is still empty this many seconds after it appeared is taken as damaged, not as being written.
EMPTY_GRACE_SECONDS = 5.0
# Files a reader must never take: temporary names start with this.
TEMPORARY_PREFIX = ".tmp-"


def write_atomically(folder: str | os.PathLike[str], name: str, data: bytes) -> Path:
    """Write `data` to `folder/name` so a reader sees either nothing or the whole file (0600)."""
    final = Path(folder) / name
    temporary = Path(folder) / f"{TEMPORARY_PREFIX}{uuid.uuid4().hex}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb", buffering=0) as handle:
            handle.write(data)
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return final


class Channel(filesystem.Channel):
    """Filesystem channel whose messages appear whole or not at all."""

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        try:
            write_atomically(self.data_folder_out, name, str_to_bytes(dumps(payload)))
        except OSError as exc:
            raise ChannelError(f"Cannot add file {name!r} to directory") from exc

    def _get(self, queue: str, timeout: Any = None) -> Any:
        """The oldest complete message of `queue`; an undecodable one is moved aside, never raised."""
        wanted = f"{queue}.msg"
        folder_in = self.data_folder_in
        for filename in sorted(os.listdir(folder_in)):
            if filename.startswith(".") or filename.partition(".")[2] != wanted:
                continue
            source = os.path.join(folder_in, filename)
            try:
                status = os.stat(source)
            except OSError:
                continue  # taken by another consumer meanwhile
            if status.st_size == 0 and time.time() - status.st_mtime < EMPTY_GRACE_SECONDS:
                continue  # an older producer may still be writing it: look again later
            processed = self.processed_folder if self.store_processed else self._private_tmp()
            try:
                shutil.move(source, processed)  # a rename on one disk: exactly one consumer gets it
            except OSError:
                continue
            taken = os.path.join(processed, filename)
            try:
                with open(taken, "rb") as handle:
                    payload = handle.read()
                if not self.store_processed:
                    os.remove(taken)
            except OSError as exc:
                raise ChannelError(f"Cannot read file {taken!r} from queue.") from exc
            try:
                message = loads(bytes_to_str(payload))
                if not isinstance(message, dict) or not isinstance(message.get("properties"), dict):
                    raise ValueError("not a kombu message")
            except (ValueError, UnicodeDecodeError) as error:
                self._set_aside(taken, payload, error)
                continue
            return message
        raise Empty()

    def _private_tmp(self) -> str:
        folder = Path(self.data_folder_in).parent / "taken"
        folder.mkdir(mode=0o700, exist_ok=True)
        return str(folder)

    def _set_aside(self, taken: str, payload: bytes, error: Exception) -> None:
        broken = Path(self.data_folder_in).parent / BROKEN_FOLDER
        name = os.path.basename(taken)
        log.error("broker message %s could not be read (%s, %d bytes); moved to %s", name, error, len(payload), broken)
        try:
            broken.mkdir(mode=0o700, exist_ok=True)
            if os.path.exists(taken):
                os.replace(taken, broken / name)
            else:
                write_atomically(broken, name, payload)
        except OSError:
            log.exception("could not keep the unreadable message %s", name)

    def get_table(self, exchange: str) -> list[Any]:
        """The exchange's bindings; a table caught while it is rewritten is read again (never a crash)."""
        for attempt in range(20):
            try:
                return list(super().get_table(exchange))
            except (json.JSONDecodeError, ValueError):
                time.sleep(0.01 * (attempt + 1))
        log.error("exchange table %s unreadable; delivering to no queue", exchange)
        return []


class Transport(filesystem.Transport):
    """kombu's filesystem transport with `Channel` above (same options: data folders, processed, control)."""

    Channel = Channel
    # The state of the virtual transport is per transport class: keep it apart from kombu's own.
    global_state = filesystem.virtual.BrokerState()
