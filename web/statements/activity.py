"""The activity statement page and its files (contract sections 5 and 7):
`/statements/<company>/<customer>/activity/<from>/<to>`, with `.json`, `.xlsx` or `.pdf` after `<to>`.

Files come from the statement store like the open-item statement's: JSON and small XLSX files are made in the
request, PDF and large XLSX files (a long period) by a worker behind the "preparing your file" page.
A bad period (reversed, ending in the future, before the company's data) shows the selector with the reason.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Annotated, Any

from litestar import MediaType, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, QueryParameter
from litestar.response import Template

from shared import render
from shared.clock import parse_day
from shared.db import session_scope
from shared.render.activity import activity_context
from shared.statements import ActivityPeriodError, ActivityStatement, StatementNotFound, load_visible_activity
from web.i18n import request_language
from web.security import FILE, current_user
from web.statements.addresses import (
    FILE_SUFFIXES,
    activity_status_url,
    activity_url,
    selector_url,
    statement_url,
)
from web.statements.page import statement_file
from web.statements.selector import ACTIVITY, SelectorForm, remember_choice, selector_response


def _period(start: str, end_and_suffix: str) -> tuple[dt.date, dt.date, str | None]:
    """The period and file format a URL names; anything malformed is "not found"."""
    fmt: str | None = None
    for suffix, name in FILE_SUFFIXES.items():
        if end_and_suffix.endswith(suffix):
            end_and_suffix, fmt = end_and_suffix[: -len(suffix)], name
            break
    first, last = parse_day(start), parse_day(end_and_suffix)
    if first is None or last is None:
        raise NotFoundException()
    return first, last, fmt


def _load(request: Request[Any, Any, Any], company: str, customer: str, start: dt.date, end: dt.date) -> Any:
    """The activity statement if the user may see it (404 otherwise), or the selector showing a bad period."""
    try:
        with session_scope() as session:
            statement = load_visible_activity(session, current_user(request), company, customer, start, end)
    except StatementNotFound:
        raise NotFoundException() from None
    except ActivityPeriodError as error:
        form = SelectorForm(
            customer=customer,
            company=company,
            kind=ACTIVITY,
            start=start.isoformat(),
            end=end.isoformat(),
            errors={error.field: error.message},
            error_params=error.params,
        )
        return selector_response(request, form)
    return statement.in_language(request_language(request))


def _urls(statement: ActivityStatement) -> dict[str, str]:
    company, customer = statement.company.code, statement.customer.code
    start, end = statement.start, statement.end
    return {
        "page": activity_url(company, customer, start, end),
        "json": activity_url(company, customer, start, end, "json"),
        "xlsx": activity_url(company, customer, start, end, "xlsx"),
        "pdf": activity_url(company, customer, start, end, "pdf"),
        "xlsx_status": activity_status_url(company, customer, start, end, "xlsx"),
        "pdf_status": activity_status_url(company, customer, start, end, "pdf"),
        "change": selector_url(
            customer=customer,
            company=company,
            kind=ACTIVITY,
            start=start.isoformat(),
            end=end.isoformat(),
            action="edit",
        ),
    }


def _activity_file(statement: ActivityStatement, fmt: str, user_id: int) -> Any:
    urls = _urls(statement)
    return statement_file(
        statement,
        fmt,
        user_id,
        download_url=urls.get(fmt, ""),
        status_url=urls.get(f"{fmt}_status", ""),  # no JSON status: JSON is made at once
        page_url=urls["page"],
    )


@get("/statements/{company:str}/{customer:str}/activity/{start:str}/{end:str}", name="activity", sync_to_thread=True)
def activity_page(
    request: Request[Any, Any, Any],
    company: FromPath[str],
    customer: FromPath[str],
    start: FromPath[str],
    end: FromPath[str],
) -> Any:
    """The activity statement page (`…/activity/2026-10-01/2026-10-31`) and its files (`….json`, `….xlsx`,
    `….pdf`), in the language on screen."""
    first, last, fmt = _period(start, end)
    statement = _load(request, company, customer, first, last)
    if not isinstance(statement, ActivityStatement):
        return statement  # the selector, showing why the period cannot be shown
    if fmt is not None:
        return _activity_file(statement, fmt, current_user(request).id)
    remember_choice(request, statement.company.code, statement.customer.code)
    context = dict(activity_context(statement, language=request_language(request)))
    context.update(
        urls=_urls(statement),
        page_language=request_language(request),
        # Each line links its invoice documents (contract section 8), as on the open-item statement page.
        document_base=f"{statement_url(statement.company.code, statement.customer.code, 'documents')}/",
    )
    return Template(template_name="statements/activity.html.j2", context=context, media_type=MediaType.HTML)


@get(
    "/statements/{company:str}/{customer:str}/activity/{start:str}/{end:str}/file-status",
    name="activity_file_status",
    sync_to_thread=True,
    opt={FILE: True},
)
def activity_file_status(
    request: Request[Any, Any, Any],
    company: FromPath[str],
    customer: FromPath[str],
    start: FromPath[str],
    end: FromPath[str],
    fmt: Annotated[str, QueryParameter(name="format")] = "pdf",
) -> Response[dict[str, Any]]:
    """`{"ready": true}` once the activity file can be downloaded (polled by the preparing page)."""
    if fmt not in ("xlsx", "pdf"):
        raise NotFoundException()
    first, last, suffix = _period(start, end)
    if suffix is not None:
        raise NotFoundException()
    statement = _load(request, company, customer, first, last)
    if not isinstance(statement, ActivityStatement):
        raise NotFoundException()
    ready = render.render_plan(statement, fmt).inline or render.is_stored(statement, fmt)
    if not ready:
        with contextlib.suppress(render.TooManyRenders):  # the page keeps asking; a slot frees up
            render.request_render(statement, fmt, user_id=current_user(request).id)
    return Response(
        {"ready": ready, "url": activity_url(company, customer, first, last, fmt)},
        headers={"Cache-Control": "no-store"},
    )
