"""Each account's outcome in a run, for the run's page: filtered by outcome, searched by customer, a page at a time;
and what a run at a cut-off would find already mailed, before it starts and after.

An account's outcome is its own state, and for an account whose emails were queued, the state of its statement's
emails at the run's cut-off (company, customer, cut-off: an email an earlier run at the same cut-off sent counts
as sent, since it will not be sent again). Precedence: failed, then sending, then cancelled, then sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from shared.db import Page, contains_text, page_of
from shared.models import Account, Company, Customer, OutboxEmail, RunAccount, StatementRun
from shared.vocab import AccountStatus, EmailStatus, RunAccountOutcome


@dataclass(frozen=True)
class EmailLine:
    id: int
    recipient: str
    status: str
    sent_at: dt.datetime | None
    last_error: str
    run_id: int | None


@dataclass(frozen=True)
class AccountLine:
    """One account of a run as its page shows it."""

    run_account_id: int
    company_code: str
    customer_number: str
    customer_name: str
    outcome: str  # RunAccountOutcome
    error: str  # why the account failed
    updated_at: dt.datetime
    emails: list[EmailLine] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        """Every reason it failed: the account's error, each refused email's reply."""
        found = [self.error] if self.outcome == RunAccountOutcome.FAILED and self.error else []
        return found + [f"{e.recipient}: {e.last_error}" for e in self.emails if e.status == EmailStatus.FAILED]


def _statement_emails(cutoff: dt.date, statuses: Sequence[str]) -> ColumnElement[bool]:
    return exists().where(
        OutboxEmail.company_id == Account.company_id,
        OutboxEmail.customer_id == Account.customer_id,
        OutboxEmail.cutoff == cutoff,
        OutboxEmail.status.in_(statuses),
    )


def _by_emails(failed: Any, waiting: Any, cancelled: Any) -> Any:
    """The outcome of an account whose emails were queued, from whether any of them failed, waits, was cancelled."""
    return case(
        (failed, literal(RunAccountOutcome.FAILED.value)),
        (waiting, literal(RunAccountOutcome.SENDING.value)),
        (cancelled, literal(RunAccountOutcome.CANCELLED.value)),
        else_=literal(RunAccountOutcome.SENT.value),
    )


WAITING = (EmailStatus.PENDING, EmailStatus.SENDING)


def outcome_of(cutoff: dt.date) -> Any:
    """The SQL expression of a `RunAccount`'s outcome (joined to its `Account`) in a run at `cutoff`."""
    return case(
        (RunAccount.status != AccountStatus.DONE, RunAccount.status),
        else_=_by_emails(
            _statement_emails(cutoff, [EmailStatus.FAILED]),
            _statement_emails(cutoff, WAITING),
            _statement_emails(cutoff, [EmailStatus.CANCELLED]),
        ),
    )


def outcome_counts(session: Session, run: StatementRun) -> dict[str, int]:
    """How many of the run's accounts have each outcome (every outcome present, zero or not): the accounts' own
    states, then one pass over the emails at the cut-off for the accounts whose emails were queued."""
    counts = {str(o): 0 for o in RunAccountOutcome}
    for status, number in session.execute(
        select(RunAccount.status, func.count()).where(RunAccount.run_id == run.id).group_by(RunAccount.status)
    ):
        if status != AccountStatus.DONE:
            counts[str(status)] = counts.get(str(status), 0) + int(number)

    def any_email(statuses: Sequence[str]) -> Any:
        return func.max(case((OutboxEmail.status.in_(statuses), 1), else_=0))

    flags = (
        select(
            any_email([EmailStatus.FAILED]).label("failed"),
            any_email(WAITING).label("waiting"),
            any_email([EmailStatus.CANCELLED]).label("cancelled"),
        )
        .select_from(RunAccount)
        .join(Account, Account.id == RunAccount.account_id)
        .outerjoin(
            OutboxEmail,
            and_(
                OutboxEmail.company_id == Account.company_id,
                OutboxEmail.customer_id == Account.customer_id,
                OutboxEmail.cutoff == run.cutoff,
            ),
        )
        .where(RunAccount.run_id == run.id, RunAccount.status == AccountStatus.DONE)
        .group_by(RunAccount.id)
        .subquery()
    )
    outcome = _by_emails(flags.c.failed == 1, flags.c.waiting == 1, flags.c.cancelled == 1)
    for name, number in session.execute(select(outcome, func.count()).select_from(flags).group_by(outcome)):
        counts[str(name)] += int(number)
    return counts


