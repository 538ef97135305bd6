"""The ops overview (`/ops`): one section per concern, each a partial template (`ops/_<section>.html.j2`) with the
function that gathers its data. A new section is one more entry in `SECTIONS` and one more partial.

Also the runs table's data for the page's refresh script (`/ops/runs.json`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar import MediaType, Request, Response, get
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.broker import queue_lengths, worker_records
from shared.clock import local_minute, today
from shared.db import session_scope
from shared.health import service_health
from shared.mail import delivery_state, failed_emails
from shared.models import Company
from shared.runs import list_runs
from shared.settings import get_settings
from web.ops.context import RUN_STATUS_LABELS
from web.ops.feed import feed_section, schedule_section
from web.security import requires_admin

log = logging.getLogger("edocta.web.ops")

RUNS_SHOWN = 20
FAILED_SHOWN = 20


@dataclass(frozen=True)
class RunRow:
    """One run as the ops tables show it."""

    id: int
    cutoff: str
    company: str
    trigger: str
    status: str
    status_label: str
    created: str
    finished: str
    accounts: int
    processed: int
    rendered: int
    sent: int
    failed: int
    skipped: int
    no_recipients: int
    cancelled: int
    emails: int
    emails_pending: int
    percent: int
    sent_before: bool  # every processed account had been mailed by an earlier run at this cut-off

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run_rows(session: Session, limit: int = RUNS_SHOWN) -> list[RunRow]:
    return [
        RunRow(
            id=run.id,
            cutoff=run.cutoff.isoformat(),
            company=run.company_code or "",
            trigger=run.trigger,
            status=run.status,
            status_label=RUN_STATUS_LABELS.get(run.status, run.status),
            created=local_minute(run.created_at),
            finished=local_minute(run.finished_at),
            accounts=run.accounts,
            processed=run.processed,
            rendered=run.rendered,
            sent=run.sent,
            failed=run.failed,
            skipped=run.skipped,
            no_recipients=run.no_recipients,
            cancelled=run.cancelled,
            emails=run.emails,
            emails_pending=run.emails_pending,
            percent=max(0, min(100, round(run.fraction * 100))),
            sent_before=run.emails == 0 and run.done > 0,
        )
        for run in list_runs(session, limit=limit)
    ]


# --- the sections -------------------------------------------------------------------------------------------


def health_section(session: Session) -> dict[str, Any]:
    """Database, broker and mail at a glance, and how delivery is doing."""
    return {"health": {check.service: check for check in service_health()}, "delivery": delivery_state(session)}


def runs_section(session: Session) -> dict[str, Any]:
    companies = list(session.execute(select(Company.code, Company.name).order_by(Company.code)).all())
    return {"runs": run_rows(session), "companies": companies, "today": today().isoformat()}


def failed_section(session: Session) -> dict[str, Any]:
    failed = failed_emails(session, limit=FAILED_SHOWN)
    return {"failed": [{"email": email, "updated": local_minute(email.updated_at)} for email in failed]}


def broker_view() -> dict[str, Any]:
    """Queue lengths and the workers' latest heartbeats; a broker that does not answer is shown as such."""
    try:
        queues: dict[str, int] | None = queue_lengths()
    except Exception:  # the page must render while the broker is down
        log.warning("ops: queue lengths unavailable", exc_info=True)
        queues = None
    try:
        workers: list[Any] | None = worker_records()
    except Exception:
        log.warning("ops: worker records unavailable", exc_info=True)
        workers = None
    return {"queues": queues, "workers": workers}


@dataclass(frozen=True)
class Section:
    template: str
    gather: Callable[[Session], dict[str, Any]]


SECTIONS: list[Section] = [
    Section("ops/_health.html.j2", health_section),
    Section("ops/_runs.html.j2", runs_section),
    Section("ops/_schedule.html.j2", schedule_section),
    Section("ops/_feed.html.j2", feed_section),
    Section("ops/_failed.html.j2", failed_section),
    Section("ops/_broker.html.j2", lambda _session: broker_view()),
]


@get("/ops", name="ops", guards=[requires_admin], sync_to_thread=True)
def ops_page(request: Request[Any, Any, Any]) -> Template:
    """Every section of the overview, in order."""
    context: dict[str, Any] = {"flower_url": get_settings().flower_url, "ops_page": "overview"}
    with session_scope() as session:
        for section in SECTIONS:
            context.update(section.gather(session))
    context["sections"] = [section.template for section in SECTIONS]
    return Template(template_name="ops/overview.html.j2", context=context, media_type=MediaType.HTML)


@get("/ops/runs.json", name="ops_runs", guards=[requires_admin], sync_to_thread=True)
def ops_runs(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """The runs table's data, for the page's refresh script."""
    with session_scope() as session:
        runs = run_rows(session)
    return Response({"runs": [run.as_json() for run in runs]})


route_handlers: list[Any] = [ops_page, ops_runs]
