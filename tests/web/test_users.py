"""The administrators' Users page and the language preference, through the portal's forms."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from shared import accounts
from shared.db import session_scope
from shared.models import Customer, TemporaryPassword, User
from shared.vocab import Task
from tests.factories import TestUser, user_row
from tests.portal import BASE_URL, post_form, sign_in
from tests.servers import outbox_messages, queued_tasks, run_account_tasks


@pytest.fixture
def customers(database: str) -> list[str]:
    with session_scope() as session:
        session.add_all(
            [
                Customer(number="0000100011", name="Ferretería <La Llave> & Hijos"),
                Customer(number="100002", name="Aceros del Norte"),
                Customer(number="100003", name="Comercial Sur"),
            ]
        )
    return ["0000100011", "100002", "100003"]


@pytest.fixture
def admin_client(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], signed_in: Callable[..., Any]
) -> TestClient[Any]:
    admin = make_user("admin", username="admin.ops", full_name="Ada Admin")
    return signed_in(app_client, admin)  # type: ignore[no-any-return]


def user_count() -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(User)) or 0)


def grants(username: str) -> list[str]:
    with session_scope() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        return [c.number for c in user.customers]


def test_an_admin_creates_a_user_who_gets_the_invitation(
    admin_client: TestClient[Any], customers: list[str], var_dir: Path
) -> None:
    created = post_form(
        admin_client,
        "/users",
        "/users",
        {
            "username": "nuevo.cliente",
            "email": "Nuevo@Example.com",
            "full_name": "Nuevo Cliente",
            "role": "customer",
            "language": "en",
            "customers": "0000100011; 100002",
        },
    )
    assert created.status_code == 303
    detail = admin_client.get(created.headers["location"])
    assert "Usuario creado; la invitación va en camino." in detail.text
    assert "Ferretería &lt;La Llave&gt; &amp; Hijos" in detail.text  # data is escaped
    assert grants("nuevo.cliente") == ["0000100011", "100002"]
    assert [t.name for t in queued_tasks(var_dir)] == [Task.SEND_INVITATION]
    run_account_tasks(var_dir)
    (invitation,) = outbox_messages(var_dir)
    assert invitation["To"] == "Nuevo@example.com"
    assert invitation["Subject"] == "Your access to the account statements portal"
    assert "User ID: nuevo.cliente" in invitation.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"username": "con espacio", "email": "a@example.com"}, "invalid user ID"),
        ({"username": "ok.user", "email": "no-es-correo"}, "not a valid email address"),
        ({"username": "ok.user", "email": "a@example.com\r\nBcc: x@example.com"}, "not a valid email address"),
        ({"username": "ok.user", "email": "a@example.com", "customers": "999999"}, "unknown customer"),
        ({"username": "admin.ops", "email": "a@example.com"}, "already exists"),
    ],
)
def test_bad_user_data_is_refused_with_a_reason_and_nothing_is_created(
    admin_client: TestClient[Any], customers: list[str], var_dir: Path, fields: dict[str, str], message: str
) -> None:
    before = user_count()
    response = post_form(admin_client, "/users", "/users", {"role": "customer", "language": "es", **fields})
    assert response.status_code == 400
    assert message in response.text
    assert f'value="{fields["username"]}"' in response.text  # the form keeps what was typed
    assert user_count() == before
    assert queued_tasks(var_dir) == []


def test_the_list_searches_by_user_name_and_email(
    admin_client: TestClient[Any], make_user: Callable[..., TestUser]
) -> None:
    make_user("customer", username="maria.lopez", full_name="María López", email="compras@aceros.example")
    make_user("staff", username="jorge", full_name="Jorge Ruiz")
    for query, expected, absent in (
        ("maria", "maria.lopez", "jorge"),
        ("RUIZ", "jorge", "maria.lopez"),
        ("aceros", "maria.lopez", "jorge"),
        ("100%_", None, "jorge"),
    ):
        rows = re.findall(r'<a href="/users/\d+">([^<]+)</a>', admin_client.get("/users", params={"q": query}).text)
        if expected:
            assert expected in rows, (query, rows)
        assert absent not in rows, (query, rows)


def test_disable_enable_grants_and_resend(
    admin_client: TestClient[Any],
    make_user: Callable[..., TestUser],
    customers: list[str],
    var_dir: Path,
) -> None:
    user = make_user("customer", customers=["100002"])
    page = f"/users/{user.id}"
    with TestClient(app=admin_client.app, base_url=BASE_URL) as theirs:
        assert sign_in(theirs, user.username, user.password).status_code == 303
        assert post_form(admin_client, page, f"{page}/status", {"active": "0"}).status_code == 303
        assert "Usuario desactivado." in admin_client.get(page).text
        # Their session ends at once, and they cannot sign in.
        assert theirs.get("/password/change", follow_redirects=False).headers["location"].startswith("/login")
        assert sign_in(theirs, user.username, user.password).status_code == 401
        post_form(admin_client, page, f"{page}/status", {"active": "1"})
        assert sign_in(theirs, user.username, user.password).status_code == 303

    assert post_form(admin_client, page, f"{page}/customers", {"customers": "100003;0000100011"}).status_code == 303
    assert grants(user.username) == ["0000100011", "100003"]
    refused = post_form(admin_client, page, f"{page}/customers", {"customers": "100003;nope"})
    assert refused.status_code == 400 and "unknown customer" in refused.text
    assert grants(user.username) == ["0000100011", "100003"]

    assert post_form(admin_client, page, f"{page}/invitation", {}).status_code == 303
    assert post_form(admin_client, page, f"{page}/invitation", {}).status_code == 303
    run_account_tasks(var_dir)
    assert len(outbox_messages(var_dir)) == 2
    with session_scope() as session:
        rows = session.scalars(select(TemporaryPassword).where(TemporaryPassword.user_id == user.id)).all()
        assert sorted(r.voided_at is None for r in rows) == [False, True]  # the newer voided the older
    assert user_row(user.username).status == "active"


def test_admin_forms_need_the_csrf_token(admin_client: TestClient[Any], make_user: Callable[..., TestUser]) -> None:
    user = make_user("customer")
    response = admin_client.post(f"/users/{user.id}/status", data={"active": "0"}, follow_redirects=False)
    assert response.status_code == 403
    assert user_row(user.username).status == "active"
    response = admin_client.post("/users", data={"username": "sneaky", "email": "s@example.com"})
    assert response.status_code == 403
    with session_scope() as session:
        assert accounts.find_user(session, "sneaky") is None


def test_a_missing_user_page_is_404(admin_client: TestClient[Any]) -> None:
    response = admin_client.get("/users/999999")
    assert response.status_code == 404 and "Página no encontrada" in response.text


# --- language -----------------------------------------------------------------------------------------------


def test_signed_out_pages_follow_accept_language_and_the_footer_switch(app_client: TestClient[Any]) -> None:
    assert "Iniciar sesión" in app_client.get("/login").text
    english = app_client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9,es;q=0.5"})
    assert '<html lang="en">' in english.text and "I forgot my password" in english.text
    assert "Iniciar sesión" in app_client.get("/login", headers={"Accept-Language": "fr, es-MX;q=0.8"}).text
    switched = app_client.get("/login", params={"lang": "en"})
    assert "Sign in" in switched.text
    assert any(c.startswith("edocta_lang=en") for c in switched.headers.get_list("set-cookie"))
    # The choice sticks (a cookie in the browser, nothing on the server).
    assert "Recover password" in app_client.get("/password/forgot").text


def test_a_signed_in_user_sees_their_language_and_can_change_it(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], signed_in: Callable[..., Any]
) -> None:
    user = make_user("admin", language="en")
    signed_in(app_client, user)
    page = app_client.get("/users", headers={"Accept-Language": "es"})
    assert "Users" in page.text and "Sign out" in page.text and "Change password" in page.text
    switched = post_form(app_client, "/users", "/language", {"language": "es"})
    assert switched.status_code == 303
    assert user_row(user.username).language == "es"
    page = app_client.get("/users")
    assert "Usuarios" in page.text and "Salir" in page.text
    # A GET never changes a signed-in user's stored language.
    app_client.get("/users", params={"lang": "en"})
    assert user_row(user.username).language == "es"
