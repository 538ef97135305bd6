"""Disputes (aclaraciones, contract section 9): opening, replying and resolving (`service`), the lists staff and
customers read (`queries`), and the emails they send through their own outbox (`notices`)."""

from shared.disputes.notices import (
    DisputeSendOutcome,
    collector_address,
    enqueue_dispute_emails,
    lost_dispute_emails,
    queue_dispute_emails,
    send_dispute_email,
)
from shared.disputes.queries import PER_PAGE, DisputePage, DisputeView, ThreadMessage, customer_disputes, list_disputes
from shared.disputes.service import (
    DisputeChange,
    DisputeError,
    DisputeNotFound,
    clean_message,
    open_dispute,
    reply_to_dispute,
    resolve_dispute,
)

__all__ = [
    "PER_PAGE",
    "DisputeChange",
    "DisputeError",
    "DisputeNotFound",
    "DisputePage",
    "DisputeSendOutcome",
    "DisputeView",
    "ThreadMessage",
    "clean_message",
    "collector_address",
    "customer_disputes",
    "enqueue_dispute_emails",
    "list_disputes",
    "lost_dispute_emails",
    "open_dispute",
    "queue_dispute_emails",
    "reply_to_dispute",
    "resolve_dispute",
    "send_dispute_email",
]
