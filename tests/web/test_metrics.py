"""/metrics: the Prometheus text format, for a bearer token or a signed-in admin; figures read from the database
and the broker at scrape time (so two web processes answer the same), counters that never go down."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from shared import render, runs
from shared.db import session_scope
from shared.statements import load_statement
from tests.factories import CUTOFF, seed_portal_data, seed_run_outcomes
from tests.portal import portal_test_client, sign_in
from tests.servers import use_environment

TOKEN = "a-long-random-scrape-token"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def types(text: str) -> dict[str, str]:
    return {family.name: family.type for family in text_string_to_metric_families(text)}


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    use_environment(monkeypatch, EDOCTA_METRICS_TOKEN=TOKEN)
    return TOKEN


def scrape(client: TestClient[Any], token: str | None = TOKEN) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get("/metrics", headers=headers, follow_redirects=False)


def test_metrics_need_the_token_or_an_admin(
    app_client: TestClient[Any], token: str, make_user: Callable[..., Any], signed_in: Callable[..., Any]
) -> None:
    for answer in (scrape(app_client, None), scrape(app_client, "wrong-token"), scrape(app_client, "")):
        assert answer.status_code == 401 and "edocta_" not in answer.text
        assert answer.headers["www-authenticate"].startswith("Bearer")
    basic = app_client.get("/metrics", headers={"Authorization": "Basic YWRtaW46YWRtaW4="}, follow_redirects=False)
    assert basic.status_code == 401
    ok = scrape(app_client)
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "edocta_queue_messages" in ok.text

    with TestClient(app=app_client.app, base_url=str(app_client.base_url)) as customer:
        signed_in(customer, make_user("customer"))
        assert scrape(customer, None).status_code == 403
    signed_in(app_client, make_user("admin"))
    assert scrape(app_client, None).status_code == 200


def test_without_a_token_setting_no_bearer_is_accepted(app_client: TestClient[Any]) -> None:
    assert scrape(app_client, "anything").status_code == 401


def test_metrics_have_the_names_and_types_prometheus_users_expect(
    app_client: TestClient[Any], token: str, var_dir: Path
) -> None:
    seeded = seed_run_outcomes(sent=3)
    text = scrape(app_client).text
    assert types(text) == {
        "edocta_broker_up": "gauge",
        "edocta_queue_messages": "gauge",
        "edocta_workers": "gauge",
        "edocta_worker_active_tasks": "gauge",
        "edocta_worker_tasks_processed": "counter",
        "edocta_runs": "gauge",
        "edocta_run_accounts": "gauge",
        "edocta_run_emails": "gauge",
        "edocta_run_progress_ratio": "gauge",
        "edocta_emails_sent": "counter",
        "edocta_emails_failed": "counter",
        "edocta_emails_waiting": "gauge",
        "edocta_dispute_emails": "gauge",
        "edocta_render_duration_seconds": "histogram",
        "edocta_sign_in_refusals": "counter",
    }
    found = samples(text)
    assert found[("edocta_broker_up", ())] == 1
    assert found[("edocta_queue_messages", (("queue", "render"),))] == 0
    assert found[("edocta_emails_sent_total", ())] == 3
    assert found[("edocta_emails_failed_total", ())] == 1
    assert found[("edocta_emails_waiting", ())] == 1
    assert found[("edocta_runs", (("status", "running"),))] == 1
    run = (("company", "all"), ("cutoff", CUTOFF.isoformat()), ("run", str(seeded.run)))
    assert found[("edocta_run_accounts", (*run, ("state", "pending")))] == 1
    assert found[("edocta_run_accounts", (*run, ("state", "failed")))] == 1
    assert found[("edocta_run_accounts", (*run, ("state", "skipped")))] == 1
    assert found[("edocta_run_emails", (*run, ("state", "sent")))] == 3
    assert 0 < found[("edocta_run_progress_ratio", run)] < 1

    # A refused email resent, then sent: "failed" does not go down, "sent" goes up by one.
    runs.resend_email(seeded.emails["failed"][0], by_username="ana")
    with session_scope() as session:
        from shared.models import OutboxEmail

        row = session.get(OutboxEmail, seeded.emails["failed"][0])
        assert row is not None
        row.status = "sent"
    again = samples(scrape(app_client).text)
    assert again[("edocta_emails_failed_total", ())] == 1
    assert again[("edocta_emails_sent_total", ())] == 4
    assert again[("edocta_dispute_emails", (("state", "failed"),))] == 0


def test_dispute_emails_are_counted_by_state(app_client: TestClient[Any], token: str) -> None:
    from shared.models import Company, Customer, Dispute, DisputeEmail, DisputeMessage

    seed_portal_data()
    with session_scope() as session:
        company = session.scalars(select(Company).order_by(Company.id)).first()
        customer = session.scalars(select(Customer).order_by(Customer.id)).first()
        assert company is not None and customer is not None
        dispute = Dispute(company_id=company.id, customer_id=customer.id, document_number="FAC-1", opened_by="alice")
        session.add(dispute)
        session.flush()
        message = DisputeMessage(dispute_id=dispute.id, author="alice", author_role="customer", body="No es mío.")
        session.add(message)
        session.flush()
        for number, status in enumerate(("sent", "sent", "failed", "pending", "sending")):
            session.add(DisputeEmail(message_id=message.id, recipient=f"r{number}@example.com", status=status))
    found = samples(scrape(app_client).text)
    assert found[("edocta_dispute_emails", (("state", "sent"),))] == 2
    assert found[("edocta_dispute_emails", (("state", "failed"),))] == 1
    assert found[("edocta_dispute_emails", (("state", "waiting"),))] == 2


def test_render_durations_come_from_where_the_renders_happen(app_client: TestClient[Any], token: str) -> None:
    seed_portal_data()
    with session_scope() as session:
        statement = load_statement(session, "1000", "100001", CUTOFF)
    render.render_into_store(statement, "xlsx")  # what the portal does for a small XLSX
    render.set_process_role("worker")  # type: ignore[arg-type]
    try:
        render.ensure_rendered(statement, ["json"])  # what a worker does
    finally:
        render.set_process_role("cli")  # type: ignore[arg-type]
    render.record_render("pdf", 7.2, source="worker")
    with portal_test_client() as second:  # another web process reads the same figures
        texts = [scrape(app_client).text, scrape(second).text]
    assert samples(texts[0]) == samples(texts[1])
    found = samples(texts[0])
    xlsx = (("format", "xlsx"), ("source", "portal"))
    assert found[("edocta_render_duration_seconds_count", xlsx)] == 1
    assert found[("edocta_render_duration_seconds_bucket", tuple(sorted((*xlsx, ("le", "+Inf")))))] == 1
    assert 0 < found[("edocta_render_duration_seconds_sum", xlsx)] < 5
    assert found[("edocta_render_duration_seconds_count", (("format", "json"), ("source", "worker")))] == 1
    pdf = (("format", "pdf"), ("source", "worker"))
    assert found[("edocta_render_duration_seconds_bucket", tuple(sorted((*pdf, ("le", "5.0")))))] == 0
    assert found[("edocta_render_duration_seconds_bucket", tuple(sorted((*pdf, ("le", "10.0")))))] == 1
    assert found[("edocta_render_duration_seconds_sum", pdf)] == pytest.approx(7.2)


def test_sign_in_refusals_are_counted_by_reason_from_the_audit_events(
    app_client: TestClient[Any], token: str, make_user: Callable[..., Any]
) -> None:
    from shared.accounts import record_event

    user = make_user("customer")
    for _ in range(2):
        assert sign_in(app_client, user.username, "not the password at all").status_code == 401
    assert sign_in(app_client, "nobody-here", "whatever it is, long").status_code == 401
    # What the throttle writes when it refuses before any hashing (its own reason, with more details after it).
    record_event("sign_in_refused", username=user.username, ip="198.51.100.7", detail="reason=throttled retry_after=8")
    found = samples(scrape(app_client).text)
    assert found[("edocta_sign_in_refusals_total", (("reason", "wrong_password"),))] == 2
    assert found[("edocta_sign_in_refusals_total", (("reason", "unknown_user"),))] == 1
    assert found[("edocta_sign_in_refusals_total", (("reason", "throttled"),))] == 1
