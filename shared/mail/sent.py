"""Sent statements (contract section 10): the statement emails sent for one customer at one company, and the files
they attached, read back from the statement store byte for byte (the store keeps every file an outbox row
attaches: `shared.store.attached_file_names`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.models import OutboxEmail
from shared.store import InvalidStoreKey, StoreKey, get_store
from shared.vocab import EmailStatus

SENT_LIMIT = 500


@dataclass(frozen=True)
class SentStatement:
    """One statement email that was sent: its cut-off, when, to whom, and the formats it attached."""

    id: int
    cutoff: dt.date
    sent_at: dt.datetime
    recipient: str
    formats: list[str]


def _keys(attachments: list[str] | None) -> list[StoreKey]:
    keys = []
    for text in attachments or ():
        try:
            keys.append(StoreKey.parse(text))
        except InvalidStoreKey:
            continue
    return keys


def sent_statements(
    session: Session, company_id: int, customer_id: int, limit: int = SENT_LIMIT
) -> list[SentStatement]:
    """The statement emails sent for the customer at the company, newest cut-off first, then newest sent."""
    rows = session.execute(
        select(OutboxEmail.id, OutboxEmail.cutoff, OutboxEmail.sent_at, OutboxEmail.recipient, OutboxEmail.attachments)
        .where(
            OutboxEmail.company_id == company_id,
            OutboxEmail.customer_id == customer_id,
            OutboxEmail.status == EmailStatus.SENT,
        )
        .order_by(OutboxEmail.cutoff.desc(), OutboxEmail.sent_at.desc(), OutboxEmail.id.desc())
        .limit(limit)
    )
    return [
        SentStatement(row.id, row.cutoff, row.sent_at, row.recipient, [key.fmt for key in _keys(row.attachments)])
        for row in rows
        if row.sent_at is not None
    ]


def sent_file(
    session: Session, company_id: int, customer_id: int, outbox_id: int, fmt: str
) -> tuple[StoreKey, bytes] | None:
    """The file of format `fmt` that the sent email `outbox_id` of this customer at this company attached, exactly
    as attached; None when there is no such email or file."""
    attachments = session.scalar(
        select(OutboxEmail.attachments).where(
            OutboxEmail.id == outbox_id,
            OutboxEmail.company_id == company_id,
            OutboxEmail.customer_id == customer_id,
            OutboxEmail.status == EmailStatus.SENT,
        )
    )
    for key in _keys(attachments):
        if key.fmt == fmt:
            data = get_store().read(key)
            return None if data is None else (key, data)
    return None
