"""Whether the services edocta needs answer now: the database, the broker, and mail delivery (the SMTP server, or
the outbox folder on embedded defaults). Each check is quick (a few seconds at most) and says what it reached,
never a password.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import text

from shared.clock import utcnow
from shared.db import get_engine
from shared.mail import SMTPBackend
from shared.settings import get_settings

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 3.0


@dataclass(frozen=True)
class Health:
    """One service: does it answer, what was reached (`target`), and the error if not."""

    service: str  # database | broker | mail
    ok: bool
    target: str
    error: str = ""
    checked_at: dt.datetime | None = None


def _safe_url(url: str) -> str:
    """A URL without its user and password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def check_database() -> Health:
    settings = get_settings()
    target = "sqlite" if settings.is_sqlite else _safe_url(settings.database_url)
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure means "down"
        return Health("database", False, target, type(error).__name__, utcnow())
    return Health("database", True, target, checked_at=utcnow())


def check_broker() -> Health:
    settings = get_settings()
    if settings.redis_url:
        import redis

        target = _safe_url(settings.redis_url)
        try:
            client = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
            try:
                client.ping()
            finally:
                client.close()
        except Exception as error:
            return Health("broker", False, target, f"{type(error).__name__}: {error}", utcnow())
        return Health("broker", True, target, checked_at=utcnow())
    folder = settings.broker_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return Health("broker", False, str(folder), str(error), utcnow())
    writable = os.access(folder, os.W_OK)
    return Health("broker", writable, str(folder), "" if writable else "not writable", utcnow())


def check_mail() -> Health:
    settings = get_settings()
    if not settings.smtp_url:
        folder = settings.outbox_dir
        writable = os.access(folder, os.W_OK) if folder.exists() else os.access(folder.parent, os.W_OK)
        return Health("mail", writable, str(folder), "" if writable else "not writable", utcnow())
    try:
        backend = SMTPBackend.from_url(settings.smtp_url)
    except ValueError as error:
        return Health("mail", False, "EDOCTA_SMTP_URL", str(error), utcnow())
    target = f"{'smtps' if backend.implicit_tls else 'smtp'}://{backend.host}:{backend.port}"
    problem = backend.check(timeout=CHECK_TIMEOUT)
    return Health("mail", not problem, target, problem, utcnow())


# Every web process checks at most this often; the ops page shows when the last check was made.
CACHE_SECONDS = 30.0
_cache: dict[str, tuple[float, list[Health]]] = {}
_lock = threading.Lock()


def service_health(*, fresh: bool = False) -> list[Health]:
    """The three checks (database, broker, mail), at most once every `CACHE_SECONDS` per process."""
    key = f"{get_settings().database_url}|{get_settings().redis_url}|{get_settings().smtp_url}"
    now = time.monotonic()
    with _lock:
        cached = _cache.get(key)
        if cached and not fresh and now - cached[0] < CACHE_SECONDS:
            return cached[1]
    report = [check_database(), check_broker(), check_mail()]
    with _lock:
        _cache[key] = (now, report)
    return report
