"""`GET /metrics`: the Prometheus exposition (`shared.metrics`), for a Prometheus server holding the bearer token
`EDOCTA_METRICS_TOKEN`, or for a signed-in administrator. Anyone else gets 401 (403 for a signed-in non-admin),
and learns nothing."""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request, Response, get

from shared.metrics import CONTENT_TYPE, metrics_text
from shared.settings import get_settings
from web.security import PUBLIC, optional_user


def _bearer_token_matches(request: Request[Any, Any, Any]) -> bool:
    expected = get_settings().metrics_token
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not given.strip():
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


@get("/metrics", name="metrics", opt={PUBLIC: True}, exclude_from_csrf=True, sync_to_thread=True)
def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    user = optional_user(request)
    if not _bearer_token_matches(request) and not (
        user is not None and user.is_admin and not user.must_change_password
    ):
        status = 403 if user is not None else 401
        headers = {"WWW-Authenticate": 'Bearer realm="edocta metrics"'} if status == 401 else {}
        return Response(
            b"forbidden\n" if status == 403 else b"unauthorized\n",
            status_code=status,
            headers=headers,
            media_type="text/plain; charset=utf-8",
        )
    return Response(metrics_text(), media_type=CONTENT_TYPE)


route_handlers: list[Any] = [metrics]
