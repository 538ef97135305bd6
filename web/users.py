"""The administrators' Users page (list by state, search, create, edit, enable and disable with a confirmation step,
customer grants, resend invitation) and every user's language preference.

Refusals come from `shared.accounts` as message ids: the page shows them in its own language, next to what the
administrator typed.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath, FromQuery, QueryParameter
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template

from shared import accounts
from shared.clock import local_minute
from shared.db import session_scope
from shared.i18n import N_, gettext
from shared.models import User
from shared.tasks import send_task
from shared.vocab import DEFAULT_LANGUAGE, LANGUAGES, Role, Task, UserState
from web.i18n import request_language
from web.security import DURING_FORCED_CHANGE, current_user, requires_admin

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]

ROLE_LABELS = {"customer": N_("cliente"), "staff": N_("cobranza"), "admin": N_("administrador")}
LANGUAGE_LABELS = {"es": N_("Español"), "en": N_("Inglés")}
STATE_LABELS = {
    UserState.ACTIVE: N_("activo"),
    UserState.INVITATION_PENDING: N_("invitación pendiente"),
    UserState.DISABLED: N_("desactivado"),
}
USER_FIELDS = ("email", "full_name", "role", "language")


def _field(form: dict[str, Any], name: str) -> str:
    value = form.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return value.strip() if isinstance(value, str) else ""


def _numbers(text: str) -> list[str]:
    return [n.strip() for n in text.replace(",", ";").replace("\n", ";").split(";") if n.strip()]


def _flash(request: Request[Any, Any, Any], msgid: str, category: str = "success") -> None:
    flash(request, gettext(msgid, request_language(request)), category=category)


def _enqueue_invitation(user_id: int) -> None:
    send_task(Task.SEND_INVITATION, args=[user_id])


@post("/language", name="language_set", opt={DURING_FORCED_CHANGE: True}, sync_to_thread=True)
def language_set(request: Request[Any, Any, Any], data: Form) -> Redirect:
    """The footer's language switch for a signed-in user (saved with the user)."""
    language = _field(data, "language")
    user = current_user(request)
    if language in LANGUAGES:
        with session_scope() as session:
            accounts.set_language(session, user.id, language)
    return Redirect(path=same_site_path(_field(data, "next")), status_code=303)


def same_site_path(value: str) -> str:
    """The page to go back to: a path on this site only (the form's `next`; never the Referer), else "/"."""
    value = value.strip()
    parsed = urlsplit(value)
    if (
        not value.startswith("/")
        or value.startswith("//")
        or parsed.scheme
        or parsed.netloc
        or any(c in value for c in "\\\r\n\t")
        or len(value) > 2000
    ):
        return "/"
    return value


# --- the Users page -----------------------------------------------------------------------------------------


def _row(summary: accounts.UserSummary) -> dict[str, Any]:
    return {
        **summary.__dict__,
        "customers": [number for number, _ in summary.customers],
        "customer_names": list(summary.customers),
        "active": summary.state != UserState.DISABLED,
        "last_sign_in": local_minute(summary.last_sign_in_at),
        "invitation_expires": local_minute(summary.invitation_expires_at),
        "invitation_expired": summary.invitation_expired,
    }


def _user_rows(query: str = "", state: str = "") -> list[dict[str, Any]]:
    with session_scope() as session:
        return [_row(summary) for summary in accounts.user_summaries(session, query, state)]


def _choices() -> dict[str, Any]:
    return {
        "roles": [(r, ROLE_LABELS[r]) for r in Role],
        "languages": [(code, LANGUAGE_LABELS[code]) for code in LANGUAGES],
        "role_labels": ROLE_LABELS,
        "language_labels": LANGUAGE_LABELS,
        "state_labels": STATE_LABELS,
    }


def _list_page(
    query: str, state: str, values: dict[str, str] | None = None, error: str = "", status: int = 200
) -> Template:
    state = state if state in list(UserState) else ""
    return Template(
        template_name="users/list.html.j2",
        context={
            "rows": _user_rows(query, state),
            "q": query,
            "state": state,
            "values": values or {"role": "customer", "language": "es"},
            "error": error,
            **_choices(),
        },
        status_code=status,
    )


@get("/users", name="users_list", guards=[requires_admin], sync_to_thread=True)
def users_list(q: FromQuery[str] = "", user_state: Annotated[str, QueryParameter(name="state")] = "") -> Template:
    return _list_page(q[:200], user_state)


@post("/users", name="users_create", guards=[requires_admin], sync_to_thread=True)
def users_create(request: Request[Any, Any, Any], data: Form) -> Template | Redirect:
    admin = current_user(request)
    values = {name: _field(data, name) for name in ("username", "email", "full_name", "role", "language", "customers")}
    try:
        with session_scope() as session:
            user_id = accounts.create_user(
                session,
                username=values["username"],
                email=values["email"],
                role=values["role"] or Role.CUSTOMER,
                customer_numbers=_numbers(values["customers"]),
                language=values["language"] or DEFAULT_LANGUAGE,
                full_name=values["full_name"],
                by=admin.username,
            ).id
    except accounts.AccountError as error:
        return _list_page("", "", values, error.message(request_language(request)), status=400)
    _enqueue_invitation(user_id)
    _flash(request, N_("Usuario creado; la invitación va en camino."))
    return Redirect(path=f"/users/{user_id}", status_code=303)