def account_lines(
    session: Session,
    run: StatementRun,
    *,
    outcome: str = "",
    query: str = "",
    page: int = 1,
    size: int = 50,
    total: int | None = None,
) -> Page[AccountLine]:
    """A page of the run's accounts (in the order the run took them), of one outcome or all, matching `query`
    (customer number or name), each with its statement's emails at the run's cut-off. `total`: the number of rows
    when the caller knows it already (saves counting them)."""
    # First the page's accounts, by id alone (an outcome is worked out only where the filter needs it) ...
    expression = outcome_of(run.cutoff)
    chosen = select(RunAccount.id).where(RunAccount.run_id == run.id).order_by(RunAccount.id)
    if outcome in list(RunAccountOutcome):
        chosen = chosen.join(Account, Account.id == RunAccount.account_id).where(expression == outcome)
    if query.strip():
        chosen = (
            chosen.join(Account, Account.id == RunAccount.account_id)
            if outcome not in list(RunAccountOutcome)
            else chosen
        )
        chosen = chosen.join(Customer, Customer.id == Account.customer_id).where(
            contains_text(query.strip(), Customer.number, Customer.name)
        )
    ids, total, number = page_of(session, chosen, page, size, total)
    # ... then what the page shows of them.
    rows = session.execute(
        select(
            RunAccount.id,
            Company.code,
            Customer.number,
            Customer.name,
            expression,
            RunAccount.error,
            RunAccount.updated_at,
            Account.company_id,
            Account.customer_id,
        )
        .join(Account, Account.id == RunAccount.account_id)
        .join(Company, Company.id == Account.company_id)
        .join(Customer, Customer.id == Account.customer_id)
        .where(RunAccount.id.in_([row[0] for row in ids]))
        .order_by(RunAccount.id)
    ).all()
    emails: dict[tuple[int, int], list[EmailLine]] = {}
    if rows:
        pairs = {(row[7], row[8]) for row in rows}
        for email in session.scalars(
            select(OutboxEmail)
            .where(
                OutboxEmail.cutoff == run.cutoff,
                OutboxEmail.company_id.in_({c for c, _ in pairs}),
                OutboxEmail.customer_id.in_({k for _, k in pairs}),
            )
            .order_by(OutboxEmail.recipient)
        ):
            if (email.company_id, email.customer_id) in pairs:
                emails.setdefault((email.company_id, email.customer_id), []).append(
                    EmailLine(email.id, email.recipient, email.status, email.sent_at, email.last_error, email.run_id)
                )
    lines = [
        AccountLine(
            run_account_id=row[0],
            company_code=row[1],
            customer_number=row[2],
            customer_name=row[3],
            outcome=str(row[4]),
            error=row[5],
            updated_at=row[6],
            emails=emails.get((row[7], row[8]), []),
        )
        for row in rows
    ]
    return Page(lines, number, size, total)


# --- already mailed at a cut-off --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mailed:
    """Accounts whose statement at a cut-off was already emailed (at least one recipient got it), and when."""

    accounts: int  # accounts in scope
    mailed: int
    first_sent_at: dt.datetime | None
    last_sent_at: dt.datetime | None

    @property
    def all_mailed(self) -> bool:
        return self.accounts > 0 and self.mailed == self.accounts


def _mailed(session: Session, cutoff: dt.date, accounts: Any, before: StatementRun | None = None) -> Mailed:
    """`accounts`: a select of the `Account.id`s in scope; only emails an earlier run sent when `before` is given."""
    sent: list[Any] = [OutboxEmail.status == EmailStatus.SENT]
    if before is not None:
        sent += [
            OutboxEmail.sent_at < before.created_at,
            or_(OutboxEmail.run_id.is_(None), OutboxEmail.run_id != before.id),
        ]
    ids = accounts.subquery()
    total = int(session.scalar(select(func.count()).select_from(ids)) or 0)
    found = session.execute(
        select(func.count(func.distinct(Account.id)), func.min(OutboxEmail.sent_at), func.max(OutboxEmail.sent_at))
        .select_from(Account)
        .join(
            OutboxEmail,
            and_(
                OutboxEmail.company_id == Account.company_id,
                OutboxEmail.customer_id == Account.customer_id,
                OutboxEmail.cutoff == cutoff,
                *sent,
            ),
        )
        .where(Account.id.in_(select(ids.c[0])))
    ).one()
    return Mailed(total, int(found[0] or 0), found[1], found[2])


def mailed_before_start(session: Session, cutoff: dt.date, company_id: int | None = None) -> Mailed:
    """What a new run at `cutoff` (every company, or one) would find already mailed."""
    accounts = select(Account.id)
    if company_id is not None:
        accounts = accounts.where(Account.company_id == company_id)
    return _mailed(session, cutoff, accounts)


def mailed_in_run(session: Session, run: StatementRun) -> Mailed:
    """Of a run's accounts, those whose statement had been emailed before the run started (not sent again)."""
    accounts = select(RunAccount.account_id).where(RunAccount.run_id == run.id)
    return _mailed(session, run.cutoff, accounts, before=run)
