"""The Ops overview's schedule and data-feed sections, and "start anyway" for a held run: admins only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from litestar.testing import TestClient
from sqlalchemy import select, update

from shared.db import session_scope
from shared.models import Company, ImportRecord, ScheduleHold, StatementRun
from shared.runs import scheduled_tick
from tests.factories import run_cli, write_folder
from tests.portal import hidden_inputs

BAD_COLUMN = "companies.csv:1: color: unknown column"


def test_held_runs_imports_and_freshness_on_the_ops_page_and_start_anyway_for_admins_only(
    portal_client: Callable[[str], TestClient[Any]], tmp_path: Path
) -> None:
    good = write_folder(tmp_path / "erp", {"companies.csv": "company_code,name\n1000,Tinacos del Bajío\n"})
    bad = write_folder(tmp_path / "bad", {"companies.csv": "company_code,name,color\n1000,X,rojo\n"})
    assert run_cli("import", str(good)).exit_code == 0
    assert run_cli("import", str(bad)).exit_code == 2
    # The tick at 07:00 today (business time): the daily run due at 06:00 finds the last import 50 hours old.
    zone = ZoneInfo("America/Mexico_City")
    tick = dt.datetime.combine(dt.datetime.now(zone).date(), dt.time(7, 0), tzinfo=zone)
    with session_scope() as session:
        session.execute(update(ImportRecord).values(finished_at=tick - dt.timedelta(hours=50)))
        session.execute(update(Company).values(schedule="daily"))
    # The other companies have no recorded import: they are not held, and their run starts.
    assert len(scheduled_tick(tick)) == 1
    with session_scope() as session:
        hold = session.scalars(select(ScheduleHold)).one()
        hold_id = hold.id
        assert session.get(Company, hold.company_id).code == "1000"  # type: ignore[union-attr]
        before = set(session.scalars(select(StatementRun.id)))

    staff = portal_client("sofia")
    assert staff.get("/ops").status_code == 403
    form = hidden_inputs(staff.get("/statements").text)
    assert staff.post(f"/ops/holds/{hold_id}/start", data=form, follow_redirects=False).status_code == 403
    with session_scope() as session:
        assert set(session.scalars(select(StatementRun.id))) == before

    admin = portal_client("ana")
    page = admin.get("/ops").text
    assert "Programación" in page and "Próxima corrida" in page
    assert f'data-hold="{hold_id}"' in page and "esperando datos al día" in page
    assert 'data-company="1000" class="stale"' in page and "sin actualizar hace más de 36 horas" in page
    assert "Importaciones recientes" in page and page.count('class="import import--failed"') >= 1
    assert BAD_COLUMN in page
    started = admin.post(f"/ops/holds/{hold_id}/start", data=hidden_inputs(page), follow_redirects=False)
    assert started.status_code == 303
    with session_scope() as session:
        run = session.scalars(select(StatementRun).where(StatementRun.id.not_in(before))).one()
        assert run.run_key.endswith(":1000") and run.company_id == hold.company_id
        assert started.headers["location"] == f"/ops/runs/{run.id}" and run.trigger == "admin"
    again = admin.post(f"/ops/holds/{hold_id}/start", data=hidden_inputs(page), follow_redirects=True)
    assert "Esa corrida ya se había iniciado." in again.text
