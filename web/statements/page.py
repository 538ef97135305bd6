"""The statement page and its files (JSON, XLSX, PDF).

Files come from the statement store when it holds the statement's current data; otherwise JSON and small XLSX
files are rendered in the request, and PDF (and large XLSX) files by a worker behind a "preparing your file"
page (202, `Retry-After`) that polls `file-status` and starts the download when the file is ready.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Sequence
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import urlencode

import anyio.to_thread
from litestar import MediaType, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Template

from shared import disputes, render, statements
from shared.clock import today
from shared.db import session_scope
from shared.i18n import N_
from shared.render.html import statement_context
from shared.statements import ActivityStatement, Statement
from shared.vocab import MAX_DISPUTE_MESSAGE
from web.i18n import request_language
from web.security import FILE, checks_user_in_its_thread, checks_user_itself, current_user
from web.statements.addresses import (
    StatementAddress,
    content_disposition,
    file_status_url,
    load_statement_and_version_at,
    load_statement_at,
    parse_address,
    selector_url,
    statement_url,
)
from web.statements.cached import STORED_FORMATS, cached_statement_file, note_stored_file
from web.statements.selector import SelectorForm, remember_choice, selector_response
from web.statements.sent import sent_url

# Seconds an automated client is asked to wait before asking again for a file being prepared.
RETRY_AFTER_SECONDS = 2
# Seconds a user with too many files in preparation is asked to wait before asking for another.
TOO_MANY_RETRY_AFTER = 10
TOO_MANY_TITLE = N_("Demasiados archivos en preparación")
TOO_MANY_MESSAGE = N_("Ya tienes %(count)s archivos en preparación. Espera a que estén listos y vuelve a pedir este.")


# --- the statement page and its files -----------------------------------------------------------------------


# The formatted statement (figures, aging, every line's texts) by its data and language: reading the same
# statement again, searching its lines or sorting them reuses it. Only reached after the grant check; equal
# statements (same lines, figures and parties) share one entry.
@lru_cache(maxsize=32)
def _statement_context(statement: Statement, language: str) -> dict[str, Any]:
    return statement_context(statement, language=language)


def _disputes_context(
    request: Request[Any, Any, Any], statement: Statement, dispute: str, dispute_form: dict[str, Any] | None
) -> dict[str, Any]:
    """The disputes part of the page: links to the lines' documents, the customer's disputes with their threads,
    and (for customer users) the form that opens one, keeping what was typed when it was refused."""
    company, customer = statement.company.code, statement.customer.code
    user = current_user(request)
    with session_scope() as session:
        threads = disputes.customer_disputes(session, company, customer)
    form = dict(dispute_form or {})
    form.setdefault("document_number", dispute[:64])
    form.setdefault("message", "")
    return {
        "document_base": f"{statement_url(company, customer, 'documents')}/",
        "dispute_link": not user.is_staff,
        "can_dispute": not user.is_staff,
        "dispute_threads": threads,
        "dispute_form": form,
        "dispute_action": f"{statement_url(company, customer, 'disputes')}",
        "disputes_staff_url": "/disputes?" + urlencode({"company": company, "customer": customer}),
        "max_message": MAX_DISPUTE_MESSAGE,
    }


def _statement_page(
    request: Request[Any, Any, Any],
    statement: Statement,
    q: str,
    sort: str,
    direction: str,
    *,
    dispute: str = "",
    dispute_form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Any:
    language = request_language(request)
    query = q.strip()[:200]
    direction = "desc" if direction == "desc" else "asc"
    sort = sort if sort in statements.SORT_COLUMNS else ""
    context = dict(_statement_context(statement, language))
    rows = context["lines"]
    shown_texts: dict[int, Sequence[str]] = {
        index: (row.type_label, row.document_date_text, row.due_date_text, row.amount_text)
        for index, row in enumerate(rows)
    }
    order = statements.line_order(statement.lines, query, sort, direction, shown=shown_texts if query else None)
    company, customer, cutoff = statement.company.code, statement.customer.code, statement.cutoff
    remember_choice(request, company, customer)
    context.update(
        lines=[rows[index] for index in order],
        line_count=len(order),
        page_language=language,
        query=query,
        sort=sort,
        direction=direction,
        sort_columns=statements.SORT_COLUMNS,
        total_lines=len(statement.lines),
        shown_lines=len(order),
        urls={
            "page": statement_url(company, customer, cutoff),
            "xlsx": statement_url(company, customer, cutoff, "xlsx"),
            "pdf": statement_url(company, customer, cutoff, "pdf"),
            "xlsx_status": file_status_url(company, customer, cutoff, "xlsx"),
            "pdf_status": file_status_url(company, customer, cutoff, "pdf"),
            "json": statement_url(company, customer, cutoff, "json"),
            "change": selector_url(customer=customer, company=company, cutoff=cutoff.isoformat(), action="edit"),
            "sent": sent_url(company, customer),
        },
        **_disputes_context(request, statement, dispute, dispute_form),
    )
    return Template(
        template_name="statements/statement.html.j2",
        context=context,
        media_type=MediaType.HTML,
        status_code=status_code,
    )


def render_statement_page(
    request: Request[Any, Any, Any],
    company: str,
    customer: str,
    cutoff: dt.date,
    *,
    dispute_form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Any:
    """The statement page again (after a refused dispute: its error and the text as typed); 404 when the user
    may not see the statement."""
    address = StatementAddress(company, customer, cutoff, None)
    statement = load_statement_at(request, address)
    return _statement_page(request, statement, "", "", "asc", dispute_form=dispute_form, status_code=status_code)


def file_response(statement: Statement | ActivityStatement, fmt: str, data: bytes) -> Response[bytes]:
    return Response(
        content=data,
        media_type=render.CONTENT_TYPES[fmt],
        headers={
            "Content-Disposition": content_disposition(render.statement_filename(statement, fmt)),
            "Cache-Control": "no-store",
        },
    )


def _preparing_page(
    statement: Statement | ActivityStatement, fmt: str, download_url: str, status_url: str, page_url: str
) -> Template:
    requested = render.render_requested_at(statement, fmt)
    return Template(
        template_name="statements/preparing.html.j2",
        context={
            "statement": statement,
            "fmt": fmt,
            "filename": render.statement_filename(statement, fmt),
            "requested_at": requested.isoformat() if requested else "",
            "download_url": download_url,
            "status_url": status_url,
            "page_url": page_url,
            "retry_after": RETRY_AFTER_SECONDS,
        },
        status_code=202,
        media_type=MediaType.HTML,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"},
    )


def too_many_renders_page(limit: int) -> Template:
    return Template(
        template_name="errors/error.html.j2",
        context={
            "status_code": 429,
            "title": TOO_MANY_TITLE,
            "message": TOO_MANY_MESSAGE,
            "message_args": {"count": limit},
        },
        status_code=429,
        media_type=MediaType.HTML,
        headers={"Retry-After": str(TOO_MANY_RETRY_AFTER), "Cache-Control": "no-store"},
    )


def statement_file(
    statement: Statement | ActivityStatement,
    fmt: str,
    user_id: int,
    *,
    download_url: str,
    status_url: str,
    page_url: str,
) -> Any:
    """A statement file of either kind: JSON at once, a stored or small file as it is, else a worker is asked for
    it (one of the user's render slots) and the preparing page polls `status_url`."""
    if fmt == "json":
        return file_response(statement, fmt, render.render_statement(statement, "json"))
    data = _file_at_once(statement, fmt)
    if data is not None:
        return file_response(statement, fmt, data)
    return _prepared_elsewhere(statement, fmt, user_id, download_url, status_url, page_url)


def _file_at_once(statement: Statement | ActivityStatement, fmt: str) -> bytes | None:
    """The file's bytes from the store, or rendered in the request when it is small enough; None when a worker
    must make it."""
    data = render.stored_file(statement, fmt)
    if data is None and render.render_plan(statement, fmt).inline:
        data = render.render_into_store(statement, fmt)
    return data


def _prepared_elsewhere(
    statement: Statement | ActivityStatement,
    fmt: str,
    user_id: int,
    download_url: str,
    status_url: str,
    page_url: str,
) -> Any:
    """A worker asked for the file (one of the user's render slots), and the preparing page that polls for it."""
    try:
        render.request_render(statement, fmt, user_id=user_id)
    except render.TooManyRenders as refused:
        return too_many_renders_page(refused.limit)
    return _preparing_page(statement, fmt, download_url, status_url, page_url)


def _statement_urls(statement: Statement, fmt: str) -> dict[str, str]:
    company, customer, cutoff = statement.company.code, statement.customer.code, statement.cutoff
    return {
        "download_url": statement_url(company, customer, cutoff, fmt),
        "status_url": file_status_url(company, customer, cutoff, fmt),
        "page_url": statement_url(company, customer, cutoff),
    }


def _statement_file(statement: Statement, fmt: str, user_id: int) -> Any:
    return statement_file(statement, fmt, user_id, **_statement_urls(statement, fmt))


@get("/statements/{company:str}/{customer:str}/{cutoff:str}", name="statement")
@checks_user_itself
async def statement_page(
    request: Request[Any, Any, Any],
    company: FromPath[str],
    customer: FromPath[str],
    cutoff: FromPath[str],
    q: FromQuery[str] = "",
    sort: FromQuery[str] = "",
    direction: Annotated[str, QueryParameter(name="dir")] = "asc",
    dispute: FromQuery[str] = "",
) -> Any:
    """The statement page (`…/2026-11-30`) and its files (`….json`, `….xlsx`, `….pdf`), in the language on screen.
    A file the store holds for the statement's current data is answered on the loop (`cached`); everything else
    in a thread."""
    cached = await cached_statement_file(request, company, customer, cutoff)
    if cached is not None:
        return cached
    return await anyio.to_thread.run_sync(
        functools.partial(
            statement_page_in_thread,
            request=request,
            company=company,
            customer=customer,
            cutoff=cutoff,
            q=q,
            sort=sort,
            direction=direction,
            dispute=dispute,
        )
    )


@checks_user_in_its_thread
def statement_page_in_thread(
    request: Request[Any, Any, Any],
    company: str,
    customer: str,
    cutoff: str,
    q: str,
    sort: str,
    direction: str,
    dispute: str,
) -> Any:
    address = parse_address(company, customer, cutoff)
    future = address.cutoff > today()
    if address.fmt is not None:
        if future:
            raise NotFoundException()
        if address.fmt in STORED_FORMATS.values():
            return _stored_format_file(request, address)
        statement = load_statement_at(request, address)
        return _statement_file(statement.in_language(request_language(request)), address.fmt, current_user(request).id)
    statement = load_statement_at(request, address)
    if future:
        form = SelectorForm(
            customer=address.customer,
            company=address.company,
            cutoff=address.cutoff.isoformat(),
            errors={"cutoff": N_("La fecha de corte no puede ser futura.")},
        )
        return selector_response(request, form)
    return _statement_page(request, statement, q, sort, direction, dispute=dispute)


def _stored_format_file(request: Request[Any, Any, Any], address: StatementAddress) -> Any:
    """A PDF or XLSX file by the full path; when it comes from the store, noted for the loop's path (`cached`)
    under the data version the statement was read at."""
    statement, version = load_statement_and_version_at(request, address)
    statement = statement.in_language(request_language(request))
    fmt = address.fmt or ""
    data = _file_at_once(statement, fmt)
    if data is None:
        return _prepared_elsewhere(statement, fmt, current_user(request).id, **_statement_urls(statement, fmt))
    if version is not None:
        note_stored_file(request, statement, fmt, version, data)
    return file_response(statement, fmt, data)


@get(
    "/statements/{company:str}/{customer:str}/{cutoff:str}/file-status",
    name="statement_file_status",
    sync_to_thread=True,
    opt={FILE: True},
)
@checks_user_in_its_thread
def statement_file_status(
    request: Request[Any, Any, Any],
    company: FromPath[str],
    customer: FromPath[str],
    cutoff: FromPath[str],
    fmt: Annotated[str, QueryParameter(name="format")] = "pdf",
) -> Response[dict[str, Any]]:
    """`{"ready": true}` once the file can be downloaded from the statement's address (polled by the
    preparing page). Asks a worker again when an earlier request seems lost."""
    if fmt not in ("xlsx", "pdf"):
        raise NotFoundException()
    address = parse_address(company, customer, cutoff)
    if address.cutoff > today():
        raise NotFoundException()
    statement = load_statement_at(request, address).in_language(request_language(request))
    # A small XLSX is made in the request itself: its address answers with the file at once.
    inline = render.render_plan(statement, fmt).inline
    ready = inline or render.is_stored(statement, fmt)
    if not ready:
        with contextlib.suppress(render.TooManyRenders):  # the page keeps asking; a slot frees up
            render.request_render(statement, fmt, user_id=current_user(request).id)
    return Response(
        {"ready": ready, "url": statement_url(address.company, address.customer, address.cutoff, fmt)},
        headers={"Cache-Control": "no-store"},
    )
