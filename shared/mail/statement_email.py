"""The statement email: subject, plain text and HTML body with the five figures, the portal link, who to contact
and how to pay, and the attached files, in the customer's language (templates in `shared/mail/templates/`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from email.message import EmailMessage
from urllib.parse import quote

from shared.i18n import format_date, format_money, gettext
from shared.mail.messages import build_message
from shared.mail.rendering import render_email
from shared.render.html import data_as_of_line
from shared.settings import get_settings
from shared.statements import Statement
from shared.vocab import Format

ATTACHMENT_TYPES: dict[str, str] = {
    Format.PDF: "application/pdf",
    Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def statement_url(company: str, customer: str, cutoff: dt.date) -> str:
    base = get_settings().base_url
    return f"{base}/statements/{quote(company, safe='')}/{quote(customer, safe='')}/{cutoff.isoformat()}"


def statement_subject(statement: Statement) -> str:
    return gettext("Estado de cuenta al %(date)s — %(company)s", statement.language) % {
        "date": format_date(statement.cutoff, statement.language, format="long"),
        "company": statement.company.name,
    }


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
    statement: Statement,
    recipient: str,
    attachments: Sequence[tuple[str, bytes, str]],
    *,
    message_id: str | None = None,
) -> EmailMessage:
    """The statement email: subject, plain text and HTML with the five figures, the portal link, the files; its
    Message-ID is `message_id` when given."""
    subject = statement_subject(statement)
    context = {
        "statement": statement,
        "language": statement.language,
        "subject": subject,
        "cutoff_text": format_date(statement.cutoff, statement.language, format="long"),
        "figures": statement_figures(statement),
        "url": statement_url(statement.company.code, statement.customer.code, statement.cutoff),
        "attachment_names": [name for name, _, _ in attachments],
        "disputed": [line.document_number for line in statement.lines if line.disputed],
        "data_as_of_text": data_as_of_line(statement, statement.language),
    }
    text = render_email("statement.txt.j2", context)
    html = render_email("statement.html.j2", context)
    # A reply reaches the customer's collector (or the collections desk) when the statement names one.
    reply_to = statement.contact.email or None
    return build_message(
        to=recipient,
        subject=subject,
        text=text,
        html=html,
        attachments=tuple(attachments),
        reply_to=reply_to,
        message_id=message_id,
    )
