"""The emailed temporary password (issue 12.3): it keeps working, into the forced change, until it expires or is
replaced; the email says until when, in the business time zone; an expired one is told so, pointing to "Olvidé
mi contraseña"."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import update

from shared import accounts
from shared.db import session_scope
from shared.models import TemporaryPassword
from shared.settings import reset_settings
from tests.factories import TestUser
from tests.portal import post_form, sign_in
from tests.servers import emails_to
from tests.web.test_auth import NEW_PASSWORD, body_text, change_password, temporary_password_in


def test_a_reset_password_signs_in_again_after_the_tab_was_closed_until_it_is_replaced(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], var_dir: Path
) -> None:
    user = make_user("customer")
    assert accounts.send_password_reset(user.username)
    temporary = temporary_password_in(emails_to(var_dir, user.email)[0])
    assert sign_in(app_client, user.username, temporary).headers["location"] == "/password/change"
    # The tab on "Cambiar contraseña" is closed; the session ends. The same password opens the change again.
    post_form(app_client, "/password/change", "/logout", {})
    assert sign_in(app_client, user.username, temporary).headers["location"] == "/password/change"
    assert change_password(app_client, temporary, NEW_PASSWORD).headers["location"] == "/password/activated"
    # Replaced by the personal password: the temporary one is void.
    refused = sign_in(app_client, user.username, temporary)
    assert refused.status_code == 401 and "Usuario o contraseña incorrectos." in refused.text
    assert sign_in(app_client, user.username, NEW_PASSWORD).headers["location"] == "/statements"


def test_an_expired_temporary_password_is_told_so_and_pointed_to_the_forgotten_password(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], var_dir: Path
) -> None:
    user = make_user("customer")
    assert accounts.send_password_reset(user.username)
    temporary = temporary_password_in(emails_to(var_dir, user.email)[0])
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with session_scope() as session:
        session.execute(update(TemporaryPassword).values(expires_at=past))
    refused = sign_in(app_client, user.username, temporary)
    assert refused.status_code == 401
    assert "Esa contraseña temporal ya venció. Pide otra en «Olvidé mi contraseña»." in refused.text
    assert 'href="/password/forgot"' in refused.text
    # Any other wrong password still gets the plain answer.
    wrong = sign_in(app_client, user.username, "no es la contraseña de nadie")
    assert "Usuario o contraseña incorrectos." in wrong.text and "venció" not in wrong.text


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_emails_say_until_when_the_temporary_password_works_in_the_business_time_zone(
    database: str, make_user: Callable[..., TestUser], var_dir: Path, monkeypatch: pytest.MonkeyPatch, language: str
) -> None:
    monkeypatch.setenv("EDOCTA_TIMEZONE", "America/Mexico_City")
    reset_settings()
    user = make_user("customer", language=language)
    # 2026-11-30 18:30 UTC is 12:30 in Mexico City; the reset lasts one hour.
    asked = dt.datetime(2026, 11, 30, 18, 30, tzinfo=dt.UTC)
    assert accounts.send_password_reset(user.username, now=asked)
    text = body_text(emails_to(var_dir, user.email)[-1])
    if language == "es":
        assert "funciona hasta el 30 de noviembre de 2026, 13:30 (hora de America/Mexico_City)" in text
        assert "/password/forgot" in text
    else:
        assert "works until November 30, 2026, 1:30 PM (America/Mexico_City time)" in text
    assert re.search(r"\b19:30\b|7:30 PM", text) is None  # never the UTC hour
