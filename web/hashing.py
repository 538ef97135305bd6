"""Password checks run a few at a time, in threads of their own.

An Argon2 check takes a CPU core and 64 MiB for a fraction of a second. Run in the portal's shared thread
pool, a flood of sign-ins would take every thread (and a gigabyte) while signed-in users' pages wait behind it.
Here at most `slots` checks run at once per web process (half the CPUs, at least one: the other half stays for
the pages), on their own threads; a sign-in waits for a slot at most `max_wait` seconds, and when
`max_waiting` are already waiting it is not queued at all: both answer 503 with `Retry-After`, before anything
is hashed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class HashingBusy(Exception):
    """Every slot stayed taken: the check was not done. `retry_after` whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"password checks busy, retry after {retry_after} s")
        self.retry_after = retry_after


class HashGate:
    """At most `slots` password checks at once; a bounded wait, and a bounded number waiting."""

    def __init__(self, slots: int | None = None, *, max_wait: float = 5.0, max_waiting: int | None = None) -> None:
        self.slots = slots or max(1, cpu_count() // 2)
        self.max_wait = max_wait
        self.max_waiting = self.slots * 32 if max_waiting is None else max_waiting
        self.waiting = 0
        self.running = 0
        self._gate: anyio.CapacityLimiter | None = None
        self._threads: anyio.CapacityLimiter | None = None

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.max_wait))

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """`function(*args)` on a thread of the gate's own once a slot is free; HashingBusy if none frees up."""
        if self._gate is None or self._threads is None:  # made in the event loop that uses them
            self._gate = anyio.CapacityLimiter(self.slots)
            self._threads = anyio.CapacityLimiter(self.slots)
        if self.waiting >= self.max_waiting:
            raise HashingBusy(self.retry_after)
        self.waiting += 1
        acquired = False
        try:
            with anyio.move_on_after(self.max_wait):
                await self._gate.acquire()
                acquired = True
        finally:
            self.waiting -= 1
        if not acquired:
            raise HashingBusy(self.retry_after)
        self.running += 1
        try:
            return await anyio.to_thread.run_sync(function, *args, limiter=self._threads)
        finally:
            self.running -= 1
            self._gate.release()
