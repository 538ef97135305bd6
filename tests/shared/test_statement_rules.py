"""The statement rules of contract §2 and the JSON of §3, at every boundary.

Each rule is checked twice: on `build_statement` (the pure function) and through the database with
`load_statement` (SQLite and PostgreSQL, rows inserted with the models). A property test then checks the
invariants over generated data, and that nothing from another customer or company reaches a statement.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from shared.db import session_scope
from shared.models import Account, Company, Customer, OpenItem
from shared.statements import (
    BUCKETS,
    ItemRow,
    Party,
    Statement,
    StatementNotFound,
    build_statement,
    load_statement,
)

D = dt.date(2026, 11, 30)
MONEY = re.compile(r"-?\d+\.\d{2}")


def days(n: int) -> dt.date:
    """The date `n` days before the cut-off (negative: after it)."""
    return D - dt.timedelta(days=n)


@dataclass
class Item:
    number: str
    document_date: dt.date
    due_date: dt.date | None = None
    amount: str = "100.00"
    currency: str = "MXN"
    cleared_on: dt.date | None = None
    document_type: str = "invoice"
    reference: str = ""

    def row(self) -> ItemRow:
        return ItemRow(
            document_number=self.number,
            document_type=self.document_type,
            reference=self.reference,
            document_date=self.document_date,
            due_date=self.due_date,  # type: ignore[arg-type]  # None: the rules use the document date
            amount=Decimal(self.amount),
            currency=self.currency,
            cleared_on=self.cleared_on,
        )


@dataclass
class Case:
    """Open items of customer 100001 at company 1000, and the account (None: no account row)."""

    items: list[Item]
    credit_limit: str | None = "10000.00"
    has_account: bool = True
    account_currency: str = "MXN"
    company_currency: str = "MXN"
    cutoff: dt.date = D
    extra: dict[str, Any] = field(default_factory=dict)


COMPANY = Party("1000", "Aceros del Norte, S.A. de C.V.", "ANO010101AB1", "Monterrey")
CUSTOMER = Party("100001", "Tinacos del Bajío", "", "León, Gto.")


def pure(case: Case) -> Statement:
    limit = None if case.credit_limit is None or not case.has_account else Decimal(case.credit_limit)
    return build_statement(
        COMPANY,
        CUSTOMER,
        case.cutoff,
        [item.row() for item in case.items],
        account_currency=case.account_currency if case.has_account else case.company_currency,
        credit_limit=limit,
    )


def insert_master_data(session: Any, *, company_currency: str = "MXN") -> tuple[Company, Customer]:
    company = Company(code=COMPANY.code, name=COMPANY.name, tax_id=COMPANY.tax_id, currency=company_currency)
    customer = Customer(number=CUSTOMER.code, name=CUSTOMER.name, tax_id="")
    session.add_all([company, customer])
    session.flush()
    return company, customer


def insert_items(session: Any, company: Company, customer: Customer, items: list[Item]) -> None:
    for item in items:
        session.add(
            OpenItem(
                company_id=company.id,
                customer_id=customer.id,
                document_number=item.number,
                document_type=item.document_type,
                reference=item.reference,
                document_date=item.document_date,
                # The import stores the document date when the file has no due date.
                due_date=item.due_date or item.document_date,
                amount=Decimal(item.amount),
                currency=item.currency,
                cleared_on=item.cleared_on,
            )
        )


def from_database(case: Case) -> Statement:
    with session_scope() as session:
        company, customer = insert_master_data(session, company_currency=case.company_currency)
        if case.has_account:
            session.add(
                Account(
                    company_id=company.id,
                    customer_id=customer.id,
                    currency=case.account_currency,
                    credit_limit=None if case.credit_limit is None else Decimal(case.credit_limit),
                )
            )
        insert_items(session, company, customer, case.items)
    with session_scope() as session:
        return load_statement(session, COMPANY.code, CUSTOMER.code, case.cutoff)


@pytest.fixture(params=["build_statement", "sqlite", "postgresql"])
def make(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Each rule test runs on the pure function, and through the database on SQLite and PostgreSQL."""
    if request.param == "build_statement":
        return pure
    request.getfixturevalue(f"{request.param.replace('postgresql', 'postgres')}_database")
    return from_database


def line_days(doc: dict[str, Any]) -> dict[str, int]:
    return {line["document_number"]: line["days_overdue"] for line in doc["lines"]}


