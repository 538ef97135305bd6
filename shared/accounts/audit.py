"""The audit trail: security events in the `audit_events` table and the `edocta.audit` log, never a secret."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from shared.db import session_scope
from shared.models import AuditEvent

audit_log = logging.getLogger("edocta.audit")


def audit(session: Session, event: str, *, username: str = "", ip: str = "", detail: str = "") -> None:
    """Record a security event (sign-in, refusal, password change, resend...). Never pass a secret here."""
    session.add(AuditEvent(event=event, username=username[:150], ip=ip[:64], detail=detail))
    audit_log.info("%s user=%r ip=%s %s", event, username[:150], ip or "-", detail)


def record_event(event: str, *, username: str = "", ip: str = "", detail: str = "") -> None:
    """`audit` in its own transaction."""
    with session_scope() as session:
        audit(session, event, username=username, ip=ip, detail=detail)
