"""The grants matrix over HTTP (quality.md 15-16): users x statement routes x {own, other's, missing, malformed}.

A customer user reaches only the customers granted to them; staff and admins reach every customer; anything
else (someone else's customer, a customer or company that does not exist, a malformed address) answers 404
with the very same page, so a URL guess learns nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

from shared.accounts import revoke_customers
from tests.factories import CUTOFF, seed_portal_data

DAY = CUTOFF.isoformat()
# Addresses by target (company, customer, cut-off text), as seen by alice, whose only customer is 100001.
TARGETS = {
    "own": ("1000", "100001", DAY),
    "other": ("1000", "100002", DAY),
    "missing_customer": ("1000", "999999", DAY),
    "missing_company": ("9999", "100001", DAY),
    "no_account_there": ("3000", "100001", DAY),
    "malformed_date": ("1000", "100001", "2026-02-30"),
    "malformed_text": ("1000", "100001", "latest"),
}
ROUTES = {
    "page": "/statements/{company}/{customer}/{cutoff}",
    "json": "/statements/{company}/{customer}/{cutoff}.json",
    "xlsx": "/statements/{company}/{customer}/{cutoff}.xlsx",
    "pdf": "/statements/{company}/{customer}/{cutoff}.pdf",
    "status": "/statements/{company}/{customer}/{cutoff}/file-status?format=pdf",
}
# What each route answers when the statement may be seen: the PDF is not stored yet, so it is being prepared.
VISIBLE_STATUS = {"page": 200, "json": 200, "xlsx": 200, "pdf": 202, "status": 200}
VISIBLE_TYPE = {
    "page": "text/html",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "text/html",
    "status": "application/json",
}

# Which targets each user may see.
SEES = {
    "alice": {"own"},  # customer with a grant for 100001
    "carla": set(),  # customer without grants
    "sofia": {"own", "other"},  # staff
    "ana": {"own", "other"},  # admin
}


def normalized(body: str) -> str:
    """The page without its CSRF token (the only part allowed to differ between two identical answers)."""
    return re.sub(r'name="_csrf_token" value="[^"]*"', 'name="_csrf_token" value=""', body)


@pytest.mark.parametrize("user", sorted(SEES))
def test_grants_matrix(portal_client: Callable[[str], TestClient[Any]], user: str) -> None:
    client = portal_client(user)
    not_found_bodies: dict[str, str] = {}
    for target, (company, customer, cutoff) in TARGETS.items():
        for route, template in ROUTES.items():
            url = template.format(company=company, customer=customer, cutoff=cutoff)
            response = client.get(url, follow_redirects=False)
            where = f"{user} {target} {route}: {url}"
            if target in SEES[user]:
                assert response.status_code == VISIBLE_STATUS[route], where
                assert response.headers["content-type"].startswith(VISIBLE_TYPE[route]), where
                assert "no-store" in response.headers["cache-control"], where
                if route == "pdf":
                    assert response.headers["retry-after"].isdigit(), where
            else:
                assert response.status_code == 404, where
                assert "no-store" in response.headers["cache-control"], where
                not_found_bodies[where] = normalized(response.text)
    # Every refusal is the same page: nothing tells someone else's customer from a missing one.
    assert len(set(not_found_bodies.values())) == 1, sorted(not_found_bodies)
    body = next(iter(not_found_bodies.values()))
    for secret in ("Acme", "Álvarez", "100002", "999999", "Rotomoldeo"):
        assert secret not in body


def test_a_customer_users_404_is_the_same_for_someone_elses_and_a_missing_customer(
    portal_client: Callable[[str], TestClient[Any]],
) -> None:
    client = portal_client("alice")
    other = client.get(f"/statements/1000/100002/{DAY}")
    missing = client.get(f"/statements/1000/100003/{DAY}")
    assert other.status_code == missing.status_code == 404
    assert normalized(other.text) == normalized(missing.text)
    assert [k for k in other.headers if k.lower() != "set-cookie"] == [
        k for k in missing.headers if k.lower() != "set-cookie"
    ]
    assert other.headers["content-type"] == missing.headers["content-type"]


def test_a_revoked_grant_takes_effect_on_the_next_request(portal_client: Callable[[str], TestClient[Any]]) -> None:
    client = portal_client("alice")
    assert client.get(f"/statements/1000/100001/{DAY}").status_code == 200
    assert client.get(f"/statements/1000/100001/{DAY}.json").status_code == 200
    revoke_customers("alice", ["100001"])
    assert client.get(f"/statements/1000/100001/{DAY}").status_code == 404
    assert client.get(f"/statements/1000/100001/{DAY}.json").status_code == 404
    assert client.get(f"/statements/1000/100001/{DAY}/file-status?format=pdf").status_code == 404
    selector = client.get("/statements")
    assert "Álvarez" not in selector.text
    assert client.get("/statements/customers?q=100001").json() == {"customers": [], "truncated": False}


def test_the_selectors_helpers_never_reach_beyond_the_grants(portal_client: Callable[[str], TestClient[Any]]) -> None:
    client = portal_client("alice")
    assert client.get("/statements/customers?q=").json()["customers"] == [
        {"number": "100001", "name": 'Ferretería Álvarez & Hijos <b>"Q"</b>'}
    ]
    assert client.get("/statements/customers?q=acme").json()["customers"] == []
    assert client.get("/statements/companies?customer=100002").json() == {"companies": []}
    assert [c["code"] for c in client.get("/statements/companies?customer=100001").json()["companies"]] == [
        "1000",
        "2000",
    ]
    staff = portal_client("sofia")
    assert [c["number"] for c in staff.get("/statements/customers?q=acme").json()["customers"]] == ["100002"]


def test_signed_out_visitors_reach_no_statement(app_client: TestClient[Any]) -> None:
    seed_portal_data()
    page = app_client.get(f"/statements/1000/100001/{DAY}", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")
    for suffix in (".json", ".xlsx", ".pdf"):
        response = app_client.get(f"/statements/1000/100001/{DAY}{suffix}", follow_redirects=False)
        assert response.status_code in (303, 401, 403)
        assert "Álvarez" not in response.text
    response = app_client.get("/statements/customers?q=1", follow_redirects=False)
    assert response.status_code != 200
