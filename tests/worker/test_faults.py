"""Nothing lost, nothing sent twice, under the faults of quality.md: a worker killed mid-run, an SMTP server
answering 421 for a while or 550 for one recipient, the same task delivered twice, Redis restarted mid-run.

Each test runs a real Celery worker (and beat, for the sweeper) against PostgreSQL, Redis and an SMTP server.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from shared.cli.runs import describe_run, watch_run
from shared.db import session_scope
from shared.models import OutboxEmail
from shared.runs import enqueue_run_accounts, run_progress, start_run
from shared.tasks import send_task
from shared.vocab import Task
from tests.factories import CUTOFF, add_company, add_customers, many_customers
from tests.servers import PrivateRedis, Services, SMTPServer, wait_for

pytestmark = pytest.mark.slow


def progress_of(run_id: int):  # type: ignore[no-untyped-def]
    with session_scope() as session:
        return run_progress(session, run_id)


def wait_finished(run_id: int, timeout: float = 120) -> None:
    wait_for(lambda: progress_of(run_id).finished, timeout, f"run {run_id} to finish")


def assert_each_once(smtp_server: SMTPServer, expected: list[str]) -> None:
    counts = Counter(str(m["To"]) for m in smtp_server.messages)
    duplicates = {address: n for address, n in counts.items() if n > 1}
    assert duplicates == {}
    assert sorted(counts) == sorted(expected)


def statuses() -> dict[str, int]:
    with session_scope() as session:
        return dict(session.execute(select(OutboxEmail.status, func.count()).group_by(OutboxEmail.status)).all())


def test_a_worker_killed_mid_run_is_replaced_and_the_run_completes_without_duplicates(
    services: Services, smtp_server: SMTPServer
) -> None:
    add_company("1000", "Tinacos del Bajío")
    customers = many_customers("K", 16)
    add_customers("1000", customers)
    services.beat()
    worker = services.worker().wait_ready()

    # Kill once some emails are sent and recorded, while the next ones wait in the SMTP conversation before their
    # data: not between the server storing a message and its reply reaching the worker (SMTP's own duplicate
    # window, which no sender can close; a kill at a random moment sometimes landed there).
    smtp_server.hold_after = 3
    run_id = start_run(CUTOFF)

    def three_recorded_and_one_waiting() -> bool:
        with smtp_server.lock:
            stored, waiting = len(smtp_server.messages), len(smtp_server.held)
        return waiting > 0 and stored == 3 and statuses().get("sent", 0) == 3

    wait_for(three_recorded_and_one_waiting, 90, "the first emails recorded and the next one waiting")
    worker.kill()
    smtp_server.released.set()
    progress = progress_of(run_id)
    assert not progress.finished, "the run finished before the worker could be killed"

    replacement = services.worker(name="replacement").wait_ready()
    wait_finished(run_id, 150)

    assert_each_once(smtp_server, [c.emails for c in customers])
    progress = progress_of(run_id)
    assert (progress.status, progress.sent, progress.failed) == ("done", 16, 0)
    assert "Traceback" not in replacement.log()


def test_smtp_answering_421_for_a_while_delivers_later(services: Services, smtp_server: SMTPServer) -> None:
    add_company("1000", "Tinacos del Bajío")
    customers = many_customers("T", 4)
    add_customers("1000", customers)
    smtp_server.refuse_all = "421 4.3.2 Service not available, try again later"
    services.beat()
    services.worker().wait_ready()

    run_id = start_run(CUTOFF)

    def retried_while_down() -> bool:
        with session_scope() as session:
            rows = session.scalars(select(OutboxEmail)).all()
        return len(rows) == 4 and all(r.attempts >= 2 and r.status in ("pending", "sending") for r in rows)

    wait_for(retried_while_down, 90, "each email to be tried twice while the server refuses")
    with session_scope() as session:
        errors = set(session.scalars(select(OutboxEmail.last_error)))
    assert any("421" in error for error in errors)
    assert smtp_server.messages == []
    assert not progress_of(run_id).finished  # a run is not done while emails wait

    smtp_server.refuse_all = None
    wait_finished(run_id, 90)
    assert_each_once(smtp_server, [c.emails for c in customers])
    assert statuses() == {"sent": 4}


def test_smtp_550_for_one_recipient_fails_that_row_and_sends_the_others(
    services: Services, smtp_server: SMTPServer
) -> None:
    add_company("1000", "Tinacos del Bajío")
    customers = many_customers("U", 4)
    add_customers("1000", customers)
    unknown = customers[1].emails
    smtp_server.replies[unknown] = f"550 5.1.1 <{unknown}>: no such user"
    services.worker().wait_ready()

    run_id = start_run(CUTOFF)
    lines: list[str] = []
    assert watch_run(run_id, poll_seconds=0.2, timeout=90, write=lines.append) is False

    assert_each_once(smtp_server, [c.emails for c in customers if c.emails != unknown])
    with session_scope() as session:
        row = session.scalars(select(OutboxEmail).where(OutboxEmail.recipient == unknown)).one()
        assert row.status == "failed"
        assert row.last_error.startswith("550 5.1.1") and "no such user" in row.last_error
        assert row.attempts == 1  # a permanent failure is not retried
    progress = progress_of(run_id)
    assert (progress.status, progress.sent, progress.failed) == ("failed", 3, 1)
    report = describe_run(run_id)
    assert report is not None and unknown in report and "no such user" in report
    assert "1 failed" in "".join(lines)


def test_the_same_tasks_delivered_twice_send_one_email_each(services: Services, smtp_server: SMTPServer) -> None:
    add_company("1000", "Tinacos del Bajío")
    customers = many_customers("D", 5)
    add_customers("1000", customers)

    run_id = start_run(CUTOFF)  # no worker yet: the account tasks wait in the queue
    assert enqueue_run_accounts(run_id) == 5  # ... and each is delivered a second time
    worker = services.worker().wait_ready()
    wait_finished(run_id, 90)
    with session_scope() as session:
        outbox_ids = list(session.scalars(select(OutboxEmail.id)))
    for outbox_id in outbox_ids:  # every send delivered twice more
        send_task(Task.SEND_EMAIL, (outbox_id,))
        send_task(Task.SEND_EMAIL, (outbox_id,))

    wait_for(lambda: worker.log().count("'not_claimed'") >= 10, 60, "the repeated sends to be refused")
    wait_for(lambda: worker.log().count("'already_done'") >= 5, 30, "the repeated account tasks")
    assert_each_once(smtp_server, [c.emails for c in customers])
    with session_scope() as session:
        assert set(session.scalars(select(OutboxEmail.attempts))) == {1}


def test_redis_restarted_mid_run_the_run_completes(
    services_on_private_redis: Services, private_redis: PrivateRedis, smtp_server: SMTPServer
) -> None:
    services = services_on_private_redis
    add_company("1000", "Tinacos del Bajío")
    customers = many_customers("R", 16)
    add_customers("1000", customers)
    beat = services.beat()
    worker = services.worker().wait_ready()

    run_id = start_run(CUTOFF)
    wait_for(lambda: len(smtp_server.messages) >= 3, 90, "the first emails")
    private_redis.restart()  # every queued message is gone
    assert not progress_of(run_id).finished

    # The worker reconnects by itself; when kombu cannot restore its unacknowledged messages during the
    # reconnection it exits instead ("Unrecoverable error"), and its supervisor starts it again, as compose does.
    def finished() -> bool:
        worker.restart_if_exited()
        beat.restart_if_exited()
        return bool(progress_of(run_id).finished)

    wait_for(finished, 150, f"run {run_id} to finish")
    assert_each_once(smtp_server, [c.emails for c in customers])
    assert statuses() == {"sent": 16}
