"""Fixtures for the portal: the app through Litestar's TestClient on the test's database, users with known
passwords, sign-in through the real form, and the account tasks the web enqueued (run here as a worker would).
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from shared import accounts
from shared.vocab import Task
from tests.conftest import REDIS_TEST_URL, use_environment
from tests.factories import TestUser, create_test_user

BASE_URL = "http://127.0.0.1:8000"
# A Redis database of its own for the portal's tests (never database 0, never flushed).
REDIS_WEB_TEST_DB = 13

CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    """The hidden CSRF input of a page's form (as a browser would submit it)."""
    match = CSRF_INPUT.search(html)
    assert match, "the page has no CSRF input"
    return match.group(1)


def hidden_inputs(html: str) -> dict[str, str]:
    """Every hidden input of the page, as an automated client submits them."""
    found: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*type=\"hidden\"[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            found[name.group(1)] = value.group(1) if value else ""
    return found


@pytest.fixture
def make_user(database: str) -> Callable[..., TestUser]:
    """`make_user(role, customers=[...], password=...)`: an active user with a known password."""

    def make(role: str = "customer", **options: Any) -> TestUser:
        return create_test_user(role=role, **options)

    return make


def sign_in(client: TestClient[Any], username: str, password: str) -> Any:
    """Sign in through the real form: fetch /login, submit its hidden inputs with the credentials."""
    page = client.get("/login")
    form = hidden_inputs(page.text)
    form.update({"username": username, "password": password})
    return client.post("/login", data=form, follow_redirects=False)


@pytest.fixture
def signed_in() -> Callable[[TestClient[Any], TestUser], TestClient[Any]]:
    """`signed_in(client, user)`: the client, signed in as `user` through the sign-in form."""

    def do(client: TestClient[Any], user: TestUser) -> TestClient[Any]:
        response = sign_in(client, user.username, user.password)
        assert response.status_code == 303, response.text
        assert response.headers["location"] != "/password/change"
        return client

    return do


def _client(key_prefix: str) -> Iterator[TestClient[Any]]:
    from web.app import create_app

    with TestClient(app=create_app(key_prefix=key_prefix), base_url=BASE_URL) as client:
        yield client


@pytest.fixture
def app_client(database: str) -> Iterator[TestClient[Any]]:
    """The portal on the test's database (SQLite and PostgreSQL), embedded session and counter stores."""
    yield from _client(f"edocta-test-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def redis_url(monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"{REDIS_TEST_URL.rstrip('/')}/{REDIS_WEB_TEST_DB}"
    use_environment(monkeypatch, EDOCTA_REDIS_URL=url)
    return url


@pytest.fixture
def redis_app_client(postgres_database: str, redis_url: str) -> Iterator[TestClient[Any]]:
    """The portal as in production: PostgreSQL, sessions and sign-in counters in Redis (own key prefix)."""
    yield from _client(f"edocta-test-{uuid.uuid4().hex[:8]}")


# --- account tasks the web enqueued -------------------------------------------------------------------------


@dataclass(frozen=True)
class QueuedTask:
    name: str
    args: list[Any]
    path: Path


def queued_tasks(var: Path) -> list[QueuedTask]:
    """Tasks waiting in the embedded (filesystem) broker, oldest first."""
    folder = var / "broker" / "messages"
    if not folder.exists():
        return []
    tasks = []
    for path in sorted(folder.glob("*.msg"), key=lambda p: (p.stat().st_mtime_ns, p.name)):
        message = json.loads(path.read_text())
        body = json.loads(base64.b64decode(message["body"]))
        tasks.append(QueuedTask(name=message["headers"]["task"], args=list(body[0]), path=path))
    return tasks


ACCOUNT_TASKS: dict[str, Callable[..., Any]] = {
    Task.SEND_INVITATION: accounts.send_invitation,
    Task.SEND_PASSWORD_RESET: accounts.send_password_reset,
    Task.SEND_PASSWORD_CHANGED: accounts.send_password_changed,
}


def run_account_tasks(var: Path) -> list[QueuedTask]:
    """Do what a worker would with the queued account tasks (same service functions), and take them off."""
    done = []
    for task in queued_tasks(var):
        if task.name in ACCOUNT_TASKS:
            ACCOUNT_TASKS[task.name](*task.args)
            task.path.unlink()
            done.append(task)
    return done
