"""Sessions, cookies, CSRF, headers, disabling, audit and health (quality.md 11-14, 16, 20), on the embedded
stores and on Redis + PostgreSQL as in production."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis
from litestar.testing import TestClient
from sqlalchemy import select

from shared import accounts
from shared.db import session_scope
from shared.models import AuditEvent
from tests.factories import TestUser, user_row
from tests.portal import BASE_URL, hidden_inputs, portal_test_client, post_form, sign_in
from tests.servers import queued_tasks, use_environment

NEW_PASSWORD = "una contraseña nueva y larga"
SESSION = "edocta_session"


def plant_session(client: TestClient[Any], value: str) -> None:
    client.cookies.set(SESSION, value, domain="127.0.0.1", path="/")


def session_exists(client: TestClient[Any], session_id: str) -> bool:
    store = client.app.stores.get("sessions")
    return bool(anyio.run(store.exists, session_id))


def set_cookie_headers(response: Any, name: str) -> list[str]:
    return [c for c in response.headers.get_list("set-cookie") if c.startswith(f"{name}=")]


def is_signed_in(client: TestClient[Any]) -> bool:
    return client.get("/password/change", follow_redirects=False).status_code == 200


# --- quality 11: session fixation ---------------------------------------------------------------------------


def test_sign_in_issues_a_new_session_id_and_the_old_one_dies(
    app_client: TestClient[Any], make_user: Callable[..., TestUser]
) -> None:
    user = make_user("customer")
    # An attacker plants a session id of their choosing: the server never adopts it.
    plant_session(app_client, "attacker-chosen-session-id")
    signed = sign_in(app_client, user.username, user.password)
    issued = app_client.cookies.get(SESSION)
    assert signed.status_code == 303
    assert issued and issued != "attacker-chosen-session-id" and len(issued) >= 32
    assert not session_exists(app_client, "attacker-chosen-session-id")

    # A session that existed before the sign-in (a flash message after signing out) is replaced, not reused.
    post_form(app_client, "/password/change", "/logout", {})
    before = app_client.cookies.get(SESSION)
    assert before and session_exists(app_client, before)
    sign_in(app_client, user.username, user.password)
    after = app_client.cookies.get(SESSION)
    assert after and after != before
    assert not session_exists(app_client, before)
    assert session_exists(app_client, after)
    # Replaying the old id gets nobody in.
    with TestClient(app=app_client.app, base_url=BASE_URL) as other:
        plant_session(other, before)
        assert other.get("/password/change", follow_redirects=False).headers["location"].startswith("/login")


def test_a_password_change_issues_a_new_session_id_and_ends_the_other_sessions(
    app_client: TestClient[Any], make_user: Callable[..., TestUser]
) -> None:
    user = make_user("customer")
    sign_in(app_client, user.username, user.password)
    with TestClient(app=app_client.app, base_url=BASE_URL) as laptop:
        sign_in(laptop, user.username, user.password)
        assert is_signed_in(laptop)
        before = app_client.cookies.get(SESSION)
        changed = post_form(
            app_client,
            "/password/change",
            "/password/change",
            {"current_password": user.password, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
        )
        assert changed.headers["location"] == "/statements"
        after = app_client.cookies.get(SESSION)
        assert after and after != before and not session_exists(app_client, before or "")
        # This browser stays signed in (with a message); the other one is signed out at its next request.
        assert "Tu contraseña se cambió." in app_client.get("/password/change").text
        assert is_signed_in(app_client)
        assert not is_signed_in(laptop)


# --- quality 12: cookies, timeouts, sign-out ----------------------------------------------------------------


def test_session_cookie_flags_on_http(app_client: TestClient[Any], make_user: Callable[..., TestUser]) -> None:
    user = make_user("customer")
    response = sign_in(app_client, user.username, user.password)
    (cookie,) = set_cookie_headers(response, SESSION)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=1800" in cookie
    assert "Secure" not in cookie


def test_cookies_are_secure_when_the_base_url_is_https(
    database: str, make_user: Callable[..., TestUser], monkeypatch: pytest.MonkeyPatch
) -> None:
    use_environment(monkeypatch, EDOCTA_BASE_URL="https://portal.example.com", EDOCTA_DATABASE_URL=database)
    user = make_user("customer")
    with portal_test_client(base_url="https://portal.example.com") as client:
        page = client.get("/login")
        (csrf,) = set_cookie_headers(page, "edocta_csrf")
        assert "Secure" in csrf and "HttpOnly" in csrf and "SameSite=lax" in csrf
        response = sign_in(client, user.username, user.password)
        (cookie,) = set_cookie_headers(response, SESSION)
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_idle_sessions_end_after_30_minutes_and_any_session_after_12_hours(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], monkeypatch: pytest.MonkeyPatch
) -> None:
    import web.security

    now = [web.security.clock()]
    monkeypatch.setattr(web.security, "clock", lambda: now[0])
    user = make_user("customer")
    sign_in(app_client, user.username, user.password)
    now[0] += 29 * 60
    assert is_signed_in(app_client)
    now[0] += 29 * 60  # active every 29 minutes: still signed in
    assert is_signed_in(app_client)
    now[0] += 31 * 60
    assert not is_signed_in(app_client)

    sign_in(app_client, user.username, user.password)
    for _ in range(24):  # active every 29 minutes for 11 h 36 min
        now[0] += 29 * 60
        assert is_signed_in(app_client)
    now[0] += 29 * 60  # 12 h 5 min after the sign-in
    assert not is_signed_in(app_client)


def test_sign_out_deletes_the_session_on_the_server(
    app_client: TestClient[Any], make_user: Callable[..., TestUser]
) -> None:
    user = make_user("customer")
    sign_in(app_client, user.username, user.password)
    session_id = app_client.cookies.get(SESSION)
    assert session_id and session_exists(app_client, session_id)
    out = post_form(app_client, "/password/change", "/logout", {})
    assert out.headers["location"] == "/login"
    assert not session_exists(app_client, session_id)
    with TestClient(app=app_client.app, base_url=BASE_URL) as replay:
        plant_session(replay, session_id)
        assert replay.get("/password/change", follow_redirects=False).headers["location"].startswith("/login")
    assert "Cerraste sesión." in app_client.get("/login").text


# --- quality 13: CSRF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong", "other-session"])
def test_posts_without_a_valid_csrf_token_are_refused_and_change_nothing(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], var_dir: Path, token: str | None
) -> None:
    user = make_user("customer")
    sign_in(app_client, user.username, user.password)
    if token == "other-session":
        with TestClient(app=app_client.app, base_url=BASE_URL) as other:
            token = hidden_inputs(other.get("/login").text)["_csrf_token"]
    extra = {} if token is None else {"_csrf_token": token}
    before = user_row(user.username).password_version
    changed = app_client.post(
        "/password/change",
        data={
            **extra,
            "current_password": user.password,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
        follow_redirects=False,
    )
    # Refused: the change form comes back saying the session expired (issue 12.7), and nothing changed.
    assert changed.status_code == 303 and changed.headers["location"] == "/password/change?stale=1"
    assert user_row(user.username).password_version == before
    forgot = app_client.post("/password/forgot", data={**extra, "username": user.username}, follow_redirects=False)
    assert forgot.status_code == 400 and "Tu sesión expiró; intenta de nuevo." in forgot.text
    assert queued_tasks(var_dir) == []
    out = app_client.post("/logout", data=extra, follow_redirects=False)
    assert out.status_code == 403
    assert is_signed_in(app_client)
    with TestClient(app=app_client.app, base_url=BASE_URL) as fresh:
        fresh.get("/login")
        login = fresh.post(
            "/login", data={**extra, "username": user.username, "password": user.password}, follow_redirects=False
        )
        assert login.status_code == 400 and "Tu sesión expiró; intenta de nuevo." in login.text
        assert not is_signed_in(fresh)


def test_every_form_carries_the_csrf_input(app_client: TestClient[Any], make_user: Callable[..., TestUser]) -> None:
    admin = make_user("admin")
    pages = ["/login", "/password/forgot"]
    for page in pages:
        html = app_client.get(page).text
        assert html.count("<form") == html.count('name="_csrf_token"') >= 1, page
    sign_in(app_client, admin.username, admin.password)
    for page in ("/password/change", "/users", f"/users/{admin.id}"):
        html = app_client.get(page).text
        posts = len(re.findall(r'<form[^>]*method="post"', html))
        assert posts >= 1 and html.count('name="_csrf_token"') == posts, page


# --- quality 14: headers ------------------------------------------------------------------------------------


def test_security_headers_and_no_store(app_client: TestClient[Any], make_user: Callable[..., TestUser]) -> None:
    user = make_user("admin")
    responses = [app_client.get("/login"), app_client.get("/nothing-here")]
    sign_in(app_client, user.username, user.password)
    responses += [app_client.get("/users"), app_client.get("/password/change")]
    for response in responses:
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        script = next(part for part in csp.split(";") if part.strip().startswith("script-src"))
        assert "unsafe-inline" not in script and "unsafe-eval" not in script
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["cache-control"] == "no-store"
        assert "<script>" not in response.text  # no inline script anywhere
    static = app_client.get("/static/app.css")
    assert static.status_code == 200 and static.headers["x-content-type-options"] == "nosniff"


# --- quality 16: disabling a user ---------------------------------------------------------------------------


def test_disabling_a_user_signs_them_out_at_the_next_request(
    app_client: TestClient[Any], make_user: Callable[..., TestUser]
) -> None:
    user = make_user("staff")
    sign_in(app_client, user.username, user.password)
    assert is_signed_in(app_client)
    accounts.disable_user(user.username)
    response = app_client.get("/password/change", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert sign_in(app_client, user.username, user.password).status_code == 401


# --- guards -------------------------------------------------------------------------------------------------


def test_signed_out_visitors_are_sent_to_sign_in_and_come_back(
    app_client: TestClient[Any], make_user: Callable[..., TestUser]
) -> None:
    user = make_user("admin")
    response = app_client.get("/users?q=ana", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=%2Fusers%3Fq%3Dana"
    page = app_client.get(response.headers["location"])
    form = {**hidden_inputs(page.text), "username": user.username, "password": user.password}
    assert form["next"] == "/users?q=ana"
    assert app_client.post("/login", data=form, follow_redirects=False).headers["location"] == "/users?q=ana"
    # Only paths of this site are followed after sign-in.
    post_form(app_client, "/users", "/logout", {})
    hostile = {**hidden_inputs(app_client.get("/login").text), "username": user.username, "password": user.password}
    hostile["next"] = "//evil.example/steal"
    assert app_client.post("/login", data=hostile, follow_redirects=False).headers["location"] == "/statements"


def test_customer_and_staff_users_cannot_reach_the_users_page(
    app_client: TestClient[Any], make_user: Callable[..., TestUser]
) -> None:
    for role in ("customer", "staff"):
        user = make_user(role)
        sign_in(app_client, user.username, user.password)
        response = app_client.get("/users")
        assert response.status_code == 403 and "Acceso denegado" in response.text
        assert user.username not in response.text.split("</header>", 1)[1]
        post_form(app_client, "/password/change", "/logout", {})


# --- quality 20: audit --------------------------------------------------------------------------------------


def test_sign_ins_refusals_and_changes_are_audited_without_secrets(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], caplog: pytest.LogCaptureFixture
) -> None:
    user = make_user("customer")
    caplog.set_level("INFO", logger="edocta.audit")
    sign_in(app_client, user.username, "a wrong secret guess")
    sign_in(app_client, "ghost", "another secret guess")
    sign_in(app_client, user.username, user.password)
    post_form(
        app_client,
        "/password/change",
        "/password/change",
        {"current_password": user.password, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    post_form(app_client, "/password/change", "/logout", {})
    with session_scope() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        names = [(e.event, e.username) for e in events]
        details = " ".join(f"{e.event} {e.username} {e.ip} {e.detail}" for e in events)
    assert ("sign_in_refused", user.username) in names
    assert ("sign_in_refused", "ghost") in names
    assert ("sign_in", user.username) in names
    assert ("password_changed", user.username) in names
    assert ("sign_out", user.username) in names
    everything = details + caplog.text
    for secret in (user.password, NEW_PASSWORD, "a wrong secret guess", "another secret guess"):
        assert secret not in everything


# --- health and outages -------------------------------------------------------------------------------------


def test_healthz_answers_ok_when_the_database_and_broker_answer(app_client: TestClient[Any]) -> None:
    response = app_client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_a_database_outage_answers_503_without_data(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user("admin", full_name="Dato Privado")
    sign_in(app_client, user.username, user.password)
    use_environment(monkeypatch, EDOCTA_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    health = app_client.get("/healthz")
    assert health.status_code == 503 and health.json()["database"] == "down"
    page = app_client.get("/users")
    assert page.status_code == 503
    assert "no está disponible" in page.text
    assert "Dato Privado" not in page.text and user.username not in page.text


# --- production stores: Redis sessions and counters shared by every web process -----------------------------


def test_sessions_live_in_redis_and_die_there(
    redis_app_client: TestClient[Any], redis_url: str, make_user: Callable[..., TestUser]
) -> None:
    user = make_user("customer")
    client = redis_app_client
    sign_in(client, user.username, user.password)
    session_id = client.cookies.get(SESSION)
    assert session_id
    raw = redis.Redis.from_url(redis_url)
    keys = [k.decode() for k in raw.keys(f"*:sessions:{session_id}")]
    assert len(keys) == 1
    assert 0 < raw.ttl(keys[0]) <= 1800
    post_form(client, "/password/change", "/logout", {})
    assert raw.keys(f"*:sessions:{session_id}") == []
    raw.close()


def test_failed_sign_ins_are_counted_across_web_processes(
    postgres_database: str, redis_url: str, make_user: Callable[..., TestUser]
) -> None:
    user = make_user("customer")
    prefix = f"edocta-test-shared-{user.username}"
    try:
        with portal_test_client(prefix) as one, portal_test_client(prefix) as two:
            statuses = []
            for attempt in range(7):
                client = one if attempt % 2 == 0 else two
                statuses.append(sign_in(client, user.username, "not it at all").status_code)
            # Five attempts allowed in all, whichever process answers; then both refuse at once.
            assert statuses == [401] * 5 + [429] * 2
            # The owner's reset request is answered as usual by either process.
            reset = post_form(two, "/password/forgot", "/password/forgot", {"username": user.username})
            assert reset.status_code == 303
    finally:
        raw = redis.Redis.from_url(redis_url)
        for key in raw.scan_iter(f"{prefix}:*"):
            raw.delete(key)
        raw.close()


def test_with_the_session_store_down_nobody_is_let_in(
    redis_app_client: TestClient[Any], make_user: Callable[..., TestUser], monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user("admin")
    sign_in(redis_app_client, user.username, user.password)
    session_id = redis_app_client.cookies.get(SESSION)
    assert session_id
    # The same portal while its Redis does not answer (a closed port stands in for a restarting server).
    use_environment(monkeypatch, EDOCTA_REDIS_URL="redis://127.0.0.1:1/0")
    with portal_test_client("edocta-test-down") as down:
        plant_session(down, session_id)
        page = down.get("/users", follow_redirects=False)
        assert page.status_code == 503 and user.username not in page.text
        attempt = sign_in(down, user.username, user.password)
        assert attempt.status_code == 503
        assert not set_cookie_headers(attempt, SESSION)


def test_statement_routes_check_the_user_themselves_and_refuse_a_disabled_one(
    app_client: TestClient[Any], make_user: Callable[..., TestUser]
) -> None:
    # The statement routes read the user in their own thread rather than in the app's guard: the same refusals.
    from tests.factories import CUTOFF, CustomerSpec, add_company, add_customers

    add_company("1000", "Tinacos del Bajío")
    add_customers("1000", [CustomerSpec("100001", "Ferretería La Paz", items=(("F1", "2026-10-01", "10.00", "MXN"),))])
    user = make_user("customer", customers=["100001"])
    address = f"/statements/1000/100001/{CUTOFF.isoformat()}"
    signed_out = app_client.get(address + ".json", follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/login")
    sign_in(app_client, user.username, user.password)
    assert app_client.get(address).status_code == 200
    assert "100001" in app_client.get(address + ".json").text
    assert app_client.get("/statements/customers?q=1000").json()["customers"][0]["number"] == "100001"
    accounts.disable_user(user.username)
    refused = app_client.get(address + ".json", follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login")
    assert "100001" not in refused.text
    assert app_client.get("/statements/customers?q=1000", follow_redirects=False).status_code == 303


def test_static_assets_come_from_memory_with_headers_and_revalidation(app_client: TestClient[Any]) -> None:
    from web.app import STATIC_DIR

    css = app_client.get("/static/app.css")
    assert css.status_code == 200 and css.content == (STATIC_DIR / "app.css").read_bytes()
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert css.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in css.headers["content-security-policy"]
    assert "set-cookie" not in css.headers  # no session, no CSRF cookie for an asset
    again = app_client.get("/static/app.css", headers={"If-None-Match": css.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    head = app_client.head("/static/statements.js")
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"]
    assert app_client.get("/static/statement.css").status_code == 200  # the statement's own stylesheet
    assert app_client.get("/static/missing.css").status_code == 404
    assert app_client.get("/static/../app.py").status_code == 404