# --- which items are lines ---------------------------------------------------------------------------------


def test_due_on_the_cutoff_is_not_overdue(make) -> None:  # type: ignore[no-untyped-def]
    doc = make(Case([Item("FAC-1", days(30), due_date=D, amount="1160.00")])).to_json()
    assert doc["lines"][0]["days_overdue"] == 0
    totals = doc["totals"]["MXN"]
    assert (totals["overdue"], totals["not_due"], totals["total"]) == ("0.00", "1160.00", "1160.00")
    assert totals["aging"]["current"] == "1160.00"


def test_due_after_the_cutoff_is_current(make) -> None:  # type: ignore[no-untyped-def]
    doc = make(Case([Item("FAC-1", days(5), due_date=days(-25), amount="10.00")])).to_json()
    assert doc["lines"][0]["days_overdue"] == 0
    assert doc["totals"]["MXN"]["aging"]["current"] == "10.00"
    assert doc["totals"]["MXN"]["not_due"] == "10.00"


# Days overdue -> the bucket the contract puts it in. Amounts are distinct powers of two, so every bucket's
# total names exactly the lines in it.
AGING_BOUNDARIES = [
    (0, "current"),
    (1, "1-30"),
    (30, "1-30"),
    (31, "31-60"),
    (60, "31-60"),
    (61, "61-90"),
    (90, "61-90"),
    (91, "91-120"),
    (120, "91-120"),
    (121, "120+"),
    (400, "120+"),
]


def test_aging_buckets_at_every_boundary(make) -> None:  # type: ignore[no-untyped-def]
    items = [
        Item(f"D{overdue:03d}", days(overdue + 10), due_date=days(overdue), amount=f"{2**i}.00")
        for i, (overdue, _) in enumerate(AGING_BOUNDARIES)
    ]
    doc = make(Case(items)).to_json()

    assert line_days(doc) == {f"D{overdue:03d}": overdue for overdue, _ in AGING_BOUNDARIES}
    expected = dict.fromkeys(BUCKETS, 0)
    for i, (_, bucket) in enumerate(AGING_BOUNDARIES):
        expected[bucket] += 2**i
    totals = doc["totals"]["MXN"]
    assert totals["aging"] == {bucket: f"{amount}.00" for bucket, amount in expected.items()}
    assert list(totals["aging"]) == list(BUCKETS)
    assert totals["not_due"] == "1.00"
    assert totals["overdue"] == f"{2 ** len(AGING_BOUNDARIES) - 2}.00"
    assert totals["total"] == f"{2 ** len(AGING_BOUNDARIES) - 1}.00"


@pytest.mark.parametrize(
    ("cleared_on", "is_line"),
    [(None, True), (days(1), False), (D, False), (days(-1), True), (days(-60), True)],
    ids=["open", "cleared-before", "cleared-on-cutoff", "cleared-day-after", "cleared-much-later"],
)
def test_cleared_items_are_lines_only_when_cleared_after_the_cutoff(make, cleared_on, is_line) -> None:  # type: ignore[no-untyped-def]
    doc = make(Case([Item("FAC-1", days(40), due_date=days(10), cleared_on=cleared_on)])).to_json()
    assert [line["document_number"] for line in doc["lines"]] == (["FAC-1"] if is_line else [])
    assert list(doc["totals"]) == (["MXN"] if is_line else [])


@pytest.mark.parametrize(
    ("document_date", "is_line"),
    [(days(1), True), (D, True), (days(-1), False), (days(-30), False)],
    ids=["day-before", "on-cutoff", "day-after", "month-after"],
)
def test_items_posted_after_the_cutoff_are_not_lines(make, document_date, is_line) -> None:  # type: ignore[no-untyped-def]
    doc = make(Case([Item("FAC-1", document_date, due_date=document_date + dt.timedelta(days=30))])).to_json()
    assert [line["document_number"] for line in doc["lines"]] == (["FAC-1"] if is_line else [])


def test_no_due_date_means_due_on_the_document_date(make) -> None:  # type: ignore[no-untyped-def]
    doc = make(Case([Item("NC-1", days(45), due_date=None, amount="-50.00", document_type="credit_note")])).to_json()
    (line,) = doc["lines"]
    assert line["due_date"] == line["document_date"] == days(45).isoformat()
    assert line["days_overdue"] == 45
    assert doc["totals"]["MXN"]["aging"]["31-60"] == "-50.00"


