"""The schedule's tick at chosen moments: a missed tick is caught up (every due cut-off with no run, within the
look-back), the next run of each rule, and a company's run held while its data is stale, started when the data
is fresh, given up after the wait, or started by an administrator anyway."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from shared.db import session_scope
from shared.models import ImportRecord, ScheduleHold, StatementRun
from shared.runs import RunError, scheduled_tick, start_held_run, upcoming_runs
from tests.factories import CustomerSpec, add_company, add_customers, run_cli, write_folder
from tests.servers import use_environment

MEXICO = ZoneInfo("America/Mexico_City")
D = dt.date


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=MEXICO)


def run_keys() -> list[str]:
    with session_scope() as session:
        return sorted(session.scalars(select(StatementRun.run_key)))


def companies(*rules: tuple[str, str]) -> None:
    for n, (code, rule) in enumerate(rules):
        add_company(code, f"Empresa {code}", schedule=rule)
        add_customers(code, [CustomerSpec(f"C{code}", f"Cliente {n}", f"c{code}@example.com")])


def imported(tmp_path: Path, code: str, when: dt.datetime) -> None:
    """A real `edocta import` naming company `code`, recorded as finished at `when`."""
    folder = write_folder(
        tmp_path / f"erp-{code}-{when.timestamp():.0f}",
        {"companies.csv": f"company_code,name\n{code},Empresa {code}\n"},
    )
    assert run_cli("import", str(folder)).exit_code == 0
    with session_scope() as session:
        last = session.scalar(select(ImportRecord.id).order_by(ImportRecord.id.desc()).limit(1))
        session.execute(update(ImportRecord).where(ImportRecord.id == last).values(finished_at=when))


def test_a_tick_missed_while_beat_was_down_is_caught_up_once(database: str) -> None:
    companies(("1000", "monthly"), ("2000", "weekly"), ("3000", "daily"))
    # Beat runs on Saturday November 28th, then is down from Sunday until Wednesday December 2nd, 10:00.
    assert len(scheduled_tick(local(2026, 11, 28, 7))) == 1
    assert run_keys() == ["scheduled:daily:2026-11-27"]

    started = scheduled_tick(local(2026, 12, 2, 10))

    assert len(started) == 6
    assert run_keys() == [
        "scheduled:daily:2026-11-27",
        "scheduled:daily:2026-11-28",
        "scheduled:daily:2026-11-29",
        "scheduled:daily:2026-11-30",
        "scheduled:daily:2026-12-01",
        "scheduled:monthly:2026-11-30",  # due Tuesday the 1st at 06:00, when beat was down
        "scheduled:weekly:2026-11-29",  # due Monday the 30th
    ]
    assert scheduled_tick(local(2026, 12, 2, 10, 5)) == []  # the next tick finds every run there


def test_the_look_back_is_bounded_and_a_new_installation_does_not_mail_old_cutoffs(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    companies(("1000", "monthly"), ("3000", "daily"))
    # The first tick ever, on December 2nd: November's monthly run (due on the 1st) is older than the schedule.
    scheduled_tick(local(2026, 12, 2, 10))
    assert run_keys() == ["scheduled:daily:2026-12-01"]
    # Down for a week, with a look-back of 2 days: only the runs due in the last 2 days start.
    use_environment(monkeypatch, EDOCTA_SCHEDULE_CATCHUP_DAYS="2")
    scheduled_tick(local(2026, 12, 9, 10))
    assert run_keys() == ["scheduled:daily:2026-12-01", "scheduled:daily:2026-12-07", "scheduled:daily:2026-12-08"]


def test_the_next_run_of_each_rule(database: str) -> None:
    companies(("1000", "monthly"), ("3000", "daily"))
    upcoming = {due.rule: (due.due_at, due.cutoff, count) for due, count in upcoming_runs(local(2026, 12, 1, 6, 1))}
    assert upcoming == {
        "monthly": (local(2027, 1, 1, 6), D(2026, 12, 31), 1),
        "semimonthly": (local(2026, 12, 16, 6), D(2026, 12, 15), 0),
        "weekly": (local(2026, 12, 7, 6), D(2026, 12, 6), 0),
        "daily": (local(2026, 12, 2, 6), D(2026, 12, 1), 1),
    }
    assert upcoming_runs(local(2026, 12, 1, 5, 59))[0][0].due_at == local(2026, 12, 1, 6)


def test_a_run_waits_for_fresh_data_then_starts_or_gives_up(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_environment(monkeypatch, EDOCTA_STALE_AFTER_HOURS="36", EDOCTA_STALE_WAIT_HOURS="12")
    companies(("1000", "daily"), ("2000", "daily"), ("3000", "daily"))
    imported(tmp_path, "1000", local(2026, 12, 1, 2))  # 29 hours before the tick: fresh
    imported(tmp_path, "2000", local(2026, 11, 29, 2))  # 77 hours: stale
    imported(tmp_path, "3000", local(2026, 11, 28, 2))  # stale

    started = scheduled_tick(local(2026, 12, 2, 7))

    assert len(started) == 1
    with session_scope() as session:
        run = session.scalars(select(StatementRun)).one()
        assert (run.run_key, run.company_id, run.accounts) == ("scheduled:daily:2026-12-01", 1, 1)
        holds = session.scalars(select(ScheduleHold).order_by(ScheduleHold.company_id)).all()
        assert [(h.company_id, h.status, h.cutoff) for h in holds] == [
            (2, "waiting", D(2026, 12, 1)),
            (3, "waiting", D(2026, 12, 1)),
        ]
        assert holds[0].wait_until == local(2026, 12, 2, 19)
    # Ticks retry; still stale: nothing starts.
    assert scheduled_tick(local(2026, 12, 2, 7, 5)) == []
    # Company 2000's ERP delivers: the next tick starts its run, for that company alone.
    imported(tmp_path, "2000", local(2026, 12, 2, 7, 30))
    assert len(scheduled_tick(local(2026, 12, 2, 8))) == 1
    assert "scheduled:daily:2026-12-01:2000" in run_keys()
    # Company 3000 stays stale past the wait: the schedule gives up and mails nothing stale.
    assert scheduled_tick(local(2026, 12, 2, 19, 5)) == []
    with session_scope() as session:
        states = {h.company_id: h.status for h in session.scalars(select(ScheduleHold))}
        assert states == {2: "started", 3: "gave_up"}
    assert not any(key.endswith(":3000") for key in run_keys())
    # An administrator starts it anyway, once.
    hold_id = next(hold.id for hold in _holds() if hold.company_id == 3)
    run_id = start_held_run(hold_id, "ana")
    with pytest.raises(RunError):
        start_held_run(hold_id, "ana")
    with session_scope() as session:
        run = session.get(StatementRun, run_id)
        assert run is not None and (run.run_key, run.trigger) == ("scheduled:daily:2026-12-01:3000", "admin")
        hold = session.get(ScheduleHold, hold_id)
        assert hold is not None and (hold.status, hold.started_by, hold.run_id) == ("started", "ana", run_id)


def _holds() -> list[ScheduleHold]:
    with session_scope() as session:
        holds = list(session.scalars(select(ScheduleHold)))
        session.expunge_all()
        return holds


def test_the_beat_task_itself_catches_up_at_a_chosen_now(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared import clock
    from worker.tasks import scheduled_tick as tick_task

    companies(("1000", "monthly"))
    now = {"moment": local(2026, 11, 30, 6, 2)}
    monkeypatch.setattr(clock, "utcnow", lambda: now["moment"].astimezone(dt.UTC))
    assert tick_task.apply().get() == []  # November 30th: nothing monthly is due
    # Beat is down from December 1st 05:00 to the 3rd; its first task there starts November's run.
    now["moment"] = local(2026, 12, 3, 9, 30)
    assert len(tick_task.apply().get()) == 1
    assert run_keys() == ["scheduled:monthly:2026-11-30"]
    assert tick_task.apply().get() == []
