"""Runs, for administrators: start one (after a confirmation step when it covers every company or finds statements
already mailed), a page per run with each account's outcome (filtered, searched, paginated), retry its failures,
and cancel it (after a confirmation step). Every step works without JavaScript."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import MediaType, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath, FromQuery
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.clock import local_minute, parse_day, today
from shared.db import session_scope
from shared.i18n import N_, gettext
from shared.models import Company, StatementRun
from shared.runs import (
    Mailed,
    RunAction,
    RunActionError,
    RunError,
    account_lines,
    cancel_run,
    mailed_before_start,
    mailed_in_run,
    outcome_counts,
    retry_failed,
    run_progress,
    start_run,
)
from shared.vocab import RunAccountOutcome, RunStatus, Trigger
from web.i18n import request_language
from web.ops.context import (
    EMAIL_STATUS_LABELS,
    OUTCOME_LABELS,
    PAGE_SIZE,
    RUN_STATUS_LABELS,
    mailed_note,
    page_links,
    page_number,
)
from web.security import current_user, requires_admin

log = logging.getLogger("edocta.web.ops")


@dataclass
class StartRunForm:
    cutoff: str = ""
    company: str = ""
    confirm: str = ""


def _back_to_ops(request: Request[Any, Any, Any], msgid: str) -> Redirect:
    flash(request, gettext(msgid, request_language(request)), "error")
    return Redirect(path="/ops", status_code=303)


@post("/ops/runs", name="ops_start_run", guards=[requires_admin], sync_to_thread=True)
def ops_start_run(
    request: Request[Any, Any, Any],
    data: Annotated[StartRunForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect | Template:
    """Start a statement run at a cut-off (all companies, or one). A run for every company, or one that finds
    statements already mailed at that cut-off, first shows what it would do and asks to confirm."""
    user = current_user(request)
    language = request_language(request)
    cutoff = parse_day((data.cutoff or "").strip())
    if cutoff is None:
        return _back_to_ops(request, N_("Escribe la fecha de corte como AAAA-MM-DD."))
    if cutoff > today():
        return _back_to_ops(request, N_("La fecha de corte no puede ser futura."))
    company_code = (data.company or "").strip() or None
    with session_scope() as session:
        company = session.execute(select(Company.id, Company.name).where(Company.code == company_code)).first()
        if company_code is not None and company is None:
            return _back_to_ops(request, N_("No existe esa empresa."))
        mailed = mailed_before_start(session, cutoff, company.id if company else None)
    if data.confirm != "1" and (company_code is None or mailed.mailed):
        context = {
            "cutoff": cutoff.isoformat(),
            "company": company_code or "",
            "company_name": company.name if company else "",
            "accounts": mailed.accounts,
            "note": mailed_note(mailed, language),
            "ops_page": "overview",
        }
        return Template(template_name="ops/run_start.html.j2", context=context, media_type=MediaType.HTML)
    try:
        run_id = start_run(cutoff, company_code=company_code, trigger=Trigger.ADMIN)
    except RunError:
        return _back_to_ops(request, N_("No existe esa empresa."))
    log.info("ops: %s started run %s at %s", user.username, run_id, cutoff.isoformat())
    flash(request, gettext("Corrida %(id)s iniciada.", language) % {"id": run_id}, "success")
    return Redirect(path=f"/ops/runs/{run_id}", status_code=303)


# While a run of many accounts is running, its outcome breakdown and what had been mailed before it (each a pass
# over every account of the run and its emails: about 0.3 s at 10,000 done accounts, more at 100,000) are counted
# at most once per RECOUNT_SECONDS per web process; the progress bar and counters above them are read live from
# the indexes. A finished run, or one an admin just acted on, is counted afresh.
RECOUNT_SECONDS = 10.0
LARGE_RUN = 5000
_COUNTS: dict[int, tuple[float, tuple[dict[str, int], Mailed]]] = {}
_COUNTS_LOCK = threading.Lock()


def _outcomes(session: Session, run: StatementRun, running: bool) -> tuple[dict[str, int], Mailed]:
    if not running or run.accounts < LARGE_RUN:
        _COUNTS.pop(run.id, None)
        return outcome_counts(session, run), mailed_in_run(session, run)
    now = time.monotonic()
    found = _COUNTS.get(run.id)
    if found is not None and now - found[0] < RECOUNT_SECONDS:
        return dict(found[1][0]), found[1][1]
    counted = (outcome_counts(session, run), mailed_in_run(session, run))
    with _COUNTS_LOCK:
        for stale in [run_id for run_id, (at, _) in _COUNTS.items() if now - at >= RECOUNT_SECONDS]:
            _COUNTS.pop(stale, None)
        _COUNTS[run.id] = (now, counted)
    return dict(counted[0]), counted[1]


def _run(session: Session, run_id: int) -> StatementRun:
    run = session.get(StatementRun, run_id)
    if run is None:
        raise NotFoundException()
    return run


@get("/ops/runs/{run_id:int}", name="ops_run", guards=[requires_admin], sync_to_thread=True)
def ops_run(
    request: Request[Any, Any, Any],
    run_id: FromPath[int],
    outcome: FromQuery[str] = "",
    q: FromQuery[str] = "",
    page: FromQuery[str] = "1",
) -> Template:
    """One run: its progress, and each account's outcome with the reasons of its failures."""
    outcome = outcome if outcome in list(RunAccountOutcome) else ""
    query = q.strip()[:200]
    with session_scope() as session:
        run = _run(session, run_id)
        progress = run_progress(session, run_id)
        counts, mailed = _outcomes(session, run, progress is not None and not progress.finished)
        known = None if query else (counts[outcome] if outcome else sum(counts.values()))
        lines = account_lines(
            session, run, outcome=outcome, query=query, page=page_number(page), size=PAGE_SIZE, total=known
        )
    assert progress is not None
    context = {
        "run": progress,
        "status_label": RUN_STATUS_LABELS.get(progress.status, progress.status),
        "percent": max(0, min(100, round(progress.fraction * 100))),
        "counts": counts,
        "total": sum(counts.values()),
        "lines": lines,
        "outcome": outcome,
        "q": query,
        "page_link": page_links(request),
        "outcome_labels": OUTCOME_LABELS,
        "email_labels": EMAIL_STATUS_LABELS,
        "note": mailed_note(mailed, request_language(request)),
        "created": local_minute(progress.created_at),
        "finished": local_minute(progress.finished_at),
        "cancelled": local_minute(progress.cancelled_at),
        "ops_page": "overview",
    }
    return Template(template_name="ops/run.html.j2", context=context, media_type=MediaType.HTML)


