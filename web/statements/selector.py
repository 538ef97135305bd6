"""The statement selector: pick the customer (among the user's), the company (among the customer's) and either
the cut-off date (open items at a date) or a period (the activity statement); and its two JSON helpers for the
page's script (customers as you type, a customer's companies)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import MediaType, Request, Response, get
from litestar.params import FromQuery, QueryParameter
from litestar.response import Redirect, Template

from shared import statements
from shared.clock import parse_day, today
from shared.db import session_scope
from shared.i18n import N_
from web.security import checks_user_in_its_thread, current_user
from web.statements.addresses import activity_url, statement_url

CUSTOMER_CHOICES = 50
# The session remembers the last statement's company and customer: the menu's "Estado de cuenta" opens there.
LAST_CHOICE = "last_statement"
# The two kinds of statement the selector offers.
OPEN_ITEMS = "open"
ACTIVITY = "activity"


@dataclass
class SelectorForm:
    query: str = ""
    customer: str = ""
    company: str = ""
    cutoff: str = ""
    errors: dict[str, str] | None = None
    searched: bool = False  # *Buscar* was pressed: a single match becomes the chosen customer
    kind: str = OPEN_ITEMS  # or ACTIVITY: the movements of a period
    start: str = ""  # the period's first day (activity)
    end: str = ""  # the period's last day (activity)
    error_params: dict[str, str] | None = None  # values for the placeholders of an error message


def selector_response(request: Request[Any, Any, Any], form: SelectorForm, *, status_code: int = 200) -> Template:
    """The selector page showing `form` (400 when it carries errors)."""
    user = current_user(request)
    errors: dict[str, str] = dict(form.errors or {})
    with session_scope() as session:
        only_one = statements.visible_customers(session, user, "", limit=2)
        has_customers = bool(only_one)
        if len(only_one) == 1 and not form.customer:
            form.customer = only_one[0].number
        choices = statements.visible_customers(session, user, form.query, limit=CUSTOMER_CHOICES)
        if form.query and len(choices) == 1 and (form.searched or not form.customer):
            form.customer = choices[0].number
        selected = None
        if form.customer:
            selected = next((c for c in choices if c.number == form.customer), None)
            if selected is None:
                selected = statements.visible_customer(session, user, form.customer)
                if selected is not None:
                    choices = [selected, *choices]
        companies = statements.companies_for_customer(session, user, selected.number) if selected else []
    if selected is None and form.customer:
        errors.setdefault("customer", N_("Elige un cliente."))
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


def remember_choice(request: Request[Any, Any, Any], company: str, customer: str) -> None:
    """Remember the statement on screen (the session is written only when the choice changes)."""
    session = request.scope.get("session")
    if isinstance(session, dict) and session.get(LAST_CHOICE) != [company, customer]:
        session[LAST_CHOICE] = [company, customer]


def _remembered_choice(request: Request[Any, Any, Any]) -> tuple[str, str] | None:
    """The last statement's (company, customer), if the user may still see it there."""
    session = request.scope.get("session")
    last = session.get(LAST_CHOICE) if isinstance(session, dict) else None
    if not (isinstance(last, list) and len(last) == 2 and all(isinstance(code, str) for code in last)):
        return None
    company, customer = last
    with session_scope() as session_:
        codes = {c.code for c in statements.companies_for_customer(session_, current_user(request), customer)}
    return (company, customer) if company in codes else None


@get("/statements", name="statements", sync_to_thread=True)
@checks_user_in_its_thread
def statement_selector(
    request: Request[Any, Any, Any],
    q: FromQuery[str] = "",
    customer: FromQuery[str] = "",
    company: FromQuery[str] = "",
    cutoff: FromQuery[str] = "",
    action: FromQuery[str] = "",
    kind: FromQuery[str] = "",
    start: Annotated[str, QueryParameter(name="from")] = "",
    end: Annotated[str, QueryParameter(name="to")] = "",
) -> Template | Redirect:
    """Pick the customer (among the user's), the company (among the customer's) and the cut-off date.

    *Generar* (`action=generate`) opens the statement. So does any submission of a complete form that asks for
    nothing else (no button named, or *Buscar* with nothing to search), as a form-filling client would send it;
    *Buscar* with a text searches the customers, and selects the customer when exactly one matches; `action=edit`
    only shows the form filled in. Opened with nothing (the menu), the form starts at the last statement's
    customer and company.
    """
    form = SelectorForm(
        query=q.strip()[:100],
        customer=customer.strip(),
        company=company.strip(),
        cutoff=cutoff.strip(),
        searched=action == "search",
        kind=ACTIVITY if kind == ACTIVITY else OPEN_ITEMS,
        start=start.strip(),
        end=end.strip(),
    )
    if not (form.query or form.customer or form.company or form.cutoff or action):
        form.company, form.customer = _remembered_choice(request) or ("", "")
    dated = bool(form.start and form.end) if form.kind == ACTIVITY else bool(form.cutoff)
    complete = bool(form.customer and form.company and dated)
    if action == "generate":
        wants_statement = True
    elif action == "search":
        wants_statement = complete and not form.query
    else:
        wants_statement = complete and action != "edit"
    if not form.cutoff:
        form.cutoff = today().isoformat()
    if not form.end:
        form.end = today().isoformat()
    if not form.start:
        form.start = today().replace(day=1).isoformat()
    if not wants_statement:
        return selector_response(request, form)

    errors: dict[str, str] = {}
    if form.kind == ACTIVITY:
        day = parse_day(form.end)
        first = parse_day(form.start)
        if first is None:
            errors["from"] = N_("Escribe la fecha inicial como AAAA-MM-DD.")
        if day is None:
            errors["to"] = N_("Escribe la fecha final como AAAA-MM-DD.")
        elif day > today():
            errors["to"] = N_("La fecha final no puede ser futura.")
        elif first is not None and first > day:
            errors["from"] = N_("La fecha inicial no puede ser posterior a la final.")
    else:
        day, first = parse_day(form.cutoff), None
        if day is None:
            errors["cutoff"] = N_("Escribe la fecha de corte como AAAA-MM-DD.")
        elif day > today():
            errors["cutoff"] = N_("La fecha de corte no puede ser futura.")
    user = current_user(request)
    with session_scope() as session:
        if not form.customer or not statements.can_see(session, user, form.customer):
            errors["customer"] = N_("Elige un cliente.")
            codes: list[str] = []
        else:
            codes = [c.code for c in statements.companies_for_customer(session, user, form.customer)]
    if "customer" not in errors:
        if not form.company and len(codes) == 1:
            form.company = codes[0]
        if not form.company:
            errors["company"] = N_("Elige una empresa.")
        elif form.company not in codes:
            errors["company"] = N_("Ese cliente no tiene cuenta en esa empresa.")
    if errors or day is None:
        form.errors = errors
        return selector_response(request, form)
    if first is not None:
        return Redirect(path=activity_url(form.company, form.customer, first, day), status_code=303)
    return Redirect(path=statement_url(form.company, form.customer, day), status_code=303)


@get("/statements/customers", name="statement_customers", sync_to_thread=True)
@checks_user_in_its_thread
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
@checks_user_in_its_thread
def statement_companies(request: Request[Any, Any, Any], customer: FromQuery[str] = "") -> Response[dict[str, Any]]:
    """The companies of one of the user's customers (JSON; empty for anyone else's)."""
    user = current_user(request)
    with session_scope() as session:
        companies = statements.companies_for_customer(session, user, customer.strip())
    return Response({"companies": [{"code": c.code, "name": c.name} for c in companies]})
