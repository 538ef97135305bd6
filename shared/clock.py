"""The one clock: "now" in UTC for what is stored, "today" and local times in the business time zone
(`EDOCTA_TIMEZONE`) for what people read and for cut-off dates."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from shared.settings import get_settings


def utcnow() -> dt.datetime:
    """An aware UTC datetime: what the database stores."""
    return dt.datetime.now(dt.UTC)


def business_zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def today() -> dt.date:
    """Today in the business time zone (the business's day, not the server's)."""
    return dt.datetime.now(business_zone()).date()


def local_date(moment: dt.datetime) -> dt.date:
    """The calendar date of an aware `moment` in the business time zone."""
    if moment.tzinfo is None:
        raise ValueError("the moment must be timezone-aware")
    return moment.astimezone(business_zone()).date()


def local_minute(moment: dt.datetime | None) -> str:
    """`2026-11-30 14:05` in the business time zone ("" for None): how tables show a moment."""
    if moment is None:
        return ""
    return moment.astimezone(business_zone()).strftime("%Y-%m-%d %H:%M")


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_day(text: object) -> dt.date | None:
    """A date written exactly `YYYY-MM-DD`, or None (no week dates, no `20261031`, no times)."""
    if not isinstance(text, str) or not _DAY.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None
