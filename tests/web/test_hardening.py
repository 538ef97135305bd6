"""The smaller findings of issue 8.10, each as a user or an attacker meets it: the language switch goes back to a
page of this site only, there is no /schema, oversized ids are "not found", cut-offs are only YYYY-MM-DD, HSTS
over https, names on one line, and Mailpit's web UI on this machine only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from litestar.testing import TestClient

from shared import accounts
from shared.db import session_scope
from shared.settings import reset_settings
from tests.factories import TestUser, add_company, run_cli, user_row, write_folder
from tests.portal import hidden_inputs, portal_test_client, post_form, sign_in

ROOT = Path(__file__).resolve().parents[2]


def test_the_language_switch_returns_to_the_page_it_was_on_and_never_follows_the_referer(
    app_client: TestClient[Any], make_user: Callable[..., TestUser]
) -> None:
    admin = make_user("admin")
    sign_in(app_client, admin.username, admin.password)
    page = app_client.get("/users?q=a")
    form = hidden_inputs(page.text)
    assert form["next"] == "/users?q=a"
    back = app_client.post(
        "/language",
        data={**form, "language": "en"},
        headers={"Referer": "https://evil.example/phish"},
        follow_redirects=False,
    )
    assert back.status_code == 303 and back.headers["location"] == "/users?q=a"
    assert user_row(admin.username).language == "en"
    for bad in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "", "users"):
        answer = app_client.post(
            "/language",
            data={**form, "language": "es", "next": bad},
            headers={"Referer": "https://evil.example/phish"},
            follow_redirects=False,
        )
        assert answer.headers["location"] == "/", bad


def test_there_is_no_openapi_schema(app_client: TestClient[Any], make_user: Callable[..., TestUser]) -> None:
    admin = make_user("admin")
    sign_in(app_client, admin.username, admin.password)
    for path in ("/schema", "/schema/openapi.json", "/schema/swagger"):
        answer = app_client.get(path, follow_redirects=False)
        assert answer.status_code == 404, path
        assert '"openapi":' not in answer.text and answer.headers["content-type"].startswith("text/html")


def test_oversized_ids_on_admin_routes_are_not_found(
    app_client: TestClient[Any], make_user: Callable[..., TestUser]
) -> None:
    admin = make_user("admin")
    sign_in(app_client, admin.username, admin.password)
    for big in ("2147483648", "99999999999999999999999", "0"):
        for path in (f"/users/{big}", f"/ops/runs/{big}", f"/ops/runs/{big}/progress", f"/users/{big}/disable"):
            answer = app_client.get(path, follow_redirects=False)
            assert answer.status_code == 404, path
    posted = post_form(app_client, "/users", "/ops/emails/99999999999999999999/resend", {})
    assert posted.status_code == 404


@pytest.mark.parametrize("bad", ["2026-W44-6", "20261031", "2026-10-31T00:00", "2026-1-31"])
def test_cutoffs_are_only_year_month_day_in_routes_and_on_the_command_line(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], bad: str
) -> None:
    add_company("1000", "Tinacos del Bajío")
    staff = make_user("staff")
    sign_in(app_client, staff.username, staff.password)
    assert app_client.get(f"/statements/1000/100001/{bad}", follow_redirects=False).status_code == 404
    assert app_client.get(f"/statements/1000/100001/{bad}.pdf", follow_redirects=False).status_code == 404
    for args in (["run", "--cutoff", bad], ["statement", "1000", "100001", "--cutoff", bad, "--format", "json"]):
        result = run_cli(*args)
        assert result.exit_code == 2, args
        assert f"--cutoff must be YYYY-MM-DD, got {bad!r}" in result.output


def test_hsts_is_sent_when_the_portal_is_served_over_https(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDOCTA_BASE_URL", "https://estados.example.com")
    reset_settings()
    with portal_test_client(base_url="https://estados.example.com") as client:
        for path in ("/login", "/static/app.css", "/nowhere"):
            assert client.get(path).headers["strict-transport-security"] == "max-age=31536000", path
    monkeypatch.setenv("EDOCTA_BASE_URL", "http://127.0.0.1:8000")
    reset_settings()
    with portal_test_client() as client:
        assert "strict-transport-security" not in client.get("/login").headers


def test_a_full_name_never_keeps_a_line_break(database: str, tmp_path: Path) -> None:
    with session_scope() as session:
        user = accounts.create_user(
            session, username="eve", email="eve@example.com", full_name="Eve\r\nBcc: all@example.com\u2028x"
        )
        assert user.full_name == "Eve Bcc: all@example.com x"
        accounts.update_user(
            session, user, email="eve@example.com", full_name="Ana\nPérez\r", role="customer", language="es"
        )
        assert user.full_name == "Ana Pérez"
    folder = write_folder(
        tmp_path / "import",
        {"users.csv": 'username,email,full_name\nmallory,m@example.com,"Mallory\r\nBcc: all@example.com"\n'},
    )
    result = run_cli("import", str(folder))
    assert result.exit_code == 2
    assert "full_name: line breaks are not allowed" in result.output
    with session_scope() as session:
        assert accounts.find_user(session, "mallory") is None


def test_mailpit_web_ui_is_published_on_this_machine_only() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    ports = compose["services"]["mailpit"]["ports"]
    assert ports and all(str(p).startswith("127.0.0.1:") for p in ports)
