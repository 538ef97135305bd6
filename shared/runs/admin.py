"""What an administrator does to a run's emails from the ops page: resend one (an explicit new attempt)."""

from __future__ import annotations

from shared.db import session_scope
from shared.mail import enqueue_sends, renew_for_resend
from shared.runs.progress import reopen_run


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
