"""The statement pages: the selector, the statement page and its files (JSON, XLSX, PDF).

Every route reads through `shared.statements`, whose queries are scoped to the signed-in user's grants: a
statement the user may not see answers 404 exactly like one that does not exist (and so does a malformed
address). Files come from the statement store when it holds the statement's current data; otherwise JSON and
small XLSX files are rendered in the request, and PDF (and large XLSX) files by a worker behind a "preparing
your file" page (202, `Retry-After`) that polls `file-status` and starts the download when the file is ready.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from litestar import MediaType, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from shared import render, statements
from shared.clock import parse_day, today
from shared.db import get_engine, session_scope
from shared.statements import Statement, StatementNotFound
from web.i18n import request_language
from web.security import FILE, current_user

FILE_SUFFIXES = {".json": "json", ".xlsx": "xlsx", ".pdf": "pdf"}
# Seconds an automated client is asked to wait before asking again for a file being prepared.
RETRY_AFTER_SECONDS = 2
CUSTOMER_CHOICES = 50

UI_TRANSLATIONS_EN: dict[str, str] = {
    "Consulta de estado de cuenta": "Account statement lookup",
    "Cliente": "Customer",
    "Buscar cliente por número o nombre": "Search customer by number or name",
    "Número o nombre": "Number or name",
    "Buscar": "Search",
    "Elige un cliente": "Choose a customer",
    "Empresa": "Company",
    "Elige una empresa": "Choose a company",
    "Primero elige el cliente y pulsa Buscar.": "First choose the customer and press Search.",
    "Fecha de corte": "Cut-off date",
    "Generar": "Generate",
    "No encontramos clientes con ese número o nombre.": "No customers match that number or name.",
    "No tienes clientes asignados. Pide acceso a tu administrador.": (
        "You have no customers assigned. Ask your administrator for access."
    ),
    "Elige un cliente.": "Choose a customer.",
    "Elige una empresa.": "Choose a company.",
    "Ese cliente no tiene cuenta en esa empresa.": "That customer has no account at that company.",
    "Escribe la fecha de corte como AAAA-MM-DD.": "Enter the cut-off date as YYYY-MM-DD.",
    "La fecha de corte no puede ser futura.": "The cut-off date cannot be in the future.",
    "Mostrando los primeros {count} clientes; escribe para acotar.": (
        "Showing the first {count} customers; type to narrow down."
    ),
    "Descargar XLS": "Download XLS",
    "Descargar PDF": "Download PDF",
    "Descargar JSON": "Download JSON",
    "Cambiar consulta": "Change lookup",
    "Partidas abiertas": "Open items",
    "Buscar en las partidas": "Search the items",
    "Ordenar por": "Sort by",
    "Ascendente": "Ascending",
    "Descendente": "Descending",
    "Aplicar": "Apply",
    "Quitar filtro": "Clear filter",
    "Mostrando {shown} de {total} partidas.": "Showing {shown} of {total} items.",
    "Ninguna partida coincide con la búsqueda.": "No item matches the search.",
    "Documento": "Document",
    "Tipo": "Type",
    "Referencia": "Reference",
    "Fecha del documento": "Document date",
    "Vencimiento": "Due date",
    "Días vencidos": "Days overdue",
    "Importe": "Amount",
    "Moneda": "Currency",
    "Preparando tu archivo": "Preparing your file",
    "Estamos generando el archivo {name}. La descarga empezará sola cuando esté listo.": (
        "We are generating the file {name}. The download will start by itself when it is ready."
    ),
    "Tiempo transcurrido": "Elapsed time",
    "Si la descarga no empieza, usa este enlace:": "If the download does not start, use this link:",
    "Volver a intentar la descarga": "Try the download again",
    "Volver al estado de cuenta": "Back to the statement",
    "El archivo está listo.": "The file is ready.",
    "Preparando…": "Preparing…",
}


# --- addresses -------------------------------------------------------------------------------------------------


def statement_url(company: str, customer: str, cutoff: dt.date | str, fmt: str | None = None) -> str:
    """The bookmarkable address of a statement (`fmt`: json, xlsx, pdf for its files)."""
    day = cutoff.isoformat() if isinstance(cutoff, dt.date) else cutoff
    path = f"/statements/{quote(company, safe='')}/{quote(customer, safe='')}/{quote(day, safe='')}"
    return f"{path}.{fmt}" if fmt else path


def file_status_url(company: str, customer: str, cutoff: dt.date, fmt: str) -> str:
    return f"{statement_url(company, customer, cutoff)}/file-status?{urlencode({'format': fmt})}"


def selector_url(**params: str) -> str:
    query = urlencode({k: v for k, v in params.items() if v})
    return f"/statements?{query}" if query else "/statements"


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """An RFC 6266 header value: an ASCII fallback `filename` and the exact name as `filename*` (RFC 5987).

    Control characters (CR, LF), quotes, backslashes and path separators never reach the header as such.
    """
    cleaned = "".join(ch for ch in filename if unicodedata.category(ch)[0] != "C")
    cleaned = cleaned.replace("/", "_").replace("\\", "_").strip(" .") or "download"
    ascii_name = unicodedata.normalize("NFKD", cleaned).encode("ascii", "ignore").decode("ascii")
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name).strip("._") or "download"
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(cleaned, safe='')}"


# --- parsing the address ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementAddress:
    company: str
    customer: str
    cutoff: dt.date
    fmt: str | None  # None: the HTML page


def parse_address(company: str, customer: str, cutoff_and_suffix: str) -> StatementAddress:
    """The statement named by a URL; anything malformed is "not found", like a statement that does not exist."""
    text = cutoff_and_suffix
    fmt: str | None = None
    for suffix, name in FILE_SUFFIXES.items():
        if text.endswith(suffix):
            text, fmt = text[: -len(suffix)], name
            break
    day = parse_day(text)
    if day is None or not company or not customer:
        raise NotFoundException()
    return StatementAddress(company, customer, day, fmt)


def _load(request: Request[Any, Any, Any], address: StatementAddress) -> Statement:
    user = current_user(request)
    try:
        # Two reads and nothing written: one pooled connection in autocommit (no BEGIN/COMMIT round trips).
        with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            return statements.load_visible_statement(
                connection, user, address.company, address.customer, address.cutoff
            )
    except StatementNotFound:
        raise NotFoundException() from None


# --- the selector ----------------------------------------------------------------------------------------------


@dataclass
class SelectorForm:
    query: str = ""
    customer: str = ""
    company: str = ""
    cutoff: str = ""
    errors: dict[str, str] | None = None


def _selector_response(request: Request[Any, Any, Any], form: SelectorForm, *, status_code: int = 200) -> Template:
    """The selector page showing `form` (400 when it carries errors)."""
    user = current_user(request)
    errors: dict[str, str] = dict(form.errors or {})
    with session_scope() as session:
        only_one = statements.visible_customers(session, user, "", limit=2)
        has_customers = bool(only_one)
        if len(only_one) == 1 and not form.customer:
            form.customer = only_one[0].number
        choices = statements.visible_customers(session, user, form.query, limit=CUSTOMER_CHOICES)
        selected = None
        if form.customer:
            selected = next((c for c in choices if c.number == form.customer), None)
            if selected is None:
                selected = statements.visible_customer(session, user, form.customer)
                if selected is not None:
                    choices = [selected, *choices]
        companies = statements.companies_for_customer(session, user, selected.number) if selected else []
    if selected is None and form.customer:
        errors.setdefault("customer", "Elige un cliente.")
        form.customer = ""
    if len(companies) == 1 and form.company not in {c.code for c in companies}:
        form.company = companies[0].code
    context = {
        "form": form,
        "errors": errors,
        "choices": choices,
        "choices_truncated": len(choices) >= CUSTOMER_CHOICES,
        "has_customers": has_customers,
        "selected": selected,
        "companies": companies,
        "today": today().isoformat(),
    }
    return Template(
        template_name="statements/selector.html.j2",
        context=context,
        media_type=MediaType.HTML,
        status_code=400 if errors else status_code,
    )


@get("/statements", name="statements", sync_to_thread=True)
def statement_selector(
    request: Request[Any, Any, Any],
    q: FromQuery[str] = "",
    customer: FromQuery[str] = "",
    company: FromQuery[str] = "",
    cutoff: FromQuery[str] = "",
    action: FromQuery[str] = "",
) -> Template | Redirect:
    """Pick the customer (among the user's), the company (among the customer's) and the cut-off date.

    *Generar* (`action=generate`) opens the statement. So does any submission of a complete form that asks for
    nothing else (no button named, or *Buscar* with nothing to search), as a form-filling client would send it;
    *Buscar* with a text searches the customers; `action=edit` only shows the form filled in.
    """
    form = SelectorForm(
        query=q.strip()[:100], customer=customer.strip(), company=company.strip(), cutoff=cutoff.strip()
    )
    complete = bool(form.customer and form.company and form.cutoff)
    if action == "generate":
        wants_statement = True
    elif action == "search":
        wants_statement = complete and not form.query
    else:
        wants_statement = complete and action != "edit"
    if not form.cutoff:
        form.cutoff = today().isoformat()
    if not wants_statement:
        return _selector_response(request, form)

    errors: dict[str, str] = {}
    day = parse_day(form.cutoff)
    if day is None:
        errors["cutoff"] = "Escribe la fecha de corte como AAAA-MM-DD."
    elif day > today():
        errors["cutoff"] = "La fecha de corte no puede ser futura."
    user = current_user(request)
    with session_scope() as session:
        if not form.customer or not statements.can_see(session, user, form.customer):
            errors["customer"] = "Elige un cliente."
            codes: list[str] = []
        else:
            codes = [c.code for c in statements.companies_for_customer(session, user, form.customer)]
    if "customer" not in errors:
        if not form.company and len(codes) == 1:
            form.company = codes[0]
        if not form.company:
            errors["company"] = "Elige una empresa."
        elif form.company not in codes:
            errors["company"] = "Ese cliente no tiene cuenta en esa empresa."
    if errors or day is None:
        form.errors = errors
        return _selector_response(request, form)
    return Redirect(path=statement_url(form.company, form.customer, day), status_code=303)


@get("/statements/customers", name="statement_customers", sync_to_thread=True)
def statement_customers(request: Request[Any, Any, Any], q: FromQuery[str] = "") -> Response[dict[str, Any]]:
    """The selector's search box, as you type: the user's customers matching `q` (JSON)."""
    user = current_user(request)
    with session_scope() as session:
        found = statements.visible_customers(session, user, q.strip()[:100], limit=CUSTOMER_CHOICES)
    return Response(
        {
            "customers": [{"number": c.number, "name": c.name} for c in found],
            "truncated": len(found) >= CUSTOMER_CHOICES,
        }
    )


@get("/statements/companies", name="statement_companies", sync_to_thread=True)
def statement_companies(request: Request[Any, Any, Any], customer: FromQuery[str] = "") -> Response[dict[str, Any]]:
    """The companies of one of the user's customers (JSON; empty for anyone else's)."""
    user = current_user(request)
    with session_scope() as session:
        companies = statements.companies_for_customer(session, user, customer.strip())
    return Response({"companies": [{"code": c.code, "name": c.name} for c in companies]})


# --- the statement page and its files -----------------------------------------------------------------------


# The formatted statement (figures, aging, every line's texts) by its data and language: reading the same
# statement again, searching its lines or sorting them reuses it. Only reached after the grant check. The key
# holds the data itself (compared on every hit), which is cheaper to build than the fingerprint's digest.
_CONTEXTS: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
_CONTEXTS_LOCK = threading.Lock()
CONTEXTS_KEPT = 32


def _statement_context(statement: Statement, language: str) -> dict[str, Any]:
    from shared.render.html import statement_context

    key = (
        language,
        statement.company,
        statement.customer,
        statement.cutoff,
        statement.currency,
        statement.credit_limit,
        statement.available_credit,
        statement.payment_terms,
        statement.language,
        tuple(statement.lines),
    )
    with _CONTEXTS_LOCK:
        cached = _CONTEXTS.get(key)
        if cached is not None:
            _CONTEXTS.move_to_end(key)
            return cached
    context = statement_context(statement, language=language)
    with _CONTEXTS_LOCK:
        _CONTEXTS[key] = context
        while len(_CONTEXTS) > CONTEXTS_KEPT:
            _CONTEXTS.popitem(last=False)
    return context


def _statement_page(request: Request[Any, Any, Any], statement: Statement, q: str, sort: str, direction: str) -> Any:
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
            "json": statement_url(company, customer, cutoff, "json"),
            "change": selector_url(customer=customer, company=company, cutoff=cutoff.isoformat(), action="edit"),
        },
    )
    return Template(template_name="statements/statement.html.j2", context=context, media_type=MediaType.HTML)


def _file_response(statement: Statement, fmt: str, data: bytes) -> Response[bytes]:
    from shared.render import CONTENT_TYPES, statement_filename

    return Response(
        content=data,
        media_type=CONTENT_TYPES[fmt],
        headers={
            "Content-Disposition": content_disposition(statement_filename(statement, fmt)),
            "Cache-Control": "no-store",
        },
    )


def _preparing_page(statement: Statement, fmt: str) -> Template:
    from shared.render import statement_filename

    company, customer, cutoff = statement.company.code, statement.customer.code, statement.cutoff
    requested = render.render_requested_at(statement, fmt)
    return Template(
        template_name="statements/preparing.html.j2",
        context={
            "statement": statement,
            "fmt": fmt,
            "filename": statement_filename(statement, fmt),
            "requested_at": requested.isoformat() if requested else "",
            "download_url": statement_url(company, customer, cutoff, fmt),
            "status_url": file_status_url(company, customer, cutoff, fmt),
            "page_url": statement_url(company, customer, cutoff),
            "retry_after": RETRY_AFTER_SECONDS,
        },
        status_code=202,
        media_type=MediaType.HTML,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"},
    )


def _statement_file(statement: Statement, fmt: str) -> Any:
    if fmt == "json":
        from shared.render import render_statement

        return _file_response(statement, fmt, render_statement(statement, "json"))
    data = render.stored_file(statement, fmt)
    if data is not None:
        return _file_response(statement, fmt, data)
    if render.render_plan(statement, fmt).inline:
        return _file_response(statement, fmt, render.render_into_store(statement, fmt))
    render.request_render(statement, fmt)
    return _preparing_page(statement, fmt)


@get("/statements/{company:str}/{customer:str}/{cutoff:str}", name="statement", sync_to_thread=True)
def statement_page(
    request: Request[Any, Any, Any],
    company: FromPath[str],
    customer: FromPath[str],
    cutoff: FromPath[str],
    q: FromQuery[str] = "",
    sort: FromQuery[str] = "",
    direction: Annotated[str, QueryParameter(name="dir")] = "asc",
) -> Any:
    """The statement page (`…/2026-11-30`) and its files (`….json`, `….xlsx`, `….pdf`)."""
    address = parse_address(company, customer, cutoff)
    statement = _load(request, address)
    future = address.cutoff > today()
    if address.fmt is not None:
        if future:
            raise NotFoundException()
        return _statement_file(statement, address.fmt)
    if future:
        form = SelectorForm(
            customer=address.customer,
            company=address.company,
            cutoff=address.cutoff.isoformat(),
            errors={"cutoff": "La fecha de corte no puede ser futura."},
        )
        return _selector_response(request, form)
    return _statement_page(request, statement, q, sort, direction)


@get(
    "/statements/{company:str}/{customer:str}/{cutoff:str}/file-status",
    name="statement_file_status",
    sync_to_thread=True,
    opt={FILE: True},
)
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
    statement = _load(request, address)
    # A small XLSX is made in the request itself: its address answers with the file at once.
    inline = render.render_plan(statement, fmt).inline
    ready = inline or render.is_stored(statement, fmt)
    if not ready:
        render.request_render(statement, fmt)
    return Response(
        {"ready": ready, "url": statement_url(address.company, address.customer, address.cutoff, fmt)},
        headers={"Cache-Control": "no-store"},
    )


def register_translations() -> None:
    from shared.i18n import add_translations

    add_translations("en", UI_TRANSLATIONS_EN)


route_handlers: list[Any] = [
    statement_selector,
    statement_customers,
    statement_companies,
    statement_page,
    statement_file_status,
]


register_translations()
