"""The administrators' Users page and the language preference, through the portal's forms."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from shared import accounts
from shared.db import session_scope
from shared.models import AuditEvent, Customer, TemporaryPassword, User
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
    ("fields", "spanish", "english"),
    [
        (
            {"username": "con espacio", "email": "a@example.com"},
            "El usuario &#39;con espacio&#39; no es válido: usa de 1 a 150 letras",
            "The user ID &#39;con espacio&#39; is not valid: use 1 to 150 letters",
        ),
        (
            {"username": "ok.user", "email": "no-es-correo"},
            "&#39;no-es-correo&#39; no es un correo válido (se espera nombre@dominio).",
            "&#39;no-es-correo&#39; is not a valid email address (expected name@domain).",
        ),
        (
            {"username": "ok.user", "email": "a@example.com\r\nBcc: x@example.com"},
            "no es un correo válido: tiene un salto de línea o un carácter de control.",
            "is not a valid email address: it contains a line break or control character.",
        ),
        (
            {"username": "ok.user", "email": "a@example.com", "customers": "999999"},
            "No existe el cliente: 999999.",
            "Unknown customer: 999999.",
        ),
        (
            {"username": "admin.ops", "email": "a@example.com"},
            "Ya existe el usuario &#39;admin.ops&#39;.",
            "User &#39;admin.ops&#39; already exists.",
        ),
    ],
)
def test_bad_user_data_is_refused_in_the_page_s_language_and_nothing_is_created(
    admin_client: TestClient[Any],
    customers: list[str],
    var_dir: Path,
    fields: dict[str, str],
    spanish: str,
    english: str,
) -> None:
    before = user_count()
    response = post_form(admin_client, "/users", "/users", {"role": "customer", "language": "es", **fields})
    assert response.status_code == 400
    alert = re.search(r'<p class="alert alert--error" role="alert">(.*?)</p>', response.text, re.S)
    assert alert and spanish in alert.group(1), response.text
    assert "email address" not in alert.group(1) and "@-sign" not in alert.group(1)  # no validator English
    assert f'value="{fields["username"]}"' in response.text  # the form keeps what was typed
    post_form(admin_client, "/users", "/language", {"language": "en"})
    response = post_form(admin_client, "/users", "/users", {"role": "customer", "language": "es", **fields})
    assert response.status_code == 400 and english in response.text
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
        # Disabling takes a confirmation step: the form alone only leads to it.
        asked = post_form(admin_client, page, f"{page}/status", {"active": "0"})
        assert asked.headers["location"] == f"{page}/disable"
        assert user_row(user.username).status == "active"
        confirm = admin_client.get(f"{page}/disable")
        assert f"¿Desactivar a {user.username}?" in confirm.text
        assert post_form(admin_client, f"{page}/disable", f"{page}/status", {}).status_code == 303
        assert "Usuario desactivado." in admin_client.get(page).text
        # Their session ends at once, and they cannot sign in.
        assert theirs.get("/password/change", follow_redirects=False).headers["location"].startswith("/login")
        assert sign_in(theirs, user.username, user.password).status_code == 401
        post_form(admin_client, page, f"{page}/status", {"active": "1"})
        assert sign_in(theirs, user.username, user.password).status_code == 303

    assert post_form(admin_client, page, f"{page}/customers", {"customers": "100003;0000100011"}).status_code == 303
    assert grants(user.username) == ["0000100011", "100003"]
    refused = post_form(admin_client, page, f"{page}/customers", {"customers": "100003;nope"})
    assert refused.status_code == 400 and "No existe el cliente: nope." in refused.text
    assert 'value="100003;nope"' in refused.text
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


def user_cells(html: str) -> dict[str, list[str]]:
    """The users table: each row's cells (tags and spaces removed) by user ID."""
    found = {}
    for username, row in re.findall(r'<tr data-user="([^"]+)"[^>]*>(.*?)</tr>', html, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        found[username] = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)).strip() for c in cells]
    return found


