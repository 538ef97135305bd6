"""The words edocta's code shares: states, languages, formats, document types, roles, task and queue names.

Each is a `StrEnum`, so a member is also its stored text (`RunStatus.DONE == "done"`): the database, the JSON
and the task messages keep plain strings. This module imports nothing but the standard library, so the
schedule (`beat_schedule.py`) and every layer above can read it.
"""

from __future__ import annotations

from enum import StrEnum


class Language(StrEnum):
    ES = "es"
    EN = "en"


DEFAULT_LANGUAGE = Language.ES
LANGUAGES = tuple(Language)


class Format(StrEnum):
    """The formats a statement renders to."""

    JSON = "json"
    HTML = "html"
    XLSX = "xlsx"
    PDF = "pdf"


# What a statement email may attach (`Customer.statement_formats`), in the order they are attached.
EMAILED_FORMATS = (Format.PDF, Format.XLSX)
# What a portal user downloads from the statement page (the page itself is HTML).
DOWNLOAD_FORMATS = (Format.JSON, Format.XLSX, Format.PDF)


class DocumentType(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"
    DEBIT_NOTE = "debit_note"
    PAYMENT = "payment"
    OTHER = "other"


class Role(StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"
    ADMIN = "admin"


# Staff and admins see every customer; customer users only those granted to them.
SEES_ALL_CUSTOMERS = (Role.STAFF, Role.ADMIN)


class UserStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class UserState(StrEnum):
    """How the Users page tells users apart: an active user who has not yet chosen a password is still waiting
    for their invitation to be used."""

    ACTIVE = "active"
    INVITATION_PENDING = "invitation_pending"
    DISABLED = "disabled"


class TemporaryPurpose(StrEnum):
    """Why a temporary password was issued (its lifetime follows)."""

    INVITATION = "invitation"
    RESET = "reset"


class ScheduleRule(StrEnum):
    """Which cut-off rule a company's scheduled runs follow (`Company.schedule`)."""

    MONTHLY = "monthly"
    SEMIMONTHLY = "semimonthly"
    WEEKLY = "weekly"
    DAILY = "daily"


DEFAULT_SCHEDULE = ScheduleRule.MONTHLY


class Trigger(StrEnum):
    """Who started a run."""

    CLI = "cli"
    SCHEDULE = "schedule"
    ADMIN = "admin"
    DEMO = "demo"


class RunStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"  # an admin stopped it: nothing more of it is enqueued or sent


class AccountStatus(StrEnum):
    """Where one account of a run ended (`RunAccount.status`)."""

    PENDING = "pending"
    DONE = "done"  # its emails are queued in the outbox
    SKIPPED = "skipped"  # nothing to send: no lines
    NO_RECIPIENTS = "no_recipients"  # rendered and stored, reported
    FAILED = "failed"
    CANCELLED = "cancelled"  # its run was cancelled before it was processed


class EmailStatus(StrEnum):
    """An outbox row's state (`OutboxEmail.status`)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"  # its run was cancelled before it was handed to the mail server


class DisputeStatus(StrEnum):
    """A dispute's state (`Dispute.status`): open until staff resolve it."""

    OPEN = "open"
    RESOLVED = "resolved"


class DocumentKind(StrEnum):
    """The files of an invoice document (`documents.csv`), by extension."""

    PDF = "pdf"
    XML = "xml"


# A dispute message's length (contract section 9).
MAX_DISPUTE_MESSAGE = 2000


class RunAccountOutcome(StrEnum):
    """What became of one account of a run, as the run's page shows it: the account's state, and for an account
    whose emails were queued, the state of its statement's emails at the run's cut-off."""

    PENDING = "pending"  # not processed yet
    SENDING = "sending"  # emails queued, not all settled
    SENT = "sent"  # every email of the statement went out (in this run or an earlier one)
    NO_LINES = "skipped"  # nothing to send
    NO_RECIPIENTS = "no_recipients"
    FAILED = "failed"  # the account could not be processed, or an email was refused
    CANCELLED = "cancelled"


class ProcessRole(StrEnum):
    """Which kind of process does a piece of work (render durations are recorded per kind)."""

    WORKER = "worker"
    PORTAL = "portal"
    CLI = "cli"


class Outcome(StrEnum):
    """What one call of an idempotent task did, besides the states above."""

    ALREADY_DONE = "already_done"  # another delivery of the same task did the work
    NOT_CLAIMED = "not_claimed"  # the email was not due, or another worker holds it
    RETRY = "retry"  # a temporary failure: tried again later
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"  # its run was cancelled: not tried again


class Task(StrEnum):
    """Task names: the web, the command line and beat start work by these names only (`send_task`)."""

    START_RUN = "edocta.runs.start"
    SCHEDULED_TICK = "edocta.runs.scheduled_tick"
    PROCESS_ACCOUNT = "edocta.runs.process_account"
    PROCESS_ACCOUNTS = "edocta.runs.process_accounts"  # a batch of a large run's accounts (args: their ids)
    SEND_EMAIL = "edocta.mail.send_statement_email"
    SEND_EMAILS = "edocta.mail.send_statement_emails"  # several statement emails over one connection (args: ids)
    SWEEP_OUTBOX = "edocta.mail.sweep_outbox"
    SEND_DISPUTE_EMAIL = "edocta.mail.send_dispute_email"  # args: dispute_email_id
    RENDER_ON_DEMAND = "edocta.render.on_demand"
    # Account emails: the web only enqueues these, so its answer never depends on whether the user exists.
    SEND_INVITATION = "edocta.accounts.send_invitation"  # args: user_id
    SEND_PASSWORD_RESET = "edocta.accounts.send_password_reset"  # noqa: S105 (a task name) args: username as typed
    SEND_PASSWORD_CHANGED = "edocta.accounts.send_password_changed"  # noqa: S105 (a task name) args: user_id
    # The drop folder: beat's scan claims complete batches; each claimed batch is imported by its own task.
    SCAN_IMPORTS = "edocta.feed.scan"
    IMPORT_BATCH = "edocta.feed.import_batch"  # args: import id


class ImportSource(StrEnum):
    """Who or what started an import (`ImportRecord.source`)."""

    CLI = "cli"  # `edocta import`
    FOLDER = "folder"  # a batch of the drop folder (EDOCTA_IMPORT_DIR)


class ImportStatus(StrEnum):
    QUEUED = "queued"  # a drop-folder batch claimed, waiting for a worker
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # nothing was written


class HoldStatus(StrEnum):
    """A scheduled run held back for one company because its data was stale (`ScheduleHold.status`)."""

    WAITING = "waiting"  # retried at each tick until the data is fresh or the wait is over
    STARTED = "started"  # the data became fresh, or an administrator started it anyway
    GAVE_UP = "gave_up"  # still stale when the wait was over: nothing was mailed


class Queue(StrEnum):
    DEFAULT = "celery"  # runs, the schedule tick, the sweeper
    RENDER = "render"  # one task per account of a run
    RENDER_LARGE = "render_large"  # statements over LARGE_STATEMENT_LINES lines (a worker with a memory cap)
    MAIL = "mail"
    # Files a portal user asked for (PDF): their own queue, so a flood of them cannot starve a run's accounts (a
    # worker consuming several queues takes from each in turn).
    ON_DEMAND = "on_demand"


QUEUES = tuple(Queue)
# Statements with more lines than this render on the large-statement queue.
LARGE_STATEMENT_LINES = 1000
