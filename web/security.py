"""Who is asking: server-side sessions that change id at every sign-in, the signed-in user, and the guards.

The session holds the user id, the user's `password_version` and two timestamps (created, last seen). Every
request re-reads the user: a disabled user or a changed password ends the session at once. A session opened
with a temporary password reaches only the password-change page and sign-out until the password is changed.

Litestar's server-side backend keeps whatever session id the client sends; `RotatingSessionBackend` only
reuses an id the server itself issued and still holds, and issues a fresh one when `rotate_session` asks for it
(sign-in, password change, sign-out), deleting the old one on the server.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast

import anyio.to_thread
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.exceptions import NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.types import Empty, Message, ScopeSession
from litestar.utils.dataclass import extract_dataclass_items
from sqlalchemy import bindparam, select

from shared.db import autocommit
from shared.models import User
from shared.statements.version import USER_COLUMNS

log = logging.getLogger("edocta.web")

P = ParamSpec("P")
R = TypeVar("R")

SESSION_COOKIE = "edocta_session"
IDLE_TIMEOUT = dt.timedelta(minutes=30)
ABSOLUTE_TIMEOUT = dt.timedelta(hours=12)
SEEN_RESOLUTION = 60.0

# Route options: `public` routes need no sign-in; `during_forced_change` routes stay reachable while a
# temporary password must be replaced; `file` routes answer 403 instead of redirecting.
PUBLIC = "public"
DURING_FORCED_CHANGE = "during_forced_change"
FILE = "file"
# `static` routes (the assets) read no session and no user at all.
STATIC = "static"
FILE_SUFFIXES = (".json", ".xlsx", ".pdf", ".xls", ".csv")

_SCOPE_KEY = "edocta_session_state"
_USER_KEY = "edocta_user"


def clock() -> float:
    """Seconds since the epoch; tests move it to expire sessions."""
    return time.time()


@dataclass(frozen=True)
class PortalUser:
    """The signed-in user, as controllers and templates see it (a plain value, no database session)."""

    id: int
    username: str
    email: str
    full_name: str
    role: str
    language: str
    must_change_password: bool = False

    @property
    def is_staff(self) -> bool:
        """Staff and admins see every customer."""
        return self.role in ("staff", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def display_name(self) -> str:
        return self.full_name or self.username


class SignInRequired(NotAuthorizedException):
    """No valid session: pages redirect to the sign-in page."""


class PasswordChangeRequired(PermissionDeniedException):
    """The session was opened with a temporary password: only the password change is reachable."""


# --- the session backend ------------------------------------------------------------------------------------


def _state(connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
    scope = cast(dict[str, Any], connection.scope)
    return cast(dict[str, Any], scope.setdefault(_SCOPE_KEY, {}))


class RotatingSessionBackend(ServerSideSessionBackend):
    """Server-side sessions whose id is always chosen by the server (no session fixation)."""

    async def load_from_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
        data = await super().load_from_connection(connection)
        state = _state(connection)
        state["known_id"] = connection.cookies.get(self.config.key) if data else None
        state["loaded"] = self.serialize_data(data, connection.scope) if data else None
        return data

    def _cookie_params(self) -> dict[str, Any]:
        """The cookie's attributes from the config, worked out once per backend (not on every response)."""
        params: dict[str, Any] | None = getattr(self, "_edocta_cookie_params", None)
        if params is None:
            params = dict(extract_dataclass_items(self.config, exclude_none=True, include=Cookie.__dict__.keys()))
            self._edocta_cookie_params = params
        return params

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        state = _state(connection)
        store = self.config.get_store_from_app(connection.scope["app"])
        headers = MutableScopeHeaders.from_message(message)
        cookie_params = self._cookie_params()
        sent_id = connection.cookies.get(self.config.key)
        known_id: str | None = state.get("known_id")
        rotate = bool(state.get("rotate"))

        if scope_session is Empty or not scope_session:
            if known_id:
                await self.delete(known_id, store=store)
            if sent_id:
                headers.add(
                    "Set-Cookie",
                    Cookie(value="", key=self.config.key, **{**cookie_params, "max_age": 0, "expires": 0}).to_header(
                        header=""
                    ),
                )
            return

        serialized = self.serialize_data(scope_session, connection.scope)
        if known_id and not rotate:
            if serialized == state.get("loaded"):
                return  # unchanged: the store renewed its expiry when it was read; nothing to write
            session_id = known_id
        else:
            if known_id:
                await self.delete(known_id, store=store)
            session_id = state.get("new_id") or self.generate_session_id()
            state["new_id"] = session_id
        await self.set(session_id=session_id, data=serialized, store=store)
        headers.add("Set-Cookie", Cookie(value=session_id, key=self.config.key, **cookie_params).to_header(header=""))


