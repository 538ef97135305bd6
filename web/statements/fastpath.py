"""The cached statement file answered before Litestar's middleware, routing and guards: the portal's hot path.

`web.statements.cached` answers a stored PDF or XLSX file on the event loop once the full path has served it.
Even so, the request first crosses Litestar's whole stack (exception, CSRF and session middleware, routing,
guards, the handler's signature, the response's making), which costs several times the work the answer needs.
`FastDownloads` answers the same request in front of that stack when it is the plain case:

- `GET /statements/{company}/{customer}/{YYYY-MM-DD}.pdf|.xlsx`, no query string, one `Cookie` header holding
  the session cookie and the CSRF cookie (without the CSRF cookie the answer would carry a new one);
- a file noted for that statement (`StoredFiles.may_hold`), a cut-off not in the future;
- the session read from the app's own session store (the same read as the session middleware's), live, not
  opened with a temporary password, and its `seen` time less than `SEEN_RESOLUTION` old (so the full path would
  not write it back either);
- the one version query (`cached.read_version`): the user active with the session's password version, allowed
  to see the customer, and the file noted for the statement's current data version and the user's language,
  still in the store.

The answer is the full path's: the file's bytes, its three headers in Litestar's order, then the app's own
`before_send` hooks (security headers, `no-store`). Anything else — any other address, a missing or unusual
cookie, no session, a stale `seen`, a fault of Redis or of the database — changes nothing and goes to the full
app, which answers exactly as before (and may still use `cached` itself).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from litestar._parsers import parse_cookie_string
from litestar.serialization import decode_json
from litestar.stores.base import Store
from litestar.stores.redis import RedisStore
from litestar.types import HTTPScope, Send

from web import security
from web.i18n import DEFAULT_LANGUAGE, normalize_language
from web.loopredis import lean_redis_for
from web.security import settled_session_of, user_of_row
from web.statements.cached import FileKey, StoredFiles, read_version

if TYPE_CHECKING:
    from litestar import Litestar

log = logging.getLogger("edocta.web")

PREFIX = "/statements/"

# How long the session read and the check may take before the request is left to the full app; and how often a
# failed check is logged with its traceback.
CHECK_SECONDS = 5.0
WARN_EVERY_SECONDS = 60.0
_last_warning = -WARN_EVERY_SECONDS


class FastDownloads:
    """The plain cached file download of one app, answered without the app's stack (see the module's text)."""

    def __init__(
        self, app: Litestar, files: StoredFiles, *, session_cookie: str, csrf_cookie: str, redis_url: str | None
    ) -> None:
        self.app = app
        self.files = files
        self.session_cookie = session_cookie
        self.csrf_cookie = csrf_cookie
        self.redis_url = redis_url
        self._store: Store | None = None

    async def _read_session(self, session_id: str) -> bytes | None:
        """The session's stored data, read as the session middleware reads it (a `GET` of the same key, on Redis
        through the lean client when it speaks the store's URL)."""
        store = self._store
        if store is None:
            store = self._store = self.app.stores.get("sessions")
        if self.redis_url and isinstance(store, RedisStore):
            lean = lean_redis_for(self.redis_url)
            if lean is not None:
                return await lean.get(store._make_key(session_id))
        return await store.get(session_id)

    async def answer(self, scope: HTTPScope, send: Send) -> bool:
        """Answer the request if it is the plain case; False (nothing sent, nothing changed) otherwise. A check
        that fails, or takes longer than `CHECK_SECONDS` (a connection that no longer answers), leaves the request
        to the full app."""
        try:
            async with asyncio.timeout(CHECK_SECONDS):
                found = await self._find(scope)
        except Exception:  # the full app answers, with its own error handling
            global _last_warning
            now = time.monotonic()
            if now - _last_warning >= WARN_EVERY_SECONDS:  # an outage must not write a traceback per request
                _last_warning = now
                log.warning("fast download check failed; answered by the full app", exc_info=True)
            return False
        if found is None:
            return False
        data, headers = found
        message: Any = {"type": "http.response.start", "status": 200, "headers": headers}
        for hook in self.app.before_send:
            await hook(message, scope)
        await send(message)
        await send({"type": "http.response.body", "body": data, "more_body": False})
        return True

    async def _find(self, scope: HTTPScope) -> tuple[bytes, list[tuple[bytes, bytes]]] | None:
        if scope["method"] != "GET" or scope.get("query_string") or scope.get("root_path"):
            return None
        parts = scope["path"].split("/")
        if len(parts) != 5 or parts[1] != "statements":
            return None
        company, customer = parts[2], parts[3]
        # Only statements whose file the full path noted (their codes as the database has them) go further.
        address = self.files.address(company, customer, parts[4])
        if address is None:
            return None
        cutoff, fmt = address
        cookie_header = None
        for name, value in scope["headers"]:
            if name == b"cookie":
                if cookie_header is not None:
                    return None
                cookie_header = value
        if cookie_header is None:
            return None
        cookies = parse_cookie_string(cookie_header.decode("latin-1"))
        session_id = cookies.get(self.session_cookie)
        if not session_id or self.csrf_cookie not in cookies:
            return None
        raw = await self._read_session(session_id)
        if raw is None:
            return None
        session = decode_json(raw)
        settled = settled_session_of(session, security.clock(), seen_recently=True)
        if settled is None:
            return None
        user_id, password_version = settled
        version = await read_version(user_id, company, customer, cutoff)
        if version is None:
            return None
        user, _reason = user_of_row(user_id, version.user_row, password_version)
        if user is None:
            return None
        language = normalize_language(user.language) or DEFAULT_LANGUAGE
        key: FileKey = (company, customer, cutoff, fmt, language, version.version)
        noted = self.files.held(key)
        if noted is None:
            return None
        return noted.data, [
            (b"content-disposition", noted.disposition.encode("latin-1")),
            (b"content-type", noted.media_type.encode("latin-1")),
            (b"content-length", str(len(noted.data)).encode()),
        ]
