"""Cut-off rules: which runs are due at a schedule tick, and for which cut-off date. Pure functions.

The tick time is read in `EDOCTA_TIMEZONE` (a tick at 06:00 in Mexico City is 12:00 UTC): the local date
decides. See beat_schedule.py for the table of rules.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from shared.vocab import ScheduleRule

RULES = tuple(ScheduleRule)


class UnknownRule(ValueError):
    """A schedule name that is not one of RULES."""


def last_day_of_previous_month(day: dt.date) -> dt.date:
    return day.replace(day=1) - dt.timedelta(days=1)


def cutoff_for(rule: str, run_date: dt.date) -> dt.date | None:
    """The cut-off a run of `rule` starting on `run_date` (a local date) covers, or None if none is due."""
    if rule == ScheduleRule.MONTHLY:
        return last_day_of_previous_month(run_date) if run_date.day == 1 else None
    if rule == ScheduleRule.SEMIMONTHLY:
        if run_date.day == 1:
            return last_day_of_previous_month(run_date)
        if run_date.day == 16:
            return run_date.replace(day=15)
        return None
    if rule == ScheduleRule.WEEKLY:
        # Monday's run covers the week that ended on Sunday.
        return run_date - dt.timedelta(days=1) if run_date.weekday() == 0 else None
    if rule == ScheduleRule.DAILY:
        return run_date - dt.timedelta(days=1)
    raise UnknownRule(f"unknown schedule {rule!r}; expected one of {', '.join(RULES)}")


def local_date(moment: dt.datetime, timezone: str) -> dt.date:
    """The calendar date of an aware `moment` in `timezone`."""
    if moment.tzinfo is None:
        raise ValueError("the tick time must be timezone-aware")
    return moment.astimezone(ZoneInfo(timezone)).date()


@dataclass(frozen=True)
class DueRun:
    rule: str
    cutoff: dt.date
    due_at: dt.datetime | None = None  # the moment the run became due (its run date at the run time, local)

    @property
    def run_key(self) -> str:
        """Unique per rule and cut-off: the same tick delivered twice finds the run already there."""
        return scheduled_run_key(self.rule, self.cutoff)


def scheduled_run_key(rule: str, cutoff: dt.date) -> str:
    return f"scheduled:{rule}:{cutoff.isoformat()}"


def due_runs(moment: dt.datetime, timezone: str, rules: tuple[str, ...] = RULES) -> list[DueRun]:
    """The runs due at a tick at `moment` (aware), one per rule that has a cut-off on that local date."""
    day = local_date(moment, timezone)
    due = []
    for rule in rules:
        cutoff = cutoff_for(rule, day)
        if cutoff is not None:
            due.append(DueRun(rule, cutoff))
    return due


def due_moment(run_date: dt.date, timezone: str, hour: int, minute: int) -> dt.datetime:
    """The aware moment a run of `run_date` becomes due: that local date at hour:minute."""
    return dt.datetime.combine(run_date, dt.time(hour, minute), tzinfo=ZoneInfo(timezone))


def due_between(
    start: dt.datetime, end: dt.datetime, timezone: str, hour: int, minute: int, rules: tuple[str, ...] = RULES
) -> list[DueRun]:
    """Every run that became due in [start, end] (aware moments), oldest first: what a tick catches up on."""
    due = []
    day = local_date(start, timezone)
    last = local_date(end, timezone)
    while day <= last:
        moment = due_moment(day, timezone, hour, minute)
        if start <= moment <= end:
            for rule in rules:
                cutoff = cutoff_for(rule, day)
                if cutoff is not None:
                    due.append(DueRun(rule, cutoff, moment))
        day += dt.timedelta(days=1)
    return due


def next_due(rule: str, after: dt.datetime, timezone: str, hour: int, minute: int) -> DueRun:
    """The next run of `rule` due after `after` (aware): when, and for which cut-off."""
    day = local_date(after, timezone)
    while True:  # every rule has a run day within a month
        moment = due_moment(day, timezone, hour, minute)
        cutoff = cutoff_for(rule, day)
        if cutoff is not None and moment > after:
            return DueRun(rule, cutoff, moment)
        day += dt.timedelta(days=1)
