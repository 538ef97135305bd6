"""CSRF tokens beyond what Litestar's middleware does: a fresh token at sign-in (a token seen before signing in
is worth nothing after), and on a public form whose token expired or went missing.

The middleware sets the `edocta_csrf` cookie on the first page a browser opens and checks it against the form's
`_csrf_token` on every POST; it answers a mismatch with `PermissionDeniedException(CSRF_FAILED)`.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import Cookie
from litestar.middleware.csrf import generate_csrf_token
from litestar.utils.scope.state import ScopeState

CSRF_FAILED = "CSRF token verification failed"


def is_csrf_failure(request: Request[Any, Any, Any], exc: Exception) -> bool:
    return request.method == "POST" and getattr(exc, "detail", "") == CSRF_FAILED


def submitted_form(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The form of a refused POST as the middleware parsed it ({} when it was not a form)."""
    form = ScopeState.from_scope(request.scope).form
    return dict(form) if isinstance(form, dict) else {}


def new_csrf_cookie(request: Request[Any, Any, Any]) -> Cookie:
    """A new token: the page being drawn carries it in its forms, the returned cookie gives it to the browser."""
    config = request.app.csrf_config
    if config is None:
        raise RuntimeError("CSRF is not configured")
    token = generate_csrf_token(secret=config.secret)
    ScopeState.from_scope(request.scope).csrf_token = token
    return Cookie(
        key=config.cookie_name,
        value=token,
        path=config.cookie_path,
        domain=config.cookie_domain,
        secure=config.cookie_secure,
        httponly=config.cookie_httponly,
        samesite=config.cookie_samesite,
    )