def _load_user(user_id: int) -> dict[str, Any]:
    with session_scope() as session:
        found = accounts.user_summaries(session, user_id=user_id, limit=1)
    if not found:
        raise NotFoundException()
    return _row(found[0])


def _detail_page(
    request: Request[Any, Any, Any],
    user_id: int,
    *,
    values: dict[str, str] | None = None,
    error: str = "",
    customers_value: str | None = None,
    grants_error: str = "",
    status: int = 200,
) -> Template:
    row = _load_user(user_id)
    return Template(
        template_name="users/detail.html.j2",
        context={
            "row": row,
            "values": values or {name: row[name] for name in USER_FIELDS},
            "error": error,
            "customers_value": "; ".join(row["customers"]) if customers_value is None else customers_value,
            "grants_error": grants_error,
            "is_self": row["username"] == current_user(request).username,
            **_choices(),
        },
        status_code=status,
    )


@get("/users/{user_id:int}", name="users_detail", guards=[requires_admin], sync_to_thread=True)
def users_detail(request: Request[Any, Any, Any], user_id: FromPath[int]) -> Template:
    return _detail_page(request, user_id)


@post("/users/{user_id:int}", name="users_update", guards=[requires_admin], sync_to_thread=True)
def users_update(request: Request[Any, Any, Any], user_id: FromPath[int], data: Form) -> Template | Redirect:
    """Change a user's email, name, role and language."""
    admin = current_user(request)
    values = {name: _field(data, name) for name in USER_FIELDS}
    try:
        with session_scope() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFoundException()
            changed = accounts.update_user(session, user, **values, by=admin.username)
    except accounts.AccountError as error:
        message = error.message(request_language(request))
        return _detail_page(request, user_id, values=values, error=message, status=400)
    _flash(request, N_("Cambios guardados.") if changed else N_("No había nada que cambiar."))
    return Redirect(path=f"/users/{user_id}", status_code=303)


@post("/users/{user_id:int}/customers", name="users_set_customers", guards=[requires_admin], sync_to_thread=True)
def users_set_customers(request: Request[Any, Any, Any], user_id: FromPath[int], data: Form) -> Template | Redirect:
    admin = current_user(request)
    text = _field(data, "customers")
    try:
        with session_scope() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFoundException()
            accounts.set_customer_grants(session, user, _numbers(text), by=admin.username)
    except accounts.AccountError as error:
        message = error.message(request_language(request))
        return _detail_page(request, user_id, customers_value=text, grants_error=message, status=400)
    _flash(request, N_("Clientes actualizados."))
    return Redirect(path=f"/users/{user_id}", status_code=303)


@get("/users/{user_id:int}/disable", name="users_confirm_disable", guards=[requires_admin], sync_to_thread=True)
def users_confirm_disable(request: Request[Any, Any, Any], user_id: FromPath[int]) -> Template:
    """The confirmation step before disabling a user (a page of its own, so it needs no JavaScript)."""
    return Template(template_name="users/disable.html.j2", context={"row": _load_user(user_id)})


@post("/users/{user_id:int}/status", name="users_set_status", guards=[requires_admin], sync_to_thread=True)
def users_set_status(request: Request[Any, Any, Any], user_id: FromPath[int], data: Form) -> Redirect:
    """Enable a user, or disable one once the confirmation step was passed (`confirm=1`)."""
    admin = current_user(request)
    active = _field(data, "active") == "1"
    if not active and _field(data, "confirm") != "1":
        return Redirect(path=f"/users/{user_id}/disable", status_code=303)
    try:
        with session_scope() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFoundException()
            accounts.set_user_status(session, user, active, by=admin.username)
    except accounts.AccountError as error:
        flash(request, error.message(request_language(request)), category="error")
        return Redirect(path=f"/users/{user_id}", status_code=303)
    _flash(request, N_("Usuario activado.") if active else N_("Usuario desactivado."))
    return Redirect(path=f"/users/{user_id}", status_code=303)


@post("/users/{user_id:int}/invitation", name="users_resend_invitation", guards=[requires_admin], sync_to_thread=True)
def users_resend_invitation(request: Request[Any, Any, Any], user_id: FromPath[int]) -> Redirect:
    admin = current_user(request)
    row = _load_user(user_id)
    _enqueue_invitation(user_id)
    accounts.record_event("invitation_resend_requested", username=row["username"], detail=f"by={admin.username}")
    _flash(request, N_("Invitación reenviada."))
    return Redirect(path=f"/users/{user_id}", status_code=303)


route_handlers = [
    language_set,
    users_list,
    users_create,
    users_detail,
    users_update,
    users_set_customers,
    users_confirm_disable,
    users_set_status,
    users_resend_invitation,
]
