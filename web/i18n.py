"""The portal's language: the signed-in user's, else the `edocta_lang` cookie (the footer switch on signed-out
pages), else the browser's Accept-Language; Spanish by default. The UI strings are Spanish msgids with their
English text registered here.

Every template rendered for a request gets `language` and `user` in its context (`PortalTemplate`), next to
Litestar's `request` and `csrf_input`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

import jinja2
from litestar.connection import ASGIConnection
from sqlalchemy import select

from shared.db import session_scope
from shared.models import Company
from shared.settings import get_settings
from web.security import optional_user

log = logging.getLogger("edocta.web")

LANGUAGE_COOKIE = "edocta_lang"
LANGUAGES = ("es", "en")
DEFAULT_LANGUAGE = "es"


def _normalize(value: str | None) -> str | None:
    if not value:
        return None
    code = value.strip().lower().replace("_", "-").split("-", 1)[0]
    return code if code in LANGUAGES else None


def accept_language(header: str | None) -> str | None:
    """The first supported language of an Accept-Language header, by quality."""
    if not header:
        return None
    choices: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        pieces = part.strip().split(";")
        quality = 1.0
        for parameter in pieces[1:]:
            name, _, value = parameter.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        code = _normalize(pieces[0])
        if code and quality > 0:
            choices.append((-quality, position, code))
    return min(choices)[2] if choices else None


def request_language(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    user = optional_user(connection)
    if user is not None:
        return _normalize(user.language) or DEFAULT_LANGUAGE
    chosen = _normalize(connection.query_params.get("lang")) or _normalize(connection.cookies.get(LANGUAGE_COOKIE))
    if chosen:
        return chosen
    return accept_language(connection.headers.get("accept-language")) or DEFAULT_LANGUAGE


async def remember_language_choice(message: Any, scope: Any) -> None:
    """`?lang=en` on a page (the footer switch of signed-out pages) is remembered in a cookie. A GET changes no
    server state: the choice lives in the browser only."""
    if message["type"] != "http.response.start" or scope.get("type") != "http":
        return
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    chosen = _normalize((query.get("lang") or [""])[0])
    if not chosen:
        return
    secure = "; Secure" if get_settings().secure_cookies else ""
    cookie = f"{LANGUAGE_COOKIE}={chosen}; Max-Age=31536000; Path=/; SameSite=Lax; HttpOnly{secure}"
    message.setdefault("headers", [])
    message["headers"] = [*message["headers"], (b"set-cookie", cookie.encode())]


def translate(msgid: str, language: str) -> str:
    from shared.i18n import translate as shared_translate

    return shared_translate(msgid, language)


class PortalTemplate(jinja2.Template):
    """Adds `language` and `user` to the context of every page rendered for a request."""

    def new_context(
        self,
        vars: dict[str, Any] | None = None,
        shared: bool = False,
        locals: Mapping[str, Any] | None = None,
    ) -> jinja2.runtime.Context:
        values = dict(vars or {})
        request = values.get("request")
        if request is not None:
            values.setdefault("user", optional_user(request))
            values.setdefault("language", request_language(request))
        values.setdefault("language", DEFAULT_LANGUAGE)
        values.setdefault("user", None)
        values.setdefault("brand_name", brand_name())
        return super().new_context(values, shared, locals)


_BRANDS: dict[str, tuple[str, float]] = {}
BRAND_FALLBACK = "edocta"


def brand_name() -> str:
    """The name at the top of every page: the first company's, or the product's (looked up every 5 minutes)."""
    now = time.monotonic()
    database = get_settings().database_url
    cached = _BRANDS.get(database)
    if cached and now < cached[1]:
        return cached[0]
    name = BRAND_FALLBACK
    try:
        with session_scope() as session:
            first = session.scalar(select(Company.name).order_by(Company.code).limit(1))
        if first:
            name = first
    except Exception:  # the brand is decoration: a database hiccup must not break an error page
        log.debug("brand name unavailable", exc_info=True)
    _BRANDS[database] = (name, now + (300 if name != BRAND_FALLBACK else 30))
    return name


@jinja2.pass_context
def get_flashes(context: jinja2.runtime.Context) -> list[dict[str, Any]]:
    """The flash messages waiting in the session (`litestar.plugins.flash.flash` puts them there), once."""
    request = context.get("request")
    session = request.scope.get("session") if request is not None else None
    if not isinstance(session, dict):
        return []
    return list(session.pop("_messages", []))


def install_portal_globals(environment: jinja2.Environment) -> None:
    environment.globals["languages"] = LANGUAGES
    environment.globals["get_flashes"] = get_flashes


UI_TRANSLATIONS_EN: dict[str, str] = {
    # layout
    "Estados de cuenta": "Account statements",
    "Estado de cuenta": "Account statement",
    "Cambiar contraseña": "Change password",
    "Salir": "Sign out",
    "Usuarios": "Users",
    "Operación": "Operations",
    "Menú principal": "Main menu",
    "Idioma": "Language",
    "Ir al contenido": "Skip to content",
    "Sesión iniciada como": "Signed in as",
    # errors
    "Página no encontrada": "Page not found",
    "La página que buscas no existe.": "The page you are looking for does not exist.",
    "Acceso denegado": "Access denied",
    "No tienes permiso para ver esta página.": "You are not allowed to see this page.",
    "Primero cambia tu contraseña.": "Change your password first.",
    "Servicio no disponible": "Service unavailable",
    "El servicio no está disponible. Intenta más tarde.": "The service is unavailable. Please try again later.",
    "Error": "Error",
    "Ocurrió un error. Intenta más tarde.": "Something went wrong. Please try again later.",
    "Solicitud no válida": "Invalid request",
    "No pudimos procesar la solicitud.": "We could not process the request.",
    "Volver al inicio": "Back to the start",
    # sign-in
    "Iniciar sesión": "Sign in",
    "Usuario": "User ID",
    "Contraseña": "Password",
    "Ingresar": "Sign in",
    "Olvidé mi contraseña": "I forgot my password",
    "Usuario o contraseña incorrectos.": "Wrong user ID or password.",
    "Escribe tu usuario.": "Enter your user ID.",
    "Escribe tu contraseña.": "Enter your password.",
    "Cerraste sesión.": "You signed out.",
    "Tu sesión terminó. Vuelve a iniciar sesión.": "Your session ended. Please sign in again.",
    # password change
    "Contraseña actual": "Current password",
    "Nueva contraseña": "New password",
    "Confirmar contraseña": "Confirm password",
    "Confirma la nueva contraseña": "Confirm the new password",
    "Escribe la contraseña temporal que recibiste por correo y elige una contraseña personal.": (
        "Enter the temporary password you received by email and choose a personal password."
    ),
    "Al menos 12 caracteres. Puedes usar espacios y cualquier carácter; una frase larga es buena idea.": (
        "At least 12 characters. Spaces and any character are allowed; a long phrase is a good idea."
    ),
    "Tu contraseña se cambió.": "Your password was changed.",
    "Usuario activado": "User activated",
    "Tu usuario está activado. Comienza de nuevo e ingresa con tu usuario y tu contraseña personal.": (
        "Your user is activated. Start again and sign in with your user ID and your personal password."
    ),
    "Comenzar de nuevo": "Start again",
    "Revisa los campos marcados.": "Please check the marked fields.",
    "La contraseña puede tener como máximo 128 caracteres.": "The password may have at most 128 characters.",
    "La contraseña debe tener al menos 12 caracteres.": "The password must have at least 12 characters.",
    "La contraseña no puede contener tu usuario.": "The password cannot contain your user ID.",
    "Esa contraseña es demasiado común. Elige otra, por ejemplo una frase.": (
        "That password is too common. Choose another one, a phrase for example."
    ),
    "Las contraseñas no coinciden.": "The passwords do not match.",
    "Escribe tu contraseña actual.": "Enter your current password.",
    "La contraseña actual no es correcta.": "The current password is not correct.",
    "La nueva contraseña debe ser distinta de la temporal.": "The new password must differ from the temporary one.",
    "La nueva contraseña debe ser distinta de la actual.": "The new password must differ from the current one.",
    # forgot password
    "Recuperar contraseña": "Recover password",
    "Escribe tu usuario y te enviaremos una contraseña temporal al correo registrado.": (
        "Enter your user ID and we will send a temporary password to the registered email."
    ),
    "Enviar": "Send",
    "Solicitud recibida": "Request received",
    "Si el usuario existe, enviamos una contraseña temporal al correo registrado. Tu contraseña actual sigue "
    "funcionando hasta que uses la temporal.": (
        "If the user exists, we sent a temporary password to the registered email. Your current password keeps "
        "working until you use the temporary one."
    ),
    "Volver a iniciar sesión": "Back to sign in",
    # users page
    "Buscar": "Search",
    "Buscar usuario, nombre o correo": "Search user, name or email",
    "Nuevo usuario": "New user",
    "Correo": "Email",
    "Nombre completo": "Full name",
    "Rol": "Role",
    "Clientes": "Customers",
    "Clientes (números separados por ;)": "Customers (numbers separated by ;)",
    "Estado": "Status",
    "Acciones": "Actions",
    "Crear y enviar invitación": "Create and send invitation",
    "Guardar clientes": "Save customers",
    "Desactivar": "Disable",
    "Activar": "Enable",
    "Reenviar invitación": "Resend invitation",
    "activo": "active",
    "desactivado": "disabled",
    "cliente": "customer",
    "cobranza": "staff",
    "administrador": "administrator",
    "Español": "Spanish",
    "Inglés": "English",
    "No hay usuarios que coincidan.": "No users match.",
    "Usuario creado; la invitación va en camino.": "User created; the invitation is on its way.",
    "Usuario desactivado.": "User disabled.",
    "Usuario activado.": "User enabled.",
    "Clientes actualizados.": "Customers updated.",
    "Invitación reenviada.": "Invitation sent again.",
    "Editar": "Edit",
    "Volver a usuarios": "Back to users",
}


def register_translations() -> None:
    """Give the shared catalogue the portal's English strings (idempotent)."""
    from shared.i18n import add_translations

    add_translations("en", UI_TRANSLATIONS_EN)
