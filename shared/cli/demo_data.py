"""Generated import files: a realistic demo data set, and large uniform sets for the import benchmark.

Both write the CSV files of contract §1 (`companies.csv`, `customers.csv`, `accounts.csv`, `open_items.csv`,
`users.csv`; the demo also `documents.csv` and its files) into a folder, deterministically for a given seed and
anchor date.

    python -m shared.cli.demo_data FOLDER [--customers 200] [--seed 7] [--anchor 2026-11-29]
    python -m shared.cli.demo_data FOLDER --bench --customers 2000 --items-per-customer 100
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import unicodedata
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path

from shared import clock
from shared.cli.demo_documents import invoice_pdf, invoice_xml
from shared.ingest.columns import SPECS

COMPANIES = (
    (
        "1000",
        "Tinacos del Bajío, S.A. de C.V.",
        "TBA850101AB1",
        "Av. Juárez 1450, Col. Centro, 36000 Guanajuato, Gto.",
        "MXN",
    ),
    (
        "2000",
        "Plásticos Rotomoldeados del Norte, S.A. de C.V.",
        "PRN930615KZ3",
        "Blvd. Díaz Ordaz 3200, Parque Industrial, 64000 Monterrey, N.L.",
        "MXN",
    ),
    ("3000", "Water Solutions USA Inc.", "", "1200 Commerce St., Suite 300, San Antonio, TX 78205", "USD"),
)

_TRADE = (
    "Ferretería",
    "Materiales",
    "Construcciones",
    "Distribuidora",
    "Comercializadora",
    "Plomería",
    "Hidráulica",
    "Tlapalería",
    "Abarrotes",
    "Agropecuaria",
    "Desarrollos Inmobiliarios",
    "Servicios Integrales",
    "Riego y Bombeo",
    "Acabados",
    "Grupo Constructor",
)
_NAME = (
    "del Bajío",
    "Hermanos Pérez",
    "La Económica",
    "Núñez",
    "San José",
    "El Águila",
    "Guadalupe",
    "Peñasco",
    "Los Altos",
    "Hidalgo",
    "Querétaro",
    "Martínez & Asociados",
    "Ibarra",
    "Santa Fe",
    "El Caracol",
    "Zacatecas",
    "Obregón",
    "Montaña Azul",
    "del Pacífico",
    "Tres Ríos",
    "Jiménez",
    "Mendoza",
    "Cañada",
    "La Piedad",
    "Yucatán",
)
_FORM = (", S.A. de C.V.", ", S. de R.L. de C.V.", " S.A.P.I. de C.V.", ", S.C.", "")
_STREETS = ("Av. Reforma", "Calle Morelos", "Blvd. López Mateos", "Calle 5 de Mayo", "Av. Insurgentes", "Calle Allende")
_CITIES = (
    ("León", "Gto.", "37000"),
    ("Celaya", "Gto.", "38000"),
    ("Querétaro", "Qro.", "76000"),
    ("Aguascalientes", "Ags.", "20000"),
    ("San Luis Potosí", "S.L.P.", "78000"),
    ("Monterrey", "N.L.", "64000"),
    ("Saltillo", "Coah.", "25000"),
    ("Guadalajara", "Jal.", "44100"),
    ("Morelia", "Mich.", "58000"),
    ("Mérida", "Yuc.", "97000"),
)
_US_CUSTOMERS = (
    "Rio Grande Supply Co.",
    "Lone Star Plumbing LLC",
    "Desert Water Systems Inc.",
    "Border Builders & Sons",
)
_TERMS = ((30, "30 días"), (45, "45 días"), (60, "60 días"), (15, "15 días"), (0, "Contado"))


def _write_csv(folder: Path, kind: str, rows: Iterable[Sequence[object]]) -> None:
    """One import file: the header of every column the file may have (`SPECS`), then the rows, which give the
    columns in that order (the optional ones at the end may be left out)."""
    header = [column.name for column in SPECS[kind].columns]
    path = folder / f"{kind}.csv"
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([*row, *[""] * (len(header) - len(row))])
    tmp.replace(path)


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = [w for w in "".join(c if c.isalnum() else " " for c in plain).split() if w not in _STOP]
    return ".".join(words[:2]) or "cliente"


_STOP = {"s", "a", "de", "c", "v", "r", "l", "del", "la", "el", "los", "y", "sa", "cv", "sapi", "llc", "inc", "co"}


def _rfc(rng: random.Random, name: str) -> str:
    letters = "".join(c for c in unicodedata.normalize("NFKD", name).upper() if "A" <= c <= "Z")[:3].ljust(3, "X")
    born = dt.date(1980, 1, 1) + dt.timedelta(days=rng.randrange(0, 15000))
    tail = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(3))
    return f"{letters}{born:%y%m%d}{tail}"


def _money(value: float) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.01")))


def write_demo_data(folder: Path, *, customers: int = 200, seed: int = 7, anchor: dt.date | None = None) -> None:
    """Write a realistic demo data set: three companies, `customers` customers, a few thousand open items
    spread over the eight months before `anchor` (default: today in the business time zone), and the demo's users."""
    rng = random.Random(seed)
    anchor = anchor or clock.today()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    _write_csv(folder, "companies", COMPANIES)

    customer_rows: list[tuple[str, ...]] = []
    used_names: set[str] = set()
    for index in range(customers):
        # One customer number keeps leading zeros, as some ERPs export them.
        number = "0000100011" if index == 10 else str(100001 + index)
        if index % 50 == 37:
            name = _US_CUSTOMERS[(index // 50) % len(_US_CUSTOMERS)]
        elif index == 3:
            name = 'Comercial "El Sol" & Cía., S.A. de C.V.'
        elif index == 4:
            name = "Ferretería <La Económica> & Hijos, S. de R.L. de C.V."
        else:
            name = f"{rng.choice(_TRADE)} {rng.choice(_NAME)}{rng.choice(_FORM)}"
            while name in used_names:
                name = f"{rng.choice(_TRADE)} {rng.choice(_NAME)} {rng.choice(('Norte', 'Sur', 'Centro', 'II'))}"
                name += rng.choice(_FORM)
        used_names.add(name)
        city, state, postcode = rng.choice(_CITIES)
        address = f"{rng.choice(_STREETS)} {rng.randint(10, 4999)}, Col. Centro, {postcode} {city}, {state}"
        slug = _slug(name)
        domain = rng.choice(("example.com", "example.com.mx", "example.mx"))
        roll = rng.random()
        if roll < 0.04 and index > 5:
            emails = ""
        elif roll < 0.25:
            emails = f"cuentasporpagar@{slug.replace('.', '')}.{domain};{slug}@{domain}"
        else:
            emails = f"{slug}@{domain}"
        language = "en" if index % 50 == 37 or (index > 10 and rng.random() < 0.1) else "es"
        formats = rng.choices(("pdf;xlsx", "pdf", "xlsx"), weights=(80, 15, 5))[0]
        customer_rows.append((number, name, _rfc(rng, name), address, emails, language, formats))
    _write_csv(folder, "customers", customer_rows)

    numbers = [row[0] for row in customer_rows]
    account_rows: list[tuple[str, ...]] = []
    accounts: list[tuple[str, str, int]] = []  # company, customer, payment days
    for index, number in enumerate(numbers):
        if index % 50 == 37:
            companies = ["3000"]
        elif index < 3:
            companies = ["1000", "2000"] + (["3000"] if index == 1 else [])
        else:
            roll = rng.random()
            companies = ["1000"] if roll < 0.45 else ["2000"] if roll < 0.7 else ["1000", "2000"]
            if rng.random() < 0.08:
                companies.append("3000")
        for company in companies:
            days, terms = rng.choice(_TERMS)
            currency = "USD" if company == "3000" else "MXN"
            if index < 2 and company == "1000":
                limit = _money(3_000_000)  # the two large customers
            elif rng.random() < 0.1:
                limit = ""
            else:
                limit = _money(rng.choice((50_000, 100_000, 150_000, 250_000, 500_000, 1_000_000)))
                if currency == "USD":
                    limit = _money(rng.choice((10_000, 25_000, 50_000)))
            account_rows.append((company, number, limit, currency, terms))
            accounts.append((company, number, days))
    _write_csv(folder, "accounts", account_rows)

    item_rows: list[tuple[str, ...]] = []
    sequence = {code: 1 for code, *_ in COMPANIES}

    def document(company: str, prefix: str) -> str:
        value = sequence[company]
        sequence[company] += 1
        return f"{prefix}-{company[0]}{value:06d}"

    credit_customer = numbers[5] if len(numbers) > 5 else None
    usd_in_mxn_customer = numbers[2] if len(numbers) > 2 else None
    large = set(numbers[:2])
    credited: set[str] = set()
    for company, number, days in accounts:
        currency = "USD" if company == "3000" else "MXN"
        count = rng.randint(300, 600) if number in large and company == "1000" else rng.randint(3, 22)
        first = True
        for _ in range(count):
            posted = anchor - dt.timedelta(days=rng.randint(0, 240))
            amount = rng.choice((1, 1, 2, 3, 5, 8, 13)) * rng.uniform(800, 9000)
            if currency == "USD":
                amount /= 17
            reference = f"OC-{rng.randint(1000, 99999)}" if rng.random() < 0.7 else ""
            cleared = ""
            if first:
                # Every account's first line is an open invoice, so each statement has something to show.
                first = False
                kind, prefix, sign = "invoice", "FAC", 1
                posted = anchor - dt.timedelta(days=rng.randint(35, 90))
            else:
                kind, prefix, sign = rng.choices(
                    (("invoice", "FAC", 1), ("credit_note", "NC", -1), ("debit_note", "ND", 1), ("payment", "PAG", -1)),
                    weights=(78, 8, 4, 10),
                )[0]
                # Most old invoices are paid by now; recent ones mostly are not.
                age = (anchor - posted).days
                if kind == "invoice" and rng.random() < (0.9 if age > 120 else 0.7 if age > 60 else 0.25):
                    paid = posted + dt.timedelta(days=rng.randint(5, days + 40))
                    if paid <= anchor:
                        cleared = paid.isoformat()
            if kind in ("credit_note", "payment"):
                amount = amount / 3
            due = posted if kind in ("payment", "credit_note") else posted + dt.timedelta(days=days)
            item_rows.append(
                (
                    company,
                    number,
                    document(company, prefix),
                    kind,
                    reference,
                    posted.isoformat(),
                    due.isoformat(),
                    _money(sign * amount),
                    currency,
                    cleared,
                )
            )
        if number == usd_in_mxn_customer and company == "1000":
            # Imported equipment billed in dollars by the Mexican company: a second currency on one statement.
            for months in (1, 2):
                posted = anchor - dt.timedelta(days=30 * months + 3)
                item_rows.append(
                    (
                        company,
                        number,
                        document(company, "FAC"),
                        "invoice",
                        "Importación equipo",
                        posted.isoformat(),
                        (posted + dt.timedelta(days=days)).isoformat(),
                        _money(rng.uniform(1500, 4000)),
                        "USD",
                        "",
                    )
                )
        if number == credit_customer and number not in credited:
            credited.add(number)
            # An advance payment larger than what is owed: the customer has a credit balance.
            posted = anchor.replace(day=1) - dt.timedelta(days=10)  # before last month's cut-off
            item_rows.append(
                (
                    company,
                    number,
                    document(company, "PAG"),
                    "payment",
                    "Anticipo",
                    posted.isoformat(),
                    posted.isoformat(),
                    "-950000.00",
                    currency,
                    "",
                )
            )
    _write_csv(folder, "open_items", item_rows)
    _write_documents(folder, item_rows, customer_rows)

    granted = numbers[:3]
    user_rows = [
        ("admin", "admin@example.com", "Administración del portal", "admin", "", "es"),
        ("cobranza", "cobranza@example.com", "Departamento de Cobranza", "staff", "", "es"),
        ("cliente", "compras@example.com.mx", "Laura Gómez Ríos", "customer", ";".join(granted), "es"),
    ]
    if len(numbers) > 6:
        user_rows.append(("ferreteria", "pagos@example.mx", "José Núñez", "customer", numbers[6], "es"))
    english = next((n for n, row in zip(numbers, customer_rows, strict=True) if row[5] == "en"), None)
    if english:
        user_rows.append(("buyer", "buyer@example.com", "Mary O'Neil", "customer", english, "en"))
    _write_csv(folder, "users", user_rows)


def _write_documents(folder: Path, item_rows: list[tuple[str, ...]], customer_rows: list[tuple[str, ...]]) -> None:
    """The CFDI PDF and XML of the three most recent open invoices of each of the first three customers at
    company 1000 (the demo's customer user holds them), in `documentos/`, and `documents.csv` naming them."""
    companies = {row[0]: row for row in COMPANIES}
    names = {row[0]: row[1] for row in customer_rows}
    rows: list[tuple[str, ...]] = []
    files = folder / "documentos"
    files.mkdir(exist_ok=True)
    for number in [row[0] for row in customer_rows[:3]]:
        invoices = [
            row for row in item_rows if row[0] == "1000" and row[1] == number and row[3] == "invoice" and not row[9]
        ]
        for row in sorted(invoices, key=lambda r: r[5], reverse=True)[:3]:
            company, _, document_number = companies[row[0]], row[1], row[2]
            day, amount = dt.date.fromisoformat(row[5]), Decimal(row[7])
            pdf = invoice_pdf(company[1], document_number, names[number], amount, day)
            xml = invoice_xml(company[1], company[2], document_number, names[number], amount, day)
            (files / f"{document_number}.pdf").write_bytes(pdf)
            (files / f"{document_number}.xml").write_bytes(xml)
            rows.append((row[0], document_number, f"documentos/{document_number}.pdf"))
            rows.append((row[0], document_number, f"documentos/{document_number}.xml"))
    _write_csv(folder, "documents", rows)


def write_bench_data(folder: Path, *, customers: int, items_per_customer: int, seed: int = 7) -> None:
    """Write a large uniform data set: one company, `customers` customers with an account each and
    `items_per_customer` open items each (customers x items_per_customer rows in open_items.csv)."""
    rng = random.Random(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    anchor = dt.date(2026, 11, 30)
    _write_csv(folder, "companies", [COMPANIES[0]])
    numbers = [f"{200000 + i:07d}" for i in range(customers)]
    _write_csv(
        folder,
        "customers",
        (
            (
                n,
                f"Cliente de prueba {n}, S.A. de C.V.",
                f"CPR{rng.randint(100000, 999999)}AB{i % 10}",
                "",
                f"c{n}@example.com",
                "es",
                "pdf;xlsx",
            )
            for i, n in enumerate(numbers)
        ),
    )
    _write_csv(folder, "accounts", (("1000", n, "250000.00", "MXN", "30 días") for n in numbers))

    def items() -> Iterable[tuple[str, ...]]:
        sequence = 0
        for number in numbers:
            for _ in range(items_per_customer):
                sequence += 1
                posted = anchor - dt.timedelta(days=rng.randint(0, 240))
                yield (
                    "1000",
                    number,
                    f"FAC-{sequence:08d}",
                    "invoice",
                    f"OC-{sequence % 99991}",
                    posted.isoformat(),
                    (posted + dt.timedelta(days=30)).isoformat(),
                    f"{rng.randint(100, 999999) / 100:.2f}",
                    "MXN",
                    "",
                )

    _write_csv(folder, "open_items", items())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write generated import files (CSV) into FOLDER.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--anchor", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD (default: today)")
    parser.add_argument("--bench", action="store_true", help="a large uniform set instead of the demo set")
    parser.add_argument("--items-per-customer", type=int, default=100)
    args = parser.parse_args(argv)
    if args.bench:
        write_bench_data(
            args.folder, customers=args.customers, items_per_customer=args.items_per_customer, seed=args.seed
        )
    else:
        write_demo_data(args.folder, customers=args.customers, seed=args.seed, anchor=args.anchor)


if __name__ == "__main__":
    main()
