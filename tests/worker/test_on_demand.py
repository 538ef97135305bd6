"""On-demand renders (PDFs asked for in the portal) have their own queue, which `edocta worker` consumes with
the run's queues by default: a flood of them cannot starve a mailing run. On embedded defaults and on
PostgreSQL + Redis."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.broker import queue_lengths
from shared.db import session_scope
from shared.render import request_render
from shared.runs import run_progress, start_run
from shared.statements import load_statement
from tests.factories import CUTOFF, CustomerSpec, add_company, add_customers
from tests.servers import Process, Services, service_environment, wait_for

pytestmark = pytest.mark.slow
EDOCTA = str(Path(sys.executable).parent / "edocta")
ON_DEMAND = 36


@pytest.fixture(params=["embedded", "postgresql+redis"])
def worker_env(
    request: pytest.FixtureRequest, var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """The environment of an `edocta worker` process: embedded defaults, or PostgreSQL, Redis and SMTP."""
    if request.param == "embedded":
        url = request.getfixturevalue("sqlite_database")
        yield service_environment(monkeypatch, var_dir, EDOCTA_DATABASE_URL=url)
    else:
        services: Services = request.getfixturevalue("services")
        yield services.env


def test_a_flood_of_on_demand_renders_does_not_hold_up_a_run(worker_env: dict[str, str], var_dir: Path) -> None:
    add_company("1000", "Tinacos del Bajío")
    add_customers(
        "1000",
        [
            CustomerSpec(
                "100001", "Ferretería La Paz", "pagos@lapaz.example", items=(("F1", "2026-10-01", "50.00", "MXN"),)
            )
        ],
    )
    # Customers asked for PDFs at many cut-offs before any worker was up: they wait in their own queue.
    with session_scope() as session:
        for days in range(ON_DEMAND):
            statement = load_statement(session, "1000", "100001", CUTOFF - dt.timedelta(days=days + 1))
            assert request_render(statement, "pdf") is True
    run_id = start_run(CUTOFF)
    lengths = queue_lengths()
    assert lengths is not None and lengths["on_demand"] == ON_DEMAND and lengths["render"] == 1

    worker = Process([EDOCTA, "worker", "-c", "1"], worker_env, var_dir / "on-demand-worker.log").start()
    try:
        worker.wait_ready()

        def finished() -> bool:
            with session_scope() as session:
                progress = run_progress(session, run_id)
            return progress is not None and progress.finished

        wait_for(finished, 180, "the run to finish")
        # The run's two steps (the account, then its email) each took their turn among the renders: most of
        # the renders asked for before it are still waiting when it is done.
        left = queue_lengths()
        assert left is not None and left["on_demand"] >= ON_DEMAND // 2, left
        with session_scope() as session:
            progress = run_progress(session, run_id)
            assert progress is not None and progress.sent == 1
        # And the renders do get done.
        wait_for(lambda: (queue_lengths() or {}).get("on_demand") == 0, 240, "the on-demand renders")
    finally:
        worker.stop()