# --- money and credit --------------------------------------------------------------------------------------


def test_a_credit_balance_makes_available_credit_exceed_the_limit(make) -> None:  # type: ignore[no-untyped-def]
    items = [
        Item("FAC-1", days(20), due_date=days(-10), amount="300.00"),
        Item("PAG-1", days(5), amount="-800.00", document_type="payment"),
    ]
    doc = make(Case(items, credit_limit="1000.00")).to_json()
    assert doc["totals"]["MXN"]["total"] == "-500.00"
    assert doc["totals"]["MXN"]["overdue"] == "-800.00"
    assert doc["totals"]["MXN"]["not_due"] == "300.00"
    assert doc["credit_limit"] == "1000.00"
    assert doc["available_credit"] == "1500.00"


def test_available_credit_may_be_negative(make) -> None:  # type: ignore[no-untyped-def]
    doc = make(Case([Item("FAC-1", days(1), amount="1500.25")], credit_limit="1000.00")).to_json()
    assert doc["available_credit"] == "-500.25"


def test_two_currencies_are_never_added_and_credit_uses_the_account_currency(make) -> None:  # type: ignore[no-untyped-def]
    items = [
        Item("FAC-1", days(40), due_date=days(10), amount="1000.00", currency="MXN"),
        Item("FAC-2", days(40), due_date=days(35), amount="250.50", currency="USD"),
        Item("FAC-3", days(2), due_date=days(-28), amount="99.50", currency="USD"),
        Item("NC-1", days(3), amount="-100.00", currency="MXN", document_type="credit_note"),
    ]
    doc = make(Case(items, credit_limit="5000.00")).to_json()
    assert doc["currency"] == "MXN"
    assert doc["totals"] == {
        "MXN": {
            "total": "900.00",
            "overdue": "900.00",
            "not_due": "0.00",
            "aging": {"current": "0.00", "1-30": "900.00", "31-60": "0.00", "61-90": "0.00", "91-120": "0.00",
                      "120+": "0.00"},
        },
        "USD": {
            "total": "350.00",
            "overdue": "250.50",
            "not_due": "99.50",
            "aging": {"current": "99.50", "1-30": "0.00", "31-60": "250.50", "61-90": "0.00", "91-120": "0.00",
                      "120+": "0.00"},
        },
    }  # fmt: skip
    assert doc["available_credit"] == "4100.00"


def test_an_account_in_dollars_takes_its_credit_from_the_dollar_total(make) -> None:  # type: ignore[no-untyped-def]
    items = [
        Item("FAC-1", days(4), amount="700.00", currency="MXN"),
        Item("FAC-2", days(4), amount="120.00", currency="USD"),
    ]
    doc = make(Case(items, credit_limit="1000.00", account_currency="USD")).to_json()
    assert doc["currency"] == "USD"
    assert doc["available_credit"] == "880.00"


def test_credit_with_no_lines_in_the_account_currency_is_the_whole_limit(make) -> None:  # type: ignore[no-untyped-def]
    doc = make(Case([Item("FAC-1", days(4), amount="700.00", currency="USD")], credit_limit="250000")).to_json()
    assert doc["credit_limit"] == "250000.00"
    assert doc["available_credit"] == "250000.00"
    assert list(doc["totals"]) == ["USD"]


def test_an_account_without_a_limit_has_null_credit(make) -> None:  # type: ignore[no-untyped-def]
    doc = make(Case([Item("FAC-1", days(4))], credit_limit=None)).to_json()
    assert doc["credit_limit"] is None
    assert doc["available_credit"] is None
    assert doc["totals"]["MXN"]["total"] == "100.00"


def test_no_account_means_null_credit_in_the_company_currency(make) -> None:  # type: ignore[no-untyped-def]
    case = Case([Item("FAC-1", days(4), currency="USD")], has_account=False, company_currency="USD")
    doc = make(case).to_json()
    assert doc["credit_limit"] is None
    assert doc["available_credit"] is None
    assert doc["currency"] == "USD"
    assert doc["totals"]["USD"]["total"] == "100.00"


def test_a_zero_limit_is_a_limit_not_a_missing_one(make) -> None:  # type: ignore[no-untyped-def]
    doc = make(Case([Item("FAC-1", days(4), amount="10.00")], credit_limit="0")).to_json()
    assert doc["credit_limit"] == "0.00"
    assert doc["available_credit"] == "-10.00"


