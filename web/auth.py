"""Sign-in, sign-out, password change (forced and from the menu) and the forgotten password.

Controllers are thin: they parse the form, call `shared.accounts`, and answer with a page or a redirect
(post-redirect-get). The forgotten-password answer never depends on the user ID: the email is prepared by a
worker (`SEND_PASSWORD_RESET`), the page always says the same.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template

from shared import accounts
from shared.accounts import LoginThrottle, Refused
from shared.db import session_scope
from shared.i18n import N_, gettext
from shared.tasks import send_task
from shared.vocab import Task
from web.client import client_address
from web.csrf import is_csrf_failure, new_csrf_cookie, submitted_form
from web.hashing import HashGate, HashingBusy
from web.i18n import request_language
from web.security import (
    DURING_FORCED_CHANGE,
    PUBLIC,
    current_user,
    end_session,
    optional_user,
    start_session,
    temporary_password_id,
)

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]

SIGN_IN_FAILED = accounts.SIGN_IN_FAILED
STALE_FORM = N_("Tu sesión expiró; intenta de nuevo.")
TOO_MANY_ATTEMPTS = N_("Demasiados intentos de inicio de sesión. Espera %(minutes)s min y vuelve a intentarlo.")
TOO_BUSY = N_("Hay muchos inicios de sesión en este momento. Vuelve a intentarlo en unos segundos.")


def _field(form: dict[str, Any], name: str) -> str:
    value = form.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


def _client_ip(request: Request[Any, Any, Any]) -> str:
    return client_address(request)


def _throttle(request: Request[Any, Any, Any]) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state["throttle"]
    return throttle


def _safe_next(value: str | None) -> str:
    """Only a path on this site (no scheme, no host, no `//`), else the statements page."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value and "\n" not in value:
        return value
    return "/statements"


def _flash(request: Request[Any, Any, Any], msgid: str, category: str = "info") -> None:
    flash(request, gettext(msgid, request_language(request)), category=category)


# --- sign-in / sign-out -------------------------------------------------------------------------------------


