"""The schedule's tick: start every scheduled run that is due and has none yet, and hold a company's run back
while its data is stale.

Beat ticks every `SCHEDULE_TICK_SECONDS` (beat_schedule.py). Each tick looks at every run that became due
(its run day at RUN_HOUR:RUN_MINUTE, local) since the schedule first ticked, at most
`EDOCTA_SCHEDULE_CATCHUP_DAYS` back, and starts those with no run yet: a tick missed (beat down for a deploy at
06:00 on the 1st) is caught up by the next one. Run keys (`scheduled:<rule>:<cut-off>`) are unique, so ticks
delivered twice or racing start one run.

Freshness: a company whose last successful import is older than `EDOCTA_STALE_AFTER_HOURS` at the tick is left
out of the run and *held* (a `ScheduleHold`): each tick looks again; when its data is fresh its run starts
(`scheduled:<rule>:<cut-off>:<company>`); after `EDOCTA_STALE_WAIT_HOURS` the schedule gives up and mails
nothing stale. An administrator may start a held run anyway. A company with no recorded import is not held.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.exc import IntegrityError

import beat_schedule
from shared import clock
from shared.db import session_scope
from shared.feed.history import is_stale, last_refreshed
from shared.models import Company, ScheduleHold, SchedulerState, StatementRun
from shared.runs.schedule import RULES, DueRun, due_between, next_due, scheduled_run_key
from shared.runs.start import RunError, create_run
from shared.settings import get_settings
from shared.vocab import HoldStatus, ScheduleRule, Trigger

log = logging.getLogger(__name__)


def scheduled_tick(moment: dt.datetime | None = None) -> list[int]:
    """The beat tick at `moment` (now): start the runs due since the window's start that have none, and look
    again at the held ones. Returns the ids of the runs started."""
    moment = moment or clock.utcnow()
    settings = get_settings()
    since = _record_tick(moment)
    started: list[int] = []
    due = due_between(since, moment, settings.timezone, beat_schedule.RUN_HOUR, beat_schedule.RUN_MINUTE)
    if due:
        with session_scope() as session:
            keys = [d.run_key for d in due]
            existing = set(session.scalars(select(StatementRun.run_key).where(StatementRun.run_key.in_(keys))))
        for run in due:
            if run.run_key not in existing:
                started.extend(_start_due(run, moment))
    started.extend(recheck_holds(moment))
    return started


def _record_tick(moment: dt.datetime) -> dt.datetime:
    """Note this tick; returns where its catch-up window starts: the local midnight of the first tick ever (so
    a new installation does not mail old cut-offs), at most EDOCTA_SCHEDULE_CATCHUP_DAYS back."""
    for _attempt in range(2):
        try:
            with session_scope() as session:
                state = session.get(SchedulerState, 1)
                if state is None:
                    state = SchedulerState(id=1, first_tick_at=moment, last_tick_at=moment)
                    session.add(state)
                    session.flush()
                elif moment > state.last_tick_at:
                    state.last_tick_at = moment
                first = state.first_tick_at
            break
        except IntegrityError:  # another tick wrote the first record at the same moment
            continue
    zone = clock.business_zone()
    first_day = dt.datetime.combine(first.astimezone(zone).date(), dt.time(0, 0), tzinfo=zone)
    bound = moment - dt.timedelta(days=get_settings().schedule_catchup_days)
    return max(first_day, bound)


def _follows_rule(rule: str) -> ColumnElement[bool]:
    if rule == ScheduleRule.MONTHLY:  # the default, also for an empty or unknown schedule
        return or_(
            Company.schedule == ScheduleRule.MONTHLY,
            Company.schedule.is_(None),
            Company.schedule.not_in(list(ScheduleRule)),
        )
    return Company.schedule == rule


def _start_due(due: DueRun, moment: dt.datetime) -> list[int]:
    """Start the run of one due cut-off for the companies whose data is fresh; hold the others."""
    settings = get_settings()
    with session_scope() as session:
        companies = list(session.scalars(select(Company.id).where(_follows_rule(due.rule))))
        held = set(
            session.scalars(
                select(ScheduleHold.company_id).where(ScheduleHold.rule == due.rule, ScheduleHold.cutoff == due.cutoff)
            )
        )
        refreshed = last_refreshed(session)
    fresh, stale = [], []
    for company_id in companies:
        if company_id in held:
            continue
        seen = refreshed.get(company_id)
        if seen is not None and is_stale(seen[0], moment):
            stale.append((company_id, seen[0]))
        else:
            fresh.append(company_id)
    for company_id, refreshed_at in stale:
        try:
            with session_scope() as session:
                session.add(
                    ScheduleHold(
                        rule=due.rule,
                        cutoff=due.cutoff,
                        company_id=company_id,
                        status=HoldStatus.WAITING,
                        held_at=moment,
                        checked_at=moment,
                        wait_until=moment + dt.timedelta(hours=settings.stale_wait_hours),
                        refreshed_at=refreshed_at,
                        started_by="",
                    )
                )
            log.info("run %s held for company %s: its data is stale", due.run_key, company_id)
        except IntegrityError:
            pass  # another tick held it at the same moment
    if not fresh:
        return []
    run_id, created = create_run(
        due.cutoff,
        run_key=due.run_key,
        trigger=Trigger.SCHEDULE,
        company_ids=fresh,
        company_id=fresh[0] if len(fresh) == 1 else None,
    )
    return [run_id] if created else []


def _held_run_key(hold: ScheduleHold, code: str) -> str:
    return f"{scheduled_run_key(hold.rule, hold.cutoff)}:{code}"


def recheck_holds(moment: dt.datetime) -> list[int]:
    """Start the held runs whose company's data is fresh now; give up on those waited for long enough."""
    with session_scope() as session:
        holds = list(session.scalars(select(ScheduleHold).where(ScheduleHold.status == HoldStatus.WAITING)))
        refreshed = last_refreshed(session)
        session.expunge_all()
    started = []
    for hold in holds:
        seen = refreshed.get(hold.company_id)
        if seen is not None and not is_stale(seen[0], moment):
            run_id = _start_hold(hold.id, by="", trigger=Trigger.SCHEDULE, allowed=(HoldStatus.WAITING,))
            if run_id is not None:
                started.append(run_id)
            continue
        with session_scope() as session:
            values: dict[str, object] = {"checked_at": moment, "refreshed_at": seen[0] if seen else None}
            if moment >= hold.wait_until:
                values["status"] = HoldStatus.GAVE_UP
                log.warning("held run %s for company %s: still stale, nothing mailed", hold.cutoff, hold.company_id)
            session.execute(
                update(ScheduleHold)
                .where(ScheduleHold.id == hold.id, ScheduleHold.status == HoldStatus.WAITING)
                .values(**values)
            )
    return started


