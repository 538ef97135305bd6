"""The activity statement (contract section 7) as HTML and PDF: the context its partials read, and the document.

The portal's activity page includes the same partials (`statement/_activity_*.html.j2`) with the same context,
so the page and the PDF agree, as for the open-item statement. The contact and payment instructions partial
(`statement/_contact.html.j2`) is shared by both kinds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from markupsafe import Markup

from shared.i18n import format_date, format_money, format_number, gettext, normalize_language
from shared.render.html import _generated_text, data_as_of_line, get_environment, screen_stylesheet
from shared.render.labels import document_type_label
from shared.statements import ActivityStatement

ACTIVITY_TEMPLATE = "statement/activity.html.j2"


@dataclass(frozen=True)
class BalanceRow:
    """One currency's figures, formatted as money."""

    currency: str
    opening: Decimal
    opening_text: str
    movements: Decimal
    movements_text: str
    adjustment: Decimal
    adjustment_text: str
    closing: Decimal
    closing_text: str


@dataclass(frozen=True)
class ActivityRow:
    """One line of the activity, its texts formatted (amount and balance as plain numbers)."""

    document_number: str
    document_type: str
    type_label: str
    reference: str
    document_date: dt.date
    document_date_text: str
    due_date: dt.date
    due_date_text: str
    cleared_on: dt.date | None
    cleared_text: str
    amount: Decimal
    amount_text: str
    balance: Decimal
    balance_text: str
    currency: str
    documents: tuple[str, ...] = ()
    disputed: bool = False


def activity_context(
    statement: ActivityStatement,
    *,
    language: str | None = None,
    for_pdf: bool = False,
    generated_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The template context of the activity partials and document, every text already formatted.

    - `statement`, `language`, `for_pdf`, `company`, `customer`, `account_currency`, `payment_terms`: as for the
      open-item statement (`shared.render.html.statement_context`).
    - `start`, `end`: the period's dates; `start_text`, `end_text`: long dates; `period_short`: "01/10/2026 –
      31/10/2026".
    - `balances`: list of `BalanceRow`, the account's currency first; `has_adjustment`: some currency has one.
    - `lines`: list of `ActivityRow` (with their `documents` and `disputed` marks); `has_lines`; `line_count`;
      `show_currency_column`; `has_disputed_lines` (then the lines' table is followed by the marker's note).
    - `title`, `generated_text`; `data_as_of_text`: "Datos al …" ("" when never imported).
    """
    language = normalize_language(language or statement.language)
    account_currency = statement.currency
    balances = [
        BalanceRow(
            currency=currency,
            opening=balance.opening,
            opening_text=format_money(balance.opening, currency, language),
            movements=balance.movements,
            movements_text=format_money(balance.movements, currency, language),
            adjustment=balance.adjustment,
            adjustment_text=format_money(balance.adjustment, currency, language),
            closing=balance.closing,
            closing_text=format_money(balance.closing, currency, language),
        )
        for currency, balance in statement.balances.items()
    ]
    type_labels: dict[str, str] = {}
    date_texts: dict[dt.date, str] = {}

    def short(value: dt.date | None) -> str:
        if value is None:
            return ""
        text = date_texts.get(value)
        if text is None:
            text = date_texts[value] = format_date(value, language, "short")
        return text

    def label(kind: str) -> str:
        text = type_labels.get(kind)
        if text is None:
            text = type_labels[kind] = document_type_label(kind, language)
        return text

    lines = [
        ActivityRow(
            document_number=line.document_number,
            document_type=line.document_type,
            type_label=label(line.document_type),
            reference=line.reference,
            document_date=line.document_date,
            document_date_text=short(line.document_date),
            due_date=line.due_date,
            due_date_text=short(line.due_date),
            cleared_on=line.cleared_on,
            cleared_text=short(line.cleared_on),
            amount=line.amount,
            amount_text=format_number(line.amount, language),
            balance=line.balance,
            balance_text=format_number(line.balance, language),
            currency=line.currency,
            documents=line.documents,
            disputed=line.disputed,
        )
        for line in statement.lines
    ]
    start_text = format_date(statement.start, language, "long")
    end_text = format_date(statement.end, language, "long")
    return {
        "statement": statement,
        "language": language,
        "for_pdf": for_pdf,
        "company": statement.company,
        "customer": statement.customer,
        "account_currency": account_currency,
        "payment_terms": statement.payment_terms,
        "start": statement.start,
        "end": statement.end,
        "start_text": start_text,
        "end_text": end_text,
        "period_short": f"{short(statement.start)} – {short(statement.end)}",
        "balances": balances,
        "has_adjustment": any(row.adjustment for row in balances),
        "lines": lines,
        "has_lines": bool(lines),
        "line_count": len(lines),
        "show_currency_column": any(line.currency != account_currency for line in statement.lines),
        "has_disputed_lines": statement.has_disputed_lines,
        "title": gettext("Movimientos de %(customer)s del %(start)s al %(end)s", language)
        % {"customer": statement.customer.name, "start": start_text, "end": end_text},
        "generated_text": _generated_text(language, generated_at),
        "data_as_of_text": data_as_of_line(statement, language),
    }


def render_activity_html(
    statement: ActivityStatement, *, for_pdf: bool = False, generated_at: dt.datetime | None = None
) -> str:
    """The standalone activity document (see `shared.render.html.render_html`)."""
    context = activity_context(statement, for_pdf=for_pdf, generated_at=generated_at)
    context["stylesheet"] = "" if for_pdf else Markup(screen_stylesheet())  # noqa: S704 (our own file)
    return get_environment().get_template(ACTIVITY_TEMPLATE).render(context)


def render_activity_pdf(statement: ActivityStatement, *, generated_at: dt.datetime | None = None) -> bytes:
    """The activity statement as a Letter PDF in the statement's language."""
    from shared.render.pdf import html_to_pdf

    return html_to_pdf(render_activity_html(statement, for_pdf=True, generated_at=generated_at))
