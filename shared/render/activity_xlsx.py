"""The activity statement (contract section 7) as an XLSX workbook: a header block with the balances per currency
(opening, movements, adjustment, closing), then the lines with their clearing date and running balance, as real
dates and numbers; text stays text (see `shared.render.xlsx`)."""

from __future__ import annotations

import io
from functools import partial

from openpyxl.styles import Alignment

from shared.i18n import gettext, normalize_language
from shared.render.labels import document_type_label
from shared.render.xlsx import (
    BOLD,
    DATE_FORMATS,
    MUTED,
    SECTION_FONT,
    SUBTITLE_FONT,
    TITLE_FONT,
    SheetWriter,
    new_cell,
    new_sheet,
)
from shared.statements import ActivityStatement

COLUMN_WIDTHS = (18, 16, 20, 13, 13, 13, 17, 17, 10, 16)


def _write_head(writer: SheetWriter, statement: ActivityStatement) -> None:
    _ = partial(gettext, language=writer.language)
    company, customer = statement.company, statement.customer
    writer.append([writer.text(company.name, TITLE_FONT)])
    if company.tax_id:
        writer.append([writer.text(f"{_('RFC')}: {company.tax_id}", MUTED)])
    writer.append([writer.text(f"{_('Estado de cuenta')} · {_('Movimientos')}", SUBTITLE_FONT)])
    left = Alignment("left")
    writer.append([writer.text(_("Desde"), BOLD), writer.date(statement.start, alignment=left)])
    writer.append([writer.text(_("Hasta"), BOLD), writer.date(statement.end, alignment=left)])
    writer.append([writer.text(_("Cliente"), BOLD), writer.text(customer.name)])
    writer.append([writer.text(_("Número de cliente"), BOLD), writer.text(customer.code)])
    if customer.tax_id:
        writer.append([writer.text(_("RFC"), BOLD), writer.text(customer.tax_id)])
    if statement.payment_terms:
        writer.append([writer.text(_("Condiciones de pago"), BOLD), writer.text(statement.payment_terms)])
    contact = statement.contact
    if contact:
        who = " · ".join(part for part in (contact.name, contact.email, contact.phone) if part)
        writer.append([writer.text(_("Dudas sobre este estado de cuenta"), BOLD), writer.text(who)])
    if statement.payment_instructions:
        writer.append([writer.text(_("Cómo pagar"), BOLD), writer.text(statement.payment_instructions)])
    writer.append()

    writer.append([writer.text(_("Resumen"), SECTION_FONT)])
    writer.header(
        [
            _("Moneda"),
            _("Saldo inicial"),
            _("Movimientos del periodo"),
            _("Ajuste por partidas liquidadas"),
            _("Saldo final"),
        ]
    )
    for currency, balance in statement.balances.items():
        money = writer.money_format(currency)
        writer.append(
            [
                writer.text(currency, BOLD),
                writer.number(balance.opening, money),
                writer.number(balance.movements, money),
                writer.number(balance.adjustment, money),
                writer.number(balance.closing, money, font=BOLD),
            ]
        )
    writer.append()


def render_activity_xlsx(statement: ActivityStatement) -> bytes:
    """The activity statement as an XLSX workbook in the statement's language."""
    language = normalize_language(statement.language)
    _ = partial(gettext, language=language)
    workbook, sheet = new_sheet(
        f"{_('Movimientos')} {statement.customer.code} {statement.start.isoformat()} {statement.end.isoformat()}",
        statement.company.name,
        _("Movimientos"),
        COLUMN_WIDTHS,
    )
    writer = SheetWriter(sheet, language)
    _write_head(writer, statement)
    disputes = statement.has_disputed_lines
    disputed_text = _("En aclaración")
    header_row = writer.lines_header(
        _("Movimientos del periodo"),
        [
            _("Documento"),
            _("Tipo"),
            _("Referencia"),
            _("Fecha"),
            _("Vencimiento"),
            _("Liquidada"),
            _("Importe"),
            _("Saldo"),
            _("Moneda"),
            # Only when some line is disputed: its mark (contract section 9), as on the open-item statement.
            *([_("Aclaración")] if disputes else []),
        ],
    )

    plain = writer.plain
    date_format = DATE_FORMATS[language]
    labels: dict[str, str] = {}

    def dated(value: object) -> object:
        if value is None:
            return None
        cell = new_cell(sheet, value)
        cell.number_format = date_format
        return cell

    for line in statement.lines:
        label = labels.get(line.document_type)
        if label is None:
            label = labels[line.document_type] = document_type_label(line.document_type, language)
        money = writer.money_format(line.currency)
        amount = new_cell(sheet, line.amount)
        amount.number_format = money
        balance = new_cell(sheet, line.balance)
        balance.number_format = money
        sheet.append(
            [
                plain(line.document_number),
                label,
                plain(line.reference),
                dated(line.document_date),
                dated(line.due_date),
                dated(line.cleared_on),
                amount,
                balance,
                plain(line.currency),
                *([disputed_text if line.disputed else ""] if disputes else []),
            ]
        )
        writer.row += 1
    if statement.lines:
        sheet.auto_filter.ref = f"A{header_row}:{'J' if disputes else 'I'}{writer.row}"
    else:
        writer.append([writer.text(_("Sin movimientos en el periodo"), MUTED)])
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()
