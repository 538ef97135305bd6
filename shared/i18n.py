"""Languages, money and dates.

edocta speaks Spanish (Mexico) by default and English. Money and dates are formatted by Babel with the locale of
the language (`es` → es_MX, `en` → en_US): `$1,234.50` and `30 de noviembre de 2026` in Spanish.

The message catalogue is deliberately tiny: the message ids are the Spanish text itself, and the English
translations live in a dictionary. Other parts of the product register their own strings with
`add_translations`; a missing translation falls back to the Spanish text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import jinja2
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


def format_money(amount: Decimal | int | float | str, currency: str, language: str) -> str:
    """An amount in its currency, as the language's locale writes it: `$1,234.50` (MXN, es), `-$80.00`.

    Where the currency symbol is letters (`USD` in es_MX), a no-break space separates it from the digits,
    as CLDR's currency-spacing rule asks: `USD 1,234.50`.
    """
    locale = locale_for(language)
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    text = format_currency(value, currency, locale=locale)
    symbol = get_currency_symbol(currency, locale=locale)
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


# --- messages -----------------------------------------------------------------------------------------------

_CATALOG: dict[str, dict[str, str]] = {"es": {}, "en": {}}

DOCUMENT_STRINGS_EN: dict[str, str] = {
    "Estado de cuenta": "Account statement",
    "Fecha de corte": "Cut-off date",
    "Al {date}": "As of {date}",
    "Límite de crédito": "Credit limit",
    "Saldo vencido": "Overdue balance",
    "Saldo a vencer": "Balance not yet due",
    "Saldo total": "Total balance",
    "Crédito disponible": "Available credit",
    "Antigüedad de saldos": "Aging",
    "Antigüedad": "Age",
    "Antigüedad de saldos por moneda": "Aging by currency",
    "Resumen": "Summary",
    "Resumen por moneda": "Summary by currency",
    "Al corriente": "Current",
    "1-30 días": "1-30 days",
    "31-60 días": "31-60 days",
    "61-90 días": "61-90 days",
    "91-120 días": "91-120 days",
    "Más de 120 días": "Over 120 days",
    "Documento": "Document",
    "Tipo": "Type",
    "Referencia": "Reference",
    "Fecha": "Date",
    "Vencimiento": "Due date",
    "Días vencidos": "Days overdue",
    "Importe": "Amount",
    "Moneda": "Currency",
    "Total": "Total",
    "Total {currency}": "Total {currency}",
    "Factura": "Invoice",
    "Nota de crédito": "Credit note",
    "Nota de cargo": "Debit note",
    "Pago": "Payment",
    "Otro": "Other",
    "Página": "Page",
    "de": "of",
    "Página {page} de {pages}": "Page {page} of {pages}",
    "Generado el {date}": "Generated on {date}",
    "Sin límite": "No limit",
    "No aplica": "Not applicable",
    "Sin movimientos a la fecha de corte": "No open items as of the cut-off date",
    "Este cliente no tiene partidas abiertas al {date}.": "This customer has no open items as of {date}.",
    "Cliente": "Customer",
    "Número de cliente": "Customer number",
    "Empresa": "Company",
    "RFC": "Tax ID",
    "Domicilio": "Address",
    "Condiciones de pago": "Payment terms",
    "Movimientos": "Open items",
    "Partidas abiertas": "Open items",
    "{count} partidas": "{count} items",
    "1 partida": "1 item",
    "Saldo a favor": "Credit balance",
    "Saldo a favor del cliente": "Credit balance in the customer's favour",
    "Importes en {currency}": "Amounts in {currency}",
    "Gráfica de antigüedad de saldos": "Aging chart",
    "Los importes negativos son saldos a favor del cliente.": "Negative amounts are credits in the customer's favour.",
    "Los importes en distintas monedas no se suman entre sí.": (
        "Amounts in different currencies are never added together."
    ),
    "Estado de cuenta {customer} al {date}": "Account statement {customer} as of {date}",
}

DOCUMENT_TYPE_LABELS = {
    "invoice": "Factura",
    "credit_note": "Nota de crédito",
    "debit_note": "Nota de cargo",
    "payment": "Pago",
    "other": "Otro",
}

BUCKET_LABELS = {
    "current": "Al corriente",
    "1-30": "1-30 días",
    "31-60": "31-60 días",
    "61-90": "61-90 días",
    "91-120": "91-120 días",
    "120+": "Más de 120 días",
}


def add_translations(language: str, messages: Mapping[str, str]) -> None:
    """Register translations of Spanish message ids (later registrations win)."""
    language = normalize_language(language)
    _CATALOG[language].update(messages)


def translate(msgid: str, language: str) -> str:
    """The text of `msgid` (Spanish) in `language`; the Spanish text itself when there is no translation."""
    language = normalize_language(language)
    if language == DEFAULT_LANGUAGE:
        return msgid
    return _CATALOG[language].get(msgid, msgid)


def document_type_label(document_type: str, language: str) -> str:
    return translate(DOCUMENT_TYPE_LABELS.get(document_type, "Otro"), language)


def bucket_label(bucket: str, language: str) -> str:
    return translate(BUCKET_LABELS[bucket], language)


add_translations("en", DOCUMENT_STRINGS_EN)


# --- Jinja ----------------------------------------------------------------------------------------------------


def _context_language(context: Any) -> str:
    return normalize_language(context.get("language"))


@jinja2.pass_context
def _gettext(context: Any, msgid: str, **values: Any) -> str:
    text = translate(msgid, _context_language(context))
    return text.format(**values) if values else text


@jinja2.pass_context
def _money_filter(context: Any, amount: Any, currency: str) -> str:
    if amount is None or amount == "":
        return ""
    return format_money(amount, currency, _context_language(context))


@jinja2.pass_context
def _date_filter(context: Any, value: Any, format: str = "long") -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    return format_date(value, _context_language(context), format)


def install_jinja(env: jinja2.Environment) -> None:
    """Add the filters `money(currency)` and `date(format="long")`, and the globals `_` and `gettext`.

    All three read the language from the template context variable `language` (Spanish when absent):
    `{{ _("Saldo total") }}`, `{{ amount|money("MXN") }}`, `{{ cutoff|date("short") }}`.
    `_` also fills `{name}` placeholders from keyword arguments: `{{ _("Total {currency}", currency=c) }}`.
    """
    env.filters["money"] = _money_filter
    env.filters["date"] = _date_filter
    env.globals["_"] = _gettext
    env.globals["gettext"] = _gettext
