"""The operators' pages (administrators only): the overview (`overview`: one partial per section), a page per run
with retry and cancel (`runs`), the workers (`workers`), the email and audit logs (`logs`), the data feed and the
schedule (`feed`). Everything is read from `shared`; the handlers only parse, call and respond."""

from typing import Any

from web.ops import feed, logs, overview, runs, workers

route_handlers: list[Any] = [
    *overview.route_handlers,
    *runs.route_handlers,
    *workers.route_handlers,
    *logs.route_handlers,
    *feed.route_handlers,
]

__all__ = ["route_handlers"]