def test_the_list_tells_pending_invitations_from_active_and_disabled_users_with_their_last_sign_in(
    admin_client: TestClient[Any], make_user: Callable[..., TestUser], var_dir: Path
) -> None:
    invited = post_form(admin_client, "/users", "/users", {"username": "invitada", "email": "inv@example.com"})
    assert invited.status_code == 303
    run_account_tasks(var_dir)  # the invitation is sent: a temporary password valid 72 h
    active = make_user("customer", username="activa")
    with TestClient(app=admin_client.app, base_url=BASE_URL) as theirs:
        assert sign_in(theirs, active.username, active.password).status_code == 303
    gone = make_user("customer", username="baja")
    with session_scope() as session:
        session.execute(User.__table__.update().where(User.username == gone.username).values(status="disabled"))

    table = user_cells(admin_client.get("/users").text)
    assert table["invitada"][5].startswith("invitación pendiente vence ")
    assert table["invitada"][6] == "nunca"
    assert table["activa"][5] == "activo" and re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", table["activa"][6])
    assert table["baja"][5] == "desactivado"
    assert table["admin.ops"][6] != "nunca"  # the admin signed in to get here
    assert list(user_cells(admin_client.get("/users", params={"state": "invitation_pending"}).text)) == ["invitada"]
    assert list(user_cells(admin_client.get("/users", params={"state": "disabled"}).text)) == ["baja"]
    assert set(user_cells(admin_client.get("/users", params={"state": "active"}).text)) == {"activa", "admin.ops"}
    # An invitation left to expire says there is none to use any more.
    with session_scope() as session:
        session.execute(TemporaryPassword.__table__.update().values(expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)))
    assert user_cells(admin_client.get("/users").text)["invitada"][5] == "invitación pendiente sin invitación vigente"


def test_an_admin_edits_email_name_role_and_language_and_bad_values_keep_what_was_typed(
    admin_client: TestClient[Any], make_user: Callable[..., TestUser], customers: list[str]
) -> None:
    user = make_user("customer", customers=["100002"], username="editable")
    page = f"/users/{user.id}"
    changed = post_form(
        admin_client,
        page,
        page,
        {"email": "Nueva@Example.COM", "full_name": "Nombre Nuevo", "role": "staff", "language": "en"},
    )
    assert changed.status_code == 303 and "Cambios guardados." in admin_client.get(page).text
    row = user_row("editable")
    assert (row.email, row.full_name, row.role, row.language) == ("Nueva@example.com", "Nombre Nuevo", "staff", "en")
    with session_scope() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.event == "user_updated")).one()
        assert event.username == "editable" and "changed=email,full_name,role,language by=admin.ops" in event.detail

    refused = post_form(
        admin_client, page, page, {"email": "sin-arroba", "full_name": "Otro", "role": "admin", "language": "es"}
    )
    assert refused.status_code == 400
    assert "&#39;sin-arroba&#39; no es un correo válido (se espera nombre@dominio)." in refused.text
    assert 'value="sin-arroba"' in refused.text and 'value="Otro"' in refused.text
    assert '<option value="admin" selected>' in refused.text
    assert user_row("editable").role == "staff"  # nothing changed
    same = post_form(
        admin_client,
        page,
        page,
        {"email": "Nueva@example.com", "full_name": "Nombre Nuevo", "role": "staff", "language": "en"},
    )
    assert same.status_code == 303 and "No había nada que cambiar." in admin_client.get(page).text


def test_an_admin_can_neither_disable_nor_demote_themselves(admin_client: TestClient[Any]) -> None:
    admin = user_row("admin.ops")
    page = f"/users/{admin.id}"
    assert "Desactivar…" not in admin_client.get(page).text
    refused = post_form(admin_client, page, f"{page}/status", {"active": "0", "confirm": "1"})
    assert "No puedes desactivar tu propia cuenta." in admin_client.get(refused.headers["location"]).text
    demoted = post_form(
        admin_client, page, page, {"email": admin.email, "full_name": "", "role": "staff", "language": "es"}
    )
    assert demoted.status_code == 400 and "No puedes quitarte a ti mismo el rol de administrador." in demoted.text
    row = user_row("admin.ops")
    assert (row.status, row.role) == ("active", "admin")


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
