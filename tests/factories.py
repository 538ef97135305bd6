"""Data for the tests: statements built from plain rows, import files, companies and customers with open
items, the portal's people and grants, and users with known passwords.

Everything here writes through the application's own models (or its import command), on whatever database
the test's fixtures configured; nothing here is a fixture.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from openpyxl import Workbook
from sqlalchemy import select

from shared import accounts
from shared.cli import main
from shared.db import session_scope
from shared.models import (
    Account,
    Company,
    Customer,
    OpenItem,
    OutboxEmail,
    RunAccount,
    StatementRun,
    User,
    UserCustomer,
)
from shared.statements import ItemRow, Party, Statement, build_statement

CUTOFF = dt.date(2026, 10, 31)
"""The cut-off the seeded data (portal people, statement runs) is read at."""

PASSWORD = "una frase de prueba bastante larga"
"""The password of every user made here unless a test asks for another."""


# --- statements built from plain rows (no database) -----------------------------------------------------------

STATEMENT_CUTOFF = dt.date(2026, 11, 30)
COMPANY_PARTY = Party("1000", "Tinacos del Bajío, S.A. de C.V.", "TBA850101AB1", "Av. Industrias 1234\nCelaya, Gto.")
CUSTOMER_PARTY = Party("0000100011", "Ferretería Ñandú & Hijos", "FNH900202XY9", "Calle Hidalgo 45\nQuerétaro, Qro.")


def item(
    number: str,
    amount: str,
    *,
    due: dt.date,
    posted: dt.date | None = None,
    kind: str = "invoice",
    reference: str = "",
    currency: str = "MXN",
) -> ItemRow:
    return ItemRow(number, kind, reference, posted or due - dt.timedelta(days=30), due, Decimal(amount), currency, None)


def make_statement(
    items: list[ItemRow],
    *,
    language: str = "es",
    credit_limit: str | None = "250000.00",
    company: Party = COMPANY_PARTY,
    customer: Party = CUSTOMER_PARTY,
    payment_terms: str = "30 días",
) -> Statement:
    return build_statement(
        company,
        customer,
        STATEMENT_CUTOFF,
        items,
        account_currency="MXN",
        credit_limit=None if credit_limit is None else Decimal(credit_limit),
        language=language,
        payment_terms=payment_terms,
    )


def sample_items() -> list[ItemRow]:
    """Four MXN lines: 45 days overdue, due on the cut-off (not overdue), a credit note, one not yet due."""
    return [
        item("FAC-1", "1234.50", due=STATEMENT_CUTOFF - dt.timedelta(days=45), reference="PO-7"),
        item("FAC-2", "1000.00", due=STATEMENT_CUTOFF, reference="PO-8"),
        item("NC-1", "-200.00", due=STATEMENT_CUTOFF - dt.timedelta(days=5), kind="credit_note"),
        item("FAC-3", "5000.00", due=STATEMENT_CUTOFF + dt.timedelta(days=20)),
    ]


def many_items(count: int, *, currency: str = "MXN") -> list[ItemRow]:
    return [
        item(f"FAC-{n:05d}", f"{100 + n}.25", due=STATEMENT_CUTOFF - dt.timedelta(days=n % 150), currency=currency)
        for n in range(count)
    ]


def widest_statement(language: str = "es", lines: int = 60) -> Statement:
    """A statement with the widest values a page must hold: long names and addresses, two-digit days and months
    in every date, amounts in the tens of millions (credits among them), overdue days in the hundreds, and totals
    in the hundreds of millions."""
    items = []
    for n in range(lines):
        due = dt.date(2025, 10, 28) + dt.timedelta(days=n * 7)
        credit = n % 6 == 5
        items.append(
            item(
                f"FAC-2026-{n:07d}",
                f"{'-' if credit else ''}{12_888_888.88 - n * 111_111:.2f}",
                due=due,
                posted=due - dt.timedelta(days=31),
                kind="credit_note" if credit else "invoice",
                reference=f"OC-ZWMW-{n:010d}-{'W' * 12}",
            )
        )
    return make_statement(
        items,
        language=language,
        credit_limit="900000000.00",
        company=Party(
            "1000",
            "Tinacos, Tuberías y Conexiones Hidráulicas del Bajío y Occidente, S.A.P.I. de C.V.",
            "TTC850101AB1",
            "Av. Industrias Manufactureras 12345, Parque Industrial Castro del Río\nCelaya, Gto. 38010",
        ),
        customer=Party(
            "0000100011",
            "Ferretería, Plomería y Materiales para la Construcción Ñandú & Hijos, S. de R.L. de C.V.",
            "FNH900202XY9",
            "Calle Miguel Hidalgo y Costilla 4567, Interior 89\nSantiago de Querétaro, Qro. 76000",
        ),
        payment_terms="Crédito a 30 días naturales",
    )


# --- import files and the command that loads them ---------------------------------------------------------------


COMPANIES = """company_code,name,tax_id,address,currency
1000,"Tinacos del Bajío, S.A. de C.V.",TBA850101AB1,"Av. Juárez 1450, Guanajuato",MXN
3000,Water Solutions USA Inc.,,"1200 Commerce St., San Antonio",USD
"""

CUSTOMERS = (
    "customer_number,name,tax_id,address,statement_emails,language,statement_formats\n"
    '0000100011,"Ferretería <La Económica> & Hijos, S. de R.L.",FEC850101AB1,"Calle Morelos 12, León",'
    "pagos@example.com;Compras@Example.MX,es,pdf;xlsx\n"
    """100002,"Comercial ""El Sol"" & Cía.",,,,en,pdf
