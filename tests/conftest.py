"""Fixtures shared by the whole suite: real PostgreSQL and SQLite databases, an isolated var/ folder, a
database of the shared Redis server, and a real SMTP server (aiosmtpd).

The environment is set before any application module reads its settings; each test gets its own var/
folder (statement store, outbox, broker) and a migrated database.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_SESSION_TMP = Path(tempfile.mkdtemp(prefix="edocta-tests-"))
atexit.register(shutil.rmtree, _SESSION_TMP, ignore_errors=True)  # each test process's own, gone when it ends
os.environ["EDOCTA_VAR_DIR"] = str(_SESSION_TMP / "var")
os.environ["EDOCTA_SECRET_KEY"] = "test-secret-key-not-for-production"
for _name in ("EDOCTA_DATABASE_URL", "EDOCTA_REDIS_URL", "EDOCTA_SMTP_URL", "EDOCTA_STORE_DIR", "EDOCTA_BASE_URL"):
    os.environ.pop(_name, None)

from sqlalchemy import Engine, create_engine, event, text  # noqa: E402

from shared.db import dispose_engines  # noqa: E402
from shared.migrate import upgrade  # noqa: E402
from shared.models import Base  # noqa: E402
from shared.settings import reset_settings  # noqa: E402
from tests.servers import SMTPServer, claimed_redis_database, running_smtp_server, use_environment  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get("EDOCTA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
ARTIFACTS = Path(os.environ.get("EDOCTA_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))


@pytest.fixture(autouse=True)
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own var/ (store, outbox, broker, sessions) and the embedded defaults."""
    var = tmp_path / "var"
    var.mkdir()
    use_environment(monkeypatch, EDOCTA_VAR_DIR=str(var), EDOCTA_DATABASE_URL=f"sqlite:///{var / 'edocta.sqlite3'}")
    yield var
    reset_settings()
    dispose_engines()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of its own on the real PostgreSQL server, migrated once for the session."""
    name = f"edocta_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    dispose_engines()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template() -> Path:
    """A migrated SQLite file, copied for each test that needs a database."""
    path = _SESSION_TMP / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    dispose_engines()
    return path


def _truncate_postgres(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, var_dir: Path, monkeypatch: pytest.MonkeyPatch, sqlite_template: Path
) -> str:
    """A migrated, empty database: each test using it runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        path = var_dir / "edocta.sqlite3"
        shutil.copyfile(sqlite_template, path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_url")
        _truncate_postgres(url)
    use_environment(monkeypatch, EDOCTA_DATABASE_URL=url)
    return url


@pytest.fixture
def sqlite_database(var_dir: Path, monkeypatch: pytest.MonkeyPatch, sqlite_template: Path) -> str:
    path = var_dir / "edocta.sqlite3"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    use_environment(monkeypatch, EDOCTA_DATABASE_URL=url)
    return url


@pytest.fixture
def postgres_database(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    _truncate_postgres(postgres_url)
    use_environment(monkeypatch, EDOCTA_DATABASE_URL=postgres_url)
    return postgres_url


@pytest.fixture
def redis_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A database of the shared Redis server that no other test, fixture or pytest session uses meanwhile
    (claimed in database 0, see `claimed_redis_database`), empty, and the application pointed at it."""
    with claimed_redis_database() as url:
        use_environment(monkeypatch, EDOCTA_REDIS_URL=url)
        yield url


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A real SMTP server (aiosmtpd) on a free local port, for the test's own."""
    with running_smtp_server(SMTPServer(host="127.0.0.1", port=0)) as server:
        yield server


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    """Where a test saves what a person should look at (screenshots, rendered pages)."""
    path = ARTIFACTS / request.node.name.replace("/", "_")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def sent_statements() -> Iterator[list[tuple[str, Any]]]:
    """Every statement the application sends to the database meanwhile, with its parameters (through any engine:
    a test that changes the settings gets a new one)."""
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        sent.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", record)
    yield sent
    event.remove(Engine, "before_cursor_execute", record)
