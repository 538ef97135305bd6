"""The portal as an automated client uses it: Litestar's TestClient on a new app, and its forms submitted with
the hidden inputs of their page (the CSRF token among them), as a browser would."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from typing import Any

from litestar.testing import TestClient

BASE_URL = "http://127.0.0.1:8000"


@contextlib.contextmanager
def portal_test_client(key_prefix: str | None = None, base_url: str = BASE_URL) -> Iterator[TestClient[Any]]:
    """A portal app made now (it reads the environment as it is) behind a TestClient. Its stores' keys get a
    prefix of their own, unless `key_prefix` names one that another portal shares (two web processes)."""
    from web.app import create_app

    prefix = key_prefix or f"edocta-test-{uuid.uuid4().hex[:8]}"
    with TestClient(app=create_app(key_prefix=prefix), base_url=base_url) as client:
        yield client


def hidden_inputs(html: str) -> dict[str, str]:
    """Every hidden input of the page, as an automated client submits them."""
    found: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*type=\"hidden\"[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            found[name.group(1)] = value.group(1) if value else ""
    return found


def post_form(client: TestClient[Any], page_path: str, action: str, fields: dict[str, str]) -> Any:
    """Open `page_path` and post `fields` to `action` with the page's hidden inputs; redirects not followed."""
    page = client.get(page_path)
    return client.post(action, data={**hidden_inputs(page.text), **fields}, follow_redirects=False)


def sign_in(client: TestClient[Any], username: str, password: str) -> Any:
    """Sign in through the real form: fetch /login, submit its hidden inputs with the credentials."""
    return post_form(client, "/login", "/login", {"username": username, "password": password})