@get("/ops/runs/{run_id:int}/progress", name="ops_run_progress", guards=[requires_admin], sync_to_thread=True)
def ops_run_progress(run_id: FromPath[int]) -> Response[dict[str, Any]]:
    """The run's progress, for the run page's refresh script."""
    with session_scope() as session:
        progress = run_progress(session, run_id)
    if progress is None:
        raise NotFoundException()
    return Response(
        {
            "id": progress.id,
            "status": progress.status,
            "percent": max(0, min(100, round(progress.fraction * 100))),
            "processed": progress.processed,
            "accounts": progress.accounts,
            "sent": progress.sent,
            "emails": progress.emails,
            "failed": progress.failed,
        }
    )


def _act_on_run(
    request: Request[Any, Any, Any], run_id: int, action: Callable[..., RunAction], done_msgid: str
) -> Redirect:
    """Do `action` (retry, cancel) on the run, say what it touched (or why it could not), back to the run."""
    user = current_user(request)
    language = request_language(request)
    _COUNTS.pop(run_id, None)
    try:
        done = action(run_id, by_username=user.username)
    except LookupError:
        raise NotFoundException() from None
    except RunActionError as error:
        flash(request, error.message(language), "error")
    else:
        log.info("ops: %s: %s run %s: %s", user.username, action.__name__, run_id, done)
        flash(request, gettext(done_msgid, language) % {"accounts": done.accounts, "emails": done.emails}, "success")
    return Redirect(path=f"/ops/runs/{run_id}", status_code=303)


@post("/ops/runs/{run_id:int}/retry", name="ops_run_retry", guards=[requires_admin], sync_to_thread=True)
def ops_run_retry(request: Request[Any, Any, Any], run_id: FromPath[int]) -> Redirect:
    """Process the failed accounts again and send the failed emails again."""
    return _act_on_run(
        request, run_id, retry_failed, N_("Reintento en marcha: cuentas %(accounts)s, correos %(emails)s.")
    )


@get("/ops/runs/{run_id:int}/cancel", name="ops_run_confirm_cancel", guards=[requires_admin], sync_to_thread=True)
def ops_run_confirm_cancel(run_id: FromPath[int]) -> Template | Redirect:
    """The confirmation step before cancelling a run."""
    with session_scope() as session:
        progress = run_progress(session, run_id)
    if progress is None:
        raise NotFoundException()
    if progress.status != RunStatus.RUNNING:
        return Redirect(path=f"/ops/runs/{run_id}", status_code=303)
    return Template(
        template_name="ops/run_cancel.html.j2",
        context={"run": progress, "ops_page": "overview"},
        media_type=MediaType.HTML,
    )


@post("/ops/runs/{run_id:int}/cancel", name="ops_run_cancel", guards=[requires_admin], sync_to_thread=True)
def ops_run_cancel(request: Request[Any, Any, Any], run_id: FromPath[int]) -> Redirect:
    """Cancel the run (the confirmation page posts here)."""
    return _act_on_run(
        request,
        run_id,
        cancel_run,
        N_("Corrida cancelada; ya no se enviarán: cuentas %(accounts)s, correos %(emails)s."),
    )


route_handlers: list[Any] = [
    ops_start_run,
    ops_run,
    ops_run_progress,
    ops_run_retry,
    ops_run_confirm_cancel,
    ops_run_cancel,
]
