"""The operations page (admins only): statement runs with their progress, failed emails with the server's reason
and a resend button, queue lengths, live workers, a link to Flower, and a form to start a run.

Everything here reads from `shared.runs`, `shared.mail` and `shared.broker`; the handlers only parse, call and respond.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import MediaType, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy import select

from shared.broker import live_workers, queue_lengths
from shared.clock import local_minute, parse_day, today
from shared.db import session_scope
from shared.i18n import N_, gettext
from shared.mail import ResendError, failed_emails
from shared.models import Company
from shared.runs import RunError, list_runs, resend_email, start_run
from shared.settings import get_settings
from shared.vocab import RunStatus, Trigger
from web.i18n import request_language
from web.security import current_user, requires_admin

log = logging.getLogger("edocta.web.ops")

RUNS_SHOWN = 20
FAILED_SHOWN = 100

RUN_STATUS_LABELS: dict[str, str] = {
    RunStatus.RUNNING: N_("en curso"),
    RunStatus.DONE: N_("terminada"),
    RunStatus.FAILED: N_("con fallas"),
}


@dataclass(frozen=True)
class RunRow:
    """One run as the ops page shows it."""

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
    emails: int
    emails_pending: int
    percent: int

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _run_rows(session: Any) -> list[RunRow]:
    rows = []
    for run in list_runs(session, limit=RUNS_SHOWN):
        rows.append(
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
                emails=run.emails,
                emails_pending=run.emails_pending,
                percent=max(0, min(100, round(run.fraction * 100))),
            )
        )
    return rows


def _broker_view() -> dict[str, Any]:
    """Queue lengths and live workers; a broker that does not answer is shown as such, never as an error page."""
    try:
        queues: dict[str, int] | None = queue_lengths()
    except Exception:  # the page must render while the broker is down
        log.warning("ops: queue lengths unavailable", exc_info=True)
        queues = None
    try:
        workers: list[str] | None = live_workers(timeout=1.0)
    except Exception:
        log.warning("ops: workers unavailable", exc_info=True)
        workers = None
    return {"queues": queues, "workers": workers}


@get("/ops", name="ops", guards=[requires_admin], sync_to_thread=True)
def ops_page(request: Request[Any, Any, Any]) -> Template:
    """Runs, failed emails, queues and workers."""
    settings = get_settings()
    with session_scope() as session:
        runs = _run_rows(session)
        failed = failed_emails(session, limit=FAILED_SHOWN)
        companies = list(session.execute(select(Company.code, Company.name).order_by(Company.code)).all())
    context = {
        "runs": runs,
        "failed": [{"email": email, "updated": local_minute(email.updated_at)} for email in failed],
        "companies": companies,
        "flower_url": settings.flower_url,
        "today": today().isoformat(),
        **_broker_view(),
    }
    return Template(template_name="ops/ops.html.j2", context=context, media_type=MediaType.HTML)


@get("/ops/runs.json", name="ops_runs", guards=[requires_admin], sync_to_thread=True)
def ops_runs(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """The runs table's data, for the page's refresh script."""
    with session_scope() as session:
        runs = _run_rows(session)
    return Response({"runs": [run.as_json() for run in runs]})


@post("/ops/emails/{outbox_id:int}/resend", name="ops_resend", guards=[requires_admin], sync_to_thread=True)
def ops_resend(request: Request[Any, Any, Any], outbox_id: FromPath[int]) -> Redirect:
    """An explicit new attempt at one email (the only way an email is sent twice)."""
    user = current_user(request)
    language = request_language(request)
    try:
        recipient = resend_email(outbox_id, by_username=user.username)
    except ResendError:
        flash(request, gettext("Ese correo ya no existe.", language), "error")
    else:
        log.info("ops: %s resent outbox %s", user.username, outbox_id)
        flash(request, gettext("Correo reenviado a %(recipient)s.", language) % {"recipient": recipient}, "success")
    return Redirect(path="/ops", status_code=303)


@dataclass
class StartRunForm:
    cutoff: str = ""
    company: str = ""


@post("/ops/runs", name="ops_start_run", guards=[requires_admin], sync_to_thread=True)
def ops_start_run(
    request: Request[Any, Any, Any],
    data: Annotated[StartRunForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    """Start a statement run now at a cut-off (all companies, or one)."""
    user = current_user(request)
    language = request_language(request)
    cutoff = parse_day((data.cutoff or "").strip())
    if cutoff is None:
        flash(request, gettext("Escribe la fecha de corte como AAAA-MM-DD.", language), "error")
        return Redirect(path="/ops", status_code=303)
    if cutoff > today():
        flash(request, gettext("La fecha de corte no puede ser futura.", language), "error")
        return Redirect(path="/ops", status_code=303)
    try:
        run_id = start_run(cutoff, company_code=(data.company or "").strip() or None, trigger=Trigger.ADMIN)
    except RunError:
        flash(request, gettext("No existe esa empresa.", language), "error")
        return Redirect(path="/ops", status_code=303)
    log.info("ops: %s started run %s at %s", user.username, run_id, cutoff.isoformat())
    flash(request, gettext("Corrida %(id)s iniciada.", language) % {"id": run_id}, "success")
    return Redirect(path="/ops", status_code=303)


route_handlers: list[Any] = [ops_page, ops_runs, ops_resend, ops_start_run]
