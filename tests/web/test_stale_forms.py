"""A public form sent with an expired or missing CSRF token (issue 12.7) is shown again, with what the user
typed (never the password) and "Tu sesión expiró; intenta de nuevo.", instead of "403 Acceso denegado"; and the
CSRF token changes at sign-in (issue 8.10)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.factories import TestUser
from tests.portal import hidden_inputs, post_form, sign_in
from tests.servers import run_account_tasks
from tests.web.test_auth import temporary_password_in

STALE = "Tu sesión expiró; intenta de nuevo."
STALE_EN = "Your session expired; try again."


def _expire_token(client: TestClient[Any]) -> None:
    """What a browser does after a restart or a long wait: the CSRF cookie is gone."""
    client.cookies.delete("edocta_csrf")


def test_a_stale_sign_in_form_comes_back_with_the_user_id_and_works_when_sent_again(
    app_client: TestClient[Any], make_user: Callable[..., TestUser]
) -> None:
    user = make_user("customer")
    page = app_client.get("/login?next=/statements/1000")
    form = hidden_inputs(page.text)
    _expire_token(app_client)
    answer = app_client.post("/login", data={**form, "username": user.username, "password": user.password})
    assert answer.status_code == 400
    assert STALE in answer.text and "Acceso denegado" not in answer.text
    assert f'value="{user.username}"' in answer.text
    assert user.password not in answer.text
    assert 'name="next" value="/statements/1000"' in answer.text
    # The page carries a new token (and its cookie): the form goes through on the next try.
    again = hidden_inputs(answer.text)
    assert again["_csrf_token"] != form["_csrf_token"]
    signed = app_client.post(
        "/login", data={**again, "username": user.username, "password": user.password}, follow_redirects=False
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/statements/1000"


def test_a_sign_in_form_without_any_token_is_shown_again_in_english(
    app_client: TestClient[Any], make_user: Callable[..., TestUser]
) -> None:
    user = make_user("customer")
    app_client.get("/login")
    answer = app_client.post(
        "/login", data={"username": user.username, "password": "x"}, headers={"Accept-Language": "en"}
    )
    assert answer.status_code == 400 and STALE_EN in answer.text
    assert f'value="{user.username}"' in answer.text


def test_a_stale_forgotten_password_form_keeps_the_user_id_and_sends_on_the_next_try(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], var_dir: Path
) -> None:
    user = make_user("customer")
    form = hidden_inputs(app_client.get("/password/forgot").text)
    _expire_token(app_client)
    answer = app_client.post("/password/forgot", data={**form, "username": user.username})
    assert answer.status_code == 400 and STALE in answer.text
    assert f'value="{user.username}"' in answer.text
    assert not run_account_tasks(var_dir)  # nothing was asked
    sent = app_client.post(
        "/password/forgot", data={**hidden_inputs(answer.text), "username": user.username}, follow_redirects=False
    )
    assert sent.status_code == 303 and sent.headers["location"] == "/password/forgot/sent"
    assert len(run_account_tasks(var_dir)) == 1


def test_a_stale_forced_password_change_returns_to_the_change_form_with_the_word(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], var_dir: Path
) -> None:
    from shared import accounts
    from tests.servers import emails_to

    user = make_user("customer")
    assert accounts.send_password_reset(user.username)
    temporary = temporary_password_in(emails_to(var_dir, user.email)[0])
    assert sign_in(app_client, user.username, temporary).headers["location"] == "/password/change"
    form = hidden_inputs(app_client.get("/password/change").text)
    _expire_token(app_client)
    new = "una frase nueva y larga para el portal"
    answer = app_client.post(
        "/password/change",
        data={**form, "current_password": temporary, "new_password": new, "confirm_password": new},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/password/change?stale=1"
    page = app_client.get(answer.headers["location"])
    assert STALE in page.text and temporary not in page.text and new not in page.text


def test_the_csrf_token_changes_at_sign_in(app_client: TestClient[Any], make_user: Callable[..., TestUser]) -> None:
    user = make_user("customer")
    before = hidden_inputs(app_client.get("/login").text)["_csrf_token"]
    signed = sign_in(app_client, user.username, user.password)
    assert signed.status_code == 303
    after = hidden_inputs(app_client.get("/statements").text)["_csrf_token"]
    assert after != before
    assert app_client.cookies.get("edocta_csrf") == after
    # A form carrying the token from before the sign-in is refused; the current one works.
    refused = app_client.post("/logout", data={"_csrf_token": before}, follow_redirects=False)
    assert refused.status_code == 403
    assert post_form(app_client, "/statements", "/logout", {}).status_code == 303


@pytest.mark.parametrize("path", ["/users", "/ops/runs"])
def test_a_stale_form_that_is_not_public_is_still_refused(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], path: str
) -> None:
    admin = make_user("admin")
    sign_in(app_client, admin.username, admin.password)
    _expire_token(app_client)
    assert app_client.post(path, data={"username": "x"}, follow_redirects=False).status_code == 403
