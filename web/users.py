"""The administrators' Users page (list, search, create, enable/disable, customer grants, resend invitation) and
every user's language preference."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath, FromQuery
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.orm import selectinload

from shared import accounts
from shared.db import session_scope
from shared.i18n import N_, gettext
from shared.models import User
from shared.tasks import send_task
from shared.vocab import DEFAULT_LANGUAGE, LANGUAGES, Role, Task
from web.i18n import request_language
from web.security import DURING_FORCED_CHANGE, current_user, requires_admin

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]

ROLE_LABELS = {"customer": N_("cliente"), "staff": N_("cobranza"), "admin": N_("administrador")}
LANGUAGE_LABELS = {"es": N_("Español"), "en": N_("Inglés")}


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
    referer = request.headers.get("referer", "")
    base = str(request.base_url).rstrip("/")
    target = referer[len(base) :] if referer.startswith(base + "/") else "/"
    return Redirect(path=target or "/", status_code=303)


# --- the Users page -----------------------------------------------------------------------------------------


def _user_rows(query: str) -> list[dict[str, Any]]:
    with session_scope() as session:
        users = accounts.search_users(session, query)
        return [
            {
                "id": u.id,
                "username": u.username,
                "full_name": u.full_name,
                "email": u.email,
                "role": u.role,
                "language": u.language,
                "active": u.is_active,
                "customers": [c.number for c in u.customers],
            }
            for u in users
        ]


def _form_context(values: dict[str, str] | None = None, error: str = "") -> dict[str, Any]:
    return {
        "values": values or {"role": "customer", "language": "es"},
        "error": error,
        "roles": [(r, ROLE_LABELS[r]) for r in Role],
        "languages": [(code, LANGUAGE_LABELS[code]) for code in LANGUAGES],
    }


@get("/users", name="users_list", guards=[requires_admin], sync_to_thread=True)
def users_list(q: FromQuery[str] = "") -> Template:
    rows = _user_rows(q[:200])
    return Template(
        template_name="users/list.html.j2",
        context={"rows": rows, "q": q[:200], "role_labels": ROLE_LABELS, **_form_context()},
    )


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
        rows = _user_rows("")
        return Template(
            template_name="users/list.html.j2",
            context={"rows": rows, "q": "", "role_labels": ROLE_LABELS, **_form_context(values, str(error))},
            status_code=400,
        )
    _enqueue_invitation(user_id)
    _flash(request, N_("Usuario creado; la invitación va en camino."))
    return Redirect(path=f"/users/{user_id}", status_code=303)


def _load_user(user_id: int) -> dict[str, Any]:
    with session_scope() as session:
        user = session.get(User, user_id, options=[selectinload(User.customers)])
        if user is None:
            raise NotFoundException()
        return {
            "id": user.id,
            "username": user.username,
            "full_name": user.full_name,
            "email": user.email,
            "role": user.role,
            "language": user.language,
            "active": user.is_active,
            "customers": [c.number for c in user.customers],
            "customer_names": [(c.number, c.name) for c in user.customers],
        }


@get("/users/{user_id:int}", name="users_detail", guards=[requires_admin], sync_to_thread=True)
def users_detail(user_id: FromPath[int]) -> Template:
    row = _load_user(user_id)
    return Template(
        template_name="users/detail.html.j2",
        context={"row": row, "role_labels": ROLE_LABELS, "error": "", "customers_value": "; ".join(row["customers"])},
    )


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
        row = _load_user(user_id)
        return Template(
            template_name="users/detail.html.j2",
            context={"row": row, "role_labels": ROLE_LABELS, "error": str(error), "customers_value": text},
            status_code=400,
        )
    _flash(request, N_("Clientes actualizados."))
    return Redirect(path=f"/users/{user_id}", status_code=303)


@post("/users/{user_id:int}/status", name="users_set_status", guards=[requires_admin], sync_to_thread=True)
def users_set_status(request: Request[Any, Any, Any], user_id: FromPath[int], data: Form) -> Redirect:
    admin = current_user(request)
    active = _field(data, "active") == "1"

    with session_scope() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFoundException()
        accounts.set_user_status(session, user, active, by=admin.username)
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
    users_set_customers,
    users_set_status,
    users_resend_invitation,
]
