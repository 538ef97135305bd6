"""`/metrics` for Prometheus: every figure is read at scrape time from the database and the broker, so every web
process answers the same, whichever one Prometheus reaches.

| metric | type | labels |
| --- | --- | --- |
| `edocta_queue_messages` | gauge | queue |
| `edocta_broker_up` | gauge | |
| `edocta_workers` | gauge | (workers with a recent heartbeat) |
| `edocta_worker_active_tasks` | gauge | worker |
| `edocta_worker_tasks_processed_total` | counter | worker (since the worker started) |
| `edocta_runs` | gauge | status |
| `edocta_run_accounts` | gauge | run, cutoff, company, state (runs in progress, and the latest run) |
| `edocta_run_emails` | gauge | run, cutoff, company, state |
| `edocta_run_progress_ratio` | gauge | run, cutoff, company |
| `edocta_emails_sent_total`, `edocta_emails_failed_total` | counter | |
| `edocta_emails_waiting` | gauge | |
| `edocta_dispute_emails` | gauge | state (waiting, sent, failed) |
| `edocta_render_duration_seconds` | histogram | format, source (worker, portal, cli) |
| `edocta_sign_in_refusals_total` | counter | reason |

Emails are counted from the outbox, each row by its current state, plus the states that admin resends replaced
(each resend is audited with the state it replaced), so the counters never go down. Sign-in refusals are counted
from the audit events `sign_in_refused`, by the `reason=` of their detail.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import CollectorRegistry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.accounts import sign_in_refusals
from shared.broker import queue_lengths, worker_records
from shared.db import session_scope
from shared.models import AuditEvent, DisputeEmail, OutboxEmail, StatementRun
from shared.render import render_histograms
from shared.runs import RunProgress, list_runs, run_progress
from shared.vocab import EmailStatus, RunStatus

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # the text format every Prometheus server reads
RESEND_EVENT = "email_resend"


def _label(text: str) -> str:
    """A label value in snake case: `wrong password` gives `wrong_password`."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "unknown"


def _emails_total(session: Session) -> dict[str, int]:
    """Emails ever sent and ever failed: the outbox rows in that state now, plus those a resend renewed."""
    totals = {EmailStatus.SENT: 0, EmailStatus.FAILED: 0, "waiting": 0}
    for status, number in session.execute(select(OutboxEmail.status, func.count()).group_by(OutboxEmail.status)):
        if status in (EmailStatus.SENT, EmailStatus.FAILED):
            totals[status] += int(number)
        elif status in (EmailStatus.PENDING, EmailStatus.SENDING):
            totals["waiting"] += int(number)
    for status in (EmailStatus.SENT, EmailStatus.FAILED):
        totals[status] += int(
            session.scalar(
                select(func.count()).where(AuditEvent.event == RESEND_EVENT, AuditEvent.detail.like(f"%, {status})"))
            )
            or 0
        )
    return totals


def _runs_shown(session: Session) -> list[RunProgress]:
    """The runs in progress, and the latest run (finished or not)."""
    ids = set(session.scalars(select(StatementRun.id).where(StatementRun.status == RunStatus.RUNNING)))
    latest = list_runs(session, limit=1)
    shown = {run.id: run for run in latest}
    for run_id in ids - set(shown):
        progress = run_progress(session, run_id)
        if progress is not None:
            shown[run_id] = progress
    return [shown[run_id] for run_id in sorted(shown)]


