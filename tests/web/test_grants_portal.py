"""Grant-scoped queries of `shared.portal`, on SQLite and PostgreSQL: who sees which customer, company and
statement. The web routes' matrix is in test_grants_routes.py; these pin the rules underneath it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import delete, select

from shared.clock import parse_day
from shared.db import session_scope
from shared.models import Company, Customer, OpenItem, User, UserCustomer
from shared.statements import (
    StatementNotFound,
    can_see,
    companies_for_customer,
    filter_lines,
    load_visible_statement,
    sort_lines,
    visible_customers,
)
from tests.factories import CUTOFF, Ids, seed_portal_data


@pytest.fixture
def people(database: str) -> dict[str, Ids]:
    return seed_portal_data()


def numbers(customers: list[Customer]) -> list[str]:
    return [c.number for c in customers]


def test_customer_users_see_only_their_granted_customers(people: dict[str, Ids]) -> None:
    with session_scope() as session:
        assert numbers(visible_customers(session, people["alice"])) == ["100001"]
        assert numbers(visible_customers(session, people["bruno"])) == ["100002"]
        assert visible_customers(session, people["carla"]) == []
        assert visible_customers(session, people["dario"]) == []  # disabled
        assert visible_customers(session, Ids(999_999)) == []  # no such user
        assert visible_customers(session, None) == []
        everyone = ["0000100011", "100001", "100002", "100004"]
        assert numbers(visible_customers(session, people["sofia"])) == everyone
        assert numbers(visible_customers(session, people["ana"])) == everyone


def test_search_by_number_prefix_and_by_name_ignoring_case_and_accents(people: dict[str, Ids]) -> None:
    with session_scope() as session:
        staff = people["sofia"]
        assert numbers(visible_customers(session, staff, "10000")) == ["100001", "100002", "100004"]
        assert numbers(visible_customers(session, staff, "00001")) == ["0000100011"]  # leading zeros kept
        # "bajio" matches "Bajio" and would match "Bajío"; "ALVAREZ" matches "Álvarez".
        assert numbers(visible_customers(session, staff, "bajio")) == ["0000100011"]
        assert numbers(visible_customers(session, staff, "ÁLVAREZ")) == ["100001"]
        assert numbers(visible_customers(session, staff, "acme sup")) == ["100002"]
        assert numbers(visible_customers(session, staff, "10000", limit=2)) == ["100001", "100002"]
        # LIKE wildcards are text, not patterns.
        assert visible_customers(session, staff, "%") == []
        assert visible_customers(session, staff, "_0") == []
        # A customer user's search never reaches beyond the grants.
        assert numbers(visible_customers(session, people["alice"], "acme")) == []
        assert numbers(visible_customers(session, people["alice"], "1")) == ["100001"]
        assert numbers(visible_customers(session, people["alice"], "ferreter")) == ["100001"]


def test_can_see_follows_role_status_and_grants(people: dict[str, Ids]) -> None:
    with session_scope() as session:
        assert can_see(session, people["alice"], "100001")
        assert not can_see(session, people["alice"], "100002")
        assert not can_see(session, people["alice"], "999999")
        assert not can_see(session, people["carla"], "100001")
        assert not can_see(session, people["dario"], "100001")
        assert can_see(session, people["sofia"], "100002")
        assert can_see(session, people["ana"], "0000100011")
        assert not can_see(session, people["ana"], "100011")  # zeros are part of the number
        assert not can_see(session, people["ana"], "")


def test_companies_are_limited_to_the_customers_accounts(people: dict[str, Ids]) -> None:
    with session_scope() as session:
        assert [c.code for c in companies_for_customer(session, people["alice"], "100001")] == ["1000", "2000"]
        assert [c.code for c in companies_for_customer(session, people["sofia"], "100002")] == ["1000"]
        assert companies_for_customer(session, people["alice"], "100002") == []
        assert companies_for_customer(session, people["sofia"], "100004") == []  # no account anywhere
        assert companies_for_customer(session, people["sofia"], "nope") == []


def test_statement_of_someone_elses_customer_is_not_found_like_a_missing_one(people: dict[str, Ids]) -> None:
    with session_scope() as session:
        statement = load_visible_statement(session, people["alice"], "1000", "100001", CUTOFF)
        assert statement.customer.code == "100001"
        assert [line.document_number for line in statement.lines] == ["NC-3", "FAC-1", "FAC-2"]
        refusals = [
            (people["alice"], "1000", "100002"),  # someone else's
            (people["alice"], "1000", "999999"),  # missing customer
            (people["alice"], "9999", "100001"),  # missing company
            (people["alice"], "3000", "100001"),  # company without this customer
            (people["carla"], "1000", "100001"),  # no grants
            (people["dario"], "1000", "100001"),  # disabled
            (people["sofia"], "1000", "100004"),  # staff, customer without an account there
        ]
        for user, company, customer in refusals:
            with pytest.raises(StatementNotFound) as refused:
                load_visible_statement(session, user, company, customer, CUTOFF)
            assert str(refused.value) == f"{company}/{customer}"
        assert load_visible_statement(session, people["sofia"], "1000", "100002", CUTOFF).lines


def test_a_revoked_grant_is_effective_at_once(people: dict[str, Ids]) -> None:
    with session_scope() as session:
        assert can_see(session, people["alice"], "100001")
    with session_scope() as session:
        session.execute(delete(UserCustomer).where(UserCustomer.user_id == people["alice"].id))
    with session_scope() as session:
        assert not can_see(session, people["alice"], "100001")
        with pytest.raises(StatementNotFound):
            load_visible_statement(session, people["alice"], "1000", "100001", CUTOFF)
    with session_scope() as session:
        user = session.scalar(select(User).where(User.username == "sofia"))
        assert user is not None
        user.status = "disabled"
    with session_scope() as session:
        assert not can_see(session, people["sofia"], "100001")


def test_cutoff_parsing_accepts_only_iso_dates() -> None:
    assert parse_day("2026-11-30") == dt.date(2026, 11, 30)
    for bad in ("2026-02-30", "30/11/2026", "2026-11-30x", "", "20261130", None, "2026-1-3", "2026-W44-6"):
        assert parse_day(bad) is None


def test_lines_filter_and_sort(people: dict[str, Ids]) -> None:
    with session_scope() as session:
        statement = load_visible_statement(session, people["ana"], "1000", "100001", CUTOFF)
    lines = statement.lines
    assert [x.document_number for x in filter_lines(lines, "devolucion")] == ["NC-3"]
    assert [x.document_number for x in filter_lines(lines, "fac")] == ["FAC-1", "FAC-2"]
    assert [x.document_number for x in filter_lines(lines, "fac po-7")] == ["FAC-1"]
    assert [x.document_number for x in filter_lines(lines, "1234.50")] == ["FAC-1"]
    assert [x.document_number for x in filter_lines(lines, "<script>")] == ["FAC-2"]
    assert filter_lines(lines, "nada-de-esto") == []
    assert filter_lines(lines, "  ") == lines
    shown = {0: ["1 de junio de 2026"]}
    assert [x.document_number for x in filter_lines(lines, "junio", shown=shown)] == ["NC-3"]
    assert [x.document_number for x in sort_lines(lines, "amount", "desc")] == ["FAC-2", "FAC-1", "NC-3"]
    assert [x.document_number for x in sort_lines(lines, "amount", "asc")] == ["NC-3", "FAC-1", "FAC-2"]
    assert [x.document_number for x in sort_lines(lines, "document_number", "asc")] == ["FAC-1", "FAC-2", "NC-3"]
    assert [x.document_number for x in sort_lines(lines, "days_overdue", "desc")] == ["NC-3", "FAC-1", "FAC-2"]
    assert sort_lines(lines, "password_hash", "asc") == lines


def test_the_portals_loader_gives_the_same_statement_as_load_statement(people: dict[str, Ids]) -> None:
    from shared.statements import load_statement

    with session_scope() as session:
        company = session.scalar(select(Company).where(Company.code == "1000"))
        customer = session.scalar(select(Customer).where(Customer.number == "100001"))
        assert company is not None and customer is not None
        for number, cleared in (("PAID-BEFORE", dt.date(2026, 10, 15)), ("PAID-AFTER", dt.date(2026, 11, 2))):
            session.add(
                OpenItem(
                    company_id=company.id,
                    customer_id=customer.id,
                    document_number=number,
                    document_type="invoice",
                    reference="",
                    document_date=dt.date(2026, 8, 1),
                    due_date=dt.date(2026, 8, 31),
                    amount=Decimal("50.00"),
                    currency="MXN",
                    cleared_on=cleared,
                )
            )
    pairs = [("1000", "100001"), ("2000", "100001"), ("1000", "100002"), ("1000", "0000100011")]
    with session_scope() as session:
        for company_code, customer_number in pairs:
            for cutoff in (CUTOFF, dt.date(2026, 10, 1), dt.date(2026, 11, 10)):
                expected = load_statement(session, company_code, customer_number, cutoff)
                got = load_visible_statement(session, people["ana"], company_code, customer_number, cutoff)
                assert got.to_json() == expected.to_json()
                assert got.fingerprint == expected.fingerprint
                assert got == expected
        lines = load_visible_statement(session, people["alice"], "1000", "100001", CUTOFF).lines
        assert "PAID-AFTER" in [line.document_number for line in lines]
        assert "PAID-BEFORE" not in [line.document_number for line in lines]


def test_visible_customer_is_grant_scoped(people: dict[str, Ids]) -> None:
    from shared.statements import visible_customer

    with session_scope() as session:
        found = visible_customer(session, people["alice"], "100001")
        assert found is not None and found.name.startswith("Ferretería")
        assert visible_customer(session, people["alice"], "100002") is None
        assert visible_customer(session, people["dario"], "100001") is None
        assert visible_customer(session, people["sofia"], "0000100011") is not None
        assert visible_customer(session, people["sofia"], "") is None
