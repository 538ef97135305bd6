"""The sweeper (every minute, from beat): enqueue again what was lost (a killed worker, a restarted broker),
retry emails whose back-off has passed, cancel what a cancelled run left waiting, and close finished runs."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import or_, select, update

from shared.broker import clear_processed_messages, queue_lengths
from shared.clock import utcnow
from shared.db import session_scope
from shared.disputes import enqueue_dispute_emails, lost_dispute_emails
from shared.mail import cancel_waiting_emails, enqueue_sends, held_by_cancelled_run
from shared.models import OutboxEmail, RunAccount, StatementRun
from shared.runs.progress import refresh_run
from shared.runs.start import enqueue_run_accounts
from shared.settings import get_settings
from shared.vocab import AccountStatus, EmailStatus, Queue, RunStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepReport:
    emails: int
    accounts: int
    runs_finished: int


def sweep(now: dt.datetime | None = None, limit: int = 5000) -> SweepReport:
    """Enqueue again what waited too long (a lost message), due retries and expired leases; close finished runs."""
    now = now or utcnow()
    settings = get_settings()
    stale = now - dt.timedelta(seconds=settings.requeue_after_seconds)
    # A message still waiting in its queue is not lost: while a queue has messages, only what its workers cannot
    # be holding (expired leases) is enqueued again. A waiting run of many accounts is not duplicated this way.
    try:
        lengths = queue_lengths()
    except Exception as error:  # the broker is down: nothing can be enqueued now anyway
        log.warning("sweeper: the broker does not answer (%s); trying again at the next sweep", error)
        lengths = None
    renders_waiting = lengths is None or bool(lengths.get(Queue.RENDER, 0) + lengths.get(Queue.RENDER_LARGE, 0))
    mail_waiting = lengths is None or bool(lengths.get(Queue.MAIL, 0))
    due_pending = (OutboxEmail.status == EmailStatus.PENDING) & (OutboxEmail.next_attempt_at <= now)
    expired = (OutboxEmail.status == EmailStatus.SENDING) & (OutboxEmail.lease_until < now)
    with session_scope() as session:
        # An email put back to wait just as its run was cancelled: it goes no further.
        cancel_waiting_emails(session, held_by_cancelled_run(), now=now)
    with session_scope() as session:
        email_ids = (
            list(
                session.scalars(
                    select(OutboxEmail.id)
                    .where(expired if mail_waiting else or_(due_pending, expired), OutboxEmail.updated_at <= stale)
                    .order_by(OutboxEmail.id)
                    .limit(limit)
                )
            )
            if lengths is not None
            else []
        )
        if email_ids:
            session.execute(
                update(OutboxEmail)
                .where(OutboxEmail.id.in_(email_ids), OutboxEmail.status == EmailStatus.PENDING)
                .values(updated_at=now)
                .execution_options(synchronize_session=False)
            )
        stale_accounts = (
            session.execute(
                select(RunAccount.run_id, RunAccount.id)
                .where(RunAccount.status == AccountStatus.PENDING, RunAccount.updated_at <= stale)
                .order_by(RunAccount.id)
                .limit(limit)
            ).all()
            if not renders_waiting
            else []
        )
        if stale_accounts:
            session.execute(
                update(RunAccount)
                .where(RunAccount.id.in_([ra_id for _, ra_id in stale_accounts]))
                .values(updated_at=now)
                .execution_options(synchronize_session=False)
            )
        running = list(session.scalars(select(StatementRun.id).where(StatementRun.status == RunStatus.RUNNING)))
        # Dispute emails: their own outbox, the same rules.
        dispute_email_ids = (
            lost_dispute_emails(session, now, stale, only_expired=mail_waiting, limit=limit)
            if lengths is not None
            else []
        )
    if email_ids:
        log.info("sweeper: enqueueing %s emails again", len(email_ids))
        enqueue_sends(email_ids)
    if dispute_email_ids:
        log.info("sweeper: enqueueing %s dispute emails again", len(dispute_email_ids))
        enqueue_dispute_emails(dispute_email_ids)
    by_run: dict[int, list[int]] = {}
    for run_id, run_account_id in stale_accounts:
        by_run.setdefault(run_id, []).append(run_account_id)
    for run_id, ids in by_run.items():
        log.info("sweeper: enqueueing %s accounts of run %s again", len(ids), run_id)
        enqueue_run_accounts(run_id, ids)
    finished = 0
    for run_id in running:
        progress = refresh_run(run_id)
        if progress is not None and progress.finished:
            finished += 1
    if settings.uses_embedded_broker:
        clear_processed_messages()
    return SweepReport(len(email_ids), len(stale_accounts), finished)
