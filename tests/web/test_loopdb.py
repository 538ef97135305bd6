"""The event loop's reads (`web.loopdb`) against a real PostgreSQL: psycopg's values, prepared statements that
survive errors, and connections that fail or are cancelled midway never reused."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import psycopg
import pytest

from web.loopdb import LoopReader, as_text, conninfo_of, positional


def test_named_placeholders_become_positional_ones() -> None:
    text, names = positional("SELECT %(a)s::INTEGER, %(b)s::VARCHAR, %(a)s::INTEGER, 5 %% 3")
    assert text == b"SELECT $1::INTEGER, $2::VARCHAR, $1::INTEGER, 5 % 3"
    assert names == ("a", "b")
    with pytest.raises(ValueError):
        positional("SELECT %s")
    assert [as_text(v) for v in (None, True, 7, Decimal("1.50"), "ñandú", dt.date(2026, 10, 31))] == [
        None,
        b"true",
        b"7",
        b"1.50",
        "ñandú".encode(),
        b"2026-10-31",
    ]
    with pytest.raises(TypeError):
        as_text(1.5)


def test_rows_read_as_psycopg_reads_them(postgres_database: str) -> None:
    conninfo = conninfo_of(postgres_database)
    assert conninfo is not None
    sql = (
        "SELECT %(name)s::VARCHAR, %(n)s::INTEGER + 1, %(day)s::DATE, NULL::TEXT, 12.50::NUMERIC, %(flag)s::BOOLEAN"
        " WHERE %(n)s::INTEGER > 0"
    )
    params = {"name": "Ferretería Ñandú", "n": 41, "day": dt.date(2026, 10, 31), "flag": True}
    with psycopg.connect(conninfo) as plain:
        expected = plain.execute(sql, params).fetchone()

    async def main() -> None:
        reader = LoopReader(conninfo, size=2)
        rows = await asyncio.gather(*(reader.fetch_one(sql, params) for _ in range(6)))
        assert rows == [expected] * 6
        assert expected == ("Ferretería Ñandú", 42, dt.date(2026, 10, 31), None, Decimal("12.50"), True)
        assert await reader.fetch_one(sql, {**params, "n": 0}) is None
        # Parameters given as constants of the statement (put in text form once) read the same.
        constants = {"name": params["name"], "day": params["day"], "flag": True}
        for n in (41, 0, 41):
            assert await reader.fetch_one(sql + " ", {"n": n}, constants) == (expected if n else None)
        # An error fails its request only (that connection is dropped); the next ones are answered.
        with pytest.raises(psycopg.Error):
            await reader.fetch_one("SELECT 1 / %(zero)s::INTEGER", {"zero": 0})
        assert await reader.fetch_one(sql, params) == expected
        # A request cancelled midway: its connection is not given to the next one.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.fetch_one("SELECT pg_sleep(%(s)s::FLOAT)", {"s": "5"}), 0.2)
        assert await reader.fetch_one(sql, params) == expected
        # Connections the server ends while idle are noticed and replaced.
        with psycopg.connect(conninfo, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        await asyncio.sleep(0.2)
        assert await reader.fetch_one(sql, params) == expected
        await reader.close()

    asyncio.run(main())
