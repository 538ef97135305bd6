"""Failed sign-ins counted per account and per IP address, shared by every web process.

Counters live in Redis (one atomic INCR + EXPIRE in a Lua script) or, on embedded defaults, in small files
under `var/ratelimit` guarded by an exclusive lock. After a few failures each attempt waits longer before the
password is even checked (1 s, 2 s, 4 s ... up to 30 s): an attacker slows to a crawl and the owner is never
locked out. The forgotten-password flow has its own, gentler counter: a flood from one address only postpones
its emails, nothing is refused; the answer a person sees is always the same.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shared.settings import Settings


class CounterStore(Protocol):
    def hit(self, key: str, window_seconds: int) -> int:
        """Add one to `key` and return the new count; the count is forgotten `window_seconds` after its first hit."""
        ...

    def count(self, key: str) -> int: ...

    def clear(self, key: str) -> None: ...


_INCREMENT_SCRIPT = """
local value = redis.call('INCR', KEYS[1])
if value == 1 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return value
"""


class RedisCounterStore:
    """Counters in Redis, atomic across processes and machines."""

    def __init__(self, url: str, *, key_prefix: str = "edocta") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._increment = self._redis.register_script(_INCREMENT_SCRIPT)
        self._prefix = f"{key_prefix}:ratelimit:"

    def hit(self, key: str, window_seconds: int) -> int:
        return int(self._increment(keys=[self._prefix + key], args=[int(window_seconds)]))

    def count(self, key: str) -> int:
        value = self._redis.get(self._prefix + key)
        return int(value) if value is not None else 0

    def clear(self, key: str) -> None:
        self._redis.delete(self._prefix + key)


class FileCounterStore:
    """Counters in files (embedded defaults: several local processes, no Redis). One lock file per key."""

    def __init__(self, folder: Path, *, clock: object = time.time) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._clock = clock

    def _now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    def _path(self, key: str) -> Path:
        return self.folder / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")

    def _update(self, key: str, change: int | None, window_seconds: int = 0) -> int:
        path = self._path(key)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            raw = handle.read()
            try:
                data = json.loads(raw) if raw else {}
            except ValueError:
                data = {}
            now = self._now()
            count = int(data.get("count", 0))
            if float(data.get("expires", 0)) <= now:
                count = 0
            if change is None:
                if count == 0:
                    data = {}
                return count
            if change == 0:
                count, expires = 0, 0.0
            else:
                expires = float(data["expires"]) if count > 0 else now + window_seconds
                count += change
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"count": count, "expires": expires}))
            return count

    def hit(self, key: str, window_seconds: int) -> int:
        return self._update(key, 1, window_seconds)

    def count(self, key: str) -> int:
        return self._update(key, None)

    def clear(self, key: str) -> None:
        self._update(key, 0)


def create_counter_store(settings: Settings, *, key_prefix: str = "edocta") -> CounterStore:
    if settings.redis_url:
        return RedisCounterStore(settings.redis_url, key_prefix=key_prefix)
    return FileCounterStore(settings.var_dir / "ratelimit" / key_prefix)


def _account_key(username: str) -> str:
    digest = hashlib.sha256(username.strip().casefold().encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"signin:user:{digest}"


def _ip_key(ip: str) -> str:
    return f"signin:ip:{ip or 'unknown'}"


@dataclass
class LoginThrottle:
    """Growing delays for failed sign-ins; counters are per account and per IP address."""

    store: CounterStore
    account_free_failures: int = 5
    ip_free_failures: int = 20
    max_delay: float = 30.0
    window_seconds: int = 15 * 60
    forgot_free_per_ip: int = 10
    forgot_max_delay: int = 15 * 60
    forgot_window_seconds: int = 60 * 60

    def _delay_after(self, failures: int, free: int) -> float:
        if failures < free:
            return 0.0
        return float(min(self.max_delay, 2 ** (failures - free)))

    def attempt(self, username: str, ip: str) -> float:
        """Count a sign-in attempt on the account (before its password is checked, so parallel guesses slow each
        other down too) and return the seconds to wait before checking it."""
        earlier = self.store.hit(_account_key(username), self.window_seconds) - 1
        by_ip = self.store.count(_ip_key(ip))
        return max(
            self._delay_after(earlier, self.account_free_failures), self._delay_after(by_ip, self.ip_free_failures)
        )

    def failed(self, username: str, ip: str) -> None:
        """A failed attempt also counts against the address it came from."""
        self.store.hit(_ip_key(ip), self.window_seconds)

    def succeeded(self, username: str) -> None:
        """The owner got in: the account's count starts again."""
        self.store.clear(_account_key(username))

    def forgot_delay(self, ip: str) -> int:
        """Seconds to postpone the email of a forgotten-password request from this address (0: send now).

        Gentle on purpose: the request is never refused, so nobody can lock the owner out of the reset flow;
        a flood from one address only slows its own emails (15 s, 30 s, 60 s ... up to 15 minutes)."""
        count = self.store.hit(f"forgot:ip:{ip or 'unknown'}", self.forgot_window_seconds)
        if count <= self.forgot_free_per_ip:
            return 0
        return int(min(self.forgot_max_delay, 15 * 2 ** (count - self.forgot_free_per_ip - 1)))
