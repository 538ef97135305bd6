"""The ops pages against a real Celery worker on Redis: the workers page from the worker's own heartbeats (queues,
concurrency, active tasks, processed counts), cancelling a run while emails are in the SMTP server's hands, and
the render durations the worker recorded, read by /metrics."""

from __future__ import annotations

import re
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from shared.broker import worker_records
from shared.db import session_scope
from shared.models import OutboxEmail, RunAccount
from shared.runs import run_progress, start_run
from tests.factories import CUTOFF, add_company, add_customers, create_test_user, many_customers
from tests.portal import hidden_inputs, portal_test_client, sign_in
from tests.servers import HoldingSMTPHandler, Services, SMTPServer, running_smtp_server, use_environment, wait_for

pytestmark = pytest.mark.slow

TOKEN = "scrape-token-for-the-worker-test"


def email_statuses(run_id: int) -> dict[str, str]:
    with session_scope() as session:
        rows = session.execute(select(OutboxEmail.recipient, OutboxEmail.status).where(OutboxEmail.run_id == run_id))
        return {recipient: status for recipient, status in rows}


def test_workers_page_cancel_in_flight_and_worker_render_durations(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_company("1000", "Tinacos del Bajío")
    customers = [
        customer.__class__(**{**customer.__dict__, "formats": "xlsx"}) for customer in many_customers("W", 6, lines=2)
    ]
    add_customers("1000", customers)
    holding_server = SMTPServer(host="127.0.0.1", port=0)
    # The first message held is accepted once released; the second gets a temporary refusal (it would be retried).
    handler = HoldingSMTPHandler(holding_server, answers=["250 OK", "421 4.3.2 try again later"])
    with running_smtp_server(holding_server, handler):
        services.env["EDOCTA_SMTP_URL"] = holding_server.url
        use_environment(monkeypatch, EDOCTA_SMTP_URL=holding_server.url, EDOCTA_METRICS_TOKEN=TOKEN)
        services.worker(queues="render,mail,celery", concurrency=2).wait_ready()

        # The worker describes itself at once, then at every heartbeat.
        wait_for(lambda: worker_records() != [], 15, "the worker's record")
        (record,) = worker_records()
        assert record.hostname.startswith("w0@")
        assert record.queues == ["celery", "mail", "render"] and record.concurrency == 2
        assert not record.stale

        run_id = start_run(CUTOFF)
        wait_for(lambda: len(handler.held) == 2, 60, "two emails in the SMTP server's hands")
        # Both worker processes are busy delivering: their heartbeat says so, and counts what they finished.
        wait_for(
            lambda: [t.name for t in worker_records()[0].active] == ["edocta.mail.send_statement_email"] * 2,
            10,
            "a heartbeat with the two deliveries",
        )
        busy = worker_records()[0]
        assert busy.processed >= 2 and busy.processed_by_task.get("edocta.runs.process_account", 0) >= 2

        with portal_test_client(base_url="https://estados.example.com") as client:
            admin = create_test_user(role="admin", username="ops.admin")
            assert sign_in(client, admin.username, admin.password).status_code == 303
            workers_page = client.get("/ops/workers").text
            row = re.search(r'<tr data-worker="(w0@[^"]+)">(.*?)</tr>', workers_page, re.S)
            assert row, workers_page
            text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row.group(2)))
            assert "celery, mail, render" in text and " 2 " in text
            assert text.count("edocta.mail.send_statement_email") == 2
            assert re.search(r"hace \d+ s", text) and "sin latido" not in text

            # Cancel while those two are in flight.
            asked = client.get(f"/ops/runs/{run_id}/cancel")
            assert asked.status_code == 200
            cancelled = client.post(f"/ops/runs/{run_id}/cancel", data=hidden_inputs(asked.text))
            assert "Corrida cancelada" in cancelled.text
            in_flight = list(handler.held)
            handler.release()

            # The accepted one is sent; the refused one is not tried again; nothing else goes out.
            def settled() -> bool:
                statuses = email_statuses(run_id)
                return all(statuses.get(address) in ("sent", "cancelled") for address in in_flight)

            wait_for(settled, 30, "the two deliveries to finish")
            time.sleep(2)  # time enough for any retry or queued send to show up
            statuses = email_statuses(run_id)
            assert statuses[in_flight[0]] == "sent" and statuses[in_flight[1]] == "cancelled"
            assert [str(m["To"]) for m in holding_server.messages] == [in_flight[0]]
            assert set(statuses.values()) <= {"sent", "cancelled"}
            with session_scope() as session:
                states = set(session.scalars(select(RunAccount.status).where(RunAccount.run_id == run_id)))
                assert states <= {"done", "cancelled"}
                progress = run_progress(session, run_id)
                assert progress is not None and progress.status == "cancelled" and progress.sent == 1

            # What the worker rendered, it recorded: /metrics reads it from the database.
            metrics = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
        found = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(metrics)
            for sample in family.samples
        }
        rendered = found[("edocta_render_duration_seconds_count", (("format", "xlsx"), ("source", "worker")))]
        assert rendered >= 2
        assert found[("edocta_workers", ())] == 1
