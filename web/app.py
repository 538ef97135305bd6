"""The portal's application factory: templates, sessions, CSRF, security headers, error pages and the routes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, cast

import anyio.to_thread
from jinja2 import ChoiceLoader, Environment, FileSystemLoader
from litestar import Litestar, MediaType, Request, Response, Router, get
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.stores.base import Store
from litestar.stores.file import FileStore
from litestar.stores.redis import RedisStore
from litestar.template.config import TemplateConfig
from litestar.types import HTTPScope, LifeSpanReceive, LifeSpanScope, LifeSpanSend, Message, Receive, Scope, Send
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, OperationalError

from shared.accounts import LoginThrottle, create_counter_store
from shared.db import POOL_SIZE
from shared.health import check_broker, check_database
from shared.i18n import N_, install_jinja
from shared.render.timings import set_process_role
from shared.settings import get_settings, restrict_file_modes
from shared.vocab import ProcessRole
from web import auth, disputes, i18n, metrics, ops, statements, users
from web.assets import static_routes
from web.hashing import HashGate
from web.loopdb import close_readers
from web.loopredis import close_lean_redis
from web.security import (
    PUBLIC,
    SESSION_COOKIE,
    PasswordChangeRequired,
    SignInRequired,
    is_file_request,
    load_user_after_error,
    optional_user,
    session_config,
    session_guard,
)
from web.statements.cached import StoredFiles
from web.statements.fastpath import PREFIX as FAST_PREFIX
from web.statements.fastpath import FastDownloads

log = logging.getLogger("edocta.web")

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

MAX_REQUEST_BODY = 4 * 1024 * 1024

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # Inline style attributes only (bar widths of the aging chart); never inline script.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


# --- security headers on every response ---------------------------------------------------------------------


SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


async def add_security_headers(message: Message, scope: Scope) -> None:
    """On every response, error pages included: CSP, nosniff, no framing, no referrer leaks, and `no-store` on
    everything but the static assets (statement pages and files are never cached)."""
    if message["type"] != "http.response.start":
        return
    is_static = str(scope.get("path", "")).startswith("/static/")
    headers = [
        (name, value)
        for name, value in message.get("headers", [])
        if is_static or name.lower() not in (b"cache-control", b"pragma")
    ]
    headers += SECURITY_HEADERS
    if get_settings().secure_cookies:  # served over https: browsers must never come back over http
        headers.append((b"strict-transport-security", b"max-age=31536000"))
    if not is_static:
        headers += [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
    message["headers"] = headers


# --- templates ----------------------------------------------------------------------------------------------


def template_directories() -> list[Path]:
    """The portal's templates, then the statement partials shared with the PDF."""
    from shared.render.html import TEMPLATE_DIR

    return [TEMPLATES_DIR, Path(TEMPLATE_DIR)]