def _start_hold(hold_id: int, *, by: str, trigger: str, allowed: tuple[str, ...]) -> int | None:
    """Take the hold (a conditional update: one taker) and start its company's run; returns the run id."""
    with session_scope() as session:
        taken = session.execute(
            update(ScheduleHold)
            .where(ScheduleHold.id == hold_id, ScheduleHold.status.in_(allowed))
            .values(status=HoldStatus.STARTED, started_by=by[:150], checked_at=clock.utcnow())
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return None
        hold = session.get(ScheduleHold, hold_id)
        assert hold is not None
        code = session.scalar(select(Company.code).where(Company.id == hold.company_id)) or str(hold.company_id)
        key, cutoff, company_id = _held_run_key(hold, code), hold.cutoff, hold.company_id
    run_id, _ = create_run(cutoff, run_key=key, trigger=trigger, company_ids=[company_id], company_id=company_id)
    with session_scope() as session:
        session.execute(update(ScheduleHold).where(ScheduleHold.id == hold_id).values(run_id=run_id))
    return run_id


def start_held_run(hold_id: int, username: str) -> int:
    """An administrator starts a held run anyway (waiting, or given up). Raises RunError when it cannot."""
    run_id = _start_hold(hold_id, by=username, trigger=Trigger.ADMIN, allowed=(HoldStatus.WAITING, HoldStatus.GAVE_UP))
    if run_id is None:
        raise RunError("this held run was already started")
    return run_id


def held_runs(limit: int = 50) -> list[tuple[ScheduleHold, str, str]]:
    """The holds, waiting first, newest first, with their company's code and name."""
    with session_scope() as session:
        rows = session.execute(
            select(ScheduleHold, Company.code, Company.name)
            .join(Company, Company.id == ScheduleHold.company_id)
            .order_by((ScheduleHold.status == HoldStatus.WAITING).desc(), ScheduleHold.held_at.desc())
            .limit(limit)
        ).all()
        session.expunge_all()
    return [(hold, code, name) for hold, code, name in rows]


def upcoming_runs(now: dt.datetime | None = None) -> list[tuple[DueRun, int]]:
    """Per rule: the next scheduled run (when, which cut-off) and how many companies follow the rule."""
    now = now or clock.utcnow()
    settings = get_settings()
    result = []
    with session_scope() as session:
        for rule in RULES:
            count = len(list(session.scalars(select(Company.id).where(_follows_rule(rule)))))
            due = next_due(rule, now, settings.timezone, beat_schedule.RUN_HOUR, beat_schedule.RUN_MINUTE)
            result.append((due, count))
    return result


def last_tick() -> dt.datetime | None:
    with session_scope() as session:
        state = session.get(SchedulerState, 1)
        return None if state is None else state.last_tick_at
