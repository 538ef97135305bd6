"""Languages: money, numbers and dates in the locale of a language (`formatting`), and the words, gettext
catalogues per language with Spanish msgids (`catalog`), used by Python code and by Jinja templates (`jinja`)."""

from shared.i18n.catalog import N_, TranslatableError, gettext, ngettext, read_catalogue, translations
from shared.i18n.formatting import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    LOCALES,
    format_date,
    format_datetime,
    format_money,
    format_number,
    locale_for,
    normalize_language,
)
from shared.i18n.jinja import install_jinja

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "LOCALES",
    "N_",
    "TranslatableError",
    "format_date",
    "format_datetime",
    "format_money",
    "format_number",
    "gettext",
    "install_jinja",
    "locale_for",
    "ngettext",
    "normalize_language",
    "read_catalogue",
    "translations",
]
