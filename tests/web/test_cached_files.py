"""A statement file the store holds is answered on the event loop once the full path has served it — in front of
Litestar's stack in the plain case (`web.statements.fastpath`), else by the app's handler without its thread
(`web.statements.cached`): the same bytes and headers, and every change that matters takes effect on the very
next request — a revoked grant, a disabled user, a sign-out, a password changed elsewhere, new data (an import, a
dispute), the reader's language, the file gone from the store.

Each test first proves the file is answered in front of the app (the app's stack is made to fail), then puts the
app back, makes the change and asks again. Runs on SQLite with the file session store, on PostgreSQL with it, and
on PostgreSQL with sessions in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from shared.db import session_scope
from shared.models import User
from shared.render import render_on_demand
from shared.store import StoreKey, get_store
from tests.factories import CUTOFF, PASSWORD, give_passwords, run_cli, seed_portal_data, write_folder
from tests.portal import portal_test_client, post_form, sign_in
from web import security
from web.statements import fastpath, page
from web.statements.fastpath import FastDownloads

DAY = CUTOFF.isoformat()
PAGE = f"/statements/1000/100001/{DAY}"
XLSX = f"{PAGE}.xlsx"
PDF = f"{PAGE}.pdf"
NEW_PASSWORD = "una contraseña nueva y larga"


@pytest.fixture
def key_prefix() -> str:
    """The stores' key prefix the test's web processes share."""
    return f"edocta-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["sqlite", "postgresql", "postgresql+redis"])
def portal(request: pytest.FixtureRequest, key_prefix: str) -> Iterator[TestClient[Any]]:
    """The portal with the people of `seed_portal_data` (passwords set), on each database and session store."""
    if request.param == "sqlite":
        request.getfixturevalue("sqlite_database")
    else:
        request.getfixturevalue("postgres_database")
    if request.param.endswith("+redis"):
        request.getfixturevalue("redis_url")
    seed_portal_data()
    give_passwords()
    with portal_test_client(key_prefix) as client:
        yield client


def signed_in(app_client: TestClient[Any], username: str) -> TestClient[Any]:
    assert sign_in(app_client, username, PASSWORD).status_code == 303
    return app_client


@contextlib.contextmanager
def another_process(key_prefix: str, username: str | None = None) -> Iterator[TestClient[Any]]:
    """Another browser, on another web process of the same portal (same session store, same database)."""
    with portal_test_client(key_prefix) as other:
        if username is not None:
            signed_in(other, username)
        yield other


@contextlib.contextmanager
def full_path_failing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """While inside, a request the loop does not answer itself fails (500): what succeeds was answered on the loop."""

    def fail(**_kwargs: Any) -> Any:
        raise AssertionError("answered by the full path")

    with monkeypatch.context() as patch:
        patch.setattr(page, "statement_page_in_thread", fail)
        yield


def answered_on_the_loop(client: TestClient[Any], path: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    with full_path_failing(monkeypatch):
        response = client.get(path, follow_redirects=False)
    assert response.status_code == 200, "not answered on the loop"
    return response


def answered_in_front(client: TestClient[Any], path: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The answer, made sure it came from in front of the app: while asking, a request reaching Litestar fails."""

    def fail(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("answered by the app's stack")

    with monkeypatch.context() as patch:
        patch.setattr(Litestar, "__call__", fail)
        response = client.get(path, follow_redirects=False)
    assert response.status_code == 200, "not answered in front of the app"
    return response


def assert_sent_to_sign_in(client: TestClient[Any], path: str) -> None:
    """`path` is refused with a redirect to the sign-in page (the session is over)."""
    refused = client.get(path, follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login")


def store_pdf(language: str = "es") -> Path:
    """What the worker does when the portal asks for the PDF."""
    key = render_on_demand("1000", "100001", CUTOFF, "pdf", language)
    assert isinstance(key, StoreKey)
    path = get_store().get(key)
    assert path is not None
    return path


def test_a_stored_file_is_answered_on_the_loop_with_the_full_paths_bytes_and_headers(
    portal: TestClient[Any], monkeypatch: pytest.MonkeyPatch, key_prefix: str
) -> None:
    client = signed_in(portal, "alice")
    stored = store_pdf()
    full = client.get(PDF)
    assert full.status_code == 200 and full.content == stored.read_bytes()
    fast = answered_in_front(client, PDF, monkeypatch)
    assert fast.content == full.content
    assert fast.headers.raw == full.headers.raw  # the same headers, in the same order
    assert fast.headers["content-disposition"].startswith(
        'attachment; filename="estado-de-cuenta_1000_100001_2026-10-31.pdf"'
    )
    assert "no-store" in fast.headers["cache-control"]
    assert fast.headers["content-security-policy"].startswith("default-src 'self'")
    # Another user who may see the customer gets it on the loop as well; one who may not gets "not found".
    with another_process(key_prefix, "sofia") as staff:
        assert staff.get(PDF).content == full.content
        assert answered_in_front(staff, PDF, monkeypatch).content == full.content
    with another_process(key_prefix, "carla") as stranger:
        refused = stranger.get(PDF)
        assert refused.status_code == 404
        assert stranger.get("/statements/1000/100002/" + DAY + ".pdf").status_code == 404


def test_a_revoked_grant_answers_not_found_at_once(portal: TestClient[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    client = signed_in(portal, "alice")
    client.get(XLSX)
    answered_in_front(client, XLSX, monkeypatch)
    assert run_cli("users", "revoke", "alice", "100001").exit_code == 0
    assert client.get(XLSX).status_code == 404
    assert client.get(PDF).status_code == 404


def test_a_disabled_user_is_signed_out_at_once(portal: TestClient[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    client = signed_in(portal, "alice")
    client.get(XLSX)
    answered_in_front(client, XLSX, monkeypatch)
    assert run_cli("users", "disable", "alice").exit_code == 0
    assert_sent_to_sign_in(client, XLSX)
    # The session ended: even with the user enabled again, this browser must sign in again.
    with session_scope() as session:
        user = session.scalar(select(User).where(User.username == "alice"))
        assert user is not None
        user.status = "active"
    assert_sent_to_sign_in(client, XLSX)


def test_signing_out_ends_the_download_at_once(
    portal: TestClient[Any], monkeypatch: pytest.MonkeyPatch, key_prefix: str
) -> None:
    client = signed_in(portal, "alice")
    client.get(XLSX)
    answered_in_front(client, XLSX, monkeypatch)
    cookie = client.cookies.get("edocta_session")
    assert cookie
    post_form(client, "/statements", "/logout", {})
    assert_sent_to_sign_in(client, XLSX)
    # The old session cookie, replayed by another browser, is worth nothing either.
    with another_process(key_prefix) as other:
        other.cookies.set("edocta_session", cookie, domain="127.0.0.1", path="/")
        assert_sent_to_sign_in(other, XLSX)


def test_a_password_changed_elsewhere_ends_the_download_at_once(
    portal: TestClient[Any], monkeypatch: pytest.MonkeyPatch, key_prefix: str
) -> None:
    client = signed_in(portal, "alice")
    client.get(XLSX)
    answered_in_front(client, XLSX, monkeypatch)
    with another_process(key_prefix, "alice") as elsewhere:
        changed = post_form(
            elsewhere,
            "/password/change",
            "/password/change",
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
        )
        assert changed.status_code == 303
        # The browser that changed it goes on (its session was renewed with the new password).
        assert elsewhere.get(XLSX).status_code == 200
    assert_sent_to_sign_in(client, XLSX)


def test_new_data_from_an_import_is_never_answered_with_the_old_file(
    portal: TestClient[Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    client = signed_in(portal, "alice")
    store_pdf()
    old_pdf = client.get(PDF).content
    old_xlsx = client.get(XLSX).content
    answered_in_front(client, PDF, monkeypatch)
    answered_in_front(client, XLSX, monkeypatch)
    items = (
        "company_code,customer_number,document_number,document_type,reference,document_date,due_date,amount,currency\n"
        "1000,100001,FAC-1,invoice,PO-7,2026-09-01,2026-09-30,4321.00,MXN\n"
    )
    result = run_cli("import", str(write_folder(tmp_path / "erp", {"open_items.csv": items})))
    assert result.exit_code == 0, result.stderr
    # The PDF of the new data is not in the store: a worker is asked for it (the preparing page).
    assert client.get(PDF).status_code == 202
    new_xlsx = client.get(XLSX)
    assert new_xlsx.status_code == 200 and new_xlsx.content != old_xlsx
    # Once the worker stored the new PDF, it is the one answered (and then on the loop).
    new_pdf = store_pdf().read_bytes()
    assert new_pdf != old_pdf
    assert client.get(PDF).content == new_pdf
    assert answered_in_front(client, PDF, monkeypatch).content == new_pdf


def test_a_dispute_opened_since_is_never_answered_with_the_old_file(
    portal: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = signed_in(portal, "alice")
    store_pdf()
    client.get(PDF)
    answered_in_front(client, PDF, monkeypatch)
    opened = post_form(
        client,
        f"{PAGE}?dispute=FAC-1",
        "/statements/1000/100001/disputes",
        {"document_number": "FAC-1", "message": "Este cargo ya se pagó."},
    )
    assert opened.status_code == 303
    # The disputed line is marked in the PDF: the file of the data without the dispute is not the answer.
    assert client.get(PDF).status_code == 202


def test_the_readers_language_is_read_on_every_request(
    portal: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = signed_in(portal, "sofia")
    store_pdf("es")
    store_pdf("en")
    spanish = client.get(PDF)
    answered_in_front(client, PDF, monkeypatch)
    with session_scope() as session:
        user = session.scalar(select(User).where(User.username == "sofia"))
        assert user is not None
        user.language = "en"
    english = client.get(PDF)
    assert english.status_code == 200 and english.content != spanish.content
    assert english.headers["content-disposition"].startswith('attachment; filename="account-statement_1000_100001_')


def test_a_file_gone_from_the_store_is_asked_for_again(
    portal: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = signed_in(portal, "alice")
    stored = store_pdf()
    client.get(PDF)
    answered_in_front(client, PDF, monkeypatch)
    stored.unlink()
    assert client.get(PDF).status_code == 202


def test_a_future_cut_off_or_a_malformed_address_is_not_found_as_before(
    portal: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = signed_in(portal, "alice")
    client.get(XLSX)
    answered_in_front(client, XLSX, monkeypatch)
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    assert client.get(f"/statements/1000/100001/{tomorrow}.xlsx").status_code == 404
    assert client.get("/statements/1000/100001/2026-13-01.xlsx").status_code == 404
    post_form(client, "/statements", "/logout", {})
    assert client.get(f"/statements/1000/100001/{tomorrow}.xlsx", follow_redirects=False).status_code == 303


def test_what_the_front_does_not_take_the_app_answers_as_before(
    portal: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A download that is not the plain case goes to the app, where the handler answers the stored file on the loop
    and the middleware does what it must: a new CSRF cookie, the language choice, the session's `seen` time."""
    client = signed_in(portal, "alice")
    full = client.get(XLSX)
    assert full.status_code == 200
    front = answered_in_front(client, XLSX, monkeypatch)
    assert front.content == full.content and front.headers.raw == full.headers.raw
    # With a query string (here the footer's language switch, remembered in a cookie).
    chosen = answered_on_the_loop(client, XLSX + "?lang=en", monkeypatch)
    assert chosen.content == full.content and "edocta_lang=en" in chosen.headers["set-cookie"]
    client.cookies.delete("edocta_lang")
    # Without the CSRF cookie: the answer hands out a new one.
    client.cookies.delete("edocta_csrf")
    fresh = answered_on_the_loop(client, XLSX, monkeypatch)
    assert fresh.content == full.content and "edocta_csrf=" in fresh.headers["set-cookie"]
    assert client.cookies.get("edocta_csrf")
    answered_in_front(client, XLSX, monkeypatch)
    # A session last seen more than a minute ago: its `seen` time is written back and its cookie renewed.
    later = security.clock() + security.SEEN_RESOLUTION + 1
    monkeypatch.setattr(security, "clock", lambda: later)
    renewed = answered_on_the_loop(client, XLSX, monkeypatch)
    assert renewed.content == full.content and "edocta_session=" in renewed.headers["set-cookie"]
    again = answered_in_front(client, XLSX, monkeypatch)
    assert again.headers.raw == full.headers.raw


async def _broken(*_args: Any, **_kwargs: Any) -> Any:
    raise ConnectionError("the session store went away")


async def _silent(*_args: Any, **_kwargs: Any) -> Any:
    await asyncio.sleep(3600)  # a connection that no longer answers


@pytest.mark.parametrize("read_session", [_broken, _silent], ids=["fails", "never-answers"])
def test_a_check_in_front_that_fails_or_does_not_answer_leaves_the_answer_to_the_app(
    portal: TestClient[Any], monkeypatch: pytest.MonkeyPatch, read_session: Any
) -> None:
    client = signed_in(portal, "alice")
    store_pdf()
    full = client.get(PDF)
    answered_in_front(client, PDF, monkeypatch)

    with monkeypatch.context() as patch:
        patch.setattr(fastpath, "CHECK_SECONDS", 0.2)
        patch.setattr(FastDownloads, "_read_session", read_session)
        answered = answered_on_the_loop(client, PDF, monkeypatch)
    assert answered.content == full.content and answered.headers.raw == full.headers.raw
