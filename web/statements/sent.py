"""Sent statements (contract sections 5 and 10): `/statements/<company>/<customer>/sent` lists the statement emails
sent for the customer at the company (cut-off, when, to whom, formats), and `…/sent/<id>.<format>` downloads a
file exactly as that email attached it. Both answer 404 to a user who may not see the customer there."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template

from shared import mail, render
from shared.clock import local_minute
from shared.db import session_scope
from shared.statements import StatementNotFound
from shared.statements.access import visible_head
from web.security import FILE, current_user
from web.statements.addresses import content_disposition, selector_url, statement_url


def sent_url(company: str, customer: str, outbox_id: int | None = None, fmt: str | None = None) -> str:
    path = f"{statement_url(company, customer, 'sent')}"
    return f"{path}/{outbox_id}.{fmt}" if outbox_id is not None and fmt else path


@get("/statements/{company:str}/{customer:str}/sent", name="sent_statements", sync_to_thread=True)
def sent_statements_page(request: Request[Any, Any, Any], company: FromPath[str], customer: FromPath[str]) -> Template:
    """The statement emails sent for this customer at this company, with their files."""
    try:
        with session_scope() as session:
            head = visible_head(session, current_user(request), company, customer)
            sent = mail.sent_statements(session, head.company_id, head.customer_id)
    except StatementNotFound:
        raise NotFoundException() from None
    rows = [
        {
            "cutoff": row.cutoff,
            "sent_at": local_minute(row.sent_at),
            "recipient": row.recipient,
            "files": [(fmt, sent_url(company, customer, row.id, fmt)) for fmt in row.formats],
            "statement_url": statement_url(company, customer, row.cutoff),
        }
        for row in sent
    ]
    return Template(
        template_name="statements/sent.html.j2",
        context={
            "company_name": head.company_name,
            "customer_name": head.customer_name,
            "customer_number": head.customer_number,
            "rows": rows,
            "selector_href": selector_url(customer=customer, company=company),
        },
        media_type=MediaType.HTML,
        headers={"Cache-Control": "no-store"},
    )


@get(
    "/statements/{company:str}/{customer:str}/sent/{file_name:str}",
    name="sent_statement_file",
    sync_to_thread=True,
    opt={FILE: True},
)
def sent_statement_file(
    request: Request[Any, Any, Any], company: FromPath[str], customer: FromPath[str], file_name: FromPath[str]
) -> Response[bytes]:
    """One file of a sent statement email (`<id>.pdf`, `<id>.xlsx`), byte for byte as it was attached."""
    number, _, fmt = file_name.partition(".")
    if not number.isdigit() or len(number) > 18 or fmt not in render.CONTENT_TYPES:
        raise NotFoundException()
    try:
        with session_scope() as session:
            head = visible_head(session, current_user(request), company, customer)
            found = mail.sent_file(session, head.company_id, head.customer_id, int(number), fmt)
    except StatementNotFound:
        raise NotFoundException() from None
    if found is None:
        raise NotFoundException()
    key, data = found
    return Response(
        content=data,
        media_type=render.CONTENT_TYPES[fmt],
        headers={
            "Content-Disposition": content_disposition(render.stored_filename(key)),
            "Cache-Control": "no-store",
        },
    )