def test_amounts_always_have_exactly_two_decimals(make) -> None:  # type: ignore[no-untyped-def]
    items = [
        Item("A", days(1), amount="100"),
        Item("B", days(1), amount="0.5"),
        Item("C", days(1), amount="-1234.5"),
        Item("D", days(1), amount="987654321012.34"),
        Item("E", days(1), amount="0.01"),
    ]
    doc = make(Case(items, credit_limit="250000")).to_json()
    assert [line["amount"] for line in doc["lines"]] == ["100.00", "0.50", "-1234.50", "987654321012.34", "0.01"]
    assert doc["totals"]["MXN"]["total"] == "987654319878.35"
    assert doc["credit_limit"] == "250000.00"
    assert doc["available_credit"] == "-987654069878.35"
    for value in [doc["credit_limit"], doc["available_credit"], *flatten_money(doc["totals"])]:
        assert MONEY.fullmatch(value), value


def test_sums_are_exact_decimals(make) -> None:  # type: ignore[no-untyped-def]
    # 0.1 + 0.2 is not 0.3 in binary floating point; ten cents thirty times must be exactly 3.00.
    items = [Item(f"T{i:02d}", days(1), amount="0.10") for i in range(30)]
    items += [Item("U1", days(1), amount="0.20")]
    doc = make(Case(items)).to_json()
    assert doc["totals"]["MXN"]["total"] == "3.20"


def flatten_money(totals: dict[str, Any]) -> list[str]:
    values = []
    for figures in totals.values():
        values += [figures["total"], figures["overdue"], figures["not_due"], *figures["aging"].values()]
    return values


# --- order and shape ---------------------------------------------------------------------------------------


def test_lines_are_ordered_by_due_date_then_document_date_then_number(make) -> None:  # type: ignore[no-untyped-def]
    items = [
        Item("FAC-9", days(20), due_date=days(5)),
        Item("FAC-10", days(20), due_date=days(5)),
        Item("FAC-2", days(25), due_date=days(5)),
        Item("FAC-1", days(10), due_date=days(1)),
        Item("FAC-3", days(60), due_date=days(50)),
        Item("NC-1", days(30), due_date=None, document_type="credit_note", amount="-5.00"),
    ]
    doc = make(Case(items)).to_json()
    # NC-1 is due 30 days back (no due date); FAC-2 was posted before FAC-10/FAC-9; numbers compare as text.
    assert [line["document_number"] for line in doc["lines"]] == ["FAC-3", "NC-1", "FAC-2", "FAC-10", "FAC-9", "FAC-1"]


def test_json_document_has_the_contract_shape(make) -> None:  # type: ignore[no-untyped-def]
    items = [
        Item("FAC-1", dt.date(2026, 10, 1), due_date=dt.date(2026, 10, 31), amount="1160", reference="PO-7"),
        Item("FAC-2", dt.date(2026, 11, 20), due_date=dt.date(2026, 12, 20), amount="58.5"),
    ]
    doc = make(Case(items, credit_limit="250000.00")).to_json()
    assert doc == {
        "company": {"code": "1000", "name": "Aceros del Norte, S.A. de C.V.", "tax_id": "ANO010101AB1"},
        "customer": {"number": "100001", "name": "Tinacos del Bajío", "tax_id": ""},
        "cutoff": "2026-11-30",
        "currency": "MXN",
        "credit_limit": "250000.00",
        "available_credit": "248781.50",
        "totals": {
            "MXN": {
                "total": "1218.50",
                "overdue": "1160.00",
                "not_due": "58.50",
                "aging": {"current": "58.50", "1-30": "1160.00", "31-60": "0.00", "61-90": "0.00",
                          "91-120": "0.00", "120+": "0.00"},
            }
        },
        "lines": [
            {"document_number": "FAC-1", "document_type": "invoice", "reference": "PO-7",
             "document_date": "2026-10-01", "due_date": "2026-10-31", "days_overdue": 30,
             "amount": "1160.00", "currency": "MXN", "documents": [], "disputed": False},
            {"document_number": "FAC-2", "document_type": "invoice", "reference": "",
             "document_date": "2026-11-20", "due_date": "2026-12-20", "days_overdue": 0,
             "amount": "58.50", "currency": "MXN", "documents": [], "disputed": False},
        ],
        "contact": {"name": "", "email": "", "phone": ""},
        "payment_instructions": "",
        "data_as_of": None,
    }  # fmt: skip


