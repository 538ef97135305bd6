"""What every command shares: a user's mistake is one line on stderr and exit status 2."""

from __future__ import annotations

import datetime as dt

import click

from shared.clock import parse_day


class UserError(click.ClickException):
    """A user's mistake: one line on stderr, exit status 2."""

    exit_code = 2


def parse_date(value: str, what: str = "date") -> dt.date:
    day = parse_day(value)
    if day is None:
        raise UserError(f"{what} must be YYYY-MM-DD, got {value!r}")
    return day
