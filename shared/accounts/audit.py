"""The audit trail: security events in the `audit_events` table and the `edocta.audit` log, never a secret; the
audit log the operators read, a page at a time; and the sign-in refusals counted by reason."""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.db import Page, contains_text, page_of, session_scope
from shared.models import AuditEvent

audit_log = logging.getLogger("edocta.audit")

SIGN_IN_REFUSED = "sign_in_refused"
_REASON = re.compile(r"(?:^|\s)reason=(.*?)(?=\s+[\w.-]+=|$)")


def audit(session: Session, event: str, *, username: str = "", ip: str = "", detail: str = "") -> None:
    """Record a security event (sign-in, refusal, password change, resend...). Never pass a secret here."""
    session.add(AuditEvent(event=event, username=username[:150], ip=ip[:64], detail=detail))
    audit_log.info("%s user=%r ip=%s %s", event, username[:150], ip or "-", detail)


def record_event(event: str, *, username: str = "", ip: str = "", detail: str = "") -> None:
    """`audit` in its own transaction."""
    with session_scope() as session:
        audit(session, event, username=username, ip=ip, detail=detail)


@dataclass(frozen=True)
class LoggedEvent:
    id: int
    at: dt.datetime
    event: str
    username: str
    ip: str
    detail: str


def audit_events(
    session: Session, *, query: str = "", event: str = "", page: int = 1, size: int = 50
) -> Page[LoggedEvent]:
    """Events, newest first: of one kind (or all), whose user, address or detail contains `query`."""
    statement = select(AuditEvent).order_by(AuditEvent.id.desc())
    if event:
        statement = statement.where(AuditEvent.event == event)
    if query.strip():
        statement = statement.where(contains_text(query.strip(), AuditEvent.username, AuditEvent.ip, AuditEvent.detail))
    rows, total, number = page_of(session, statement, page, size)
    events = [LoggedEvent(e.id, e.at, e.event, e.username, e.ip, e.detail) for (e,) in rows]
    return Page(events, number, size, total)


def audit_event_kinds(session: Session) -> list[str]:
    """The kinds of event recorded so far, for the log's filter."""
    return [str(name) for name in session.scalars(select(AuditEvent.event).distinct().order_by(AuditEvent.event))]


def refusal_reason(detail: str) -> str:
    """The `reason=` of a refusal's detail (`reason=wrong password ip=...` gives `wrong password`)."""
    found = _REASON.search(detail or "")
    return found.group(1).strip() if found and found.group(1).strip() else "unknown"


def sign_in_refusals(session: Session) -> dict[str, int]:
    """Every sign-in refusal recorded, counted by its reason."""
    counts: dict[str, int] = {}
    rows = session.execute(
        select(AuditEvent.detail, func.count()).where(AuditEvent.event == SIGN_IN_REFUSED).group_by(AuditEvent.detail)
    )
    for detail, number in rows:
        reason = refusal_reason(detail)
        counts[reason] = counts.get(reason, 0) + int(number)
    return counts