class EdoctaCollector:
    """Reads the figures when Prometheus scrapes (a custom collector for prometheus_client's registry)."""

    def collect(self) -> Iterator[Metric]:
        yield from self._broker()
        with session_scope() as session:
            yield from self._runs(session)
            yield from self._emails(session)
            refusals = sign_in_refusals(session)
        yield from self._renders()
        counter = CounterMetricFamily(
            "edocta_sign_in_refusals", "Sign-ins refused, by reason (from the audit events).", labels=["reason"]
        )
        merged: dict[str, int] = {}
        for reason, number in refusals.items():
            merged[_label(reason)] = merged.get(_label(reason), 0) + number
        for reason, number in sorted(merged.items()):
            counter.add_metric([reason], number)
        yield counter

    def _broker(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("edocta_broker_up", "1 when the broker answered this scrape.")
        try:
            lengths = queue_lengths()
            workers = worker_records()
        except Exception:  # the broker is down: say so, and leave its figures out
            log.warning("metrics: the broker does not answer", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        queues = GaugeMetricFamily("edocta_queue_messages", "Messages waiting in each queue.", labels=["queue"])
        for name, length in sorted(lengths.items()):
            queues.add_metric([name], length)
        yield queues
        live = [w for w in workers if not w.stale]
        yield GaugeMetricFamily("edocta_workers", "Workers with a recent heartbeat.", value=len(live))
        active = GaugeMetricFamily("edocta_worker_active_tasks", "Tasks each worker runs now.", labels=["worker"])
        processed = CounterMetricFamily(
            "edocta_worker_tasks_processed", "Tasks each worker finished since it started.", labels=["worker"]
        )
        for worker in live:
            active.add_metric([worker.hostname], len(worker.active))
            processed.add_metric([worker.hostname], worker.processed)
        yield active
        yield processed

    def _runs(self, session: Session) -> Iterator[Metric]:
        by_status = GaugeMetricFamily("edocta_runs", "Statement runs, by status.", labels=["status"])
        counts = dict(session.execute(select(StatementRun.status, func.count()).group_by(StatementRun.status)).all())
        for status in RunStatus:
            by_status.add_metric([status], int(counts.get(status, 0)))
        yield by_status
        labels = ["run", "cutoff", "company"]
        accounts = GaugeMetricFamily("edocta_run_accounts", "Accounts of a run, by state.", labels=[*labels, "state"])
        emails = GaugeMetricFamily("edocta_run_emails", "Emails of a run, by state.", labels=[*labels, "state"])
        ratio = GaugeMetricFamily("edocta_run_progress_ratio", "How far a run is, from 0 to 1.", labels=labels)
        for run in _runs_shown(session):
            names = [str(run.id), run.cutoff.isoformat(), run.company]
            for state, number in (
                ("pending", run.accounts_pending),
                ("done", run.done),
                ("skipped", run.skipped),
                ("no_recipients", run.no_recipients),
                ("failed", run.failed_accounts),
                ("cancelled", run.cancelled),
            ):
                accounts.add_metric([*names, state], number)
            for state, number in (
                ("waiting", run.emails_pending),
                ("sent", run.sent),
                ("failed", run.failed - run.failed_accounts),
                ("cancelled", run.emails_cancelled),
            ):
                emails.add_metric([*names, state], number)
            ratio.add_metric(names, round(run.fraction, 4))
        yield accounts
        yield emails
        yield ratio

    def _emails(self, session: Session) -> Iterator[Metric]:
        totals = _emails_total(session)
        yield CounterMetricFamily(
            "edocta_emails_sent", "Statement emails accepted by the mail server.", value=totals[EmailStatus.SENT]
        )
        yield CounterMetricFamily(
            "edocta_emails_failed",
            "Statement emails that failed for good (refused, or retried for too long).",
            value=totals[EmailStatus.FAILED],
        )
        yield GaugeMetricFamily(
            "edocta_emails_waiting", "Statement emails waiting to be sent.", value=totals["waiting"]
        )
        # Dispute emails (their own outbox, no admin resend): rows by state, so a mail server refusing them shows.
        disputes = GaugeMetricFamily("edocta_dispute_emails", "Dispute emails, by state.", labels=["state"])
        states = {EmailStatus.SENT: 0, EmailStatus.FAILED: 0, "waiting": 0}
        for status, number in session.execute(select(DisputeEmail.status, func.count()).group_by(DisputeEmail.status)):
            state = status if status in (EmailStatus.SENT, EmailStatus.FAILED) else "waiting"
            states[state] += int(number)
        for state in ("waiting", EmailStatus.SENT, EmailStatus.FAILED):
            disputes.add_metric([str(state)], states[state])
        yield disputes

    def _renders(self) -> Iterator[Metric]:
        histogram = HistogramMetricFamily(
            "edocta_render_duration_seconds",
            "How long statement files took to render, where they were rendered.",
            labels=["format", "source"],
        )
        for recorded in render_histograms():
            histogram.add_metric([recorded.format, recorded.source], recorded.buckets, recorded.seconds)
        yield histogram


def metrics_text() -> bytes:
    """The whole exposition, read now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EdoctaCollector())
    return generate_latest(registry)
