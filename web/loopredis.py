"""A lean Redis GET on the event loop: one pipelined connection per event loop and Redis URL.

The session middleware reads a session with redis-py's asyncio client (a connection pool, a stream reader and
writer, a parser written in Python): several times the CPU of the round trip itself. The cached file download in
front of the app (`web.statements.fastpath`) reads the same key with the same command, `GET`, through this
instead: requests write their commands on one connection as they come, and Redis answers them in that order, so
each reply goes to the oldest waiting request (several replies often arrive in one read).

Only what the portal's URLs use is spoken here: `redis://[user:password@]host[:port][/db]` (AUTH and SELECT at
connect), bulk string, status and error replies. Any other URL gets no lean reader (`lean_redis_for` returns None)
and the caller reads through the store. A connection that fails fails every request waiting on it (their callers
answer by the full path) and is replaced at the next request.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import weakref
from typing import Any

from redis.connection import parse_url


class RedisReplyError(Exception):
    """Redis answered a command with an error."""


def _command(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)


class _Replies(asyncio.Protocol):
    """One connection: the requests waiting for a reply, oldest first, and the bytes not parsed yet."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.buffer = bytearray()
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        error = ConnectionError(f"Redis connection lost: {exc}")
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        start = 0
        while self.waiting:
            end = buffer.find(b"\r\n", start)
            if end < 0:
                break
            kind = buffer[start]
            value: Any
            if kind == 36:  # $: a bulk string, or nil
                size = int(buffer[start + 1 : end])
                if size < 0:
                    value, start = None, end + 2
                elif len(buffer) < end + 4 + size:
                    break
                else:
                    value, start = bytes(buffer[end + 2 : end + 2 + size]), end + 4 + size
            elif kind == 43:  # +: a status
                value, start = bytes(buffer[start + 1 : end]), end + 2
            elif kind == 45:  # -: an error
                value, start = RedisReplyError(buffer[start + 1 : end].decode(errors="replace")), end + 2
            else:  # nothing this client asks for answers otherwise: the connection is out of step
                assert self.transport is not None
                self.transport.abort()
                return
            waiter = self.waiting.popleft()
            if waiter.done():  # its request was cancelled
                continue
            if isinstance(value, RedisReplyError):
                waiter.set_exception(value)
            else:
                waiter.set_result(value)
        if start:
            del buffer[:start]

    def send(self, command: bytes) -> asyncio.Future[Any]:
        assert self.transport is not None
        waiter = asyncio.get_running_loop().create_future()
        self.waiting.append(waiter)
        self.transport.write(command)
        return waiter


class LeanRedis:
    """`GET` on one pipelined connection of the running loop to one Redis server."""

    def __init__(self, host: str, port: int, db: int, username: str | None, password: str | None) -> None:
        self.address = (host, port)
        self._hello: list[bytes] = []
        if password is not None:
            self._hello.append(
                _command(b"AUTH", username.encode(), password.encode())
                if username
                else _command(b"AUTH", password.encode())
            )
        if db:
            self._hello.append(_command(b"SELECT", str(db).encode()))
        self._connection: _Replies | None = None
        self._connecting: asyncio.Lock | None = None

    async def _connect(self) -> _Replies:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            connection = self._connection
            if connection is not None and not connection.lost:
                return connection
            _transport, connection = await asyncio.get_running_loop().create_connection(_Replies, *self.address)
            try:
                for reply in [connection.send(command) for command in self._hello]:
                    await reply
            except BaseException:
                connection.transport.close()  # type: ignore[union-attr]
                raise
            self._connection = connection
            return connection

    async def get(self, key: str) -> bytes | None:
        """The value at `key` (None for none). Raises `ConnectionError`/`OSError` or `RedisReplyError`."""
        connection = self._connection
        if connection is None or connection.lost:
            connection = await self._connect()
        encoded = key.encode()
        try:
            result: bytes | None = await connection.send(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(encoded), encoded))
        except asyncio.CancelledError:
            # Given up while waiting (the caller's time limit): a connection that does not answer must not hold
            # every later request behind it, so it is dropped and the next request opens a new one.
            if connection.transport is not None:
                connection.transport.abort()
            raise
        return result

    def close(self) -> None:
        if self._connection is not None and self._connection.transport is not None:
            self._connection.transport.close()
        self._connection = None


# Clients by event loop, then by URL (a connection belongs to the loop it was opened on; tests run one per client).
_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, LeanRedis | None]] = (
    weakref.WeakKeyDictionary()
)
_SPOKEN = {"host", "port", "db", "username", "password"}


def lean_redis_for(url: str) -> LeanRedis | None:
    """The running loop's lean client of `url`, or None for a URL this client does not speak (TLS, a socket file,
    options)."""
    loop = asyncio.get_running_loop()
    clients = _CLIENTS.get(loop)
    if clients is None:
        clients = _CLIENTS[loop] = {}
    if url not in clients:
        clients[url] = None
        with contextlib.suppress(ValueError):
            options = parse_url(url)
            if set(options) <= _SPOKEN and "host" in options:
                clients[url] = LeanRedis(
                    options["host"],
                    int(options.get("port", 6379)),
                    int(options.get("db", 0)),
                    options.get("username"),
                    options.get("password"),
                )
    return clients[url]


async def close_lean_redis() -> None:
    """Close the running loop's connections (the app's shutdown)."""
    for client in _CLIENTS.pop(asyncio.get_running_loop(), {}).values():
        if client is not None:
            client.close()
