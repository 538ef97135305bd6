"""A statement file the store already holds, answered on the event loop with one read of the database.

The full path (`web.statements.page`) checks the user, loads the whole statement to compute its fingerprint and
reads the file from the store, in a thread. When it has answered with a stored PDF or XLSX file it notes, in this
process, which file the statement's data version (`shared.statements.version`) maps to. A later request for the
same statement then needs only:

1. the session the middleware read (live, not opened with a temporary password, its `seen` time as the full
   check would leave it);
2. one query, asynchronous on PostgreSQL (`web.loopdb`): the user's row, whether the user may still see the
   customer at the company (the grant rule, evaluated by the database) and the statement's current data version;
3. the file noted for that version (its bytes kept in memory, answered only while the store still holds it).

Anything else — no note for that version, no row, a disabled user, a changed password, a session to renew or to
end, a cut-off in the future, a database error — goes the full path, which answers exactly as before. The
response is the full path's: same status, body and headers.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import anyio.to_thread
import psycopg
from litestar import Request, Response

from shared import render
from shared.clock import parse_day, today
from shared.db import autocommit, get_engine
from shared.settings import get_settings
from shared.statements import Statement
from shared.statements.version import VisibleVersion, version_params, version_sql, visible_version, visible_version_of
from shared.store import StoreKey, get_store
from web.i18n import request_language
from web.loopdb import reader_for
from web.security import admit_read_user, settled_session, user_of_row
from web.statements.addresses import content_disposition

log = logging.getLogger("edocta.web")

# The formats whose files the store holds for the portal (JSON is written in the request every time).
STORED_FORMATS = {".pdf": "pdf", ".xlsx": "xlsx"}
# Bytes of files kept in memory per process, and the largest file kept.
MEMORY_BYTES = 32 * 1024 * 1024
LARGEST_FILE = 4 * 1024 * 1024

FileKey = tuple[str, str, dt.date, str, str, str]  # company, customer, cut-off, format, language, data version


@dataclass(frozen=True)
class NotedFile:
    path: Path
    data: bytes
    media_type: str
    disposition: str


class StoredFiles:
    """The files the full path answered, by statement and data version; least recently used dropped first."""

    def __init__(self, memory_bytes: int = MEMORY_BYTES) -> None:
        self.memory_bytes = memory_bytes
        self._files: collections.OrderedDict[FileKey, NotedFile] = collections.OrderedDict()
        self._statements: collections.Counter[tuple[str, str, dt.date, str]] = collections.Counter()
        self._size = 0
        self._lock = threading.Lock()  # written from the handlers' threads, read on the loop

    def may_hold(self, company: str, customer: str, cutoff: dt.date, fmt: str) -> bool:
        """Whether any version of this statement's file is noted (else there is nothing to look up)."""
        return self._statements[(company, customer, cutoff, fmt)] > 0

    def get(self, key: FileKey) -> NotedFile | None:
        with self._lock:
            found = self._files.get(key)
            if found is not None:
                self._files.move_to_end(key)
            return found

    def note(self, key: FileKey, noted: NotedFile) -> None:
        if len(noted.data) > LARGEST_FILE:
            return
        with self._lock:
            self._drop(key)
            self._files[key] = noted
            self._statements[key[:4]] += 1
            self._size += len(noted.data)
            while self._size > self.memory_bytes and self._files:
                self._drop(next(iter(self._files)))

    def forget(self, key: FileKey) -> None:
        with self._lock:
            self._drop(key)

    def held(self, key: FileKey) -> NotedFile | None:
        """The noted file if the store still holds it; a file gone from the store is forgotten (the full path
        renders it again)."""
        noted = self.get(key)
        if noted is None:
            return None
        try:
            held = noted.path.is_file()
        except OSError:
            held = False
        if not held:
            self.forget(key)
            return None
        return noted

    def address(self, company: str, customer: str, cutoff_text: str) -> tuple[dt.date, str] | None:
        """(cut-off, format) of a file address (`YYYY-MM-DD.pdf|.xlsx`) whose statement may have a file noted and
        whose cut-off is not in the future; None for any other (the full path answers)."""
        fmt = STORED_FORMATS.get(os.path.splitext(cutoff_text)[1])
        if fmt is None or not company or not customer:
            return None
        cutoff = parse_day(cutoff_text[: -len(fmt) - 1])
        if cutoff is None or not self.may_hold(company, customer, cutoff, fmt) or cutoff > today():
            return None
        return cutoff, fmt

    def _drop(self, key: FileKey) -> None:
        old = self._files.pop(key, None)
        if old is not None:
            self._size -= len(old.data)
            self._statements[key[:4]] -= 1
            if self._statements[key[:4]] <= 0:
                del self._statements[key[:4]]


def stored_files(request: Request[Any, Any, Any]) -> StoredFiles:
    """The app's noted files (one per app: a test's app never sees another's files)."""
    return cast(StoredFiles, request.app.state.stored_files)


def note_stored_file(
    request: Request[Any, Any, Any], statement: Statement, fmt: str, version: str, data: bytes
) -> None:
    """The full path answered `statement`'s stored `fmt` file (`data`), the statement read at data `version`."""
    key: FileKey = (
        statement.company.code,
        statement.customer.code,
        statement.cutoff,
        fmt,
        statement.language,
        version,
    )
    noted = NotedFile(
        path=get_store().path(StoreKey.for_statement(statement, fmt)),
        data=bytes(data),
        media_type=render.CONTENT_TYPES[fmt],
        disposition=content_disposition(render.statement_filename(statement, fmt)),
    )
    stored_files(request).note(key, noted)


def _sync_version(user_id: int, company: str, customer: str, cutoff: dt.date) -> VisibleVersion | None:
    with autocommit() as connection:
        return visible_version(connection, user_id, company, customer, cutoff)


async def read_version(user_id: int, company: str, customer: str, cutoff: dt.date) -> VisibleVersion | None:
    """The version query: on the loop for PostgreSQL, else in a thread."""
    database_url = get_settings().database_url
    reader = reader_for(database_url)
    if reader is None:
        return await anyio.to_thread.run_sync(_sync_version, user_id, company, customer, cutoff)
    sql, constants = version_sql(get_engine(database_url).dialect)
    row = await reader.fetch_one(sql, version_params(user_id, company, customer, cutoff), constants)
    return visible_version_of(row)


async def cached_statement_file(
    request: Request[Any, Any, Any], company: str, customer: str, cutoff_text: str
) -> Response[bytes] | None:
    """The stored file at this address as the full path would answer it, or None: the full path must answer."""
    files = stored_files(request)
    address = files.address(company, customer, cutoff_text)
    if address is None:
        return None
    cutoff, fmt = address
    session = settled_session(request)
    if session is None:
        return None
    user_id, password_version = session
    try:
        found = await read_version(user_id, company, customer, cutoff)
    except (psycopg.Error, OSError):
        log.warning("cached file check failed; answered by the full path", exc_info=True)
        return None
    if found is None:
        return None
    user, _reason = user_of_row(user_id, found.user_row, password_version)
    if user is None:
        return None
    # The user is checked as the full path checks it (the full path, if it must answer, uses this check).
    admit_read_user(request, user)
    key: FileKey = (company, customer, cutoff, fmt, request_language(request), found.version)
    noted = files.held(key)
    if noted is None:
        return None
    return Response(
        content=noted.data,
        media_type=noted.media_type,
        headers={"Content-Disposition": noted.disposition, "Cache-Control": "no-store"},
    )