class RotatingSessionConfig(ServerSideSessionConfig):
    _backend_class = RotatingSessionBackend


def session_config(*, secure: bool) -> RotatingSessionConfig:
    """Cookie `edocta_session`: HttpOnly, SameSite=Lax, Secure on https; the store forgets idle sessions.

    A read does not renew the stored session's expiry: the session is written (and its expiry set again) each
    time its `seen` time moves, at most once a minute, which is also what the idle timeout checks. So a read is a
    plain GET, and the file store is not rewritten on every request."""
    return RotatingSessionConfig(
        key=SESSION_COOKIE,
        max_age=int(IDLE_TIMEOUT.total_seconds()),
        renew_on_access=False,
        httponly=True,
        samesite="lax",
        secure=secure,
        store="sessions",
    )


def rotate_session(connection: ASGIConnection[Any, Any, Any, Any], data: dict[str, Any] | None = None) -> None:
    """Replace the session: the old id dies on the server and a new id is issued (or none when empty)."""
    connection.scope["session"] = dict(data or {})
    _state(connection)["rotate"] = True
    connection.scope.setdefault("state", {}).pop(_USER_KEY, None)


def start_session(
    connection: ASGIConnection[Any, Any, Any, Any],
    *,
    user_id: int,
    password_version: int,
    must_change: bool = False,
    temporary_password_id: int | None = None,
) -> None:
    """A new session for a user who just proved who they are (new id: no fixation)."""
    now = clock()
    data: dict[str, Any] = {"uid": user_id, "pv": password_version, "created": now, "seen": now}
    if must_change:
        data["must_change"] = True
        data["tid"] = temporary_password_id
    rotate_session(connection, data)


def temporary_password_id(connection: ASGIConnection[Any, Any, Any, Any]) -> int | None:
    """The temporary password this session was opened with (forced change), if any."""
    session = connection.scope.get("session")
    if isinstance(session, dict) and session.get("must_change") and session.get("tid") is not None:
        return int(session["tid"])
    return None


