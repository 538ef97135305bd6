"""Statement files in the store: rendered once per data version, whoever asks first.

A file is looked up in the statement store by its statement's fingerprint and rendered only on a miss: by the
run's account task (`ensure_rendered`), in the portal's request for JSON and small XLSX files
(`render_into_store`), or by a worker asked through `request_render` (`render_on_demand`) for PDFs and large
files, so no request waits on a long render. A small marker file per requested file, shared by every web
process, keeps the portal from asking again while a worker is on it. The worker's renders go to their own
queue (`on_demand`), and each user has at most a few of them in flight (`inflight`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.db import session_scope
from shared.render.inflight import TooManyRenders, slot_name, slot_store
from shared.render.timings import timed_render
from shared.settings import get_settings
from shared.statements import (
    ActivityPeriodError,
    ActivityStatement,
    Statement,
    StatementNotFound,
    load_activity,
    load_statement,
)
from shared.store import StatementStore, StoreKey, get_store
from shared.tasks import send_task
from shared.vocab import LARGE_STATEMENT_LINES, Queue, Task

log = logging.getLogger(__name__)

# A render requested from the portal is not requested again while younger than this (seconds); after that,
# a still missing file is requested again (the first message may have been lost with a broker restart).
RENDER_REQUEST_TTL = 120.0


@dataclass(frozen=True)
class StoredStatement:
    statement: Statement | ActivityStatement
    keys: list[StoreKey]
    rendered: int  # how many files had to be rendered (0 when the store had them all)


def ensure_rendered(
    statement: Statement | ActivityStatement, formats: Sequence[str], store: StatementStore | None = None
) -> StoredStatement:
    """Render `statement` in each format into the store, unless the store already holds that data."""
    store = store or get_store()
    keys: list[StoreKey] = []
    rendered = 0
    for fmt in formats:
        key = StoreKey.for_statement(statement, fmt)
        if store.get(key) is None:
            started = time.perf_counter()
            data = timed_render(statement, fmt)
            elapsed = time.perf_counter() - started
            store.put(key, data)
            rendered += 1
            log.info("rendered %s in %.3f s", key.as_string(), elapsed)
        keys.append(key)
    return StoredStatement(statement, keys, rendered)


@dataclass(frozen=True)
class RenderedFiles:
    """A statement's files as `render_missing` left them: the ones the store lacked are rendered, not yet stored."""

    stored: StoredStatement
    files: list[tuple[StoreKey, bytes]]


def render_missing(
    statement: Statement | ActivityStatement, formats: Sequence[str], store: StatementStore
) -> RenderedFiles:
    """`ensure_rendered` without the writing: the files the store lacks are rendered and returned, so that a batch
    of statements is stored at once (`store_rendered`)."""
    keys: list[StoreKey] = []
    files: list[tuple[StoreKey, bytes]] = []
    for fmt in formats:
        key = StoreKey.for_statement(statement, fmt)
        if store.get(key) is None:
            started = time.perf_counter()
            data = timed_render(statement, fmt)
            files.append((key, data))
            log.info("rendered %s in %.3f s", key.as_string(), time.perf_counter() - started)
        keys.append(key)
    return RenderedFiles(StoredStatement(statement, keys, len(files)), files)


def store_rendered(batch: Sequence[RenderedFiles], store: StatementStore) -> None:
    """Store the files of several statements, durable with one flush for all (`StatementStore.put_many`)."""
    store.put_many([file for rendered in batch for file in rendered.files])


def render_on_demand(
    company: str,
    customer: str,
    cutoff: dt.date,
    fmt: str,
    language: str,
    start: dt.date | None = None,
    *,
    user_id: int | None = None,
) -> StoreKey | None:
    """Render one statement file into the store unless it is there; returns its key (None: no such statement).
    With `start`, the file is the activity statement of `start`..`cutoff`. The slot of `user_id`, who asked for
    it, is given back whatever happens."""
    try:
        with session_scope() as session:
            try:
                statement: Statement | ActivityStatement
                if start is not None:
                    statement = load_activity(session, company, customer, start, cutoff)
                else:
                    statement = load_statement(session, company, customer, cutoff)
            except (StatementNotFound, ActivityPeriodError) as error:
                log.warning("on-demand render: no statement %s/%s (%s)", company, customer, error)
                return None
        statement = statement.in_language(language)
        stored = ensure_rendered(statement, [fmt])
        _clear_request_marker(statement, fmt)
        return stored.keys[0]
    finally:
        if user_id is not None:
            slot_store().release(int(user_id), _slot_key(company, customer, cutoff, fmt, language, start))


@dataclass(frozen=True)
class RenderPlan:
    """How a file missing from the store is produced: `inline` (now, in the request) or by a worker."""

    inline: bool
    queue: str


def is_large(statement: Statement | ActivityStatement) -> bool:
    return len(statement.lines) > LARGE_STATEMENT_LINES


