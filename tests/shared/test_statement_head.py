"""A statement's head read as plain rows (the email's and a run's batch queries, `HEAD_COLUMNS`) is the head of
the ORM objects (`StatementHead.of`), field for field, with and without an account at the company: each field
holds a value of its own here, so two columns read in the wrong order fail. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

from sqlalchemy import delete, select

from shared.db import autocommit, session_scope
from shared.mail.statement_rows import statement_rows
from shared.models import Account, Company, Customer
from shared.statements.loading import StatementHead
from tests.factories import CustomerSpec, add_company, add_customers


def orm_head(company_id: int, customer_id: int) -> StatementHead:
    with session_scope() as session:
        company = session.get(Company, company_id)
        customer = session.get(Customer, customer_id)
        account = session.scalar(
            select(Account).where(Account.company_id == company_id, Account.customer_id == customer_id)
        )
        assert company is not None and customer is not None
        return StatementHead.of(company, customer, account)


def email_head(company_id: int, customer_id: int) -> tuple[StatementHead, str]:
    email = SimpleNamespace(company_id=company_id, customer_id=customer_id, cutoff=dt.date(2026, 10, 31))
    with autocommit() as connection:
        head, formats, _items = statement_rows(connection, email, None)  # type: ignore[arg-type]
    return StatementHead(*head), formats


def test_the_head_as_rows_is_the_head_of_the_objects(database: str) -> None:
    company_id = add_company("1000", "Aceros del Norte", currency="MXN")
    add_customers("1000", [CustomerSpec("100001", "Tinacos del Bajío", "pagos@tinacos.example", language="en")])
    add_customers("1000", [CustomerSpec("100002", "Ferretería Núñez", "pagos@nunez.example", formats="pdf")])
    with session_scope() as session:
        company = session.get(Company, company_id)
        assert company is not None
        company.collections_name, company.collections_email = "Cobranza Norte", "cobranza@aceros.example"
        company.collections_phone, company.payment_instructions = "+52 81 5555 0000", "CLABE 012 180 0011"
        company.data_as_of = dt.datetime(2026, 11, 29, 18, 30, tzinfo=dt.UTC)
        tinacos = session.scalars(select(Customer).where(Customer.number == "100001")).one()
        tinacos.tax_id, tinacos.address = "TBA850101AB1", "Blvd. López Mateos 1500, León"
        tinacos.collector_name, tinacos.collector_email = "Laura Ríos", "laura.rios@aceros.example"
        tinacos.collector_phone = "+52 477 555 0101"
        account = session.scalars(select(Account).where(Account.customer_id == tinacos.id)).one()
        account.currency, account.credit_limit, account.payment_terms = "USD", Decimal("12345.67"), "45 días"
        nunez_id = session.scalars(select(Customer.id).where(Customer.number == "100002")).one()
        tinacos_id = tinacos.id
    with session_scope() as session:  # Ferretería Núñez has no account at the company any more
        session.execute(delete(Account).where(Account.customer_id == nunez_id))

    head, formats = email_head(company_id, tinacos_id)
    assert head == orm_head(company_id, tinacos_id) and formats == "pdf;xlsx"
    assert (head.account_currency, head.credit_limit, head.payment_terms) == ("USD", Decimal("12345.67"), "45 días")
    assert (head.customer_language, head.collector_phone, head.collections_phone) == (
        "en",
        "+52 477 555 0101",
        "+52 81 5555 0000",
    )
    head, formats = email_head(company_id, nunez_id)
    assert head == orm_head(company_id, nunez_id) and formats == "pdf"
    assert (head.account_currency, head.credit_limit, head.payment_terms) == (None, None, None)