100003,=HYPERLINK("x"),,,cobranza@example.com,,
"""
)

ACCOUNTS = """customer_number,company_code,credit_limit,payment_terms
0000100011,1000,250000.00,30 días
100002,1000,,Contado
100002,3000,10000,
"""

OPEN_ITEMS = (
    "company_code,customer_number,document_number,document_type,reference,document_date,due_date,amount,currency,"
    """cleared_on
1000,0000100011,FAC-0001,invoice,PO-7 <b>,2026-10-01,2026-10-31,1160.00,MXN,
1000,0000100011,NC-0002,credit_note,"=1+1",2026-10-05,,-116.5,,
1000,0000100011,FAC-0003,invoice,,2026-09-01,2026-10-01,500,USD,2026-11-15
1000,100002,FAC-0004,invoice,,2026-11-20,2026-12-20,2000.00,,
3000,100002,INV-1,invoice,,2026-11-01,2026-12-01,99.99,,
"""
)

USERS = """username,email,full_name,role,customers,language
ana,Ana@Example.com,Ana Núñez,customer,0000100011;100002,en
staff1,staff1@example.com,,staff,,
"""

GOOD = {
    "companies.csv": COMPANIES,
    "customers.csv": CUSTOMERS,
    "accounts.csv": ACCOUNTS,
    "open_items.csv": OPEN_ITEMS,
    "users.csv": USERS,
}


def write_folder(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


def write_workbook(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """A workbook with one sheet per name; cells keep their Python types (dates, numbers, text)."""
    workbook = Workbook()
    workbook.remove(workbook.active)  # type: ignore[arg-type]
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # text stays text, even `=1+1`
    workbook.save(path)
    return path


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def dump() -> dict[str, list[tuple[Any, ...]]]:
    """Everything the import can write, by natural keys (not ids), sorted: equal dumps mean equal data."""
    with session_scope() as session:
        companies = {c.id: c.code for c in session.scalars(select(Company))}
        customers = {c.id: c.number for c in session.scalars(select(Customer))}
        users = {u.id: u.username for u in session.scalars(select(User))}
        return {
            "companies": sorted(
                (c.code, c.name, c.tax_id, c.address, c.currency) for c in session.scalars(select(Company))
            ),
            "customers": sorted(
                (c.number, c.name, c.tax_id, c.address, c.statement_emails, c.language, c.statement_formats)
                for c in session.scalars(select(Customer))
            ),
            "accounts": sorted(
                (companies[a.company_id], customers[a.customer_id], a.credit_limit, a.currency, a.payment_terms)
                for a in session.scalars(select(Account))
            ),
            "open_items": sorted(
                (
                    companies[i.company_id],
                    i.document_number,
                    customers[i.customer_id],
                    i.document_type,
                    i.reference,
                    i.document_date,
                    i.due_date,
                    i.amount,
                    i.currency,
                    i.cleared_on,
                )
                for i in session.scalars(select(OpenItem))
            ),
            "users": sorted(
                (u.username, u.email, u.full_name, u.role, u.language, u.status) for u in session.scalars(select(User))
            ),
            "grants": sorted(
                (users[g.user_id], customers[g.customer_id]) for g in session.scalars(select(UserCustomer))
            ),
        }


# --- companies and customers with open items (statement runs) -------------------------------------------------


@dataclass(frozen=True)
class CustomerSpec:
    number: str
    name: str
    emails: str = ""
    language: str = "es"
    formats: str = "pdf;xlsx"
    items: tuple[tuple[str, str, str, str], ...] = ()  # (document, due date, amount, currency)
    credit_limit: str | None = "100000.00"


def add_company(code: str, name: str, schedule: str = "monthly", currency: str = "MXN") -> int:
    with session_scope() as session:
        company = Company(
            code=code,
            name=name,
            tax_id=f"RFC{code}",
            address="Av. Juárez 100, León, Gto.",
            currency=currency,
            schedule=schedule,
        )
        session.add(company)
        session.flush()
        return company.id


def add_customers(company_code: str, specs: list[CustomerSpec]) -> None:
    with session_scope() as session:
        company = session.query(Company).filter_by(code=company_code).one()
        for spec in specs:
            customer = session.query(Customer).filter_by(number=spec.number).one_or_none()
            if customer is None:
                customer = Customer(
                    number=spec.number,
                    name=spec.name,
                    tax_id="",
                    address="",
                    statement_emails=spec.emails,
                    language=spec.language,
                    statement_formats=spec.formats,
                )
                session.add(customer)
                session.flush()
            session.add(
                Account(
                    company_id=company.id,
                    customer_id=customer.id,
                    currency=company.currency,
                    credit_limit=None if spec.credit_limit is None else Decimal(spec.credit_limit),
                    payment_terms="30 días",
                )
            )
            for document, due, amount, currency in spec.items:
                due_date = dt.date.fromisoformat(due)
                session.add(
                    OpenItem(
                        company_id=company.id,
                        customer_id=customer.id,
                        document_number=f"{spec.number}-{document}",
                        document_type="invoice",
                        reference=f"PO-{document}",
                        document_date=due_date - dt.timedelta(days=30),
                        due_date=due_date,
                        amount=Decimal(amount),
                        currency=currency,
                    )
                )


def many_customers(prefix: str, count: int, lines: int = 3, domain: str = "example.com") -> list[CustomerSpec]:
    """`count` customers with one recipient each and a few lines."""
    return [
        CustomerSpec(
            number=f"{prefix}{n:04d}",
            name=f"Cliente {prefix}{n:04d} S.A. de C.V.",
            emails=f"pagos{prefix}{n:04d}@{domain}",
            formats="pdf",
            items=tuple((f"F{k}", f"2026-{8 + k % 3:02d}-15", f"{1000 + n * 10 + k}.50", "MXN") for k in range(lines)),
        )
        for n in range(count)
    ]


# --- the portal's people: two companies, four customers, one user of each kind ---------------------------------


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

        def open_item(company: Company, customer: Customer, number: str, **values: object) -> OpenItem:
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
                open_item(bajio, alvarez, "FAC-1", reference="PO-7", amount=Decimal("1234.50")),
                open_item(
                    bajio,
                    alvarez,
                    "FAC-2",
                    reference="<script>alert(1)</script>",
                    document_date=dt.date(2026, 10, 20),
                    due_date=dt.date(2026, 11, 19),
                    amount=Decimal("5000.00"),
                ),
                open_item(
                    bajio,
                    alvarez,
                    "NC-3",
                    document_type="credit_note",
                    reference="Devolución Bajío",
                    document_date=dt.date(2026, 6, 1),
                    due_date=dt.date(2026, 6, 1),
                    amount=Decimal("-200.00"),
                ),
                open_item(
                    bajio, alvarez, "FAC-FUTURE", document_date=dt.date(2026, 11, 5), due_date=dt.date(2026, 12, 5)
                ),
                open_item(norte, alvarez, "INV-9", amount=Decimal("77.00"), currency="USD"),
                open_item(bajio, acme, "FAC-100", amount=Decimal("999.99")),
                open_item(bajio, zeros, "FAC-200", amount=Decimal("1.00")),
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


def set_password(username: str, password: str = PASSWORD) -> None:
    """Give one user a known password (as if they had chosen it), so a test signs in through the real form."""
    with session_scope() as session:
        session.query(User).filter_by(username=username).one().password_hash = accounts.hash_password(password)


def write_experience_data(folder: Path, anchor: dt.date) -> dict[str, str]:
    """Import files for the portal's look and feel: customer 990001 at companies 1000 and 2000 of the demo data,
    with 226 lines at 1000 (credit notes among them, some in USD beside the account's MXN, one line of
    104,282.12) and long names; customer 990002 at company 1000 only; a Spanish and an English customer user
    holding both, and an admin. Returns what the tests look for."""
    customers = (
        "customer_number,name,tax_id,address,statement_emails,language\n"
        '990001,"Constructora y Materiales Ñandú & Hijos del Occidente, S.A.P.I. de C.V.",CMN900202XY9,'
        '"Calle Miguel Hidalgo y Costilla 4567, Interior 89, Santiago de Querétaro, Qro.",pagos@example.com,es\n'
        "990002,Abarrotes La Única,,,,es\n"
    )
    accounts_csv = (
        "company_code,customer_number,credit_limit,payment_terms\n"
        "1000,990001,3000000.00,30 días\n2000,990001,,Contado\n1000,990002,50000,15 días\n"
    )
    items = [
        "company_code,customer_number,document_number,document_type,reference,document_date,due_date,amount,currency"
    ]
    for n in range(226):
        posted = anchor - dt.timedelta(days=3 + (n * 7) % 240)
        due = posted + dt.timedelta(days=30)
        credit = n % 9 == 4
        amount = "104282.12" if n == 17 else f"{'-' if credit else ''}{1000 + (n * 7919) % 250000}.{n % 100:02d}"
        currency = "USD" if n % 25 == 7 else "MXN"
        kind = "credit_note" if credit else "invoice"
        items.append(f"1000,990001,UX-{n:05d},{kind},OC-{n * 37:06d},{posted},{due},{amount},{currency}")
    items.append(f"2000,990001,UX-N-1,invoice,,{anchor - dt.timedelta(days=40)},{anchor - dt.timedelta(days=10)},5000,")
    items.append(f"1000,990002,UX-U-1,invoice,,{anchor - dt.timedelta(days=20)},{anchor + dt.timedelta(days=10)},750,")
    users = (
        "username,email,full_name,role,customers,language\n"
        "ux-es,ux-es@example.com,Lucía Fernández,customer,990001;990002,es\n"
        "ux-en,ux-en@example.com,Laura Smith,customer,990001;990002,en\n"
        "ux-admin,ux-admin@example.com,Adela Ruiz,admin,,es\n"
    )
    write_folder(
        folder,
        {
            "customers.csv": customers,
            "accounts.csv": accounts_csv,
            "open_items.csv": "\n".join(items) + "\n",
            "users.csv": users,
        },
    )
    return {"customer": "990001", "single": "990002", "company": "1000", "amount": "104,282.12"}


def give_passwords(password: str = PASSWORD) -> None:
    """Give every seeded user the same known password (one hash), so tests sign in through the real form."""
    hashed = accounts.hash_password(password)
    with session_scope() as session:
        for user in session.scalars(select(User)):
            user.password_hash = hashed


# --- users with known passwords -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TestUser:
    __test__ = False

    id: int
    username: str
    email: str
    password: str
    role: str


def create_test_user(
    *,
    role: str = "customer",
    customers: tuple[str, ...] | list[str] = (),
    password: str = PASSWORD,
    username: str | None = None,
    email: str | None = None,
    language: str = "es",
    full_name: str = "",
) -> TestUser:
    username = username or f"{role}-{uuid.uuid4().hex[:8]}"
    email = email or f"{username}@example.com"
    with session_scope() as session:
        user = accounts.create_user(
            session,
            username=username,
            email=email,
            role=role,
            customer_numbers=list(customers),
            language=language,
            full_name=full_name,
        )
        user.password_hash = accounts.hash_password(password)
        user_id = user.id
    return TestUser(id=user_id, username=username, email=email, password=password, role=role)


def user_row(username: str) -> User:
    with session_scope() as session:
        user = session.query(User).filter_by(username=username).one()
        session.expunge(user)
        return user


# --- a run with every kind of outcome (the ops pages) --------------------------------------------------------

REFUSED = "550 5.1.1 <nadie@example.com>: no such user"


@dataclass(frozen=True)
class SeededRun:
    """`seed_run_outcomes`' run and the ids a test needs, by outcome."""

    run: int
    accounts: dict[str, list[int]]  # outcome -> run account ids
    emails: dict[str, list[int]]  # email status -> outbox ids


