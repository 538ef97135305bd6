"""Email: addresses, safe messages, the email templates in both languages, the two delivery backends (SMTP, an
`.eml` folder), the statement email, and the outbox that sends each statement email exactly once per generation
(claims, leases, retries)."""

from shared.mail.addresses import InvalidEmail, validate_email
from shared.mail.backends import (
    MailBackend,
    MailError,
    OutboxFolderBackend,
    PermanentMailError,
    SMTPBackend,
    TransientMailError,
    get_mail_backend,
    send_message,
)
from shared.mail.messages import Attachment, InvalidMessage, build_message, message_bytes
from shared.mail.outbox import (
    COUNTDOWN_LIMIT_SECONDS,
    Claim,
    FailedEmail,
    ResendError,
    SendOutcome,
    claim_email,
    enqueue_sends,
    failed_emails,
    queue_statement_emails,
    renew_for_resend,
    retry_delay,
    run_failed_emails,
    send_statement_email,
)
from shared.mail.rendering import render_email
from shared.mail.statement_email import compose_statement_email, statement_figures, statement_subject, statement_url

__all__ = [
    "COUNTDOWN_LIMIT_SECONDS",
    "Attachment",
    "Claim",
    "FailedEmail",
    "InvalidEmail",
    "InvalidMessage",
    "MailBackend",
    "MailError",
    "OutboxFolderBackend",
    "PermanentMailError",
    "ResendError",
    "SMTPBackend",
    "SendOutcome",
    "TransientMailError",
    "build_message",
    "claim_email",
    "compose_statement_email",
    "enqueue_sends",
    "failed_emails",
    "get_mail_backend",
    "message_bytes",
    "queue_statement_emails",
    "render_email",
    "renew_for_resend",
    "retry_delay",
    "run_failed_emails",
    "send_message",
    "send_statement_email",
    "statement_figures",
    "statement_subject",
    "statement_url",
    "validate_email",
]
