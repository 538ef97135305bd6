"""How many files each portal user has a worker preparing: at most `EDOCTA_RENDERS_PER_USER` (3) at once.

The portal takes a slot (named after the file) before it asks a worker for a file, and the worker gives it back
when the file is in the store. Asking again for a file already in preparation reuses its slot. A slot whose
worker never answered (a lost message) frees itself after `SLOT_LIFETIME`. The slots live in Redis (a sorted
set per user, changed by one Lua script) or, on embedded defaults, in one small file per user under
`var/ratelimit/renders`, changed under an exclusive lock; web processes and workers share them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from shared.settings import get_settings

# A slot not given back within this time (the worker died, the message was lost) is free again.
SLOT_LIFETIME = 10 * 60

# KEYS[1]: the user's set; ARGV: now, the slot's expiry, the limit, the slot's name, the set's lifetime.
_CLAIM_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[4]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
    return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


class SlotStore(Protocol):
    def claim(self, user_id: int, slot: str, limit: int) -> bool: ...

    def release(self, user_id: int, slot: str) -> None: ...

    def in_flight(self, user_id: int) -> int: ...


class RedisSlotStore:
    def __init__(self, url: str, *, key_prefix: str = "edocta") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._claim = self._redis.register_script(_CLAIM_SCRIPT)
        self._prefix = f"{key_prefix}:renders:user:"

    def claim(self, user_id: int, slot: str, limit: int) -> bool:
        now = time.time()
        args: list[float | int | str] = [now, now + SLOT_LIFETIME, limit, slot, SLOT_LIFETIME]
        return bool(self._claim(keys=[f"{self._prefix}{user_id}"], args=args))

    def release(self, user_id: int, slot: str) -> None:
        self._redis.zrem(f"{self._prefix}{user_id}", slot)

    def in_flight(self, user_id: int) -> int:
        key = f"{self._prefix}{user_id}"
        return int(self._redis.zcount(key, time.time(), "+inf"))


class FileSlotStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def _slots(self, user_id: int) -> Iterator[dict[str, float]]:
        """The user's live slots, locked; what the block leaves in the dict is written back."""
        path = self.folder / f"{int(user_id)}.json"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                slots = {str(k): float(v) for k, v in json.loads(handle.read() or "{}").items()}
            except (ValueError, AttributeError):
                slots = {}
            now = time.time()
            slots = {name: expires for name, expires in slots.items() if expires > now}
            yield slots
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(slots))

    def claim(self, user_id: int, slot: str, limit: int) -> bool:
        with self._slots(user_id) as slots:
            if slot not in slots and len(slots) >= limit:
                return False
            slots[slot] = time.time() + SLOT_LIFETIME
            return True

    def release(self, user_id: int, slot: str) -> None:
        with self._slots(user_id) as slots:
            slots.pop(slot, None)

    def in_flight(self, user_id: int) -> int:
        with self._slots(user_id) as slots:
            return len(slots)


@lru_cache(maxsize=4)
def _store(redis_url: str | None, var_dir: str) -> SlotStore:
    if redis_url:
        return RedisSlotStore(redis_url)
    return FileSlotStore(Path(var_dir) / "ratelimit" / "renders")


def slot_store() -> SlotStore:
    """The slots of this installation (Redis when configured, else files under var/)."""
    settings = get_settings()
    return _store(settings.redis_url, str(settings.var_dir))


def slot_name(store_key: str) -> str:
    return hashlib.sha256(store_key.encode()).hexdigest()[:32]


class TooManyRenders(Exception):
    """The user already has `limit` files in preparation: this one is not asked for."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} files already in preparation")
        self.limit = limit
