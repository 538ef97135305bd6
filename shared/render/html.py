"""The statement as HTML: the standalone document, and the context the portal's page shares with it.

Templates live in `TEMPLATE_DIR/statement/`: the partials `_company_header`, `_customer`, `_figures`, `_aging` and
`_lines` (`.html.j2`), and `document.html.j2`, which includes them all. The portal includes the same partials with
the context built by `statement_context`, so the page and the PDF show the same figures, formatted the same way.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from shared.i18n import (
    format_date,
    format_datetime,
    format_money,
    format_number,
    gettext,
    install_jinja,
    normalize_language,
)
from shared.render.labels import bucket_label, document_type_label
from shared.statements import BUCKETS, ActivityStatement, Statement

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
STYLESHEET = STATIC_DIR / "statement.css"
PRINT_STYLESHEET = STATIC_DIR / "statement-print.css"
DOCUMENT_TEMPLATE = "statement/document.html.j2"

ZERO = Decimal("0.00")


# --- the context ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FigureRow:
    """The five figures of one currency. Credit limit and available credit exist only for the account's currency
    (`has_credit`); elsewhere their texts are empty."""

    currency: str
    is_account_currency: bool
    has_credit: bool
    credit_limit: Decimal | None
    credit_limit_text: str
    overdue: Decimal
    overdue_text: str
    not_due: Decimal
    not_due_text: str
    total: Decimal
    total_text: str
    available_credit: Decimal | None
    available_credit_text: str

    @property
    def is_credit_balance(self) -> bool:
        return self.total < 0

    @property
    def is_over_limit(self) -> bool:
        return self.available_credit is not None and self.available_credit < 0


@dataclass(frozen=True)
class AgingCell:
    bucket: str  # current, 1-30, 31-60, 61-90, 91-120, 120+
    label: str
    amount: Decimal
    text: str


@dataclass(frozen=True)
class ChartBar:
    """One bar of the aging chart, in the chart's own coordinates (see `AgingChart`)."""

    bucket: str
    label: str
    text: str
    x: float
    y: float
    width: float
    negative: bool


@dataclass(frozen=True)
class AgingChart:
    """A horizontal bar chart: labels left, bars from the zero line, amounts right (viewBox width x height)."""

    width: int
    height: int
    bar_height: int
    label_width: int
    plot_left: int
    plot_right: int
    zero_x: float
    bars: list[ChartBar]
    title: str


@dataclass(frozen=True)
class AgingRow:
    currency: str
    cells: list[AgingCell]
    total: Decimal
    total_text: str
    chart: AgingChart


@dataclass(frozen=True)
class LineRow:
    document_number: str
    document_type: str
    type_label: str
    reference: str
    document_date: dt.date
    document_date_text: str
    due_date: dt.date
    due_date_text: str
    days_overdue: int
    bucket: str
    amount: Decimal
    amount_text: str
    currency: str
    documents: tuple[str, ...] = ()
    disputed: bool = False


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    count: int
    total: Decimal
    total_text: str  # a plain number, like the line amounts
    money_text: str  # with the currency symbol


@dataclass(frozen=True)
class ChartGeometry:
    """The aging chart's viewBox: total width, label and value columns, bar height and gap (user units)."""

    width: int
    label_width: int
    value_width: int
    bar_height: int
    row_gap: int


# Printed at 10 units. On screen the text is set to 12 px (statements.css) and the chart drawn at least 1:1, so
# its columns are wider and the chart narrower, to fit a phone's width (320 px inside the page) at that size.
PRINT_CHART = ChartGeometry(width=360, label_width=92, value_width=96, bar_height=16, row_gap=5)
SCREEN_CHART = ChartGeometry(width=320, label_width=100, value_width=118, bar_height=18, row_gap=5)


def _aging_chart(
    currency: str, cells: list[AgingCell], language: str, geometry: ChartGeometry = PRINT_CHART
) -> AgingChart:
    """Bars scaled to the largest absolute amount; credits (negative amounts) extend left of the zero line."""
    plot_left = geometry.label_width + 6
    plot_right = geometry.width - geometry.value_width - 6
    span = plot_right - plot_left
    highest = max((cell.amount for cell in cells if cell.amount > 0), default=ZERO)
    lowest = -min((cell.amount for cell in cells if cell.amount < 0), default=ZERO)
    extent = highest + lowest
    zero_x = plot_left + (float(lowest / extent) * span if extent else 0.0)
    bars: list[ChartBar] = []
    for index, cell in enumerate(cells):
        length = float(abs(cell.amount) / extent) * span if extent else 0.0
        negative = cell.amount < 0
        bars.append(
            ChartBar(
                bucket=cell.bucket,
                label=cell.label,
                text=cell.text,
                x=round(zero_x - length if negative else zero_x, 2),
                y=index * (geometry.bar_height + geometry.row_gap) + 2,
                width=round(max(length, 0.0), 2),
                negative=negative,
            )
        )
    height = len(cells) * (geometry.bar_height + geometry.row_gap) + 2
    return AgingChart(
        width=geometry.width,
        height=height,
        bar_height=geometry.bar_height,
        label_width=geometry.label_width,
        plot_left=plot_left,
        plot_right=plot_right,
        zero_x=round(zero_x, 2),
        bars=bars,
        title=gettext("Gráfica de antigüedad de saldos", language) + f" ({currency})",
    )


