"""The statement-email outbox: one row per statement and recipient, sent at most once per generation.

How an email travels:
1. A run's account task writes the rows (unique company, customer, cut-off, recipient: a second run at the
   same cut-off adds nothing) in the same transaction that marks the account done, and enqueues their sending
   after the commit (`shared.mail.queueing`).
2. `send_statement_email` claims the row with a conditional update (pending and due, or sending with an
   expired lease) that sets a lease token; only the claimer talks to the SMTP server. After the server accepts
   the message the row becomes `sent` (conditional on the token). In a task of several emails on PostgreSQL,
   that record also claims the task's next email, in the same statement (the claim it would make next anyway):
   one statement an email instead of two. Such a claim that its task stops before using (at its time limit)
   is given back: pending again, its attempt uncounted. A 4xx reply or a connection failure puts the
   row back to `pending` with an exponential back-off, for up to `EDOCTA_MAIL_RETRY_HOURS` after it was first
   queued; then, or on a 5xx reply, the row is `failed` with the server's reply.
3. The sweeper (`shared.runs.sweep`) enqueues again rows whose message was lost (a broker restart, a killed
   worker): pending rows that are due and waited too long, and rows whose lease expired.
4. An admin resend is an explicit new attempt: a new generation of the same row.
5. When an administrator cancels a run, its emails still waiting become `cancelled`. An email already in the
   hands of the SMTP server finishes that attempt (sent is sent); if it must be tried again, it is cancelled
   instead. An email queued before the cancellation is never claimed afterwards; only an admin resend (which
   queues it anew) sends it.

SMTP cannot promise exactly-once: if a worker dies after the server accepted a message but before the row is
marked sent, the lease expires and the message goes again. That window is the time between the server's
"250" and one UPDATE; when a message is sent again after an expired lease, it is logged as a possible
duplicate.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from functools import lru_cache
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    Update,
    and_,
    bindparam,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from shared.clock import utcnow
from shared.db import autocommit, get_engine, session_scope
from shared.mail.backends import (
    NotRecorded,
    PermanentMailError,
    TransientMailError,
    get_mail_backend,
    reusing_connections,
)
from shared.mail.messages import stable_message_id
from shared.mail.statement_email import ATTACHMENT_TYPES, compose_statement_email
from shared.mail.statement_rows import BatchRows, read_batch, statement_rows
from shared.models import OutboxEmail, StatementRun
from shared.models.master import listed
from shared.render import StoredStatement, ensure_rendered, render_statement, statement_filename
from shared.settings import get_settings
from shared.statements import StatementNotFound
from shared.statements.loading import StatementHead
from shared.store import StatementStore, StoreKey, get_store
from shared.vocab import EmailStatus, Outcome, RunStatus

log = logging.getLogger(__name__)

# A retry waits base * 2^(attempt-1), at most this long.
MAX_RETRY_DELAY_SECONDS = 3600.0
# Retries due sooner than this are enqueued with a countdown; later ones are left to the sweeper.
COUNTDOWN_LIMIT_SECONDS = 300.0


# --- sending ----------------------------------------------------------------------------------------------


def held_by_cancelled_run() -> ColumnElement[bool]:
    """The email belongs to a run that was cancelled after the email was queued: it must not go out."""
    return exists().where(
        StatementRun.id == OutboxEmail.run_id,
        StatementRun.status == RunStatus.CANCELLED,
        OutboxEmail.first_queued_at <= StatementRun.cancelled_at,
    )


def cancel_waiting_emails(session: Session, *conditions: Any, now: dt.datetime | None = None) -> int:
    """Cancel the emails matching `conditions` that no worker is sending now (pending, or sending with an expired
    lease); returns how many. The caller commits."""
    now = now or utcnow()
    waiting = or_(
        OutboxEmail.status == EmailStatus.PENDING,
        and_(OutboxEmail.status == EmailStatus.SENDING, OutboxEmail.lease_until < now),
    )
    result = session.execute(
        update(OutboxEmail)
        .where(waiting, *conditions)
        .values(
            status=EmailStatus.CANCELLED,
            lease_token=None,
            lease_until=None,
            last_error="cancelled with its run",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Claim:
    outbox_id: int
    token: str
    recovered: bool  # the previous claimer's lease expired: its outcome is unknown
    email: Row[Any] | None = None  # the row as claimed (`CLAIMED` columns): what this attempt sends


# What a claim reads back of the row (UPDATE ... RETURNING), so the attempt needs no second read of it.
CLAIMED = (
    OutboxEmail.id,
    OutboxEmail.run_id,
    OutboxEmail.company_id,
    OutboxEmail.customer_id,
    OutboxEmail.cutoff,
    OutboxEmail.recipient,
    OutboxEmail.language,
    OutboxEmail.attachments,
    OutboxEmail.generation,
    OutboxEmail.attempts,
    OutboxEmail.first_queued_at,
)


def _claim_update(recovered: bool, names: tuple[str, str] = ("outbox_id", "token")) -> Update:
    """One of the two claims (bound parameters: the row's id and the new lease token, named by `names`; now;
    lease_until): the usual case (pending and due), or a row whose claimer vanished (its lease expired,
    `recovered`).

    The row is found by its primary key, whatever PostgreSQL's statistics say: the state it must be in is tested
    as `(…) IS true`, which no index can answer. Written plainly, the planner may take the (status,
    next_attempt_at) index instead, and it does whenever its statistics predate the run's rows (a large run
    changes too small a share of a large table to be analysed again): each claim then reads the index entries of
    every email still pending, a run's claims all of them again and again."""
    now = bindparam("now", type_=OutboxEmail.updated_at.type)
    if recovered:
        condition = and_(OutboxEmail.status == EmailStatus.SENDING, OutboxEmail.lease_until < now)
    else:
        condition = and_(OutboxEmail.status == EmailStatus.PENDING, OutboxEmail.next_attempt_at <= now)
    return (
        update(OutboxEmail)
        .where(OutboxEmail.id == bindparam(names[0]), condition.is_(true()), ~held_by_cancelled_run())
        .values(
            status=EmailStatus.SENDING,
            lease_token=bindparam(names[1]),
            lease_until=bindparam("lease_until"),
            attempts=OutboxEmail.attempts + 1,
            updated_at=now,
        )
        .returning(*CLAIMED)
        .execution_options(synchronize_session=False)
    )


