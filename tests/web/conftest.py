"""Fixtures for the portal: the app through Litestar's TestClient on the test's database (and on Redis, as in
production), users with known passwords, and clients signed in through the real form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.factories import PASSWORD, TestUser, create_test_user, give_passwords, seed_portal_data
from tests.portal import portal_test_client, sign_in


@pytest.fixture
def make_user(database: str) -> Callable[..., TestUser]:
    """`make_user(role, customers=[...], password=...)`: an active user with a known password."""

    def make(role: str = "customer", **options: Any) -> TestUser:
        return create_test_user(role=role, **options)

    return make


@pytest.fixture
def signed_in() -> Callable[[TestClient[Any], TestUser], TestClient[Any]]:
    """`signed_in(client, user)`: the client, signed in as `user` through the sign-in form."""

    def do(client: TestClient[Any], user: TestUser) -> TestClient[Any]:
        response = sign_in(client, user.username, user.password)
        assert response.status_code == 303, response.text
        assert response.headers["location"] != "/password/change"
        return client

    return do


@pytest.fixture
def app_client(database: str) -> Iterator[TestClient[Any]]:
    """The portal on the test's database (SQLite and PostgreSQL), embedded session and counter stores."""
    with portal_test_client() as client:
        yield client


@pytest.fixture
def portal_client(app_client: TestClient[Any]) -> Callable[[str], TestClient[Any]]:
    """`portal_client(name)`: the portal with the portal's people of `seed_portal_data`, signed in as `name`
    (alice, bruno, carla, sofia, ana) through the sign-in form."""
    seed_portal_data()
    give_passwords()

    def as_user(name: str) -> TestClient[Any]:
        response = sign_in(app_client, name, PASSWORD)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/statements"
        return app_client

    return as_user


@pytest.fixture
def redis_app_client(postgres_database: str, redis_url: str) -> Iterator[TestClient[Any]]:
    """The portal as in production: PostgreSQL, sessions and sign-in counters in Redis (own key prefix)."""
    with portal_test_client() as client:
        yield client