def test_a_statement_without_lines_has_no_totals(make) -> None:  # type: ignore[no-untyped-def]
    doc = make(Case([Item("FAC-1", days(-1))], credit_limit="100.00")).to_json()
    assert doc["lines"] == []
    assert doc["totals"] == {}
    assert doc["available_credit"] == "100.00"


# --- scoping in the database -------------------------------------------------------------------------------


def test_unknown_company_or_customer_is_not_found(database: str) -> None:
    with session_scope() as session:
        insert_master_data(session)
    with session_scope() as session:
        with pytest.raises(StatementNotFound):
            load_statement(session, "9999", CUSTOMER.code, D)
        with pytest.raises(StatementNotFound):
            load_statement(session, COMPANY.code, "999999", D)
        assert load_statement(session, COMPANY.code, CUSTOMER.code, D).lines == []


def test_codes_are_text_leading_zeros_matter(database: str) -> None:
    with session_scope() as session:
        company = Company(code="0100", name="Cero Cien", currency="MXN")
        other = Company(code="100", name="Cien", currency="MXN")
        customer = Customer(number="0000100011", name="Ceros")
        session.add_all([company, other, customer])
        session.flush()
        insert_items(session, company, customer, [Item("A-1", days(3), amount="1.00")])
        insert_items(session, other, customer, [Item("A-1", days(3), amount="2.00")])
    with session_scope() as session:
        assert load_statement(session, "0100", "0000100011", D).to_json()["totals"]["MXN"]["total"] == "1.00"
        assert load_statement(session, "100", "0000100011", D).to_json()["totals"]["MXN"]["total"] == "2.00"
        with pytest.raises(StatementNotFound):
            load_statement(session, "0100", "100011", D)


# --- properties --------------------------------------------------------------------------------------------

CURRENCIES = ("MXN", "USD", "EUR")


@st.composite
def open_items(draw: st.DrawFn, prefix: str = "", max_size: int = 25) -> list[Item]:
    count = draw(st.integers(0, max_size))
    result = []
    for i in range(count):
        document_date = days(draw(st.integers(-20, 200)))
        due = draw(st.one_of(st.none(), st.integers(-10, 150).map(lambda n, d=document_date: d + dt.timedelta(n))))
        cleared = draw(st.one_of(st.none(), st.integers(-20, 20).map(days)))
        cents = draw(st.integers(-10_000_000, 10_000_000))
        result.append(
            Item(
                number=f"{prefix}{draw(st.sampled_from(['FAC', 'NC', 'PAG']))}-{i:03d}",
                document_date=document_date,
                due_date=due,
                amount=str(Decimal(cents) / 100),
                currency=draw(st.sampled_from(CURRENCIES)),
                cleared_on=cleared,
                document_type=draw(st.sampled_from(["invoice", "credit_note", "debit_note", "payment", "other"])),
                reference=draw(st.sampled_from(["", "PO-1", 'Pedido <7> & "8"'])),
            )
        )
    return result


def expected_lines(items: list[Item], cutoff: dt.date) -> list[Item]:
    return [i for i in items if i.document_date <= cutoff and (i.cleared_on is None or i.cleared_on > cutoff)]


