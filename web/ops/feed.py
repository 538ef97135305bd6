"""The data feed and the schedule on the ops overview: how fresh each company's data is (with a warning after
EDOCTA_STALE_AFTER_HOURS), the latest imports with their progress or errors, the next run of each rule and
the last tick, and the runs held back for stale data with "start anyway"."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, post
from litestar.params import FromPath
from litestar.plugins.flash import flash
from litestar.response import Redirect
from sqlalchemy.orm import Session

from shared.clock import local_minute, utcnow
from shared.feed import company_freshness, list_imports
from shared.i18n import N_, gettext
from shared.runs import RunError, held_runs, last_tick, start_held_run, upcoming_runs
from shared.settings import get_settings
from shared.vocab import HoldStatus, ImportStatus
from web.i18n import request_language
from web.security import current_user, requires_admin

log = logging.getLogger("edocta.web.ops")

IMPORTS_SHOWN = 10
IMPORT_STATUS_LABELS: dict[str, str] = {
    ImportStatus.QUEUED: N_("en espera"),
    ImportStatus.RUNNING: N_("en curso"),
    ImportStatus.SUCCEEDED: N_("importada"),
    ImportStatus.FAILED: N_("rechazada"),
}
SOURCE_LABELS: dict[str, str] = {"cli": N_("edocta import"), "folder": N_("carpeta de entrega")}
HOLD_STATUS_LABELS: dict[str, str] = {
    HoldStatus.WAITING: N_("esperando datos al día"),
    HoldStatus.STARTED: N_("iniciada"),
    HoldStatus.GAVE_UP: N_("no enviada: datos sin actualizar"),
}
RULE_LABELS: dict[str, str] = {
    "monthly": N_("mensual"),
    "semimonthly": N_("quincenal"),
    "weekly": N_("semanal"),
    "daily": N_("diaria"),
}


def _import_row(record: Any) -> dict[str, Any]:
    files = record.files or []
    return {
        "id": record.id,
        "when": local_minute(record.created_at),
        "finished": local_minute(record.finished_at),
        "source": SOURCE_LABELS.get(record.source, record.source),
        "started_by": record.started_by if record.source == "cli" else "",
        "batch": record.batch,
        "status": record.status,
        "status_label": IMPORT_STATUS_LABELS.get(record.status, record.status),
        "phase": record.phase,
        "rows_total": record.rows_total,
        "files": files,
        "errors": record.errors.splitlines()[:20],
        "error_count": record.error_count,
    }


def feed_section(session: Session) -> dict[str, Any]:
    settings = get_settings()
    now = utcnow()
    recent = list_imports(session, limit=IMPORTS_SHOWN)
    failures = list_imports(session, limit=5, status=ImportStatus.FAILED)
    return {
        "feed_dir": str(settings.import_dir.resolve()) if settings.import_dir else "",
        "stale_hours": f"{settings.stale_after_hours:g}",
        "freshness": [
            {
                "code": f.code,
                "name": f.name,
                "data_as_of": local_minute(f.data_as_of),
                "refreshed": local_minute(f.refreshed_at),
                "stale": f.stale,
                "hours": None if f.refreshed_at is None else int((now - f.refreshed_at).total_seconds() // 3600),
            }
            for f in company_freshness(session, now)
        ],
        "imports": [_import_row(r) for r in recent],
        "import_failures": [_import_row(r) for r in failures if r.id not in {x.id for x in recent}],
    }


def schedule_section(_session: Session) -> dict[str, Any]:
    tick = last_tick()
    return {
        "last_tick": local_minute(tick),
        "upcoming": [
            {
                "rule": RULE_LABELS.get(d.rule, d.rule),
                "when": local_minute(d.due_at),
                "cutoff": d.cutoff.isoformat(),
                "companies": count,
            }
            for d, count in upcoming_runs()
        ],
        "holds": [
            {
                "id": hold.id,
                "rule": RULE_LABELS.get(hold.rule, hold.rule),
                "cutoff": hold.cutoff.isoformat(),
                "company": f"{code} — {name}",
                "status": hold.status,
                "status_label": HOLD_STATUS_LABELS.get(hold.status, hold.status),
                "held": local_minute(hold.held_at),
                "until": local_minute(hold.wait_until),
                "checked": local_minute(hold.checked_at),
                "refreshed": local_minute(hold.refreshed_at),
                "run_id": hold.run_id,
                "started_by": hold.started_by,
                "startable": hold.status in (HoldStatus.WAITING, HoldStatus.GAVE_UP),
            }
            for hold, code, name in held_runs()
        ],
    }


@post("/ops/holds/{hold_id:int}/start", name="ops_start_held_run", guards=[requires_admin], sync_to_thread=True)
def ops_start_held_run(request: Request[Any, Any, Any], hold_id: FromPath[int]) -> Redirect:
    """Start a run held back for stale data anyway."""
    user = current_user(request)
    language = request_language(request)
    try:
        run_id = start_held_run(hold_id, user.username)
    except RunError:
        flash(request, gettext(N_("Esa corrida ya se había iniciado."), language), "error")
        return Redirect(path="/ops", status_code=303)
    log.info("ops: %s started held run %s (hold %s)", user.username, run_id, hold_id)
    flash(request, gettext("Corrida %(id)s iniciada.", language) % {"id": run_id}, "success")
    return Redirect(path=f"/ops/runs/{run_id}", status_code=303)


route_handlers: list[Any] = [ops_start_held_run]
