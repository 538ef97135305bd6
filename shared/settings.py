"""Settings, read from the environment (and a `.env` file) once.

The defaults are the embedded ones of the contract: SQLite, a filesystem broker, an outbox folder for mail,
so `edocta demo` needs no service at all. Production sets the URLs.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import load_dotenv


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    database_url: str
    redis_url: str | None
    smtp_url: str | None
    store_dir: Path
    secret_key: str
    base_url: str
    from_email: str
    timezone: str
    outbox_dir: Path
    broker_dir: Path
    session_dir: Path
    flower_url: str | None = None
    # A bearer token that lets a Prometheus server read /metrics (unset: only signed-in administrators may).
    metrics_token: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # Mail delivery: first retry delay (doubles each time), how long to keep retrying, the claim lease,
    # and how long an enqueued account or email may wait before the sweeper enqueues it again.
    mail_retry_base_seconds: float = 60.0
    mail_retry_hours: float = 24.0
    mail_lease_seconds: float = 300.0
    requeue_after_seconds: float = 300.0
    # The drop folder of ERP batches (unset: off), when a company's data counts as stale, how long a scheduled
    # run waits for fresh data, and how far back a tick catches up on cut-offs with no run.
    import_dir: Path | None = None
    stale_after_hours: float = 36.0
    stale_wait_hours: float = 12.0
    schedule_catchup_days: int = 7
    # Proxies whose X-Forwarded-For / Forwarded headers name the client (addresses or networks; none: no header
    # is believed, the peer's address is the client's).
    trusted_proxies: tuple[str, ...] = ()
    # PDF (and large XLSX) files a portal user may have a worker preparing at once; more are answered 429.
    renders_per_user: int = 3

    @property
    def broker_url(self) -> str:
        return self.redis_url or "filesystem://"

    @property
    def uses_embedded_broker(self) -> bool:
        return self.redis_url is None

    @property
    def secure_cookies(self) -> bool:
        return urlsplit(self.base_url).scheme == "https"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _secret_key(var_dir: Path) -> str:
    """EDOCTA_SECRET_KEY, or one generated once into var/ and kept there."""
    configured = _env("EDOCTA_SECRET_KEY")
    if configured:
        return configured
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(key)
    os.chmod(tmp, 0o600)
    try:
        os.link(tmp, path)  # first writer wins; a concurrent process reads the winner's key
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def _trusted_proxies() -> tuple[str, ...]:
    """EDOCTA_TRUSTED_PROXIES: comma-separated addresses or networks (`10.0.0.5, 172.16.0.0/12`)."""
    raw = _env("EDOCTA_TRUSTED_PROXIES", "") or ""
    networks = []
    for item in raw.replace(" ", ",").split(","):
        if item:
            try:
                networks.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise ValueError(f"EDOCTA_TRUSTED_PROXIES: {item!r} is not an address or a network") from None
    return tuple(networks)


def load_settings() -> Settings:
    load_dotenv(Path.cwd() / ".env", override=False)
    var_dir = Path(_env("EDOCTA_VAR_DIR", "var") or "var")
    default_db = f"sqlite:///{var_dir / 'edocta.sqlite3'}"
    return Settings(
        var_dir=var_dir,
        database_url=_env("EDOCTA_DATABASE_URL", default_db) or default_db,
        redis_url=_env("EDOCTA_REDIS_URL"),
        smtp_url=_env("EDOCTA_SMTP_URL"),
        store_dir=Path(_env("EDOCTA_STORE_DIR", str(var_dir / "statements")) or ""),
        secret_key=_secret_key(var_dir),
        base_url=(_env("EDOCTA_BASE_URL", "http://127.0.0.1:8000") or "").rstrip("/"),
        from_email=_env("EDOCTA_FROM_EMAIL", "estados@localhost") or "estados@localhost",
        timezone=_env("EDOCTA_TIMEZONE", "America/Mexico_City") or "America/Mexico_City",
        outbox_dir=var_dir / "outbox",
        broker_dir=var_dir / "broker",
        session_dir=var_dir / "sessions",
        flower_url=_env("EDOCTA_FLOWER_URL"),
        metrics_token=_env("EDOCTA_METRICS_TOKEN"),
        mail_retry_base_seconds=float(_env("EDOCTA_MAIL_RETRY_BASE_SECONDS", "60") or 60),
        mail_retry_hours=float(_env("EDOCTA_MAIL_RETRY_HOURS", "24") or 24),
        mail_lease_seconds=float(_env("EDOCTA_MAIL_LEASE_SECONDS", "300") or 300),
        requeue_after_seconds=float(_env("EDOCTA_REQUEUE_AFTER_SECONDS", "300") or 300),
        import_dir=Path(_env("EDOCTA_IMPORT_DIR") or "") if _env("EDOCTA_IMPORT_DIR") else None,
        stale_after_hours=float(_env("EDOCTA_STALE_AFTER_HOURS", "36") or 36),
        stale_wait_hours=float(_env("EDOCTA_STALE_WAIT_HOURS", "12") or 12),
        schedule_catchup_days=int(_env("EDOCTA_SCHEDULE_CATCHUP_DAYS", "7") or 7),
        trusted_proxies=_trusted_proxies(),
        renders_per_user=max(1, int(_env("EDOCTA_RENDERS_PER_USER", "3") or 3)),
    )


# What edocta creates is its own user's only: files 0600, folders 0700, whatever the umask it was started with.
PRIVATE_UMASK = 0o077


def restrict_file_modes(settings: Settings | None = None) -> None:
    """Make every file and folder this process (and its children) creates private to its user, and close the var
    folder itself if it exists (hashes, customers, temporary passwords, statements and messages live under it)."""
    os.umask(PRIVATE_UMASK)
    var_dir = (settings or get_settings()).var_dir
    try:
        if var_dir.is_dir() and var_dir.stat().st_uid == os.getuid():
            var_dir.chmod(0o700)
    except OSError:
        pass


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment, then call this)."""
    get_settings.cache_clear()
