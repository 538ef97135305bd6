"""Languages, money, numbers and dates.

edocta speaks Spanish (Mexico) by default and English. Money and dates are formatted by Babel with the locale of
the language (`es` → es_MX, `en` → en_US): `$1,234.50` and `30 de noviembre de 2026` in Spanish.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.numbers import format_currency, format_decimal, get_currency_symbol

LANGUAGES = ("es", "en")
DEFAULT_LANGUAGE = "es"
LOCALES = {"es": "es_MX", "en": "en_US"}
# Short dates always carry four-digit years: 30/11/2026 (es), 11/30/2026 (en).
SHORT_DATE_PATTERNS = {"es": "dd/MM/yyyy", "en": "MM/dd/yyyy"}
DATE_FORMATS = ("short", "medium", "long", "full")


def normalize_language(value: object) -> str:
    """`es` or `en` from anything a user, a browser or a file may give: `en-US`, `EN`, `es_MX`, None."""
    if not isinstance(value, str):
        return DEFAULT_LANGUAGE
    code = value.strip().lower().replace("_", "-").split("-", 1)[0]
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def locale_for(language: str) -> str:
    return LOCALES[normalize_language(language)]


# --- money --------------------------------------------------------------------------------------------------

_SYMBOL_ENDS_WITH_LETTER = re.compile(r"[^\W\d_]$")
_SYMBOL_STARTS_WITH_LETTER = re.compile(r"^[^\W\d_]")
NBSP = "\u00a0"


@lru_cache(maxsize=len(LANGUAGES))
def _babel_locale(language: str) -> Locale:
    """The language's Babel locale, parsed once (Babel parses a locale name on every call otherwise)."""
    return Locale.parse(LOCALES[language])


@lru_cache(maxsize=256)
def _currency_symbol(currency: str, locale: Locale) -> str:
    return str(get_currency_symbol(currency, locale=locale))


def format_money(amount: Decimal | int | float | str, currency: str, language: str) -> str:
    """An amount in its currency, as the language's locale writes it: `$1,234.50` (MXN, es), `-$80.00`.

    Where the currency symbol is letters (`USD` in es_MX), a no-break space separates it from the digits,
    as CLDR's currency-spacing rule asks: `USD 1,234.50`.
    """
    locale = _babel_locale(normalize_language(language))
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    text = format_currency(value, currency, locale=locale)
    symbol = _currency_symbol(currency, locale)
    if symbol and _SYMBOL_ENDS_WITH_LETTER.search(symbol):
        text = re.sub(re.escape(symbol) + r"(?=\d)", symbol + NBSP, text, count=1)
    if symbol and _SYMBOL_STARTS_WITH_LETTER.search(symbol):
        text = re.sub(r"(?<=\d)" + re.escape(symbol), NBSP + symbol, text, count=1)
    return text


def format_number(value: Decimal | int | float, language: str, *, decimals: int = 2) -> str:
    """A plain number with the locale's separators and a fixed number of decimals (no currency)."""
    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    return format_decimal(value, format=pattern, locale=locale_for(language))


# --- dates --------------------------------------------------------------------------------------------------


def format_date(value: dt.date, language: str, format: str = "long") -> str:
    """`30 de noviembre de 2026` (long, es), `November 30, 2026` (long, en), `30/11/2026` (short, es).

    `format` is one of short, medium, long, full, or a Babel date pattern.
    """
    language = normalize_language(language)
    if isinstance(value, dt.datetime):
        value = value.date()
    if format == "short":
        return babel_format_date(value, SHORT_DATE_PATTERNS[language], locale=LOCALES[language])
    return babel_format_date(value, format, locale=LOCALES[language])


def format_datetime(value: dt.datetime, language: str, *, timezone: str | None = None) -> str:
    """`30 de noviembre de 2026, 14:05` (es) / `November 30, 2026, 2:05 PM` (en), in `timezone` when given."""
    language = normalize_language(language)
    if timezone:
        from zoneinfo import ZoneInfo

        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(ZoneInfo(timezone))
    time_pattern = "HH:mm" if language == "es" else "h:mm a"
    day = format_date(value.date(), language, "long")
    clock = babel_format_datetime(value, time_pattern, locale=LOCALES[language], tzinfo=value.tzinfo)
    return f"{day}, {clock}"
