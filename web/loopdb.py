"""Reads made on the event loop itself: a few asynchronous psycopg connections per event loop and database.

The portal's handlers read the database in threads, through SQLAlchemy (`shared.db`). The one read that runs on
every cached file download (`web.statements.cached`) is made here instead, on PostgreSQL, so that request needs
neither a thread nor SQLAlchemy's execution machinery: one prepared statement on a connection in autocommit, one
round trip. The statement's SQL is compiled from SQLAlchemy's query once (`shared.statements.version`).

A connection that fails is closed and not reused; the caller answers that request by the full path. SQLite has no
such driver here: `reader_for` returns None and the caller reads in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

# Connections kept per event loop: a read takes about a millisecond of the database's time, so a few connections
# serve every request of one process; more requests wait for one (they never open extra connections).
POOL_SIZE = 4


class LoopReader:
    """Up to `size` psycopg connections of one event loop to one PostgreSQL database."""

    def __init__(self, conninfo: str, size: int = POOL_SIZE) -> None:
        self.conninfo = conninfo
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._slots = asyncio.Semaphore(size)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        # JIT off, as for the portal's other connections (`shared.db`): short indexed queries only.
        return await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True, options="-c jit=off")

    async def fetch_one(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row of a prepared `sql` (None for none). Raises psycopg's errors (the connection is dropped)."""
        async with self._slots:
            connection = self._idle.pop() if self._idle else await self._connect()
            try:
                cursor = await connection.execute(sql, params, prepare=True)
                row = await cursor.fetchone()
            except BaseException:
                with contextlib.suppress(Exception):
                    await connection.close()
                raise
            if connection.closed:
                return row
            self._idle.append(connection)
            return row

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            with contextlib.suppress(Exception):
                await connection.close()


# Readers by event loop, then by database URL: a connection belongs to the loop it was opened on (tests run one
# loop per client); a loop that is gone takes its readers with it.
_READERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, LoopReader | None]] = (
    weakref.WeakKeyDictionary()
)


def conninfo_of(database_url: str) -> str | None:
    """psycopg's connection string for a SQLAlchemy PostgreSQL URL (None for any other database)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql" or url.get_driver_name() not in ("psycopg", "psycopg_async"):
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def reader_for(database_url: str) -> LoopReader | None:
    """The running loop's reader of `database_url` (None when that database is not PostgreSQL through psycopg)."""
    loop = asyncio.get_running_loop()
    readers = _READERS.get(loop)
    if readers is None:
        readers = _READERS[loop] = {}
    if database_url not in readers:
        conninfo = conninfo_of(database_url)
        readers[database_url] = LoopReader(conninfo) if conninfo is not None else None
    return readers[database_url]


async def close_readers() -> None:
    """Close the running loop's connections (the app's shutdown)."""
    readers = _READERS.pop(asyncio.get_running_loop(), {})
    for reader in readers.values():
        if reader is not None:
            await reader.close()
