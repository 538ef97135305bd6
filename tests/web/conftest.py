"""Fixtures for the portal: the app through Litestar's TestClient on the test's database, users with known
passwords, sign-in through the real form, and the account tasks the web enqueued (run here as a worker would).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.factories import TestUser, create_test_user
from tests.servers import REDIS_TEST_URL, use_environment

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
