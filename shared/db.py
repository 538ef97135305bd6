"""Engines and sessions. One engine per process and URL; SQLite gets WAL and foreign keys. Also what every
searchable, paginated list shares: a case-insensitive "contains" over some columns, and a page of rows."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Engine,
    Subquery,
    bindparam,
    create_engine,
    event,
    false,
    func,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import QueryableAttribute, Session, sessionmaker

from shared.settings import get_settings

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

V = TypeVar("V", bound="DataclassInstance")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


_ENGINES: dict[str, Engine] = {}


def get_engine(url: str | None = None) -> Engine:
    url = url or get_settings().database_url
    engine = _ENGINES.get(url)
    if engine is None:
        engine = _ENGINES[url] = _create_engine(url)
    return engine


def _create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # JIT off: a statement's lines with their document and dispute marks plan above PostgreSQL's JIT threshold,
    # and compiling takes ~100 ms of a query that runs in ~12 ms. edocta's queries are short and indexed.
    connect_args = {"options": "-c jit=off"} if url.startswith("postgresql") else {}
    engine = create_engine(url, pool_size=POOL_SIZE, max_overflow=10, connect_args=connect_args)
    dialect = engine.dialect

    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is None or time.monotonic() - checked_in_at < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool drops this connection and checks out another (a new one if need be)
            raise DisconnectionError() from error

    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", ping_if_idle)
    return engine


# Connections kept per process: as many as the portal's threads (`web.app`), so a busy portal neither waits for a
# connection nor opens and closes extra ones on every request.
POOL_SIZE = 12
# A pooled connection is tested before use only when it sat unused this long (a database restarted meanwhile):
# a busy process does not pay a round trip per checkout, as `pool_pre_ping` would.
PING_AFTER_IDLE_SECONDS = 2.0


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def dialect_insert(bind: Engine | Session, model: Any) -> Any:
    """An INSERT for `model` in the dialect of `bind` (PostgreSQL or SQLite), so `on_conflict_do_...` is at hand."""
    engine = bind if isinstance(bind, Engine) else bind.get_bind()
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(model)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(model)


def dispose_engines() -> None:
    """Drop pooled connections (after a fork, or when tests switch databases)."""
    while _ENGINES:
        _, engine = _ENGINES.popitem()
        engine.dispose()
    _SESSIONMAKERS.clear()


_SESSIONMAKERS: dict[str, sessionmaker[Session]] = {}


def get_sessionmaker(url: str | None = None) -> sessionmaker[Session]:
    url = url or get_settings().database_url
    maker = _SESSIONMAKERS.get(url)
    if maker is None:
        maker = _SESSIONMAKERS[url] = sessionmaker(bind=get_engine(url), expire_on_commit=False)
    return maker


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on error."""
    session = get_sessionmaker()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def autocommit() -> Iterator[Connection]:
    """A pooled connection in autocommit: each statement is its own transaction, with no BEGIN and COMMIT round
    trips around it. For a single conditional write, or reads that need no common snapshot (`read_snapshot`
    gives one)."""
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        yield connection


@dataclass(frozen=True)
class KeyLookup:
    """Rows of one table found key by key (`key_lookup`): `rows` to select from or join, and the bound parameters
    that give it its keys."""

    rows: Subquery
    postgresql: bool
    width: int  # how many columns a key has

    def parameters(self, keys: Sequence[Sequence[Any]]) -> dict[str, Any]:
        """The bound parameters for `keys` (each a tuple of `width` values)."""
        if self.postgresql:  # one array per key column
            return {f"key_{position}": [key[position] for key in keys] for position in range(self.width)}
        if self.width == 1:
            return {"keys": [key[0] for key in keys]}
        # The keys, and each column's values apart: the index is searched with the columns' lists, the keys
        # keep the rows of the keys asked for only.
        columns = {f"key_{position}": sorted({key[position] for key in keys}) for position in range(self.width)}
        return {"keys": [tuple(key) for key in keys], **columns}


