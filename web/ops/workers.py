"""The workers page: each worker as its last heartbeat described it (queues, concurrency, the tasks it runs now,
how many it has processed, when it was last heard from), and the queues' lengths. Flower, when configured, is
linked for task-level detail."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, get
from litestar.response import Template

from shared.broker import STALE_AFTER_SECONDS
from shared.clock import utcnow
from shared.settings import get_settings
from web.ops.overview import broker_view
from web.security import requires_admin


@get("/ops/workers", name="ops_workers", guards=[requires_admin], sync_to_thread=True)
def ops_workers(request: Request[Any, Any, Any]) -> Template:
    settings = get_settings()
    context = {
        **broker_view(),
        "now": utcnow(),
        "stale_after": int(STALE_AFTER_SECONDS),
        "embedded": settings.uses_embedded_broker,
        "flower_url": settings.flower_url,
        "ops_page": "workers",
    }
    return Template(template_name="ops/workers.html.j2", context=context, media_type=MediaType.HTML)


route_handlers: list[Any] = [ops_workers]
