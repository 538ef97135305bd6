"""Email: addresses, safe messages, the email templates in both languages, the two delivery backends (SMTP, an
`.eml` folder), the statement email, the outbox that sends each statement email exactly once per generation
(claims, leases, retries), the email log the operators search (`log`), and a customer's sent statements
(`sent`)."""

from shared.mail.addresses import InvalidEmail, validate_email
from shared.mail.backends import (
    MailBackend,
    MailError,
    NotRecorded,
    OutboxFolderBackend,
    PermanentMailError,
    SMTPBackend,
    TransientMailError,
    get_mail_backend,
    reusing_connections,
    send_message,
)
from shared.mail.log import DeliveryState, LoggedDisputeEmail, LoggedEmail, delivery_state, dispute_email_log, email_log
from shared.mail.messages import Attachment, InvalidMessage, build_message, message_bytes
from shared.mail.outbox import (
    COUNTDOWN_LIMIT_SECONDS,
    Claim,
    SendOutcome,
    cancel_waiting_emails,
    claim_email,
    held_by_cancelled_run,
    retry_delay,
    send_statement_email,
    send_statement_emails,
)
from shared.mail.outbox_admin import FailedEmail, ResendError, failed_emails, renew_for_resend, run_failed_emails
from shared.mail.queueing import StatementEmails, enqueue_sends, queue_many_statement_emails, queue_statement_emails
from shared.mail.rendering import render_email
from shared.mail.sent import SentStatement, sent_file, sent_statements
from shared.mail.statement_email import compose_statement_email, statement_figures, statement_subject, statement_url

__all__ = [
    "COUNTDOWN_LIMIT_SECONDS",
    "Attachment",
    "Claim",
    "DeliveryState",
    "FailedEmail",
    "InvalidEmail",
    "InvalidMessage",
    "LoggedDisputeEmail",
    "LoggedEmail",
    "MailBackend",
    "MailError",
    "NotRecorded",
    "OutboxFolderBackend",
    "PermanentMailError",
    "ResendError",
    "SMTPBackend",
    "SendOutcome",
    "SentStatement",
    "StatementEmails",
    "TransientMailError",
    "build_message",
    "cancel_waiting_emails",
    "claim_email",
    "compose_statement_email",
    "delivery_state",
    "dispute_email_log",
    "email_log",
    "enqueue_sends",
    "failed_emails",
    "get_mail_backend",
    "held_by_cancelled_run",
    "message_bytes",
    "queue_many_statement_emails",
    "queue_statement_emails",
    "render_email",
    "renew_for_resend",
    "retry_delay",
    "reusing_connections",
    "run_failed_emails",
    "send_message",
    "send_statement_email",
    "send_statement_emails",
    "sent_file",
    "sent_statements",
    "statement_figures",
    "statement_subject",
    "statement_url",
    "validate_email",
]