def create_template_engine() -> JinjaTemplateEngine:
    """The portal's Jinja environment: its templates and the statement partials, the i18n extension reading the
    catalogue in the request's language, and the portal's globals."""
    environment = Environment(
        loader=ChoiceLoader([FileSystemLoader(str(path)) for path in template_directories()]),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    environment.template_class = i18n.PortalTemplate
    install_jinja(environment)
    i18n.install_portal_globals(environment)
    return JinjaTemplateEngine.from_environment(environment)


# --- error pages --------------------------------------------------------------------------------------------


SERVICE_UNAVAILABLE = N_("Servicio no disponible")
SERVICE_UNAVAILABLE_MESSAGE = N_("El servicio no está disponible. Intenta más tarde.")


def _error_page(request: Request[Any, Any, Any], status_code: int, title: str, message: str) -> Any:
    """An error page in the layout; it shows no data, only what went wrong in words."""
    return Template(
        template_name="errors/error.html.j2",
        context={"status_code": status_code, "title": title, "message": message},
        status_code=status_code,
        media_type=MediaType.HTML,
    )


def sign_in_required(request: Request[Any, Any, Any], _exc: Exception) -> Any:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    query = {"next": target} if request.method == "GET" and target not in ("/", "/login") else None
    return Redirect(path="/login", query_params=query, status_code=303)


def password_change_required(request: Request[Any, Any, Any], _exc: Exception) -> Any:
    if is_file_request(request, request.scope.get("route_handler")):
        return _error_page(request, 403, N_("Acceso denegado"), N_("Primero cambia tu contraseña."))
    return Redirect(path="/password/change", status_code=303)


def not_found(request: Request[Any, Any, Any], _exc: Exception) -> Any:
    return _error_page(request, 404, N_("Página no encontrada"), N_("La página que buscas no existe."))


def forbidden(request: Request[Any, Any, Any], exc: Exception) -> Any:
    stale = auth.stale_form_page(request, exc)
    if stale is not None:
        return stale
    return _error_page(request, 403, N_("Acceso denegado"), N_("No tienes permiso para ver esta página."))


def database_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Any:
    log.error("database unavailable: %s", type(exc).__name__)
    return _error_page(request, 503, SERVICE_UNAVAILABLE, SERVICE_UNAVAILABLE_MESSAGE)


def session_store_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Any:
    log.error("session store unavailable: %s", type(exc).__name__)
    return _error_page(request, 503, SERVICE_UNAVAILABLE, SERVICE_UNAVAILABLE_MESSAGE)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Any:
    if exc.status_code >= 500:
        log.error("HTTP %s on %s: %s", exc.status_code, request.url.path, exc.detail)
        return _error_page(request, exc.status_code, N_("Error"), N_("Ocurrió un error. Intenta más tarde."))
    return _error_page(request, exc.status_code, N_("Solicitud no válida"), N_("No pudimos procesar la solicitud."))


def server_error(request: Request[Any, Any, Any], exc: Exception) -> Any:
    log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return _error_page(request, 500, N_("Error"), N_("Ocurrió un error. Intenta más tarde."))


# --- health -------------------------------------------------------------------------------------------------


@get("/healthz", name="healthz", opt={PUBLIC: True}, skip_session=True, exclude_from_csrf=True, sync_to_thread=True)
def healthz() -> Response[dict[str, str]]:
    """200 when the database and the broker answer, 503 otherwise."""
    database = check_database().ok
    broker = check_broker().ok
    if database and broker:
        return Response({"status": "ok"}, status_code=200)
    return Response(
        {"status": "unavailable", "database": "ok" if database else "down", "broker": "ok" if broker else "down"},
        status_code=503,
    )


@get("/", name="home", opt={PUBLIC: True}, sync_to_thread=False)
def home(request: Request[Any, Any, Any]) -> Redirect:
    user = optional_user(request)  # loaded by the app's guard
    if user is None:
        return Redirect(path="/login", status_code=303)
    return Redirect(path="/password/change" if user.must_change_password else "/statements", status_code=303)


# --- the app -----------------------------------------------------------------------------------------------


CSRF_COOKIE = "edocta_csrf"


class Portal(Litestar):
    """Litestar, with the plain cached file download answered in front of its stack (`web.statements.fastpath`);
    every other request, and any download that is not the plain case, goes through the app as always."""

    fast_downloads: FastDownloads | None = None

    async def __call__(
        self, scope: Scope | LifeSpanScope, receive: Receive | LifeSpanReceive, send: Send | LifeSpanSend
    ) -> None:
        if (
            scope["type"] == "http"
            and self.fast_downloads is not None
            and scope["path"].startswith(FAST_PREFIX)
            and await self.fast_downloads.answer(cast(HTTPScope, scope), cast(Send, send))
        ):
            return
        await super().__call__(scope, receive, send)


# --- the factory --------------------------------------------------------------------------------------------


async def limit_threads() -> None:
    """The sync handlers share at most `POOL_SIZE` threads: each holds at most one pooled database connection, so
    none waits for a connection or opens a new one, and fewer threads contend for the interpreter on one core."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = POOL_SIZE


def create_session_store(key_prefix: str) -> Store:
    settings = get_settings()
    if settings.redis_url:
        return RedisStore.with_client(settings.redis_url, namespace=f"{key_prefix}:sessions")
    return FileStore(settings.session_dir, create_directories=True)


def create_app(*, key_prefix: str = "edocta") -> Litestar:
    """The portal. `key_prefix` namespaces its Redis keys (sessions, sign-in counters)."""
    settings = get_settings()
    restrict_file_modes(settings)
    set_process_role(ProcessRole.PORTAL)
    template_config = TemplateConfig(instance=create_template_engine())
    throttle = LoginThrottle(create_counter_store(settings, key_prefix=key_prefix))
    from shared.render.html import STATIC_DIR as STATEMENT_STATIC_DIR  # statement.css, shared with the PDF

    static_router = static_routes([STATIC_DIR, STATEMENT_STATIC_DIR])
    stored_files = StoredFiles()
    app = Portal(
        # One router for every page: handlers that share a path (GET and POST /users) are then registered with the
        # app once each. Registered one by one, a sync handler sharing its path would be wrapped for its thread twice.
        route_handlers=[
            Router(
                path="/",
                route_handlers=[
                    healthz,
                    home,
                    *static_router,
                    *auth.route_handlers,
                    *users.route_handlers,
                    *statements.route_handlers,
                    *disputes.route_handlers,
                    *ops.route_handlers,
                    *metrics.route_handlers,
                ],
            )
        ],
        on_startup=[limit_threads],
        on_shutdown=[close_readers, close_lean_redis],
        guards=[session_guard],
        middleware=[session_config(secure=settings.secure_cookies).middleware],
        before_send=[add_security_headers, i18n.remember_language_choice],
        after_exception=[load_user_after_error],
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name=CSRF_COOKIE,
            cookie_secure=settings.secure_cookies,
            cookie_httponly=True,
            cookie_samesite="lax",
        ),
        template_config=template_config,
        stores={"sessions": create_session_store(key_prefix)},
        state=State({"throttle": throttle, "hash_gate": HashGate(), "stored_files": stored_files}),
        exception_handlers={
            SignInRequired: sign_in_required,
            PasswordChangeRequired: password_change_required,
            NotFoundException: not_found,
            PermissionDeniedException: forbidden,
            OperationalError: database_unavailable,
            RedisError: session_store_unavailable,
            DBAPIError: database_unavailable,
            HTTPException: http_error,
            Exception: server_error,
        },
        # Forms only (nothing is uploaded through the portal): a bigger body is refused before it is parsed.
        request_max_body_size=MAX_REQUEST_BODY,
        # No /schema: the portal is pages and forms, and its routes are nobody's business.
        openapi_config=None,
        debug=False,
    )
    app.fast_downloads = FastDownloads(
        app, stored_files, session_cookie=SESSION_COOKIE, csrf_cookie=CSRF_COOKIE, redis_url=settings.redis_url
    )
    return app