@lru_cache(maxsize=1)
def _claim_statements() -> tuple[tuple[bool, Update], ...]:
    """The two claims, built once: first the usual case, then a row whose claimer vanished (`_claim_update`)."""
    return tuple((recovered, _claim_update(recovered)) for recovered in (False, True))


def claim_email(session: Session | Connection, outbox_id: int, *, now: dt.datetime | None = None) -> Claim | None:
    """Take the row for sending, or None when it is not due, already sent, or held by a live lease. Each claim is
    one conditional `UPDATE`: on a connection in autocommit it commits by itself."""
    now = now or utcnow()
    lease_until = now + dt.timedelta(seconds=get_settings().mail_lease_seconds)
    token = secrets.token_hex(16)
    parameters = {"outbox_id": outbox_id, "now": now, "token": token, "lease_until": lease_until}
    for recovered, statement in _claim_statements():
        email = session.execute(statement, parameters).first()
        if email is not None:
            return Claim(outbox_id, token, recovered=recovered, email=email)
    return None


@lru_cache(maxsize=16)
def _release_statement(columns: tuple[str, ...]) -> Update:
    """Ending a lease and setting `columns`, built once per set of columns (bound parameters: outbox_id, token,
    now, and v_<column> for each column)."""
    return (
        update(OutboxEmail)
        .where(OutboxEmail.id == bindparam("outbox_id"), OutboxEmail.lease_token == bindparam("token"))
        .values(
            lease_token=None,
            lease_until=None,
            updated_at=bindparam("now"),
            **{column: bindparam(f"v_{column}") for column in columns},
        )
        .execution_options(synchronize_session=False)
    )


def _release(outbox_id: int, token: str, values: dict[str, Any]) -> bool:
    statement = _release_statement(tuple(sorted(values)))
    parameters = {"outbox_id": outbox_id, "token": token, "now": utcnow()}
    parameters.update({f"v_{column}": value for column, value in values.items()})
    with autocommit() as connection:  # one conditional UPDATE, its own transaction
        return connection.execute(statement, parameters).rowcount == 1