def _generated_text(language: str, generated_at: dt.datetime | None) -> str:
    from shared.settings import get_settings

    moment = generated_at or dt.datetime.now(dt.UTC)
    text = format_datetime(moment, language, timezone=get_settings().timezone)
    return gettext("Generado el %(date)s", language) % {"date": text}


def data_as_of_line(statement: Statement | ActivityStatement, language: str) -> str:
    """`Datos al 30 de noviembre de 2026, 06:12` in the business time zone ("" when never imported)."""
    from shared.settings import get_settings

    if statement.data_as_of is None:
        return ""
    text = format_datetime(statement.data_as_of, language, timezone=get_settings().timezone)
    return gettext("Datos al %(date)s", language) % {"date": text}


def statement_context(
    statement: Statement,
    *,
    language: str | None = None,
    for_pdf: bool = False,
    generated_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The template context of the statement partials and document, every text already formatted.

    `language` defaults to the statement's (`statement.language`); the portal passes the reader's language.
    The partials read these variables:

    - `statement`: the `Statement` value itself; `language`: "es" or "en" (the `_`, `money` and `date` helpers
      and `{% trans %}` read it); `for_pdf`: True while printing (the partials then leave out screen-only attributes).
    - `company`, `customer`: `Party` (code, name, tax_id, address); `cutoff`: the `date`; `cutoff_text`:
      "30 de noviembre de 2026"; `cutoff_short`: "30/11/2026"; `account_currency`: "MXN"; `payment_terms`: text.
    - `figures`: list of `FigureRow`, the account's currency first, then the others alphabetically; one row
      (zeros) even when there are no lines. Each has `*_text` fields formatted as money; credit limit and
      available credit only on the account's currency row (`has_credit`); "Sin límite" when there is no limit.
    - `aging`: list of `AgingRow` (currency, `cells` (six `AgingCell`: bucket, label, amount, text),
      `total_text`, `chart` (`AgingChart` geometry for the inline SVG)); one row per currency with lines, or the
      account's currency in zeros when there are none. `bucket_labels`: the six labels in order;
      `aging_has_credits`: some bucket is negative (a credit in the customer's favour).
    - `lines`: list of `LineRow` (document_number, type_label, reference, document_date(_text), due_date(_text),
      days_overdue, bucket, amount, amount_text (a plain number), currency, documents (`("pdf", "xml")`), disputed);
      `has_lines`; `line_count`; `has_disputed_lines` (then the lines' table is followed by the marker's note);
      `show_currency_column`: some line is in another currency than the account's (otherwise the amount's
      column header names the currency).
    - `line_totals`: list of `CurrencyTotal` (currency, count, total_text, money_text), one per currency.
    - `title`: "Estado de cuenta <customer> al <date>"; `generated_text`: "Generado el 30 de noviembre de 2026,
      14:05" (in EDOCTA_TIMEZONE).
    """
    language = normalize_language(language or statement.language)
    account_currency = statement.currency

    currencies = list(statement.totals)
    if account_currency in currencies:
        currencies.remove(account_currency)
    figure_currencies = [account_currency, *sorted(currencies)]

    figures: list[FigureRow] = []
    for currency in figure_currencies:
        totals = statement.totals.get(currency)
        overdue = totals.overdue if totals else ZERO
        not_due = totals.not_due if totals else ZERO
        total = totals.total if totals else ZERO
        has_credit = currency == account_currency
        if has_credit and statement.credit_limit is not None:
            credit_limit_text = format_money(statement.credit_limit, currency, language)
            available = statement.available_credit
            available_text = format_money(available, currency, language) if available is not None else ""
        elif has_credit:
            credit_limit_text = gettext("Sin límite", language)
            available, available_text = None, gettext("Sin límite", language)
        else:
            credit_limit_text, available, available_text = "", None, ""
        figures.append(
            FigureRow(
                currency=currency,
                is_account_currency=currency == account_currency,
                has_credit=has_credit,
                credit_limit=statement.credit_limit if has_credit else None,
                credit_limit_text=credit_limit_text,
                overdue=overdue,
                overdue_text=format_money(overdue, currency, language),
                not_due=not_due,
                not_due_text=format_money(not_due, currency, language),
                total=total,
                total_text=format_money(total, currency, language),
                available_credit=available,
                available_credit_text=available_text,
            )
        )

    bucket_labels = [bucket_label(bucket, language) for bucket in BUCKETS]
    aging: list[AgingRow] = []
    aging_currencies = list(statement.totals) or [account_currency]
    for currency in sorted(aging_currencies, key=lambda c: (c != account_currency, c)):
        totals = statement.totals.get(currency)
        amounts = totals.aging if totals else {bucket: ZERO for bucket in BUCKETS}
        cells = [
            AgingCell(bucket, label, amounts[bucket], format_money(amounts[bucket], currency, language))
            for bucket, label in zip(BUCKETS, bucket_labels, strict=True)
        ]
        total = totals.total if totals else ZERO
        aging.append(
            AgingRow(
                currency=currency,
                cells=cells,
                total=total,
                total_text=format_money(total, currency, language),
                chart=_aging_chart(currency, cells, language, PRINT_CHART if for_pdf else SCREEN_CHART),
            )
        )

    kinds = {line.document_type for line in statement.lines}
    type_labels = {kind: document_type_label(kind, language) for kind in kinds}
    date_texts: dict[dt.date, str] = {}

    def short(value: dt.date) -> str:
        text = date_texts.get(value)
        if text is None:
            text = date_texts[value] = format_date(value, language, "short")
        return text

    lines = [
        LineRow(
            document_number=line.document_number,
            document_type=line.document_type,
            type_label=type_labels[line.document_type],
            reference=line.reference,
            document_date=line.document_date,
            document_date_text=short(line.document_date),
            due_date=line.due_date,
            due_date_text=short(line.due_date),
            days_overdue=line.days_overdue,
            bucket=line.bucket,
            amount=line.amount,
            amount_text=format_number(line.amount, language),
            currency=line.currency,
            documents=line.documents,
            disputed=line.disputed,
        )
        for line in statement.lines
    ]

    line_totals = []
    for currency in sorted(statement.totals, key=lambda c: (c != account_currency, c)):
        total = statement.totals[currency].total
        line_totals.append(
            CurrencyTotal(
                currency=currency,
                count=sum(1 for line in statement.lines if line.currency == currency),
                total=total,
                total_text=format_number(total, language),
                money_text=format_money(total, currency, language),
            )
        )

    cutoff_text = format_date(statement.cutoff, language, "long")
    return {
        "statement": statement,
        "language": language,
        "for_pdf": for_pdf,
        "company": statement.company,
        "customer": statement.customer,
        "cutoff": statement.cutoff,
        "cutoff_text": cutoff_text,
        "cutoff_short": format_date(statement.cutoff, language, "short"),
        "account_currency": account_currency,
        "payment_terms": statement.payment_terms,
        "figures": figures,
        "aging": aging,
        "bucket_labels": bucket_labels,
        "aging_has_credits": any(cell.amount < 0 for row in aging for cell in row.cells),
        "lines": lines,
        "has_lines": bool(lines),
        "show_currency_column": any(line.currency != account_currency for line in statement.lines),
        "line_count": len(lines),
        "line_totals": line_totals,
        "has_disputed_lines": statement.has_disputed_lines,
        "title": gettext("Estado de cuenta %(customer)s al %(date)s", language)
        % {"customer": statement.customer.name, "date": cutoff_text},
        "generated_text": _generated_text(language, generated_at),
        "data_as_of_text": data_as_of_line(statement, language),
    }


# --- the document ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def get_environment() -> Environment:
    """One Jinja environment per process over `TEMPLATE_DIR`, autoescaping every HTML template, with the i18n
    extension reading the catalogue (`shared.i18n.install_jinja`)."""
    environment = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(enabled_extensions=("html", "j2", "svg"), default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        extensions=["jinja2.ext.i18n"],
    )
    install_jinja(environment)
    return environment


@lru_cache(maxsize=1)
def screen_stylesheet() -> str:
    """The document's CSS for a standalone HTML file: the partials' rules and the print rules."""
    return STYLESHEET.read_text(encoding="utf-8") + "\n" + PRINT_STYLESHEET.read_text(encoding="utf-8")


def render_html(statement: Statement, *, for_pdf: bool = False, generated_at: dt.datetime | None = None) -> str:
    """The standalone statement document. With `for_pdf`, the stylesheet is left out (the PDF renderer applies
    its pre-parsed copy) and the screen-only attributes are dropped."""
    context = statement_context(statement, for_pdf=for_pdf, generated_at=generated_at)
    context["stylesheet"] = "" if for_pdf else Markup(screen_stylesheet())  # noqa: S704 (our own file)
    return get_environment().get_template(DOCUMENT_TEMPLATE).render(context)
