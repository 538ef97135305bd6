"""Money, dates and words in Spanish (es-MX, the default) and English (en-US)."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
from jinja2 import Environment

from shared.i18n import (
    format_date,
    format_datetime,
    format_money,
    gettext,
    install_jinja,
    normalize_language,
)

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("amount", "currency", "language", "expected"),
    [
        ("1234.5", "MXN", "es", "$1,234.50"),
        ("-1234.5", "MXN", "es", "-$1,234.50"),
        ("0", "MXN", "es", "$0.00"),
        ("1234567.891", "MXN", "es", "$1,234,567.89"),
        ("1234.5", "USD", "es", f"USD{NBSP}1,234.50"),
        ("1234.5", "MXN", "en", "MX$1,234.50"),
        ("1234.5", "USD", "en", "$1,234.50"),
        ("-80", "EUR", "en", "-€80.00"),
    ],
)
def test_money_follows_the_locale(amount: str, currency: str, language: str, expected: str) -> None:
    assert format_money(Decimal(amount), currency, language) == expected


def _as_babel_writes(amount: Decimal | int, currency: str, language: str) -> str:
    """Babel's `format_currency` in the language's locale, with CLDR's no-break space after a symbol of letters."""
    from babel.numbers import format_currency

    from shared.i18n.formatting import LOCALES

    text = format_currency(amount, currency, locale=LOCALES[language])
    symbol = text.lstrip("-").split("1")[0].rstrip("0123456789,.")
    return text.replace(symbol, symbol + NBSP, 1) if symbol[-1:].isalpha() else text


@pytest.mark.parametrize("language", ["es", "en"])
def test_money_is_written_as_babel_writes_it_for_any_amount(language: str) -> None:
    # Amounts are written without Babel where the locale's pattern allows (checked once per currency); every
    # amount must still come out exactly as Babel and the currency-spacing rule write it: rounding half to even
    # (to the context's 28 digits, then to the places), negative zero, grouping, the currency's own decimal
    # places, the no-break space after a symbol of letters.
    generator = random.Random(20261201)
    amounts = [Decimal("1e20"), Decimal("-98765432109876543210.5"), Decimal("0.125"), Decimal("-0.0049")]
    amounts += [Decimal("-0"), Decimal("0.0149999999999999999999999999999"), Decimal("2.50000000000000000000000000001")]
    for _ in range(400):
        whole = generator.randint(0, 10 ** generator.randint(0, 15))
        fraction = str(generator.randint(0, 99999)).zfill(generator.randint(1, 5))
        amounts.append(Decimal(f"{generator.choice(['-', ''])}{whole}.{fraction}"))
    for currency in ("MXN", "USD", "EUR", "JPY", "BHD", "CLF"):
        for amount in amounts:
            assert format_money(amount, currency, language) == _as_babel_writes(amount, currency, language), amount
    assert format_money(5, "USD", language) == _as_babel_writes(5, "USD", language)


def test_money_rounds_in_the_callers_decimal_context_as_babel_does() -> None:
    from decimal import ROUND_HALF_UP, Inexact, localcontext

    assert format_money(Decimal("0.125"), "MXN", "es") == "$0.12"  # the plain way is in use for MXN
    with localcontext(rounding=ROUND_HALF_UP):
        assert format_money(Decimal("0.125"), "MXN", "es") == _as_babel_writes(Decimal("0.125"), "MXN", "es")
        assert format_money(Decimal("0.125"), "MXN", "es") == "$0.13"
    with localcontext(traps=[Inexact]), pytest.raises(Inexact):
        format_money(Decimal("0.125"), "MXN", "es")


def test_dates_long_and_short() -> None:
    day = dt.date(2026, 11, 30)
    assert format_date(day, "es") == "30 de noviembre de 2026"
    assert format_date(day, "es", format="short") == "30/11/2026"
    assert format_date(day, "en") == "November 30, 2026"
    assert format_date(day, "en", format="short") == "11/30/2026"
    assert format_date(dt.date(2026, 2, 5), "es", format="short") == "05/02/2026"


def test_generation_time_in_the_configured_timezone() -> None:
    moment = dt.datetime(2026, 12, 1, 18, 5, tzinfo=dt.UTC)
    assert format_datetime(moment, "es", timezone="America/Mexico_City") == "1 de diciembre de 2026, 12:05"
    assert format_datetime(moment, "en", timezone="America/Mexico_City") == "December 1, 2026, 12:05 PM"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("es", "es"),
        ("en", "en"),
        ("EN", "en"),
        ("en-US", "en"),
        ("es_MX", "es"),
        ("fr", "es"),
        ("", "es"),
        (None, "es"),
    ],
)
def test_languages_are_normalized(value: str | None, expected: str) -> None:
    assert normalize_language(value) == expected


def test_catalogue_translates_spanish_ids_and_falls_back_to_them() -> None:
    assert gettext("Saldo vencido", "es") == "Saldo vencido"
    assert gettext("Saldo vencido", "en") == "Overdue balance"
    assert gettext("Saldo vencido", "en-US") == "Overdue balance"
    assert gettext("Generado el %(date)s", "en") % {"date": "December 1, 2026"} == "Generated on December 1, 2026"
    assert gettext("Una frase sin traducción", "en") == "Una frase sin traducción"


def test_jinja_helpers_read_the_language_from_the_context() -> None:
    environment = Environment(autoescape=True)
    install_jinja(environment)
    template = environment.from_string(
        '{{ _("Saldo total") }}|{{ amount|money("MXN") }}|{{ day|date }}|{{ day|date("short") }}'
        '|{{ gettext("Total %(currency)s", currency="<b>") }}'
    )
    values = {"amount": Decimal("1234.5"), "day": dt.date(2026, 11, 30)}
    assert template.render(language="es", **values) == (
        "Saldo total|$1,234.50|30 de noviembre de 2026|30/11/2026|Total &lt;b&gt;"
    )
    assert template.render(language="en", **values) == (
        "Total balance|MX$1,234.50|November 30, 2026|11/30/2026|Total &lt;b&gt;"
    )
    assert template.render(**values).startswith("Saldo total|$1,234.50")  # Spanish without a language
