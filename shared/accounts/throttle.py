"""Sign-in attempts counted per account and address pair, per address and per account, shared by every web
process.

Counters live in Redis (Lua scripts: every limit is checked and every counter incremented in one atomic step)
or, on embedded defaults, in small files under `var/ratelimit` guarded by one exclusive lock. An attempt is
counted before its password is checked, so parallel guesses use up the allowance as fast as serial ones; an
attempt over any limit is refused at once (429 with `Retry-After`), without checking the password and without
counting it anywhere, so one address's refused guesses never use up the account's own, looser, allowance: the
owner signing in from elsewhere still gets in. A successful sign-in gives its attempt back and clears the pair's
count. The forgotten-password flow has its own, gentler counter: a flood from one address only postpones its
emails, nothing is refused; the answer a person sees is always the same.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import time
from collections.abc import Iterator, Sequence
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

    def take(self, limits: Sequence[tuple[str, int]], window_seconds: int) -> tuple[str, float] | None:
        """If every `(key, limit)` is under its limit, add one to each and return None; otherwise change nothing
        and return the first full key with the seconds until its count is forgotten. Atomic."""
        ...

    def give_back(self, key: str) -> None:
        """Take one off `key` (never below zero)."""
        ...


_INCREMENT_SCRIPT = """
local value = redis.call('INCR', KEYS[1])
if value == 1 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return value
"""

# KEYS: the counters; ARGV[1]: the window in seconds, ARGV[1 + i]: the limit of KEYS[i].
_TAKE_SCRIPT = """
for i, key in ipairs(KEYS) do
    local value = tonumber(redis.call('GET', key) or '0')
    if value >= tonumber(ARGV[i + 1]) then
        local ttl = redis.call('PTTL', key)
        if ttl < 0 then
            redis.call('EXPIRE', key, ARGV[1])
            ttl = tonumber(ARGV[1]) * 1000
        end
        return {i, ttl}
    end
end
for i, key in ipairs(KEYS) do
    if redis.call('INCR', key) == 1 then
        redis.call('EXPIRE', key, ARGV[1])
    end
end
return {0, 0}
"""

_GIVE_BACK_SCRIPT = """
local value = tonumber(redis.call('GET', KEYS[1]) or '0')
if value > 0 then
    redis.call('DECR', KEYS[1])
