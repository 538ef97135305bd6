"""The statement email: subject, plain text and HTML body with the five figures and the portal link, and the
attached files, in the customer's language (templates in `shared/mail/templates/`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from email.message import EmailMessage
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape

from shared.i18n import add_translations, format_date, format_money, install_jinja, translate
from shared.mail.messages import build_message
from shared.settings import get_settings
from shared.statements import Statement
from shared.vocab import Format

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
ATTACHMENT_TYPES: dict[str, str] = {
    Format.PDF: "application/pdf",
    Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

ENGLISH = {
    "Estado de cuenta al {date} — {company}": "Statement as of {date} — {company}",
    "Estimado cliente": "Dear customer",
    "Le enviamos su estado de cuenta con {company} al {date}.": (
        "Please find your statement with {company} as of {date}."
    ),
    "Cliente": "Customer",
    "Límite de crédito": "Credit limit",
    "Vencido": "Overdue",
    "Por vencer": "Not yet due",
    "Saldo total": "Total balance",
    "Crédito disponible": "Available credit",
    "Sin límite": "No limit",
    "Moneda": "Currency",
    "Consulte el detalle en el portal:": "See the details in the portal:",
    "Ver estado de cuenta": "View statement",
    "Archivos adjuntos:": "Attached files:",
    "Este mensaje se envió automáticamente; no es necesario responderlo.": (
        "This message was sent automatically; there is no need to reply."
    ),
}


def _install_translations() -> None:
    from shared.i18n import add_translations

    add_translations("en", ENGLISH)


def statement_url(company: str, customer: str, cutoff: dt.date) -> str:
    base = get_settings().base_url
    return f"{base}/statements/{quote(company, safe='')}/{quote(customer, safe='')}/{cutoff.isoformat()}"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    add_translations("en", ENGLISH)
    environment = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    install_jinja(environment)
    return environment


def statement_subject(statement: Statement) -> str:
    _environment()
    return translate("Estado de cuenta al {date} — {company}", statement.language).format(
        date=format_date(statement.cutoff, statement.language, format="long"), company=statement.company.name
    )


def statement_figures(statement: Statement) -> list[dict[str, str | None]]:
    """The five figures per currency, formatted for the statement's language (credit only in the account's)."""
    language = statement.language
    rows = []
    for currency, totals in statement.totals.items():
        own = currency == statement.currency
        rows.append(
            {
                "currency": currency,
                "credit_limit": (
                    format_money(statement.credit_limit, currency, language)
                    if own and statement.credit_limit is not None
                    else None
                ),
                "overdue": format_money(totals.overdue, currency, language),
                "not_due": format_money(totals.not_due, currency, language),
                "total": format_money(totals.total, currency, language),
                "available_credit": (
                    format_money(statement.available_credit, currency, language)
                    if own and statement.available_credit is not None
                    else None
                ),
            }
        )
    return rows


def compose_statement_email(
    statement: Statement, recipient: str, attachments: Sequence[tuple[str, bytes, str]]
) -> EmailMessage:
    """The statement email: subject, plain text and HTML with the five figures, the portal link, the files."""
    environment = _environment()
    subject = statement_subject(statement)
    context = {
        "statement": statement,
        "language": statement.language,
        "subject": subject,
        "cutoff_text": format_date(statement.cutoff, statement.language, format="long"),
        "figures": statement_figures(statement),
        "url": statement_url(statement.company.code, statement.customer.code, statement.cutoff),
        "attachment_names": [name for name, _, _ in attachments],
    }
    text = environment.get_template("statement.txt.j2").render(context)
    html = environment.get_template("statement.html.j2").render(context)
    return build_message(to=recipient, subject=subject, text=text, html=html, attachments=tuple(attachments))
