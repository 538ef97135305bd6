"""The portal's language: the signed-in user's, else the `edocta_lang` cookie (the footer switch on signed-out
pages), else the browser's Accept-Language; Spanish by default. The UI's words are Spanish msgids translated by
the gettext catalogue (`shared.i18n`): in templates with `_()`, in Python with `gettext(msgid, language)`.

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
from markupsafe import Markup
from sqlalchemy import select

from shared.clock import local_minute
from shared.db import session_scope
from shared.models import Company
from shared.settings import get_settings
from web.security import optional_user

log = logging.getLogger("edocta.web")

LANGUAGE_COOKIE = "edocta_lang"
LANGUAGES = ("es", "en")
DEFAULT_LANGUAGE = "es"


def normalize_language(value: str | None) -> str | None:
    """The supported language a code names (`en-US` is `en`), or None."""
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
        code = normalize_language(pieces[0])
        if code and quality > 0:
            choices.append((-quality, position, code))
    return min(choices)[2] if choices else None


def request_language(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    user = optional_user(connection)
    if user is not None:
        return normalize_language(user.language) or DEFAULT_LANGUAGE
    chosen = normalize_language(connection.query_params.get("lang")) or normalize_language(
        connection.cookies.get(LANGUAGE_COOKIE)
    )
    if chosen:
        return chosen
    return accept_language(connection.headers.get("accept-language")) or DEFAULT_LANGUAGE


async def remember_language_choice(message: Any, scope: Any) -> None:
    """`?lang=en` on a page (the footer switch of signed-out pages) is remembered in a cookie. A GET changes no
    server state: the choice lives in the browser only."""
    if message["type"] != "http.response.start" or scope.get("type") != "http":
        return
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    chosen = normalize_language((query.get("lang") or [""])[0])
    if not chosen:
        return
    secure = "; Secure" if get_settings().secure_cookies else ""
    cookie = f"{LANGUAGE_COOKIE}={chosen}; Max-Age=31536000; Path=/; SameSite=Lax; HttpOnly{secure}"
    message.setdefault("headers", [])
    message["headers"] = [*message["headers"], (b"set-cookie", cookie.encode())]


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


def css_string(value: object) -> Markup:
    """`value` as a quoted CSS string, every character but letters, digits and spaces escaped (`\\e1 `), so it is
    safe inside a `<style>` element or a style attribute (used for the words CSS shows, such as phone labels)."""
    escaped = "".join(ch if ch.isascii() and (ch.isalnum() or ch == " ") else f"\\{ord(ch):x} " for ch in str(value))
    return Markup(f'"{escaped}"')  # noqa: S704 (escaped above)


def install_portal_globals(environment: jinja2.Environment) -> None:
    environment.globals["languages"] = LANGUAGES
    environment.globals["get_flashes"] = get_flashes
    environment.filters["css_string"] = css_string
    environment.filters["local_minute"] = local_minute