end
return value
"""


class RedisCounterStore:
    """Counters in Redis, atomic across processes and machines."""

    def __init__(self, url: str, *, key_prefix: str = "edocta") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._increment = self._redis.register_script(_INCREMENT_SCRIPT)
        self._take = self._redis.register_script(_TAKE_SCRIPT)
        self._give_back = self._redis.register_script(_GIVE_BACK_SCRIPT)
        self._prefix = f"{key_prefix}:ratelimit:"

    def hit(self, key: str, window_seconds: int) -> int:
        return int(self._increment(keys=[self._prefix + key], args=[int(window_seconds)]))

    def count(self, key: str) -> int:
        value = self._redis.get(self._prefix + key)
        return int(value) if value is not None else 0

    def clear(self, key: str) -> None:
        self._redis.delete(self._prefix + key)

    def take(self, limits: Sequence[tuple[str, int]], window_seconds: int) -> tuple[str, float] | None:
        keys = [self._prefix + key for key, _ in limits]
        args = [int(window_seconds), *(int(limit) for _, limit in limits)]
        full, ttl_ms = self._take(keys=keys, args=args)
        if int(full) == 0:
            return None
        return limits[int(full) - 1][0], int(ttl_ms) / 1000

    def give_back(self, key: str) -> None:
        self._give_back(keys=[self._prefix + key])


class FileCounterStore:
    """Counters in files (embedded defaults: several local processes, no Redis): one small file per key, every
    change made under one exclusive lock of the folder, so a check of several keys and their increments are one
    step for every process."""

    def __init__(self, folder: Path, *, clock: object = time.time) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._clock = clock

    def _now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    def _path(self, key: str) -> Path:
        return self.folder / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read(self, key: str) -> tuple[int, float]:
        """The live count of `key` and when it is forgotten ((0, 0) when none)."""
        try:
            data = json.loads(self._path(key).read_text() or "{}")
        except (OSError, ValueError):
            return 0, 0.0
        count, expires = int(data.get("count", 0)), float(data.get("expires", 0))
        if expires <= self._now():
            return 0, 0.0
        return count, expires

    def _write(self, key: str, count: int, expires: float) -> None:
        path = self._path(key)
        if count <= 0:
            path.unlink(missing_ok=True)
            return
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps({"count": count, "expires": expires}))
        os.replace(temporary, path)

    def _add(self, key: str, window_seconds: int) -> int:
        count, expires = self._read(key)
        count += 1
        self._write(key, count, expires if expires else self._now() + window_seconds)
        return count

    def hit(self, key: str, window_seconds: int) -> int:
        with self._locked():
            return self._add(key, window_seconds)

    def count(self, key: str) -> int:
        with self._locked():
            return self._read(key)[0]

    def clear(self, key: str) -> None:
        with self._locked():
            self._write(key, 0, 0.0)

    def take(self, limits: Sequence[tuple[str, int]], window_seconds: int) -> tuple[str, float] | None:
        with self._locked():
            for key, limit in limits:
                count, expires = self._read(key)
                if count >= limit:
                    return key, max(0.0, expires - self._now())
            for key, _ in limits:
                self._add(key, window_seconds)
            return None

    def give_back(self, key: str) -> None:
        with self._locked():
            count, expires = self._read(key)
            if count > 0:
                self._write(key, count - 1, expires)


def create_counter_store(settings: Settings, *, key_prefix: str = "edocta") -> CounterStore:
    if settings.redis_url:
        return RedisCounterStore(settings.redis_url, key_prefix=key_prefix)
    return FileCounterStore(settings.var_dir / "ratelimit" / key_prefix)


def _account_key(username: str) -> str:
    digest = hashlib.sha256(username.strip().casefold().encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"signin:user:{digest}"


def _ip_key(ip: str) -> str:
    return f"signin:ip:{ip or 'unknown'}"


def _pair_key(username: str, ip: str) -> str:
    return f"{_account_key(username)}:ip:{ip or 'unknown'}"


@dataclass(frozen=True)
class Refused:
    """A sign-in attempt over a limit: refused without checking its password; `retry_after` whole seconds."""

    retry_after: int
    limit: str  # which limit: "pair", "address" or "account"
    first: bool  # the first refusal of this limit in its window (worth an audit event; the rest are not)


@dataclass
class LoginThrottle:
    """Sign-in attempts allowed per window: per account and address pair, per address, and (looser) per account."""

    store: CounterStore
    pair_limit: int = 5
    ip_limit: int = 30
    account_limit: int = 100
    window_seconds: int = 15 * 60
    forgot_free_per_ip: int = 10
    forgot_max_delay: int = 15 * 60
    forgot_window_seconds: int = 60 * 60

    def attempt(self, username: str, ip: str) -> Refused | None:
        """Count a sign-in attempt (before its password is checked, so parallel guesses count as they arrive):
        None when it may be checked, or why and for how long it is refused (then nothing was counted)."""
        limits = [
            (_pair_key(username, ip), self.pair_limit),
            (_ip_key(ip), self.ip_limit),
            (_account_key(username), self.account_limit),
        ]
        full = self.store.take(limits, self.window_seconds)
        if full is None:
            return None
        key, seconds = full
        kind = {limits[0][0]: "pair", limits[1][0]: "address"}.get(key, "account")
        first = self.store.hit(f"refused:{key}", max(1, math.ceil(seconds))) == 1
        return Refused(retry_after=max(1, math.ceil(seconds)), limit=kind, first=first)

    def not_checked(self, username: str, ip: str) -> None:
        """The attempt was counted but its password was never checked (the server was too busy): give it back."""
        for key in (_pair_key(username, ip), _ip_key(ip), _account_key(username)):
            self.store.give_back(key)

    def succeeded(self, username: str, ip: str) -> None:
        """The owner got in: the pair's count starts again, and the attempt is given back to the address and the
        account (people behind one address signing in each morning do not use up its allowance)."""
        self.store.clear(_pair_key(username, ip))
        self.store.give_back(_ip_key(ip))
        self.store.give_back(_account_key(username))

    def forgot_delay(self, ip: str) -> int:
        """Seconds to postpone the email of a forgotten-password request from this address (0: send now).

        Gentle on purpose: the request is never refused, so nobody can lock the owner out of the reset flow;
        a flood from one address only slows its own emails (15 s, 30 s, 60 s ... up to 15 minutes)."""
        count = self.store.hit(f"forgot:ip:{ip or 'unknown'}", self.forgot_window_seconds)
        if count <= self.forgot_free_per_ip:
            return 0
        return int(min(self.forgot_max_delay, 15 * 2 ** (count - self.forgot_free_per_ip - 1)))