def check_invariants(statement: Statement, items: list[Item], credit_limit: Decimal | None, currency: str) -> None:
    doc = statement.to_json()
    cutoff = statement.cutoff
    wanted = expected_lines(items, cutoff)
    by_number = {i.number: i for i in wanted}

    # Exactly the open items of this customer at this company on the cut-off.
    assert sorted(line["document_number"] for line in doc["lines"]) == sorted(by_number)
    for line in doc["lines"]:
        item = by_number[line["document_number"]]
        due = item.due_date or item.document_date
        assert line["due_date"] == due.isoformat()
        assert line["days_overdue"] == max(0, (cutoff - due).days)
        assert Decimal(line["amount"]) == Decimal(item.amount)
        assert line["currency"] == item.currency
        assert MONEY.fullmatch(line["amount"])
        assert set(line) == {"document_number", "document_type", "reference", "document_date", "due_date",
                             "days_overdue", "amount", "currency", "documents", "disputed"}  # fmt: skip

    order = [(line["due_date"], line["document_date"], line["document_number"]) for line in doc["lines"]]
    assert order == sorted(order)

    # Per currency: total = overdue + not_due = sum of the buckets = sum of the lines.
    assert set(doc["totals"]) == {i.currency for i in wanted}
    for cur, figures in doc["totals"].items():
        own = [line for line in doc["lines"] if line["currency"] == cur]
        total = Decimal(figures["total"])
        assert total == sum((Decimal(line["amount"]) for line in own), Decimal(0))
        assert total == Decimal(figures["overdue"]) + Decimal(figures["not_due"])
        assert total == sum((Decimal(v) for v in figures["aging"].values()), Decimal(0))
        assert list(figures["aging"]) == list(BUCKETS)
        overdue = sum((Decimal(line["amount"]) for line in own if line["days_overdue"] > 0), Decimal(0))
        assert Decimal(figures["overdue"]) == overdue
        assert Decimal(figures["aging"]["current"]) == Decimal(figures["not_due"])
        for value in flatten_money({cur: figures}):
            assert MONEY.fullmatch(value), value

    assert set(doc) == {"company", "customer", "cutoff", "currency", "credit_limit", "available_credit", "totals",
                        "lines", "contact", "payment_instructions", "data_as_of"}  # fmt: skip
    assert doc["currency"] == currency
    if credit_limit is None:
        assert doc["credit_limit"] is None and doc["available_credit"] is None
    else:
        in_currency = Decimal(doc["totals"][currency]["total"]) if currency in doc["totals"] else Decimal(0)
        assert Decimal(doc["available_credit"]) == credit_limit - in_currency
        assert MONEY.fullmatch(doc["credit_limit"]) and MONEY.fullmatch(doc["available_credit"])


@settings(max_examples=300, deadline=None)
@given(
    items=open_items(),
    cutoff_shift=st.integers(-5, 5),
    credit_limit=st.one_of(st.none(), st.integers(0, 10_000_000_00).map(lambda c: Decimal(c) / 100)),
    currency=st.sampled_from(CURRENCIES),
)
def test_property_rules_hold_for_any_items(items, cutoff_shift, credit_limit, currency) -> None:  # type: ignore[no-untyped-def]
    cutoff = D + dt.timedelta(days=cutoff_shift)
    statement = build_statement(
        COMPANY, CUSTOMER, cutoff, [i.row() for i in items], account_currency=currency, credit_limit=credit_limit
    )
    check_invariants(statement, items, credit_limit, currency)


OTHER_COMPANY = Party("2000", "Otra Empresa")
OTHER_CUSTOMER = Party("100002", "Otro Cliente")


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    mine=open_items(prefix="K1C1-", max_size=12),
    same_customer_other_company=open_items(prefix="K1C2-", max_size=6),
    other_customer_same_company=open_items(prefix="K2C1-", max_size=6),
    credit_limit=st.one_of(st.none(), st.integers(0, 1_000_000_00).map(lambda c: Decimal(c) / 100)),
)
def test_property_database_statement_holds_only_this_customer_at_this_company(
    database: str, mine, same_customer_other_company, other_customer_same_company, credit_limit
) -> None:  # type: ignore[no-untyped-def]
    with session_scope() as session:
        for table in (OpenItem, Account, Customer, Company):
            session.execute(delete(table))
    with session_scope() as session:
        company, customer = insert_master_data(session)
        company2 = Company(code=OTHER_COMPANY.code, name=OTHER_COMPANY.name, currency="USD")
        customer2 = Customer(number=OTHER_CUSTOMER.code, name=OTHER_CUSTOMER.name)
        session.add_all([company2, customer2])
        session.flush()
        session.add(Account(company_id=company.id, customer_id=customer.id, currency="MXN", credit_limit=credit_limit))
        session.add(Account(company_id=company2.id, customer_id=customer.id, currency="USD", credit_limit=Decimal(1)))
        session.add(Account(company_id=company.id, customer_id=customer2.id, currency="MXN", credit_limit=Decimal(2)))
        insert_items(session, company, customer, mine)
        insert_items(session, company2, customer, same_customer_other_company)
        insert_items(session, company, customer2, other_customer_same_company)
    with session_scope() as session:
        statement = load_statement(session, COMPANY.code, CUSTOMER.code, D)
    assert all(line.document_number.startswith("K1C1-") for line in statement.lines)
    check_invariants(statement, mine, credit_limit, "MXN")
    # And the pure function agrees with the database on the same items.
    assert (
        statement.to_json()
        == build_statement(
            COMPANY, CUSTOMER, D, [i.row() for i in mine], account_currency="MXN", credit_limit=credit_limit
        ).to_json()
    )
