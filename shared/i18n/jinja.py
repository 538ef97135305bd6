"""The catalogue and the formatting in Jinja templates: Jinja's i18n extension (`jinja2.ext.i18n`, new-style
gettext) with callables that read the language from the template context, and the `money` and `date` filters."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.ext import InternationalizationExtension
from markupsafe import escape

from shared.i18n.catalog import gettext, ngettext
from shared.i18n.formatting import format_date, format_money, normalize_language


def context_language(context: Any) -> str:
    """The template context's `language` ("es" or "en"); Spanish when absent."""
    return normalize_language(context.get("language"))


def _as_template_text(context: Any, text: str) -> Any:
    """Catalogue texts are text, not markup: escaped like any other value where the template autoescapes."""
    return escape(text) if context.eval_ctx.autoescape else text


@lru_cache(maxsize=4096, typed=True)  # typed: a Markup msgid is not escaped, the same text as str is
def _template_text(msgid: str, language: str, autoescape: bool) -> Any:
    """The catalogue text of `msgid`, escaped where the template autoescapes (catalogue texts are text, not
    markup)."""
    text = gettext(msgid, language)
    return escape(text) if autoescape else text


@lru_cache(maxsize=4096, typed=True)
def _template_text_alone(msgid: str, language: str, autoescape: bool) -> Any:
    """`_(msgid)` with no variables, as Jinja's new-style gettext writes it (formatted even then: `%%` is `%`)."""
    return _template_text(msgid, language, autoescape) % {}


@jinja2.pass_context
def _new_style_gettext(context: Any, msgid: str, /, **variables: Any) -> Any:
    """The templates' `gettext`, with the output of Jinja's new-style wrapper around a context-reading gettext
    (the text escaped where the template autoescapes, then %-formatted with the variables, even with none), each
    text looked up, escaped and formatted once per language and kind of template instead of on every call (a
    statement email's two templates ask for ~25 texts, the portal's pages for more), and one call from Jinja
    instead of two."""
    autoescape = context.eval_ctx.autoescape
    language = context_language(context)
    if variables:
        return _template_text(msgid, language, autoescape) % variables
    return _template_text_alone(msgid, language, autoescape)


@jinja2.pass_context
def _context_ngettext(context: Any, singular: str, plural: str, n: int) -> Any:
    return _as_template_text(context, ngettext(singular, plural, n, context_language(context)))


@jinja2.pass_context
def _money_filter(context: Any, amount: Any, currency: str) -> str:
    if amount is None or amount == "":
        return ""
    return format_money(amount, currency, context_language(context))


@jinja2.pass_context
def _date_filter(context: Any, value: Any, format: str = "long") -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    return format_date(value, context_language(context), format)


def install_jinja(environment: jinja2.Environment) -> None:
    """Give `environment` the i18n extension with the catalogue, and the filters `money(currency)` and
    `date(format="long")`, all in the language of the template context variable `language` (Spanish when absent).

    `{{ _("Saldo total") }}`, `{{ _("Total %(currency)s", currency=c) }}`, `{% trans %}…{% endtrans %}`,
    `{{ amount|money("MXN") }}`, `{{ cutoff|date("short") }}`. Gettext is new-style: every text is %-formatted
    with the keyword arguments (a literal % is written %%), and the values are escaped where the template
    autoescapes.
    """
    if InternationalizationExtension.identifier not in environment.extensions:
        environment.add_extension(InternationalizationExtension)
    extended: Any = environment  # the extension adds install_gettext_callables to the environment
    extended.install_gettext_callables(gettext=_new_style_gettext, ngettext=_context_ngettext, newstyle=True)
    environment.globals["gettext"] = _new_style_gettext  # already new-style: in place of Jinja's wrapper around it
    environment.filters["money"] = _money_filter
    environment.filters["date"] = _date_filter