def render_plan(statement: Statement | ActivityStatement, fmt: str) -> RenderPlan:
    """JSON and small XLSX are rendered in the request; PDF and large XLSX by a worker."""
    queue = Queue.RENDER_LARGE if is_large(statement) else Queue.ON_DEMAND
    if fmt == "json":
        return RenderPlan(inline=True, queue=queue)
    if fmt == "xlsx" and not is_large(statement):
        return RenderPlan(inline=True, queue=queue)
    return RenderPlan(inline=False, queue=queue)


def _store_key(statement: Statement | ActivityStatement, fmt: str) -> StoreKey:
    # Files are in the statement's language: the customer's for the emails, the reader's in the portal (the
    # portal passes `statement.in_language(...)`); the run's files are reused when the two agree.
    return StoreKey.for_statement(statement, fmt)


def stored_file(statement: Statement | ActivityStatement, fmt: str) -> bytes | None:
    """The stored file of this statement's data in `fmt`, or None."""
    return get_store().read(_store_key(statement, fmt))


def is_stored(statement: Statement | ActivityStatement, fmt: str) -> bool:
    return get_store().get(_store_key(statement, fmt)) is not None


def render_into_store(statement: Statement | ActivityStatement, fmt: str) -> bytes:
    """Render `fmt` (in the statement's language) and keep it in the store; returns the bytes."""
    data = timed_render(statement, fmt)
    get_store().put(_store_key(statement, fmt), data)
    _clear_request_marker(statement, fmt)
    return data


def _request_marker(statement: Statement | ActivityStatement, fmt: str) -> Path:
    """A small file saying "a worker was asked for this file at <mtime>" (shared by every web process)."""
    digest = hashlib.sha256(_store_key(statement, fmt).as_string().encode()).hexdigest()[:40]
    return get_settings().store_dir / ".requested" / f"{digest}.{fmt}"


def _clear_request_marker(statement: Statement | ActivityStatement, fmt: str) -> None:
    with contextlib.suppress(OSError):
        _request_marker(statement, fmt).unlink()


def _slot_key(
    company: str, customer: str, cutoff: dt.date, fmt: str, language: str, start: dt.date | None = None
) -> str:
    period = f"{start.isoformat()}_{cutoff.isoformat()}" if start is not None else cutoff.isoformat()
    return slot_name(f"{company}/{customer}/{period}.{fmt}.{language}")


def _slot(statement: Statement | ActivityStatement, fmt: str) -> str:
    start = statement.start if isinstance(statement, ActivityStatement) else None
    return _slot_key(statement.company.code, statement.customer.code, statement.cutoff, fmt, statement.language, start)


def request_render(
    statement: Statement | ActivityStatement, fmt: str, *, force: bool = False, user_id: int | None = None
) -> bool:
    """Ask a worker to render this file into the store, unless it was asked recently (every process shares the
    marker). Returns True when a task was sent. For a portal user (`user_id`), raises TooManyRenders when the user
    already has `renders_per_user` other files in preparation."""
    marker = _request_marker(statement, fmt)
    now = time.time()
    if not force:
        try:
            if now - marker.stat().st_mtime < RENDER_REQUEST_TTL:
                return False
        except OSError:
            pass
    slot = _slot(statement, fmt)
    if user_id is not None and not slot_store().claim(user_id, slot, get_settings().renders_per_user):
        raise TooManyRenders(get_settings().renders_per_user)
    marker.parent.mkdir(parents=True, exist_ok=True)
    temporary = marker.with_name(f".{marker.name}.{os.getpid()}.tmp")
    temporary.write_text(dt.datetime.now(dt.UTC).isoformat())
    os.replace(temporary, marker)
    plan = render_plan(statement, fmt)
    kwargs: dict[str, Any] = {
        "company": statement.company.code,
        "customer": statement.customer.code,
        "cutoff": statement.cutoff.isoformat(),
        "fmt": fmt,
        "language": statement.language,
    }
    if isinstance(statement, ActivityStatement):
        kwargs["start"] = statement.start.isoformat()
    try:
        if user_id is not None:
            kwargs["user_id"] = user_id
        send_task(Task.RENDER_ON_DEMAND, kwargs=kwargs, queue=plan.queue)
    except BaseException:
        # Not queued: the next request must ask again instead of waiting for a message that was never sent.
        _clear_request_marker(statement, fmt)
        if user_id is not None:
            slot_store().release(user_id, slot)
        raise
    log.info(
        "on-demand render requested: %s/%s/%s.%s (%d lines, queue %s)",
        statement.company.code,
        statement.customer.code,
        statement.cutoff.isoformat(),
        fmt,
        len(statement.lines),
        plan.queue,
    )
    return True


def render_requested_at(statement: Statement | ActivityStatement, fmt: str) -> dt.datetime | None:
    """When a worker was last asked for this file (None if not pending)."""
    try:
        return dt.datetime.fromtimestamp(_request_marker(statement, fmt).stat().st_mtime, dt.UTC)
    except OSError:
        return None
