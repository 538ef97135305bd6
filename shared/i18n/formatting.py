"""Languages, money, numbers and dates.

edocta speaks Spanish (Mexico) by default and English. Money and dates are formatted by Babel with the locale of
the language (`es` → es_MX, `en` → en_US): `$1,234.50` and `30 de noviembre de 2026` in Spanish.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_EVEN, Context, Decimal, Inexact, Rounded, getcontext, localcontext
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
    if type(value) is str and value in LANGUAGES:  # already normal (a template asks ~60 times an email)
        return value
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
    language = normalize_language(language)
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    shape = _money_shape(currency, language)
    if shape is not None and value.is_finite() and value.adjusted() < _PLAIN_DIGITS:
        context = getcontext()
        if context.rounding == ROUND_HALF_EVEN and context.prec >= _PLAIN_PRECISION and not _traps_rounding(context):
            return _plain_money(value, *shape, context)
    return _babel_money(value, currency, language)


def _babel_money(value: Decimal, currency: str, language: str) -> str:
    locale = _babel_locale(language)
    text = format_currency(value, currency, locale=locale)
    symbol = _currency_symbol(currency, locale)
    if symbol and _SYMBOL_ENDS_WITH_LETTER.search(symbol):
        text = re.sub(re.escape(symbol) + r"(?=\d)", symbol + NBSP, text, count=1)
    if symbol and _SYMBOL_STARTS_WITH_LETTER.search(symbol):
        text = re.sub(r"(?<=\d)" + re.escape(symbol), NBSP + symbol, text, count=1)
    return text


# The plain path is taken for amounts up to this many digits before the point, in a decimal context that rounds
# as the default one does (half to even, at least 28 digits, rounding not trapped): Babel rounds in the caller's
# context, so in any other the amounts are Babel's.
_PLAIN_DIGITS = 18
_PLAIN_PRECISION = 28
# Amounts the plain path must write exactly as Babel does before it is used for a currency and language: rounding
# (half to even, once to the context's digits and once to the currency's places), negative zero, grouping, every
# decimal place.
_MONEY_PROBES = (
    "0", "-0", "-0.001", "0.004", "0.005", "0.015", "0.025", "-0.005", "1", "-1", "12.5", "999.995", "1000",
    "-1234.5", "1234567.891", "-1234567.895", "98765432109876.54", "-100000000000000000",
    "0.0149999999999999999999999999999", "-0.0250000000000000000000000000001",
)  # fmt: skip


def _traps_rounding(context: Context) -> bool:
    return bool(context.traps[Inexact] or context.traps[Rounded])


def _plain_money(value: Decimal, prefix: str, places: int, context: Context) -> str:
    # As Babel: rounded to the context's digits first (`normalize`), then to the currency's places.
    rounded = value.normalize(context).quantize(Decimal(1).scaleb(-places), context=context)
    text = format(rounded, f",.{places}f")
    return "-" + prefix + text[1:] if text[0] == "-" else prefix + text


@lru_cache(maxsize=256)
def _money_shape(currency: str, language: str) -> tuple[str, int] | None:
    """How the language writes `currency` when it is a symbol before the digits, grouped by `,` in threes with a
    `.` before the decimals (es_MX's and en_US's pattern): (the symbol as written, decimal places), so that
    `format_money` can write it with Python's own formatting (Babel takes ~25 µs an amount; a statement email
    shows five, a statement page one a line). None, and Babel writes every amount, unless the plain way writes
    each of `_MONEY_PROBES` exactly as Babel does."""
    written = _babel_money(Decimal("1234567"), currency, language)
    match = re.fullmatch(r"(\D+?)1,234,567(?:\.(0+))?", written)
    if match is None:
        return None
    shape = (match.group(1), len(match.group(2) or ""))
    # The probes in the default context, whatever context the first caller has (the answer is kept).
    with localcontext(Context(prec=_PLAIN_PRECISION, rounding=ROUND_HALF_EVEN)) as context:
        for probe in map(Decimal, _MONEY_PROBES):
            if _plain_money(probe, *shape, context) != _babel_money(probe, currency, language):
                return None
    return shape


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
