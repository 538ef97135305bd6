"""Disputes in the portal (contract section 9) and invoice documents (section 8).

- `POST /statements/{C}/{K}/disputes` (a customer user, fields `document_number`, `message`, and `cutoff` to come
  back to the statement on screen): opens a dispute and returns to the statement; a bad message or a cleared
  item shows the statement again with the error and the text as typed; an item that is not K's at C answers 404.
- `GET /disputes` (staff and admins): open first, filtered by company and customer, a page at a time;
  `POST /disputes/{id}/reply` (field `message`) and `POST /disputes/{id}/resolve`.
- `GET /statements/{C}/{K}/documents/{N}.pdf|.xml`: the stored file, byte for byte; 404 when the user may not
  see K at C or the item is not K's.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import MediaType, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath, FromQuery
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template

from shared import disputes, documents
from shared.clock import parse_day, today
from shared.db import session_scope
from shared.i18n import N_, gettext
from shared.vocab import MAX_DISPUTE_MESSAGE, DocumentKind
from web.i18n import request_language
from web.security import FILE, current_user, requires_staff
from web.statements import content_disposition, statement_url
from web.statements.page import render_statement_page

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _field(form: dict[str, Any], name: str, limit: int = 10_000) -> str:
    value = form.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return value[:limit] if isinstance(value, str) else ""


def _enqueue(change: disputes.DisputeChange) -> None:
    if change.email_ids:
        disputes.enqueue_dispute_emails(change.email_ids)


# --- the customer's side -------------------------------------------------------------------------------------


@post("/statements/{company:str}/{customer:str}/disputes", name="dispute_open", sync_to_thread=True)
def dispute_open(request: Request[Any, Any, Any], company: FromPath[str], customer: FromPath[str], data: Form) -> Any:
    user = current_user(request)
    document_number = _field(data, "document_number", 200).strip()
    text = _field(data, "message", MAX_DISPUTE_MESSAGE * 4)
    cutoff = parse_day(_field(data, "cutoff", 20)) or today()
    cutoff = min(cutoff, today())
    try:
        with session_scope() as session:
            change = disputes.open_dispute(session, user, company, customer, document_number, text)
    except disputes.DisputeNotFound:
        raise NotFoundException() from None
    except disputes.DisputeError as error:
        form = {"document_number": document_number, "message": text, "error": error.message(request_language(request))}
        return render_statement_page(request, company, customer, cutoff, dispute_form=form, status_code=400)
    _enqueue(change)
    flash(
        request,
        gettext(N_("Enviamos tu aclaración del documento %(document)s al área de cobranza."), request_language(request))
        % {"document": document_number},
        category="success",
    )
    return Redirect(path=statement_url(company, customer, cutoff) + "#disputes", status_code=303)


@get(
    "/statements/{company:str}/{customer:str}/documents/{name:str}",
    name="invoice_document",
    sync_to_thread=True,
    opt={FILE: True},
)
def invoice_document(
    request: Request[Any, Any, Any], company: FromPath[str], customer: FromPath[str], name: FromPath[str]
) -> Response[bytes]:
    number, _, kind = name.rpartition(".")
    if not number or kind not in tuple(DocumentKind):
        raise NotFoundException()
    with session_scope() as session:
        found = documents.find_document(session, current_user(request), company, customer, number, kind)
    if found is None:
        raise NotFoundException()
    return Response(
        content=found.data,
        media_type=documents.CONTENT_TYPES[DocumentKind(kind)],
        headers={"Content-Disposition": content_disposition(found.filename), "Cache-Control": "no-store"},
    )


# --- the staff's side ----------------------------------------------------------------------------------------


def _filters(company: str, customer: str, page: int = 1) -> dict[str, str]:
    values = {"company": company, "customer": customer, "page": str(page) if page > 1 else ""}
    return {name: value for name, value in values.items() if value}


def _list_url(company: str, customer: str, page: int = 1) -> str:
    query = urlencode(_filters(company, customer, page))
    return f"/disputes?{query}" if query else "/disputes"


def _list_page(
    company: str, customer: str, page: int, *, reply: dict[str, Any] | None = None, status_code: int = 200
) -> Template:
    company, customer = company.strip()[:64], customer.strip()[:64]
    with session_scope() as session:
        found = disputes.list_disputes(session, company=company, customer=customer, page=page)
    return Template(
        template_name="disputes/list.html.j2",
        context={
            "found": found,
            "company": company,
            "customer": customer,
            "reply": reply or {},
            "today": today(),
            "statement_url": statement_url,
            "max_message": MAX_DISPUTE_MESSAGE,
            "page_url": lambda number: _list_url(company, customer, number),
            "filters": _filters(company, customer, found.page),
        },
        status_code=status_code,
        media_type=MediaType.HTML,
    )


@get("/disputes", name="disputes_list", guards=[requires_staff], sync_to_thread=True)
def disputes_list(company: FromQuery[str] = "", customer: FromQuery[str] = "", page: FromQuery[int] = 1) -> Template:
    return _list_page(company, customer, page)


def _back(data: dict[str, Any]) -> tuple[str, str, int]:
    page = _field(data, "page", 9)
    return _field(data, "company", 64), _field(data, "customer", 64), int(page) if page.isdigit() else 1


@post("/disputes/{dispute_id:int}/reply", name="dispute_reply", guards=[requires_staff], sync_to_thread=True)
def dispute_reply(request: Request[Any, Any, Any], dispute_id: FromPath[int], data: Form) -> Any:
    company, customer, page = _back(data)
    text = _field(data, "message", MAX_DISPUTE_MESSAGE * 4)
    try:
        with session_scope() as session:
            change = disputes.reply_to_dispute(session, current_user(request), dispute_id, text)
    except disputes.DisputeNotFound:
        raise NotFoundException() from None
    except disputes.DisputeError as error:
        reply = {"id": dispute_id, "message": text, "error": error.message(request_language(request))}
        return _list_page(company, customer, page, reply=reply, status_code=400)
    _enqueue(change)
    flash(request, gettext(N_("Respuesta enviada al cliente."), request_language(request)), category="success")
    return Redirect(path=_list_url(company, customer, page) + f"#dispute-{dispute_id}", status_code=303)


@post("/disputes/{dispute_id:int}/resolve", name="dispute_resolve", guards=[requires_staff], sync_to_thread=True)
def dispute_resolve(request: Request[Any, Any, Any], dispute_id: FromPath[int], data: Form) -> Any:
    company, customer, page = _back(data)
    try:
        with session_scope() as session:
            disputes.resolve_dispute(session, current_user(request), dispute_id)
    except disputes.DisputeNotFound:
        raise NotFoundException() from None
    flash(request, gettext(N_("Aclaración resuelta."), request_language(request)), category="success")
    return Redirect(path=_list_url(company, customer, page) + f"#dispute-{dispute_id}", status_code=303)


route_handlers: list[Any] = [dispute_open, invoice_document, disputes_list, dispute_reply, dispute_resolve]