# What the record of a sent email sets (besides ending its lease): `_record_and_claim`'s bound parameters.
SENT_COLUMNS = ("attachments", "fingerprint", "last_error", "sent_at", "status")


@lru_cache(maxsize=1)
def _record_and_claim_statement() -> Select[Any]:
    """PostgreSQL: the record of a sent email (`_release` with `SENT_COLUMNS`) and the usual claim of the task's
    next email (bound parameters next_id, next_token, lease_until; `now` for both) in one statement: two
    data-modifying WITH queries, each run once to its end, committed together. Returns one row: how many rows
    the record ended (1, or 0 when the lease was taken over), then the claimed row's `CLAIMED` columns (all
    None when the next email was not claimed)."""
    recorded = _release_statement(SENT_COLUMNS).returning(OutboxEmail.id).cte("recorded")
    claimed = _claim_update(False, ("next_id", "next_token")).cte("claimed")
    one = select(literal(1).label("one")).subquery("one")
    count = select(func.count()).select_from(recorded).scalar_subquery()
    return select(count.label("recorded"), *claimed.c).select_from(one.outerjoin(claimed, true()))


def _record_and_claim(outbox_id: int, token: str, values: dict[str, Any], next_id: int) -> tuple[bool, Claim | None]:
    """Record the sent email `outbox_id` and claim `next_id` in one round trip (PostgreSQL): whether the record
    ended the lease, and the next email's claim (None when it is not due, already sent, or held)."""
    now = utcnow()
    next_token = secrets.token_hex(16)
    parameters = {"outbox_id": outbox_id, "token": token, "now": now, "next_id": next_id, "next_token": next_token}
    parameters["lease_until"] = now + dt.timedelta(seconds=get_settings().mail_lease_seconds)
    parameters.update({f"v_{column}": value for column, value in values.items()})
    with autocommit() as connection:
        row = connection.execute(_record_and_claim_statement(), parameters).one()
    # The row has the claimed email's columns by their names (and `recorded`): it serves as the claimed row.
    return row.recorded == 1, None if row.id is None else Claim(next_id, next_token, recovered=False, email=row)


