"""What an administrator does to runs from the ops pages: resend one email (an explicit new attempt), retry a run's
failed accounts and emails, and cancel a run.

Cancelling a run, defined:
- accounts not processed yet become `cancelled`; their queued tasks find nothing to do; the run enqueues no more;
- an account a worker is processing at that moment is not recorded (its files may still land in the store, which
  is harmless) and queues no email;
- emails still waiting become `cancelled`; an email a worker is handing to the SMTP server finishes that attempt
  (if the server accepts it, it is sent) and is not tried again;
- nothing already sent is touched. An administrator may still resend any single email afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from shared.accounts import audit
from shared.clock import utcnow
from shared.db import session_scope
from shared.i18n import N_, TranslatableError
from shared.mail import cancel_waiting_emails, enqueue_sends, renew_for_resend
from shared.models import Account, OutboxEmail, RunAccount, StatementRun
from shared.runs.progress import refresh_run, reopen_run
from shared.runs.start import enqueue_run_accounts
from shared.vocab import AccountStatus, EmailStatus, RunStatus


class RunActionError(TranslatableError):
    """An action the run's state does not allow (cancel a finished run, retry a cancelled one)."""


def resend_email(outbox_id: int, *, by_username: str) -> str:
    """Send one email again as a new generation; returns its recipient. Raises `ResendError` for no such email.

    The renewed row is committed before the send is enqueued, and its run counts as running until it settles.
    """
    with session_scope() as session:
        row = renew_for_resend(session, outbox_id, by_username=by_username)
        recipient, run_id = row.recipient, row.run_id
    if run_id is not None:
        reopen_run(run_id)
    enqueue_sends([outbox_id])
    return recipient


@dataclass(frozen=True)
class RunAction:
    """What a retry or a cancellation touched."""

    accounts: int
    emails: int


def cancel_run(run_id: int, *, by_username: str) -> RunAction:
    """Cancel a running run (see the module's docstring); returns how many accounts and emails were stopped."""
    now = utcnow()
    with session_scope() as session:
        run = session.get(StatementRun, run_id)
        if run is None:
            raise LookupError(run_id)
        if run.status != RunStatus.RUNNING:
            raise RunActionError(N_("La corrida %(id)s ya terminó; no hay nada que cancelar."), id=run_id)
        run.status = RunStatus.CANCELLED
        run.cancelled_at = now
        run.cancelled_by = by_username[:150]
        run.finished_at = now
        session.flush()
        # Accounts first: an account task recording itself at this moment either wins (and its emails are
        # cancelled just below) or finds its account cancelled and queues nothing.
        accounts = session.execute(
            update(RunAccount)
            .where(RunAccount.run_id == run_id, RunAccount.status == AccountStatus.PENDING)
            .values(status=AccountStatus.CANCELLED, error="cancelled", updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        emails = cancel_waiting_emails(session, OutboxEmail.run_id == run_id, now=now)
        audit(
            session, "run_cancelled", username=by_username, detail=f"run={run_id} accounts={accounts} emails={emails}"
        )
    refresh_run(run_id)
    return RunAction(int(accounts or 0), emails)


def retry_failed(run_id: int, *, by_username: str) -> RunAction:
    """Process the run's failed accounts again and send again its accounts' failed emails (each a new attempt,
    audited like a resend); returns how many of each."""
    now = utcnow()
    with session_scope() as session:
        run = session.get(StatementRun, run_id)
        if run is None:
            raise LookupError(run_id)
        if run.status == RunStatus.CANCELLED:
            raise RunActionError(N_("La corrida %(id)s está cancelada; no se reintenta."), id=run_id)
        account_ids = list(
            session.scalars(
                select(RunAccount.id).where(RunAccount.run_id == run_id, RunAccount.status == AccountStatus.FAILED)
            )
        )
        if account_ids:
            session.execute(
                update(RunAccount)
                .where(RunAccount.id.in_(account_ids), RunAccount.status == AccountStatus.FAILED)
                .values(status=AccountStatus.PENDING, error="", updated_at=now)
                .execution_options(synchronize_session=False)
            )
        # The failed emails of this run's statements (an earlier run at the same cut-off may have queued them).
        in_run = (
            select(RunAccount.id)
            .join(Account, Account.id == RunAccount.account_id)
            .where(
                RunAccount.run_id == run_id,
                Account.company_id == OutboxEmail.company_id,
                Account.customer_id == OutboxEmail.customer_id,
            )
            .exists()
        )
        email_rows = session.execute(
            select(OutboxEmail.id, OutboxEmail.run_id).where(
                OutboxEmail.cutoff == run.cutoff, OutboxEmail.status == EmailStatus.FAILED, in_run
            )
        ).all()
        for outbox_id, _ in email_rows:
            renew_for_resend(session, outbox_id, by_username=by_username)
        audit(
            session,
            "run_retried",
            username=by_username,
            detail=f"run={run_id} accounts={len(account_ids)} emails={len(email_rows)}",
        )
    for owner in {run_id, *(owner for _, owner in email_rows if owner is not None)}:
        reopen_run(owner)
    if account_ids:
        enqueue_run_accounts(run_id, account_ids)
    enqueue_sends([outbox_id for outbox_id, _ in email_rows])
    return RunAction(len(account_ids), len(email_rows))