def key_lookup(
    name: str,
    columns: Sequence[ColumnElement[Any] | QueryableAttribute[Any]],
    key: Sequence[ColumnElement[Any] | QueryableAttribute[Any]],
    dialect_name: str,
    where: Sequence[ColumnElement[bool]] = (),
) -> KeyLookup:
    """`columns` of the rows whose `key` columns (the primary key, a unique key, or the leading columns of an
    index) equal one of the keys given by `KeyLookup.parameters`, and that meet the conditions `where` (with bound
    parameters of their own, given beside the keys'), each key looked up on its own whatever the database's
    statistics say. Build it once per dialect (on PostgreSQL one statement text whatever the number of keys).

    On PostgreSQL a subquery per key (LATERAL over the keys' arrays, kept apart by its OFFSET, so the planner
    cannot fold it into the join around it). With the keys as one IN list, or the rows joined in one statement to
    the tables around them, the path is the planner's choice, and it was seen reading every row of the run for
    each batch: through the (run, status) index while its statistics predated the run's rows, and through the
    company's entries of the unique key, or the whole table, in a first run of 10,000 accounts. On SQLite, an IN
    list, which SQLite searches the index with; for a key of several columns, a list for each column besides the
    list of keys (SQLite searches no index with a list of rows: it reads the whole index). The keys must be
    distinct: on PostgreSQL a key given twice returns its rows twice."""
    if dialect_name == "postgresql":
        wanted = (
            func.unnest(*(bindparam(f"key_{position}", type_=ARRAY(part.type)) for position, part in enumerate(key)))
            .table_valued(*(f"key_{position}" for position in range(len(key))))
            .render_derived(name=f"{name}_keys")
        )
        each = (
            select(*columns)
            .where(*(part == wanted.c[f"key_{position}"] for position, part in enumerate(key)), *where)
            .offset(0)
            .lateral(f"{name}_each")
        )
        rows = select(*each.c).select_from(wanted).join(each, true()).subquery(name)
        return KeyLookup(rows, postgresql=True, width=len(key))
    keys: BindParameter[Any] = bindparam("keys", expanding=True)
    if len(key) == 1:
        conditions = [key[0].in_(keys)]
    else:
        conditions = [part.in_(bindparam(f"key_{position}", expanding=True)) for position, part in enumerate(key)]
        conditions.append(tuple_(*key).in_(keys))
    return KeyLookup(select(*columns).where(*conditions, *where).subquery(name), postgresql=False, width=len(key))


@contextmanager
def read_snapshot(connection: Connection) -> Iterator[Connection]:
    """Reads on `connection` (in autocommit) that all see one state of the database: a read-only transaction,
    repeatable read on PostgreSQL; on SQLite (WAL) a transaction's reads share the snapshot of its first one."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    else:
        connection.exec_driver_sql("BEGIN")
    try:
        yield connection
    except BaseException:
        with suppress(Exception):  # a broken connection: the pool resets it, the first error is the one to see
            connection.exec_driver_sql("ROLLBACK")
        raise
    connection.exec_driver_sql("COMMIT")


def view_of(cls: type[V], row: Any, **given: Any) -> V:
    """The dataclass `cls` of a row: each field from `given`, else the row's attribute of the same name (a
    mapped object read with a few joined columns, shown as one flat record)."""
    return cls(**{f.name: given[f.name] if f.name in given else getattr(row, f.name) for f in fields(cls)})


# --- searching and paging lists ------------------------------------------------------------------------------


def contains_text(text: str, *columns: Any) -> ColumnElement[bool]:
    """Any of `columns` contains `text`, ignoring case; `%`, `_` and `\\` in `text` are plain characters."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").lower() + "%"
    if not columns:
        return false()
    return or_(*(func.lower(column).like(pattern, escape="\\") for column in columns))


RowT = TypeVar("RowT")


@dataclass(frozen=True)
class Page(Generic[RowT]):
    """One page of a longer list: its rows, which page (from 1), the page size and how many rows in all."""

    rows: Sequence[RowT]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def first(self) -> int:
        """The position of the first row shown (from 1; 0 when there is none)."""
        return (self.number - 1) * self.size + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0


def page_of(
    session: Session, statement: Any, number: int, size: int, total: int | None = None
) -> tuple[list[Any], int, int]:
    """The rows of page `number` (from 1, clamped to the last page) of `statement`, the total (counted unless
    given) and the page number."""
    if total is None:
        total = int(session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0)
    last_page = max(1, math.ceil(total / size))
    number = min(max(1, number), last_page)
    rows = list(session.execute(statement.limit(size).offset((number - 1) * size)).all())
    return rows, total, number