def _give_back(claim: Claim) -> None:
    """A claim made ahead (`_record_and_claim`) that its task did not get to use: the row is pending again, as
    if never claimed (its attempt uncounted), rather than held until its lease ends."""
    with autocommit() as connection:
        connection.execute(
            update(OutboxEmail)
            .where(OutboxEmail.id == claim.outbox_id, OutboxEmail.lease_token == claim.token)
            .values(
                status=EmailStatus.PENDING,
                lease_token=None,
                lease_until=None,
                attempts=OutboxEmail.attempts - 1,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )


def retry_delay(attempts: int) -> float:
    base = get_settings().mail_retry_base_seconds
    return float(min(base * (2 ** max(attempts - 1, 0)), MAX_RETRY_DELAY_SECONDS))


def _message_for(
    connection: Connection, row: OutboxEmail | Row[Any], store: StatementStore, batch: BatchRows | None = None
) -> tuple[EmailMessage, StoredStatement]:
    """Build the email from the current data (`batch`'s while fresh); files the store lacks (data changed, pruned)
    are rendered. `row` is the outbox row, or its `CLAIMED` columns."""
    head, statement_formats, items = statement_rows(connection, row, batch)
    statement = StatementHead(*head).statement(row.cutoff, items).in_language(row.language)
    formats = [StoreKey.parse(text).fmt for text in row.attachments] if row.attachments else listed(statement_formats)
    stored = ensure_rendered(statement, formats, store)
    attachments = []
    for key in stored.keys:
        path = store.get(key) or store.put(key, render_statement(statement, key.fmt))  # pruned meanwhile
        attachments.append((statement_filename(statement, key.fmt), path.read_bytes(), ATTACHMENT_TYPES[key.fmt]))
    # The same attempt always carries the same id.
    same_attempt = stable_message_id(f"statement.{row.id}.{row.generation}.{stored.statement.fingerprint[:16]}")
    return compose_statement_email(statement, row.recipient, attachments, message_id=same_attempt), stored


@dataclass(frozen=True)
class SendOutcome:
    outbox_id: int
    result: Outcome  # sent | not_claimed | retry | failed | cancelled
    detail: str = ""
    run_id: int | None = None
    retry_in: float | None = None


def send_statement_email(
    outbox_id: int,
    *,
    batch: BatchRows | None = None,
    claimed: Claim | None = None,
    next_id: int | None = None,
    ahead: list[Claim] | None = None,
) -> SendOutcome:
    """Claim, build, send and record one outbox row. Safe to call any number of times for the same row.

    From `send_statement_emails`: `batch`, the statement rows its task read for all its emails; `claimed`, this
    row's claim when the record of the task's previous email made it; `next_id` and `ahead`, the task's next
    email, which the record of this one claims too on PostgreSQL (`_record_and_claim`), its claim put in
    `ahead`."""
    store = get_store()
    # The claim, the build's reads and each record are single statements in autocommit: one round trip each to
    # the database, where a transaction around each would add a BEGIN and a COMMIT.
    if claimed is not None and claimed.outbox_id == outbox_id:
        claim: Claim | None = claimed
    else:
        with autocommit() as connection:
            claim = claim_email(connection, outbox_id)
    if claim is None:
        return SendOutcome(outbox_id, Outcome.NOT_CLAIMED)
    # The claim is committed: from here the row is ours until the lease ends.
    row = claim.email
    assert row is not None
    run_id, attempts, first_queued_at = row.run_id, row.attempts, row.first_queued_at
    if claim.recovered:
        log.warning(
            "outbox %s: the previous attempt's lease expired with its outcome unknown; sending again may "
            "deliver a duplicate to %s",
            outbox_id,
            row.recipient,
        )
    with autocommit() as connection:
        try:
            message, stored = _message_for(connection, row, store, batch)
        except StatementNotFound as error:
            detail = f"statement not found: {error}"
            _release(outbox_id, claim.token, {"status": EmailStatus.FAILED, "last_error": detail})
            return SendOutcome(outbox_id, Outcome.FAILED, detail, run_id)
        except Exception as error:
            # Not the recipient's fault: try again later, like a temporary SMTP failure.
            _retry_or_give_up(
                claim, run_id, attempts, first_queued_at, f"could not build the email: {type(error).__name__}: {error}"
            )
            raise

    marked: list[bool] = []

    def record_sent() -> None:
        # Accepted by the server (DATA's 250): recorded at once, before QUIT, so a failure in QUIT or a crash
        # afterwards never sends it again (the only window for a duplicate is until this commits).
        values = {
            "status": EmailStatus.SENT,
            "sent_at": utcnow(),
            "last_error": "",
            "fingerprint": stored.statement.fingerprint,
            "attachments": [key.as_string() for key in stored.keys],
        }
        if ahead is not None and next_id is not None and next_id != outbox_id and _claims_ahead():
            recorded, next_claim = _record_and_claim(outbox_id, claim.token, values, next_id)
            marked.append(recorded)
            if next_claim is not None:
                ahead.append(next_claim)
        else:
            marked.append(_release(outbox_id, claim.token, values))

    try:
        log.info("outbox %s: sending to %s (attempt %s)", outbox_id, message["To"], attempts)
        get_mail_backend().send(message, on_accepted=record_sent)
    except NotRecorded:
        # Sent, but not recorded: the claim's lease decides later (as after a crash at this moment).
        log.exception("outbox %s: accepted by the server but not recorded", outbox_id)
        raise
    except PermanentMailError as error:
        reply = _reply_text(error)
        _release(outbox_id, claim.token, {"status": EmailStatus.FAILED, "last_error": reply})
        log.warning("outbox %s: refused permanently: %s", outbox_id, reply)
        return SendOutcome(outbox_id, Outcome.FAILED, reply, run_id)
    except Exception as error:  # 4xx, no connection, or a fault of ours (a bad SMTP URL): keep it, try later
        if marked:  # accepted and recorded; what failed came after (never resend)
            log.warning("outbox %s: sent; then %s", outbox_id, error)
        else:
            if not isinstance(error, TransientMailError | OSError):
                log.exception("outbox %s: unexpected error while sending", outbox_id)
            return _retry_or_give_up(claim, run_id, attempts, first_queued_at, _reply_text(error))

    if not marked or not marked[0]:
        log.warning("outbox %s: sent, but the lease was taken over meanwhile (possible duplicate)", outbox_id)
    # Older versions of the attached files that no email refers to any more (this one attached newer data) go now.
    for key in stored.keys:
        store.prune(key)
    return SendOutcome(outbox_id, Outcome.SENT, f"rendered {stored.rendered}" if stored.rendered else "", run_id)


def send_statement_emails(outbox_ids: Sequence[int]) -> list[SendOutcome]:
    """`send_statement_email` for each row in turn, over one SMTP connection. An email that raises (its build
    failed, its record failed after the server took it) is logged and left to its lease and the sweeper, as a task
    of its own would be; the others go on. A time limit stops the loop: rows not claimed yet stay pending.

    The statements' rows (company, customer, account, open items) are read for the task's rows together before the
    first claim, in two queries instead of two per email, and again for the rows left whenever they are older than
    `BATCH_ROWS_SECONDS`: no email is built from data read longer ago than that before its claim."""
    outcomes = []
    batch: BatchRows | None = None
    read_together = True  # until a read of the rows together fails: then each email reads its own
    ahead: list[Claim] = []  # the next email's claim, made by the record of the one before (PostgreSQL)
    with reusing_connections():
        try:
            for position, outbox_id in enumerate(outbox_ids):
                if read_together and position < len(outbox_ids) - 1 and (batch is None or not batch.fresh()):
                    batch = read_batch(outbox_ids[position:])  # the rows of this email and of those after it
                    read_together = batch is not None
                claimed = ahead.pop() if ahead else None
                next_id = outbox_ids[position + 1] if position + 1 < len(outbox_ids) else None
                try:
                    outcomes.append(
                        send_statement_email(outbox_id, batch=batch, claimed=claimed, next_id=next_id, ahead=ahead)
                    )
                except SoftTimeLimitExceeded:
                    raise
                except Exception:
                    log.exception("outbox %s: sending failed", outbox_id)
        finally:
            for claim in ahead:  # claimed, then the task stopped (its time limit) before it was sent
                with contextlib.suppress(Exception):  # else its lease ends it, as after a crash
                    _give_back(claim)
    return outcomes


def _claims_ahead() -> bool:
    """Whether the record of a task's email also claims the next one (`_record_and_claim`): on PostgreSQL."""
    return get_engine().dialect.name == "postgresql"


def _retry_or_give_up(
    claim: Claim, run_id: int | None, attempts: int, first_queued_at: dt.datetime, reason: str
) -> SendOutcome:
    """Back to pending with an exponential back-off, or failed once the retry period has passed."""
    settings = get_settings()
    now = utcnow()
    if now - first_queued_at >= dt.timedelta(hours=settings.mail_retry_hours):
        detail = f"gave up after {attempts} attempts over {settings.mail_retry_hours:g} h: {reason}"
        _release(claim.outbox_id, claim.token, {"status": EmailStatus.FAILED, "last_error": detail})
        log.warning("outbox %s: %s", claim.outbox_id, detail)
        return SendOutcome(claim.outbox_id, Outcome.FAILED, detail, run_id)
    delay = retry_delay(attempts)
    _release(
        claim.outbox_id,
        claim.token,
        {"status": EmailStatus.PENDING, "last_error": reason, "next_attempt_at": now + dt.timedelta(seconds=delay)},
    )
    with session_scope() as session:  # its run was cancelled meanwhile: no further attempt
        if cancel_waiting_emails(session, OutboxEmail.id == claim.outbox_id, held_by_cancelled_run()):
            log.info("outbox %s: not retried, its run was cancelled", claim.outbox_id)
            return SendOutcome(claim.outbox_id, Outcome.CANCELLED, "cancelled with its run", run_id)
    log.info("outbox %s: temporary failure (%s); next attempt in %.0f s", claim.outbox_id, reason, delay)
    return SendOutcome(claim.outbox_id, Outcome.RETRY, reason, run_id, retry_in=delay)


def _reply_text(error: BaseException) -> str:
    code = getattr(error, "code", None)
    reply = getattr(error, "reply", None)
    if code is not None and reply is not None:
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        return f"{code} {text}".strip()
    return f"{type(error).__name__}: {error}"
