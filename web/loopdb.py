"""Reads made on the event loop itself: a few libpq connections per event loop and database.

The portal's handlers read the database in threads, through SQLAlchemy (`shared.db`). The one read that runs on
every cached file download (`web.statements.cached`, `web.statements.fastpath`) is made here instead, on
PostgreSQL, so that request needs neither a thread nor SQLAlchemy's execution machinery: one prepared statement on
a connection in autocommit, one round trip. The statement's SQL is compiled from SQLAlchemy's query once
(`shared.statements.version`).

The connections are psycopg's libpq ones (`psycopg.pq`) driven directly, not through psycopg's asynchronous
connection: its cursor, query conversion, prepare bookkeeping and waiting (a reader added to the loop and removed
again for every wait) cost more than the round trip. Here each connection's socket is watched for as long as the
connection lives; the statement's SQL is converted to `$n` placeholders once, prepared once per connection, and
sent with its parameters as text (the SQL casts every parameter); the row is read by psycopg's own loaders.

A connection that fails (or whose request is cancelled midway) is closed and not reused; the caller answers that
request by the full path. SQLite has no such driver here: `reader_for` returns None and the caller reads in a
thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import weakref
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import pq
from psycopg.adapt import Transformer
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

# Connections kept per event loop: a read takes about a millisecond of the database's time, so a few connections
# serve every request of one process; more requests wait for one (they never open extra connections).
POOL_SIZE = 4

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%|%")


def positional(sql: str) -> tuple[bytes, tuple[str, ...]]:
    """A psycopg `%(name)s` query as libpq's `$n` text, and the parameters' names in `$n` order."""
    names: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "%%":
            return "%"
        name = match.group(1)
        if name is None:
            raise ValueError(f"unsupported placeholder in {sql!r}")
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _PLACEHOLDER.sub(replace, sql).encode(), tuple(names)


def as_text(value: Any) -> bytes | None:
    """A parameter in PostgreSQL's text form (the statement casts it to its type)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, int | Decimal | dt.date):  # datetime is a date too: isoformat() keeps its time and zone
        return (value.isoformat() if isinstance(value, dt.date) else str(value)).encode()
    raise TypeError(f"no text form for a parameter of type {type(value).__name__}")


class _Connection:
    """One libpq connection in autocommit (it never opens a transaction), its socket watched while it lives."""

    def __init__(self, pgconn: pq.abc.PGconn) -> None:
        self.pgconn = pgconn
        self.loop = asyncio.get_running_loop()
        self.fd = pgconn.socket
        self.prepared: set[bytes] = set()
        self.rows = Transformer()
        self.waiter: asyncio.Future[None] | None = None
        self.broken = False
        self.loop.add_reader(self.fd, self._readable)

    def _readable(self) -> None:
        try:
            self.pgconn.consume_input()
            if self.pgconn.status != pq.ConnStatus.OK:
                raise psycopg.OperationalError("the database connection was closed")
        except psycopg.Error as error:
            self.close()
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(error)
            return
        if self.waiter is not None and not self.pgconn.is_busy() and not self.waiter.done():
            self.waiter.set_result(None)

    async def _exchange(self, send: Callable[[], None]) -> pq.abc.PGresult:
        """Send one command and return its result (one statement: one result)."""
        send()
        while self.pgconn.flush():  # the socket's buffer is full: rare with these short commands
            writable = self.loop.create_future()
            self.loop.add_writer(self.fd, writable.set_result, None)
            try:
                await writable
            finally:
                self.loop.remove_writer(self.fd)
        if self.pgconn.is_busy():
            self.waiter = self.loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        result = None
        while (following := self.pgconn.get_result()) is not None:
            if result is None:
                result = following
        if result is None:
            raise psycopg.OperationalError("no result from the database")
        if result.status not in (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK):
            raise psycopg.DatabaseError((result.error_message or b"database error").decode(errors="replace"))
        return result

    async def fetch_one(self, name: bytes, sql: bytes, values: list[bytes | None]) -> tuple[Any, ...] | None:
        if name not in self.prepared:
            await self._exchange(lambda: self.pgconn.send_prepare(name, sql))
            self.prepared.add(name)
        result = await self._exchange(lambda: self.pgconn.send_query_prepared(name, values))
        if not result.ntuples:
            return None
        self.rows.set_pgresult(result)
        row: tuple[Any, ...] = self.rows.load_row(0, tuple)
        return row

    def close(self) -> None:
        if not self.broken:
            self.broken = True
            self.loop.remove_reader(self.fd)
            self.pgconn.finish()


async def _connect(conninfo: str) -> _Connection:
    """A new connection, opened without blocking the loop."""
    pgconn = pq.PGconn.connect_start(conninfo.encode())
    loop = asyncio.get_running_loop()
    while True:
        status = pgconn.connect_poll()
        if status == pq.PollingStatus.OK:
            break
        if status not in (pq.PollingStatus.READING, pq.PollingStatus.WRITING):
            message = pgconn.get_error_message() if pgconn.status == pq.ConnStatus.BAD else "connection failed"
            pgconn.finish()
            raise psycopg.OperationalError(message)
        fd, ready = pgconn.socket, loop.create_future()
        watch, unwatch = (
            (loop.add_reader, loop.remove_reader)
            if status == pq.PollingStatus.READING
            else (loop.add_writer, loop.remove_writer)
        )
        watch(fd, ready.set_result, None)
        try:
            await ready
        except BaseException:
            pgconn.finish()
            raise
        finally:
            unwatch(fd)
    pgconn.nonblocking = 1
    return _Connection(pgconn)


class LoopReader:
    """Up to `size` libpq connections of one event loop to one PostgreSQL database."""

    def __init__(self, conninfo: str, size: int = POOL_SIZE) -> None:
        # JIT off, as for the portal's other connections (`shared.db`): short indexed queries only.
        self.conninfo = make_conninfo(conninfo, options="-c jit=off", client_encoding="UTF8")
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(size)
        self._statements: dict[str, tuple[bytes, bytes, list[bytes | None], list[tuple[int, str]]]] = {}

    def _statement(
        self, sql: str, constants: dict[str, Any]
    ) -> tuple[bytes, bytes, list[bytes | None], list[tuple[int, str]]]:
        """The statement's name, `$n` text, parameter values with the constants filled in once, and where each
        per-call parameter goes."""
        found = self._statements.get(sql)
        if found is None:
            text, names = positional(sql)
            values = [as_text(constants[name]) if name in constants else None for name in names]
            per_call = [(index, name) for index, name in enumerate(names) if name not in constants]
            found = self._statements[sql] = (b"edocta_%d" % len(self._statements), text, values, per_call)
        return found

    async def fetch_one(
        self, sql: str, params: dict[str, Any], constants: dict[str, Any] | None = None
    ) -> tuple[Any, ...] | None:
        """The first row of a prepared `sql` (None for none), with `params` and `constants` (parameters that are the
        same on every call of this `sql`, put in their text form once). Raises psycopg's errors (the connection is
        dropped)."""
        name, text, template, per_call = self._statement(sql, constants or {})
        values = template.copy()
        for index, key in per_call:
            values[index] = as_text(params[key])
        async with self._slots:
            connection = self._idle.pop() if self._idle else None
            while connection is not None and connection.broken:  # closed by the server while idle
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                connection = await _connect(self.conninfo)
            try:
                row = await connection.fetch_one(name, text, values)
            except BaseException:
                connection.close()
                raise
            if not connection.broken:
                self._idle.append(connection)
            return row

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            with contextlib.suppress(Exception):
                connection.close()


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
