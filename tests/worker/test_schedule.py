"""The cut-off rules and the schedule tick: right dates, and one run per tick even when ticked twice."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

import beat_schedule
from shared.broker import queue_lengths
from shared.db import session_scope
from shared.models import RunAccount, StatementRun
from shared.runs import scheduled_tick
from shared.runs.schedule import UnknownRule, cutoff_for, due_runs, local_date
from shared.vocab import Queue, Task
from tests.factories import CustomerSpec, add_company, add_customers

D = dt.date
MEXICO = "America/Mexico_City"


@pytest.mark.parametrize(
    ("rule", "run_date", "cutoff"),
    [
        ("monthly", D(2026, 12, 1), D(2026, 11, 30)),
        ("monthly", D(2027, 1, 1), D(2026, 12, 31)),
        ("monthly", D(2026, 3, 1), D(2026, 2, 28)),
        ("monthly", D(2028, 3, 1), D(2028, 2, 29)),  # leap year
        ("monthly", D(2100, 3, 1), D(2100, 2, 28)),  # not a leap year (divisible by 100)
        ("monthly", D(2000, 3, 1), D(2000, 2, 29)),  # a leap year (divisible by 400)
        ("monthly", D(2026, 5, 1), D(2026, 4, 30)),
        ("monthly", D(2026, 11, 2), None),
        ("monthly", D(2026, 11, 30), None),
        ("semimonthly", D(2026, 11, 16), D(2026, 11, 15)),
        ("semimonthly", D(2026, 12, 1), D(2026, 11, 30)),
        ("semimonthly", D(2028, 3, 1), D(2028, 2, 29)),
        ("semimonthly", D(2026, 11, 15), None),
        ("semimonthly", D(2026, 11, 17), None),
        ("weekly", D(2026, 11, 30), D(2026, 11, 29)),  # Monday -> Sunday
        ("weekly", D(2027, 1, 4), D(2027, 1, 3)),  # across the year end
        ("weekly", D(2026, 12, 1), None),  # Tuesday
        ("weekly", D(2026, 11, 29), None),  # Sunday
        ("daily", D(2026, 3, 1), D(2026, 2, 28)),
        ("daily", D(2028, 3, 1), D(2028, 2, 29)),
        ("daily", D(2027, 1, 1), D(2026, 12, 31)),
    ],
)
def test_cutoff_for_each_rule(rule: str, run_date: dt.date, cutoff: dt.date | None) -> None:
    assert cutoff_for(rule, run_date) == cutoff


def test_unknown_rule_is_refused() -> None:
    with pytest.raises(UnknownRule, match="fortnightly"):
        cutoff_for("fortnightly", D(2026, 12, 1))


def test_the_tick_time_is_read_in_the_configured_timezone() -> None:
    # 05:30 UTC on December 1st is still November 30th in Mexico City (UTC-6): no monthly run is due there.
    moment = dt.datetime(2026, 12, 1, 5, 30, tzinfo=dt.UTC)
    assert local_date(moment, MEXICO) == D(2026, 11, 30)
    assert [d.rule for d in due_runs(moment, MEXICO)] == ["weekly", "daily"]  # Nov 30th 2026 is a Monday
    assert [(d.rule, d.cutoff) for d in due_runs(moment, "UTC")] == [
        ("monthly", D(2026, 11, 30)),
        ("semimonthly", D(2026, 11, 30)),
        ("daily", D(2026, 11, 30)),
    ]
    # 06:00 in Mexico City on December 1st is 12:00 UTC.
    six_local = dt.datetime(2026, 12, 1, 6, 0, tzinfo=ZoneInfo(MEXICO))
    assert six_local.astimezone(dt.UTC).hour == 12
    monthly = [d for d in due_runs(six_local, MEXICO) if d.rule == "monthly"]
    assert [(d.cutoff, d.run_key) for d in monthly] == [(D(2026, 11, 30), "scheduled:monthly:2026-11-30")]


def test_a_naive_tick_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        local_date(dt.datetime(2026, 12, 1, 6, 0), MEXICO)


def test_beat_entries_are_data_with_known_task_names() -> None:
    tick = beat_schedule.ENTRIES["statement-runs"]
    assert tick["task"] == Task.SCHEDULED_TICK
    assert tick["every_seconds"] == beat_schedule.SCHEDULE_TICK_SECONDS
    assert (beat_schedule.RUN_HOUR, beat_schedule.RUN_MINUTE) == (6, 0)
    assert beat_schedule.ENTRIES["import-folder"]["task"] == Task.SCAN_IMPORTS
    assert beat_schedule.ENTRIES["sweep-outbox"]["task"] == Task.SWEEP_OUTBOX
    assert set(beat_schedule.RULES) == {"monthly", "semimonthly", "weekly", "daily"}


def test_celery_beat_uses_the_schedule_in_the_configured_timezone() -> None:
    from worker.celery_app import create_celery_app

    app = create_celery_app()
    entry = app.conf.beat_schedule["statement-runs"]
    assert entry["task"] == Task.SCHEDULED_TICK
    assert entry["schedule"] == beat_schedule.SCHEDULE_TICK_SECONDS
    assert app.conf.timezone == MEXICO


def test_a_tick_delivered_twice_starts_one_run(database: str, var_dir: Path) -> None:
    add_company("1000", "Tinacos del Bajío", schedule="monthly")
    add_company("2000", "Aceros del Norte", schedule="weekly")
    add_company("3000", "Plásticos de Occidente", schedule="semimonthly")
    add_customers("1000", [CustomerSpec("100001", "Ferretería La Paz", "pagos@lapaz.example")])
    add_customers("2000", [CustomerSpec("100002", "Constructora Río", "cxp@rio.example")])
    add_customers("3000", [CustomerSpec("100003", "Maderas Finas", "")])
    # Tuesday December 1st 2026, 06:00 in Mexico City: monthly and semimonthly are due, weekly is not.
    tick = dt.datetime(2026, 12, 1, 6, 0, tzinfo=ZoneInfo(MEXICO))

    first = scheduled_tick(tick)
    second = scheduled_tick(tick + dt.timedelta(seconds=3))

    assert len(first) == 2
    assert second == []
    with session_scope() as session:
        runs = session.scalars(select(StatementRun).order_by(StatementRun.run_key)).all()
        assert [(r.run_key, r.cutoff, r.trigger) for r in runs] == [
            ("scheduled:monthly:2026-11-30", D(2026, 11, 30), "schedule"),
            ("scheduled:semimonthly:2026-11-30", D(2026, 11, 30), "schedule"),
        ]
        assert session.scalar(select(func.count()).select_from(RunAccount)) == 2
    # One task per account was enqueued, once (the second tick enqueued nothing).
    assert queue_lengths()[Queue.RENDER] == 2