def _login_page(
    request: Request[Any, Any, Any],
    *,
    username: str = "",
    error: str = "",
    status: int = 200,
    retry_after: int | None = None,
    next_path: str | None = None,
) -> Template:
    minutes = max(1, -(-retry_after // 60)) if retry_after else 0
    return Template(
        template_name="auth/login.html.j2",
        context={
            "username": username,
            "error": error,
            "error_args": {"minutes": minutes} if error == TOO_MANY_ATTEMPTS else {},
            "next": _safe_next(next_path or request.query_params.get("next")),
        },
        status_code=status,
        headers={"Retry-After": str(retry_after)} if retry_after else None,
    )


@get("/login", name="login", opt={PUBLIC: True}, sync_to_thread=False)
def login_form(request: Request[Any, Any, Any]) -> Template | Redirect:
    user = optional_user(request)
    if user is not None and not user.must_change_password:
        return Redirect(path="/statements", status_code=303)
    return _login_page(request)


def _authenticate(username: str, password: str, ip: str) -> accounts.SignIn | accounts.SignInRefused:
    with session_scope() as session:
        return accounts.sign_in(session, username, password, ip=ip)


def _refused(username: str, ip: str, refused: Refused) -> None:
    if refused.first:  # one audit event per limit and window, not one per refused request of a flood
        accounts.record_event(
            "sign_in_refused",
            username=username[:150],
            ip=ip,
            detail=f"reason=throttled limit={refused.limit} retry_after={refused.retry_after}",
        )


def _gate(request: Request[Any, Any, Any]) -> HashGate:
    gate: HashGate = request.app.state["hash_gate"]
    return gate


@post("/login", name="login_submit", opt={PUBLIC: True})
async def login_submit(request: Request[Any, Any, Any], data: Form) -> Template | Redirect:
    """Async on purpose: the cheap steps run on the shared thread pool, the password check on the hash gate's
    own few threads, so a flood of sign-ins never takes the threads every other page needs."""
    username = _field(data, "username").strip()
    password = _field(data, "password")
    next_path = _field(data, "next") or None
    if not username or not password:
        return _login_page(
            request,
            username=username[:150],
            error=N_("Escribe tu usuario.") if not username else N_("Escribe tu contraseña."),
            status=400,
            next_path=next_path,
        )
    ip = _client_ip(request)
    if len(password) > accounts.MAX_PASSWORD_INPUT:  # refused (and recorded) without hashing, nor a hash slot
        await anyio.to_thread.run_sync(_authenticate, username, password, ip)
        return _login_page(request, username=username[:150], error=SIGN_IN_FAILED, status=401, next_path=next_path)
    throttle = _throttle(request)
    refused = await anyio.to_thread.run_sync(throttle.attempt, username, ip)
    if refused is not None:
        await anyio.to_thread.run_sync(_refused, username, ip, refused)
        return _login_page(
            request,
            username=username[:150],
            error=TOO_MANY_ATTEMPTS,
            status=429,
            retry_after=refused.retry_after,
            next_path=next_path,
        )
    try:
        result = await _gate(request).run(_authenticate, username, password, ip)
    except HashingBusy as busy:
        await anyio.to_thread.run_sync(throttle.not_checked, username, ip)
        return _login_page(
            request,
            username=username[:150],
            error=TOO_BUSY,
            status=503,
            retry_after=busy.retry_after,
            next_path=next_path,
        )
    if isinstance(result, accounts.SignInRefused):
        return _login_page(request, username=username[:150], error=result.message, status=401, next_path=next_path)
    await anyio.to_thread.run_sync(throttle.succeeded, username, ip)
    start_session(
        request,
        user_id=result.user_id,
        password_version=result.password_version,
        must_change=result.must_change,
        temporary_password_id=result.temporary_password_id,
    )
    # A new CSRF token with the new session: one seen before signing in is worth nothing now.
    cookies = [new_csrf_cookie(request)]
    if result.must_change:
        return Redirect(path="/password/change", status_code=303, cookies=cookies)
    return Redirect(path=_safe_next(next_path), status_code=303, cookies=cookies)


@post("/logout", name="logout", opt={PUBLIC: True}, sync_to_thread=True)
def logout(request: Request[Any, Any, Any]) -> Redirect:
    user = optional_user(request)
    end_session(request)
    if user is not None:
        accounts.record_event("sign_out", username=user.username, ip=_client_ip(request))
        _flash(request, N_("Cerraste sesión."))
    return Redirect(path="/login", status_code=303)


# --- password change ----------------------------------------------------------------------------------------


def _change_page(
    request: Request[Any, Any, Any], *, errors: dict[str, str] | None = None, status: int = 200
) -> Template:
    user = current_user(request)
    # `?stale=1`: the form came back after its CSRF token expired (`stale_form_page`).
    notice = STALE_FORM if request.query_params.get("stale") == "1" and not errors else ""
    return Template(
        template_name="auth/password_change.html.j2",
        context={"forced": user.must_change_password, "errors": errors or {}, "notice": notice},
        status_code=status,
    )


@get("/password/change", name="password_change", opt={DURING_FORCED_CHANGE: True}, sync_to_thread=False)
def password_change_form(request: Request[Any, Any, Any]) -> Template:
    return _change_page(request)


def _change_password(user_id: int, form: dict[str, str], temporary_id: int | None, ip: str) -> int:
    with session_scope() as session:
        return accounts.change_password(
            session,
            user_id,
            form["current_password"],
            form["new_password"],
            form["confirm_password"],
            temporary_password_id=temporary_id,
            ip=ip,
        )


@post("/password/change", name="password_change_submit", opt={DURING_FORCED_CHANGE: True}, sync_to_thread=True)
def password_change_submit(request: Request[Any, Any, Any], data: Form) -> Template | Redirect:
    user = current_user(request)
    form = {name: _field(data, name) for name in ("current_password", "new_password", "confirm_password")}
    temporary_id = temporary_password_id(request)
    try:
        version = _change_password(user.id, form, temporary_id, _client_ip(request))
    except accounts.PasswordRejected as rejected:
        return _change_page(request, errors=rejected.errors, status=400)
    accounts.notify_password_changed(user.id)
    if user.must_change_password:
        # The seed manual's flow: the user is activated and starts again at the sign-in page.
        end_session(request)
        return Redirect(path="/password/activated", status_code=303)
    start_session(request, user_id=user.id, password_version=version)
    _flash(request, N_("Tu contraseña se cambió."), "success")
    return Redirect(path="/statements", status_code=303)


@get("/password/activated", name="password_activated", opt={PUBLIC: True}, sync_to_thread=False)
def password_activated() -> Template:
    return Template(template_name="auth/activated.html.j2")


# --- forgotten password -------------------------------------------------------------------------------------


@get("/password/forgot", name="password_forgot", opt={PUBLIC: True}, sync_to_thread=False)
def password_forgot_form() -> Template:
    return Template(template_name="auth/forgot.html.j2", context={"username": "", "error": ""})


def _request_reset(username: str, ip: str, throttle: LoginThrottle) -> None:
    # Many requests from one address only postpone the emails; none is ever refused, the answer never changes.
    countdown = throttle.forgot_delay(ip)
    if countdown:
        send_task(Task.SEND_PASSWORD_RESET, args=[username], countdown=countdown)
    else:
        send_task(Task.SEND_PASSWORD_RESET, args=[username])


@post("/password/forgot", name="password_forgot_submit", opt={PUBLIC: True}, sync_to_thread=True)
def password_forgot_submit(request: Request[Any, Any, Any], data: Form) -> Template | Redirect:
    username = _field(data, "username").strip()
    if not username:
        return Template(
            template_name="auth/forgot.html.j2",
            context={"username": "", "error": N_("Escribe tu usuario.")},
            status_code=400,
        )
    if len(username) <= 150:
        _request_reset(username, _client_ip(request), _throttle(request))
    return Redirect(path="/password/forgot/sent", status_code=303)


@get("/password/forgot/sent", name="password_forgot_sent", opt={PUBLIC: True}, sync_to_thread=False)
def password_forgot_sent() -> Template:
    return Template(template_name="auth/forgot_sent.html.j2")


# --- a public form whose CSRF token expired -----------------------------------------------------------------


def stale_form_page(request: Request[Any, Any, Any], exc: Exception) -> Template | Redirect | None:
    """A sign-in, forgotten-password or password-change form sent with an expired or missing CSRF token: the
    form again, with what the user typed (never a password), a new token and a word on what happened, instead of
    "Acceso denegado". None for anything else."""
    if not is_csrf_failure(request, exc):
        return None
    path = request.url.path
    form = submitted_form(request)
    username = _field(form, "username").strip()[:150]
    page: Template | Redirect
    if path == "/login":
        next_path = _field(form, "next") or None
        page = _login_page(request, username=username, error=STALE_FORM, status=400, next_path=next_path)
    elif path == "/password/forgot":
        page = Template(
            template_name="auth/forgot.html.j2", context={"username": username, "error": STALE_FORM}, status_code=400
        )
    elif path == "/password/change":
        # Only passwords were typed there, and none is ever shown again: back to the form, which says why.
        page = Redirect(path="/password/change", query_params={"stale": "1"}, status_code=303)
    else:
        return None
    page.cookies.append(new_csrf_cookie(request))
    return page


route_handlers = [
    login_form,
    login_submit,
    logout,
    password_change_form,
    password_change_submit,
    password_activated,
    password_forgot_form,
    password_forgot_submit,
    password_forgot_sent,
]