def end_session(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Sign out: the server forgets the session and the cookie is cleared."""
    rotate_session(connection, {})


# --- the signed-in user -------------------------------------------------------------------------------------


# The one query every signed-in request makes: the user's row by primary key, only the columns the portal shows
# and checks. Built once; read on a pooled connection in autocommit (a single round trip, no BEGIN/COMMIT).
_USER_ROW = select(*(getattr(User, name) for name in USER_COLUMNS)).where(User.id == bindparam("user_id"))


def _load_user(user_id: int, password_version: int) -> tuple[PortalUser | None, str]:
    with autocommit() as connection:
        row = connection.execute(_USER_ROW, {"user_id": user_id}).first()
    return user_of_row(user_id, row, password_version)


def user_of_row(user_id: int, row: Any, password_version: int) -> tuple[PortalUser | None, str]:
    """What the user's row (the columns of `_USER_ROW`, in order) says of a session holding `password_version`:
    the user, or None and why."""
    if row is None:
        return None, "unknown user"
    username, email, full_name, role, language, status, current_version = row
    if status != "active":
        return None, "user disabled"
    if current_version != password_version:
        return None, "password changed"
    return (
        PortalUser(id=user_id, username=username, email=email, full_name=full_name, role=role, language=language),
        "",
    )


def _live_session(connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any] | None:
    """The session if it names a user and has not timed out (a timed-out session is ended here)."""
    session = connection.scope.get("session")
    if not isinstance(session, dict) or "uid" not in session:
        return None
    if _timed_out(session, clock()):
        end_session(connection)
        return None
    return session


def _timed_out(session: dict[str, Any], now: float) -> bool:
    """Past the session's absolute lifetime, or idle longer than allowed."""
    return (
        now - float(session.get("created", 0)) > ABSOLUTE_TIMEOUT.total_seconds()
        or now - float(session.get("seen", 0)) > IDLE_TIMEOUT.total_seconds()
    )


def _signed_in_user(
    connection: ASGIConnection[Any, Any, Any, Any], session: dict[str, Any], loaded: PortalUser | None
) -> PortalUser | None:
    """What the user row just read means for this session: the user, or None (and the session ended)."""
    if loaded is None:
        end_session(connection)
        return None
    now = clock()
    if now - float(session.get("seen", 0)) >= SEEN_RESOLUTION:
        session["seen"] = now  # written (and the cookie renewed) at most once a minute
    if session.get("must_change"):
        return PortalUser(**{**loaded.__dict__, "must_change_password": True})
    return loaded


async def load_current_user(connection: ASGIConnection[Any, Any, Any, Any]) -> PortalUser | None:
    """The user of this request's session, re-read from the database, or None (and the session ended)."""
    scope_state = connection.scope.setdefault("state", {})
    if _USER_KEY in scope_state:
        return cast(PortalUser | None, scope_state[_USER_KEY])
    user: PortalUser | None = None
    session = _live_session(connection)
    if session is not None:
        loaded, _reason = await anyio.to_thread.run_sync(_load_user, int(session["uid"]), int(session.get("pv", -1)))
        user = _signed_in_user(connection, session, loaded)
    connection.scope.setdefault("state", {})[_USER_KEY] = user
    return user


def load_current_user_here(connection: ASGIConnection[Any, Any, Any, Any]) -> PortalUser | None:
    """`load_current_user` in the calling thread (a sync handler's own thread)."""
    scope_state = connection.scope.setdefault("state", {})
    if _USER_KEY in scope_state:
        return cast(PortalUser | None, scope_state[_USER_KEY])
    user: PortalUser | None = None
    session = _live_session(connection)
    if session is not None:
        loaded, _reason = _load_user(int(session["uid"]), int(session.get("pv", -1)))
        user = _signed_in_user(connection, session, loaded)
    connection.scope.setdefault("state", {})[_USER_KEY] = user
    return user


def settled_session(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[int, int] | None:
    """(user id, password version) of a live session whose only remaining check is the user's row: not timed
    out, not opened with a temporary password, the user not read yet. None in every other case (the full check
    decides). Changes nothing."""
    if _USER_KEY in connection.scope.get("state", {}):
        return None
    return settled_session_of(connection.scope.get("session"), clock())


def settled_session_of(session: Any, now: float, *, seen_recently: bool = False) -> tuple[int, int] | None:
    """`settled_session` of the session's data at `now`. With `seen_recently`, also None when the session's `seen`
    time is due to move (`SEEN_RESOLUTION`): the user's check would then write the session back."""
    if not isinstance(session, dict) or "uid" not in session or session.get("must_change"):
        return None
    try:
        if _timed_out(session, now) or (seen_recently and now - float(session.get("seen", 0)) >= SEEN_RESOLUTION):
            return None
        return int(session["uid"]), int(session.get("pv", -1))
    except (TypeError, ValueError):
        return None


def admit_read_user(connection: ASGIConnection[Any, Any, Any, Any], user: PortalUser) -> None:
    """After `settled_session`, the user its row gave (`user_of_row`): noted for the request, the session's `seen`
    time moved as `load_current_user` moves it, and the guard's check made."""
    session = cast(dict[str, Any], connection.scope["session"])
    checked = _signed_in_user(connection, session, user)
    connection.scope.setdefault("state", {})[_USER_KEY] = checked
    _admit(checked, connection.scope["route_handler"])


# Marks a handler function wrapped by `checks_user_in_its_thread`: the app's guard leaves the user to it.
_CHECKS_USER = "_edocta_checks_user_in_its_thread"


def checks_user_itself(function: Callable[P, R]) -> Callable[P, R]:
    """Marks a handler that makes the guard's user check itself (`admit_read_user`, or by calling a function
    wrapped by `checks_user_in_its_thread`): the app's guard leaves the user to it."""
    setattr(function, _CHECKS_USER, True)
    return function


def checks_user_in_its_thread(function: Callable[P, R]) -> Callable[P, R]:
    """For a sync handler (`sync_to_thread=True`) that takes `request`: the guard's user check runs in the handler's
    own thread, just before it (one thread hop per request instead of two). The checks are the guard's own."""

    @functools.wraps(function)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        request = cast(ASGIConnection[Any, Any, Any, Any], kwargs["request"])
        _admit(load_current_user_here(request), request.scope["route_handler"])
        return function(*args, **kwargs)

    setattr(checked, _CHECKS_USER, True)
    return checked


def current_user(connection: ASGIConnection[Any, Any, Any, Any]) -> PortalUser:
    """The signed-in user of a guarded route (the guard has loaded it)."""
    user = connection.scope.get("state", {}).get(_USER_KEY)
    if user is None:
        raise SignInRequired()
    return cast(PortalUser, user)


def optional_user(connection: ASGIConnection[Any, Any, Any, Any]) -> PortalUser | None:
    """The signed-in user if the guard loaded one (public pages), else None."""
    return cast(PortalUser | None, connection.scope.get("state", {}).get(_USER_KEY))


def is_file_request(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler | None = None) -> bool:
    if handler is not None and handler.opt.get(FILE):
        return True
    return connection.url.path.lower().endswith(FILE_SUFFIXES)


async def load_user_after_error(exc: Exception, scope: Any) -> None:
    """An `after_exception` hook: an address no route answers never reaches the session middleware nor the guard,
    so its "not found" page would lose the menu of a signed-in user. Read the session and the user here (read only:
    nothing is written back), before the error page is drawn."""
    if not isinstance(exc, NotFoundException) or scope.get("type") != "http" or _USER_KEY in scope.get("state", {}):
        return
    connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
    try:
        if not isinstance(scope.get("session"), dict):
            config = session_config(secure=False)  # only the cookie's name and the store's name are read
            scope["session"] = await ServerSideSessionBackend(config=config).load_from_connection(connection)
        await load_current_user(connection)
    except Exception:  # the menu is decoration: a store or database fault must not replace the "not found" page
        log.debug("no user for the error page", exc_info=True)
        scope.setdefault("state", {})[_USER_KEY] = None


# --- guards -------------------------------------------------------------------------------------------------


# Ids in addresses are database integers: a bigger (or non-positive) one names nothing.
MAX_ID = 2**31 - 1


def _checks_user_itself(handler: BaseRouteHandler) -> bool:
    function = getattr(handler, "fn", None)
    function = getattr(function, "func", function)  # a sync handler's function, inside Litestar's thread wrapper
    return bool(getattr(function, _CHECKS_USER, False))


def _admit(user: PortalUser | None, handler: BaseRouteHandler) -> None:
    """Every route but the `public` ones needs a signed-in, fully activated user."""
    if handler.opt.get(PUBLIC):
        return
    if user is None:
        raise SignInRequired()
    if user.must_change_password and not handler.opt.get(DURING_FORCED_CHANGE):
        raise PasswordChangeRequired("password change required")


async def session_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """App-wide: loads the user; every route but the `public` ones needs a signed-in, fully activated user.
    Handlers wrapped by `checks_user_in_its_thread` make the same check themselves, in their own thread. An
    integer id in the address outside what the database holds is "not found" (never a database error)."""
    for value in connection.path_params.values():
        if isinstance(value, int) and not 0 < value <= MAX_ID:
            raise NotFoundException()
    if handler.opt.get(STATIC) or _checks_user_itself(handler):
        return
    _admit(await load_current_user(connection), handler)


async def requires_login(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    user = await load_current_user(connection)
    if user is None:
        raise SignInRequired()
    if user.must_change_password and not handler.opt.get(DURING_FORCED_CHANGE):
        raise PasswordChangeRequired("password change required")


async def requires_staff(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    await requires_login(connection, handler)
    if not current_user(connection).is_staff:
        raise PermissionDeniedException("staff only")


async def requires_admin(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    await requires_login(connection, handler)
    if not current_user(connection).is_admin:
        raise PermissionDeniedException("administrators only")
