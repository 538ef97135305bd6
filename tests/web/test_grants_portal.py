"""Grant-scoped queries of `shared.portal`, on SQLite and PostgreSQL: who sees which customer, company and
statement. The web routes' matrix is in test_grants_routes.py; these pin the rules underneath it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import delete, select

from shared.clock import parse_day
from shared.db import session_scope
from shared.models import Account, Company, Customer, OpenItem, User, UserCustomer
from shared.statements import (
    StatementNotFound,
    can_see,
    companies_for_customer,
    filter_lines,
    load_visible_statement,
    sort_lines,
    visible_customers,
)

CUTOFF = dt.date(2026, 10, 31)


@dataclass(frozen=True)
class Ids:
    """User ids by name, as a signed-in user is known to the portal."""

    id: int


def seed_portal_data() -> dict[str, Ids]:
    """Two companies, four customers, items, and one user of each kind. Returns the users by name.

    - alice (customer) holds a grant for 100001 (two companies: 1000 and 2000);
    - bruno (customer, English) holds a grant for 100002;
    - carla (customer) holds no grant; dario (customer, disabled) held 100001;
    - sofia is staff, ana is admin.
    """
    with session_scope() as session:
        bajio = Company(code="1000", name="Tinacos del Bajío", tax_id="TBA010101AB1", address="León, Gto.")
        norte = Company(code="2000", name="Rotomoldeo del Norte", tax_id="RNO020202CD2", currency="USD")
        unused = Company(code="3000", name="Sin clientes", currency="MXN")
        session.add_all([bajio, norte, unused])
        alvarez = Customer(number="100001", name='Ferretería Álvarez & Hijos <b>"Q"</b>', tax_id="FAH990101XY9")
        acme = Customer(number="100002", name="Acme Supplies", language="en")
        zeros = Customer(number="0000100011", name="Agua Pura del Bajio")
        lonely = Customer(number="100004", name="Sin cuenta")
        session.add_all([alvarez, acme, zeros, lonely])
        session.flush()
        session.add_all(
            [
                Account(company_id=bajio.id, customer_id=alvarez.id, credit_limit=Decimal("250000"), currency="MXN"),
                Account(company_id=norte.id, customer_id=alvarez.id, credit_limit=None, currency="USD"),
                Account(company_id=bajio.id, customer_id=acme.id, credit_limit=Decimal("1000"), currency="MXN"),
                Account(company_id=bajio.id, customer_id=zeros.id, credit_limit=None, currency="MXN"),
            ]
        )

        def item(company: Company, customer: Customer, number: str, **values: object) -> OpenItem:
            defaults: dict[str, object] = {
                "document_type": "invoice",
                "reference": "",
                "document_date": dt.date(2026, 9, 1),
                "due_date": dt.date(2026, 9, 30),
                "amount": Decimal("100.00"),
                "currency": company.currency,
                "cleared_on": None,
            }
            defaults.update(values)
            return OpenItem(company_id=company.id, customer_id=customer.id, document_number=number, **defaults)

        session.add_all(
            [
                item(bajio, alvarez, "FAC-1", reference="PO-7", amount=Decimal("1234.50")),
                item(
                    bajio,
                    alvarez,
                    "FAC-2",
                    reference="<script>alert(1)</script>",
                    document_date=dt.date(2026, 10, 20),
                    due_date=dt.date(2026, 11, 19),
                    amount=Decimal("5000.00"),
                ),
                item(
                    bajio,
                    alvarez,
                    "NC-3",
                    document_type="credit_note",
                    reference="Devolución Bajío",
                    document_date=dt.date(2026, 6, 1),
                    due_date=dt.date(2026, 6, 1),
                    amount=Decimal("-200.00"),
                ),
                item(bajio, alvarez, "FAC-FUTURE", document_date=dt.date(2026, 11, 5), due_date=dt.date(2026, 12, 5)),
                item(norte, alvarez, "INV-9", amount=Decimal("77.00"), currency="USD"),
                item(bajio, acme, "FAC-100", amount=Decimal("999.99")),
                item(bajio, zeros, "FAC-200", amount=Decimal("1.00")),
            ]
        )
        users = {
            "alice": User(username="alice", email="alice@example.com", role="customer", language="es"),
            "bruno": User(username="bruno", email="bruno@example.com", role="customer", language="en"),
            "carla": User(username="carla", email="carla@example.com", role="customer"),
            "dario": User(username="dario", email="dario@example.com", role="customer", status="disabled"),
            "sofia": User(username="sofia", email="sofia@example.com", role="staff"),
            "ana": User(username="ana", email="ana@example.com", role="admin"),
        }
        session.add_all(users.values())
        session.flush()
        session.add_all(
            [
                UserCustomer(user_id=users["alice"].id, customer_id=alvarez.id),
                UserCustomer(user_id=users["bruno"].id, customer_id=acme.id),
                UserCustomer(user_id=users["dario"].id, customer_id=alvarez.id),
            ]
        )
        return {name: Ids(user.id) for name, user in users.items()}


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


PORTAL_PASSWORD = "una frase de prueba bastante larga"


def give_passwords(password: str = PORTAL_PASSWORD) -> None:
    """Give every seeded user the same known password (one hash), so tests sign in through the real form."""
    from shared.accounts import hash_password

    hashed = hash_password(password)
    with session_scope() as session:
        for user in session.scalars(select(User)):
            user.password_hash = hashed


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
