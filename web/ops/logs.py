"""The email log (every statement email, searchable by customer or address, by state; resend one; or every
dispute email, the same way) and the audit log (security and admin events, by kind, user or address), both
newest first and paginated."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template

from shared.accounts import audit_event_kinds, audit_events
from shared.db import session_scope
from shared.i18n import N_, gettext
from shared.mail import ResendError, dispute_email_log, email_log
from shared.runs import resend_email
from shared.vocab import EmailStatus
from web.i18n import request_language
from web.ops.context import EMAIL_STATUS_LABELS, PAGE_SIZE, page_links, page_number
from web.security import current_user, requires_admin

log = logging.getLogger("edocta.web.ops")

# The emails the log shows: statement emails ("", the default) or dispute emails.
EMAIL_KINDS = {"": N_("Estados de cuenta"), "disputes": N_("Aclaraciones")}


@get("/ops/emails", name="ops_emails", guards=[requires_admin], sync_to_thread=True)
def ops_emails(
    request: Request[Any, Any, Any],
    q: FromQuery[str] = "",
    status: FromQuery[str] = "",
    kind: FromQuery[str] = "",
    page: FromQuery[str] = "1",
) -> Template:
    status = status if status in list(EmailStatus) else ""
    kind = kind if kind in EMAIL_KINDS else ""
    query = q.strip()[:200]
    log_of = dispute_email_log if kind == "disputes" else email_log
    with session_scope() as session:
        emails = log_of(session, query=query, status=status, page=page_number(page), size=PAGE_SIZE)
    context = {
        "emails": emails,
        "q": query,
        "status": status,
        "kind": kind,
        "email_kinds": EMAIL_KINDS,
        "email_labels": EMAIL_STATUS_LABELS,
        "page_link": page_links(request),
        "ops_page": "emails",
    }
    return Template(template_name="ops/emails.html.j2", context=context, media_type=MediaType.HTML)


@post("/ops/emails/{outbox_id:int}/resend", name="ops_resend", guards=[requires_admin], sync_to_thread=True)
def ops_resend(request: Request[Any, Any, Any], outbox_id: FromPath[int]) -> Redirect:
    """An explicit new attempt at one email (the only way an email is sent twice); back to the page it came from."""
    user = current_user(request)
    language = request_language(request)
    try:
        recipient = resend_email(outbox_id, by_username=user.username)
    except ResendError:
        flash(request, gettext("Ese correo ya no existe.", language), "error")
    else:
        log.info("ops: %s resent outbox %s", user.username, outbox_id)
        flash(request, gettext("Correo reenviado a %(recipient)s.", language) % {"recipient": recipient}, "success")
    referer = request.headers.get("referer", "")
    base = str(request.base_url).rstrip("/")
    target = referer[len(base) :] if referer.startswith(base + "/ops") else "/ops"
    return Redirect(path=target, status_code=303)


@get("/ops/audit", name="ops_audit", guards=[requires_admin], sync_to_thread=True)
def ops_audit(
    request: Request[Any, Any, Any], q: FromQuery[str] = "", event: FromQuery[str] = "", page: FromQuery[str] = "1"
) -> Template:
    query = q.strip()[:200]
    with session_scope() as session:
        kinds = audit_event_kinds(session)
        event = event if event in kinds else ""
        events = audit_events(session, query=query, event=event, page=page_number(page), size=PAGE_SIZE)
    context = {
        "events": events,
        "kinds": kinds,
        "q": query,
        "event": event,
        "page_link": page_links(request),
        "ops_page": "audit",
    }
    return Template(template_name="ops/audit.html.j2", context=context, media_type=MediaType.HTML)


route_handlers: list[Any] = [ops_emails, ops_resend, ops_audit]