def seed_run_outcomes(sent: int = 52, *, cutoff: dt.date = CUTOFF, sent_at: dt.datetime | None = None) -> SeededRun:
    """Company 1000 (made unless it exists) and a run at `cutoff` over `sent` + 6 new accounts, recorded as
    workers would leave them: `sent` accounts mailed (one recipient each), one skipped (no lines), one without
    recipients, one failed to render, one whose email the server refused, one whose email is waiting, and one not
    processed yet."""
    sent_at = sent_at or dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    names = [f"S{n:04d}" for n in range(sent)] + ["X-SKIP", "X-NOREC", "X-BROKEN", "X-REFUSED", "X-WAIT", "X-TODO"]
    with session_scope() as session:
        company = session.scalar(select(Company).where(Company.code == "1000"))
        if company is None:
            company = Company(code="1000", name="Tinacos del Bajío", currency="MXN")
            session.add(company)
            session.flush()
        run = StatementRun(run_key=f"test:{uuid.uuid4().hex}", cutoff=cutoff, trigger="cli", status="running")
        session.add(run)
        session.flush()
        accounts: dict[str, list[int]] = {}
        emails: dict[str, list[int]] = {}
        for number in names:
            customer = Customer(number=number, name=f"Cliente {number}", statement_emails=f"pagos.{number}@example.com")
            session.add(customer)
            session.flush()
            account = Account(company_id=company.id, customer_id=customer.id, currency="MXN")
            session.add(account)
            session.flush()
            status, outcome, email_status, error = {
                "X-SKIP": ("skipped", "skipped", None, ""),
                "X-NOREC": ("no_recipients", "no_recipients", None, ""),
                "X-BROKEN": ("failed", "failed", None, "ValueError: the statement could not be rendered"),
                "X-REFUSED": ("done", "failed", "failed", ""),
                "X-WAIT": ("done", "sending", "pending", ""),
                "X-TODO": ("pending", "pending", None, ""),
            }.get(number, ("done", "sent", "sent", ""))
            run_account = RunAccount(run_id=run.id, account_id=account.id, status=status, error=error)
            session.add(run_account)
            session.flush()
            accounts.setdefault(outcome, []).append(run_account.id)
            if email_status is not None:
                email = OutboxEmail(
                    run_id=run.id,
                    company_id=company.id,
                    customer_id=customer.id,
                    cutoff=cutoff,
                    recipient=f"pagos.{number}@example.com",
                    status=email_status,
                    attempts=1 if email_status != "pending" else 0,
                    sent_at=sent_at if email_status == "sent" else None,
                    last_error=REFUSED if email_status == "failed" else "",
                    first_queued_at=sent_at - dt.timedelta(minutes=5),
                    updated_at=sent_at,
                )
                session.add(email)
                session.flush()
                emails.setdefault(email_status, []).append(email.id)
        run.accounts = len(names)
        return SeededRun(run.id, accounts, emails)
