"""How long statement files take to render, recorded where each render happens (a worker, the portal, the command
line) into the `render_durations` table: one counter per format, kind of process and histogram bucket. Every
process that serves /metrics then reads the same histogram.

A render is timed by `timed_render`; recording never fails the render (a database hiccup is logged and the
measurement dropped).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from sqlalchemy import select

from shared.db import dialect_insert, get_engine
from shared.models import RenderDuration
from shared.render.files import render_statement
from shared.statements import ActivityStatement, Statement
from shared.vocab import ProcessRole

log = logging.getLogger(__name__)

# Upper bounds (seconds) of the histogram's buckets: from a small XLSX to a statement of thousands of lines.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
INFINITY = "+Inf"

_role = ProcessRole.CLI


def set_process_role(role: ProcessRole) -> None:
    """Which kind of process this is (the worker and the portal say so when they start)."""
    global _role
    _role = role


def bucket_label(bound: float) -> str:
    """A bucket bound as Prometheus writes it: `0.25`, `1.0`, `+Inf`."""
    return INFINITY if math.isinf(bound) else repr(float(bound))


def bucket_for(seconds: float) -> str:
    for bound in BUCKETS:
        if seconds <= bound:
            return bucket_label(bound)
    return INFINITY


def record_render(fmt: str, seconds: float, source: str | None = None) -> None:
    """Count one render of `fmt` that took `seconds`, in its own short transaction."""
    engine = get_engine()
    statement = dialect_insert(engine, RenderDuration).values(
        format=fmt, source=str(source or _role), bucket=bucket_for(seconds), count=1, seconds=seconds
    )
    statement = statement.on_conflict_do_update(
        index_elements=["format", "source", "bucket"],
        set_={"count": RenderDuration.count + 1, "seconds": RenderDuration.seconds + statement.excluded.seconds},
    )
    try:
        with engine.begin() as connection:
            connection.execute(statement)
    except Exception:
        log.warning("could not record a %s render of %.3f s", fmt, seconds, exc_info=True)


def timed_render(statement: Statement | ActivityStatement, fmt: str) -> bytes:
    """`render_statement`, timed and recorded."""
    started = time.perf_counter()
    data = render_statement(statement, fmt)
    record_render(fmt, time.perf_counter() - started)
    return data


@dataclass(frozen=True)
class RenderHistogram:
    """The recorded renders of one format in one kind of process: cumulative counts per bucket bound (the last
    one `+Inf`), how many in all, and their seconds."""

    format: str
    source: str
    buckets: list[tuple[str, int]]
    count: int
    seconds: float


def render_histograms() -> list[RenderHistogram]:
    """Every (format, source) histogram recorded so far."""
    with get_engine().connect() as connection:
        rows = connection.execute(
            select(RenderDuration.format, RenderDuration.source, RenderDuration.bucket, RenderDuration.count)
            .add_columns(RenderDuration.seconds)
            .order_by(RenderDuration.format, RenderDuration.source)
        ).all()
    grouped: dict[tuple[str, str], dict[str, tuple[int, float]]] = {}
    for fmt, source, bucket, count, seconds in rows:
        grouped.setdefault((fmt, source), {})[bucket] = (int(count), float(seconds))
    histograms = []
    for (fmt, source), buckets in grouped.items():
        running = 0
        cumulative = []
        for bound in [*BUCKETS, math.inf]:
            label = bucket_label(bound)
            running += buckets.get(label, (0, 0.0))[0]
            cumulative.append((label, running))
        total_seconds = sum(seconds for _, seconds in buckets.values())
        histograms.append(RenderHistogram(fmt, source, cumulative, running, total_seconds))
    return histograms
