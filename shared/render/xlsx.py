"""The statement as an XLSX workbook (openpyxl, streamed in write-only mode).

One sheet: a header block (company, customer, cut-off date, the five figures per currency, the aging per currency),
then the lines as a table with real dates and numbers, currency number formats, the panes frozen below the table's
header row and an autofilter over the lines. Totals per currency follow the lines, outside the filter.

Text stays text: every string is written as a string cell, so a name or a reference such as `=HYPERLINK(...)`,
`+52 55`, `-3` or `@x` is never read as a formula (spreadsheet formula injection).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from functools import partial
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from shared.i18n import gettext, locale_for, normalize_language
from shared.render.labels import bucket_label, document_type_label
from shared.statements import BUCKETS, Statement

# Strings a spreadsheet could take for a formula when the cell is edited; they also get Excel's quote prefix.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Characters XML 1.0 cannot carry (openpyxl refuses them); they are dropped from text.
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

DATE_FORMATS = {"es": "dd/mm/yyyy", "en": "mm/dd/yyyy"}
COLUMN_WIDTHS = (18, 17, 22, 14, 14, 14, 18, 16, 16)
ACCENT = "1D4E89"

TITLE_FONT = Font(name="Calibri", size=15, bold=True, color=ACCENT)
SUBTITLE_FONT = Font(name="Calibri", size=13, bold=True)
BOLD = Font(name="Calibri", bold=True)
MUTED = Font(name="Calibri", color="52606D")
HEADER_FONT = Font(name="Calibri", bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor=ACCENT)
SECTION_FONT = Font(name="Calibri", size=12, bold=True, color=ACCENT)
TOTAL_BORDER = Border(top=Side(style="thin", color=ACCENT))
WRAP_TOP = Alignment(wrap_text=True, vertical="top")
RIGHT = Alignment(horizontal="right")

# openpyxl's stubs type cell values narrowly; dates and Decimals are values it writes natively.
new_cell: Any = WriteOnlyCell


def currency_format(currency: str, language: str) -> str:
    """An Excel number format showing the currency the way the locale does: `"$"#,##0.00` for MXN in Spanish."""
    from babel.numbers import get_currency_symbol

    symbol = get_currency_symbol(currency, locale=locale_for(language))
    if symbol and symbol[-1].isalpha():
        symbol += " "
    quoted = '"' + symbol.replace('"', "") + '"'
    return f"{quoted}#,##0.00;-{quoted}#,##0.00"


def typed_cell(sheet: WriteOnlyWorksheet, value: Any, data_type: str, style: Any) -> Cell:
    """A cell of a value whose type is known (`d` a date, `n` a number) with a resolved style (`style_of`)."""
    cell: Any = Cell(sheet, row=1, column=1, style_array=style)
    cell._value = value
    cell.data_type = data_type
    return cell


def take_cells_as_they_are(sheet: WriteOnlyWorksheet) -> None:
    """Let `sheet.append` take our cells without first trying them as values: openpyxl's write-only sheet assigns
    every item to a cell and, for a cell, catches the ValueError (whose message spells the cell out) before using
    it. Plain values still go through openpyxl's own conversion."""

    def values_to_row(values: Iterable[Any], row_idx: int) -> Iterator[Cell]:
        reused: Cell | None = None
        for col_idx, value in enumerate(values, 1):
            if value is None:
                continue
            if isinstance(value, Cell):
                cell = value
            else:
                cell = reused if reused is not None else new_cell(sheet)
                cell.value = value
            cell.column = col_idx
            cell.row = row_idx
            if cell.hyperlink is not None:
                cell.hyperlink.ref = cell.coordinate
            yield cell
            reused = None if cell is value or cell.has_style or cell.hyperlink else cell

    setattr(sheet, "_values_to_row", values_to_row)  # noqa: B010 - an instance's own method, on purpose


class SheetWriter:
    """Streams rows of cells into a write-only sheet, keeping text as text."""

    def __init__(self, sheet: WriteOnlyWorksheet, language: str) -> None:
        self.sheet = sheet
        self.language = language
        self.row = 0
        self._formats: dict[str, str] = {}
        # A write-only sheet writes its views (the frozen panes) with its first row, so the header block waits
        # here until the row to freeze below is known.
        self._pending: list[list[Any]] | None = []

    def money_format(self, currency: str) -> str:
        found = self._formats.get(currency)
        if found is None:
            found = self._formats[currency] = currency_format(currency, self.language)
        return found

    def style_of(self, number_format: str) -> Any:
        """The resolved style of a cell with this number format (and nothing else), for `typed_cell`."""
        cell = new_cell(self.sheet)
        cell.number_format = number_format
        return cell._style

    def plain(self, value: str) -> str | Cell:
        """An unstyled text value: the bare string when nothing could read it as a formula (the fast path of the
        write-only sheet), otherwise a string cell."""
        if value.startswith(FORMULA_TRIGGERS) or _ILLEGAL_XML.search(value):
            return self.text(value)
        return value

    def text(self, value: str, font: Font | None = None, **style: Any) -> Cell:
        value = _ILLEGAL_XML.sub("", value)
        cell = new_cell(self.sheet, value)
        cell.data_type = "s"  # never a formula, whatever the text starts with
        if value.startswith(FORMULA_TRIGGERS):
            cell.quotePrefix = True
        if font is not None:
            cell.font = font
        for name, setting in style.items():
            setattr(cell, name, setting)
        return cell

    def number(self, value: Decimal | int | None, number_format: str | None = None, **style: Any) -> Cell:
        cell = new_cell(self.sheet, None if value is None else value)
        if number_format:
            cell.number_format = number_format
        for name, setting in style.items():
            setattr(cell, name, setting)
        return cell

    def date(self, value: dt.date, **style: Any) -> Cell:
        cell = new_cell(self.sheet, value)
        cell.number_format = DATE_FORMATS[self.language]
        for name, setting in style.items():
            setattr(cell, name, setting)
        return cell

    def append(self, cells: Iterable[Any] = ()) -> int:
        if self._pending is not None:
            self._pending.append(list(cells))
        else:
            self.sheet.append(list(cells))
        self.row += 1
        return self.row

    def flush(self) -> None:
        """Write the rows held back so far; later rows stream straight to the sheet."""
        for cells in self._pending or ():
            self.sheet.append(cells)
        self._pending = None

    def header(self, labels: Iterable[str]) -> int:
        return self.append(self.text(label, HEADER_FONT, fill=HEADER_FILL, alignment=WRAP_TOP) for label in labels)

    def lines_header(self, title: str, labels: Iterable[str]) -> int:
        """The lines table's title and header row (returns its number); the header stays in view on screen and on
        every printed page."""
        self.append([self.text(title, SECTION_FONT)])
        header_row = self.header(labels)
        self.sheet.freeze_panes = f"A{header_row + 1}"
        self.sheet.print_title_rows = f"{header_row}:{header_row}"
        self.flush()
        return header_row


def _write_header_block(writer: SheetWriter, statement: Statement) -> None:
    language = writer.language
    company, customer = statement.company, statement.customer
    _ = partial(gettext, language=language)

    writer.append([writer.text(company.name, TITLE_FONT)])
    company_details = "  ·  ".join(
        part for part in (f"{_('RFC')}: {company.tax_id}" if company.tax_id else "", company.address) if part
    )
    if company_details:
        writer.append([writer.text(company_details.replace("\n", ", "), MUTED)])
    writer.append([writer.text(_("Estado de cuenta"), SUBTITLE_FONT)])
    writer.append([writer.text(_("Fecha de corte"), BOLD), writer.date(statement.cutoff, alignment=Alignment("left"))])
    writer.append([writer.text(_("Cliente"), BOLD), writer.text(customer.name)])
    writer.append([writer.text(_("Número de cliente"), BOLD), writer.text(customer.code)])
    if customer.tax_id:
        writer.append([writer.text(_("RFC"), BOLD), writer.text(customer.tax_id)])
    if customer.address:
        writer.append([writer.text(_("Domicilio"), BOLD), writer.text(customer.address.replace("\n", ", "))])
    if statement.payment_terms:
        writer.append([writer.text(_("Condiciones de pago"), BOLD), writer.text(statement.payment_terms)])
    writer.append()

    # The five figures, per currency; credit limit and available credit belong to the account's currency only.
    writer.append([writer.text(_("Resumen"), SECTION_FONT)])
    writer.header(
        [
            _("Moneda"),
            _("Límite de crédito"),
            _("Saldo vencido"),
            _("Saldo a vencer"),
            _("Saldo total"),
            _("Crédito disponible"),
        ]
    )
    currencies = [statement.currency, *sorted(c for c in statement.totals if c != statement.currency)]
    zero = Decimal("0.00")
    for currency in currencies:
        totals = statement.totals.get(currency)
        money = writer.money_format(currency)
        if currency == statement.currency and statement.credit_limit is not None:
            limit: Any = writer.number(statement.credit_limit, money)
            available: Any = writer.number(statement.available_credit, money)
        elif currency == statement.currency:
            limit = writer.text(_("Sin límite"), alignment=RIGHT)
            available = writer.text(_("Sin límite"), alignment=RIGHT)
        else:
            limit = available = writer.text(_("No aplica"), MUTED, alignment=RIGHT)
        writer.append(
            [
                writer.text(currency, BOLD),
                limit,
                writer.number(totals.overdue if totals else zero, money),
                writer.number(totals.not_due if totals else zero, money),
                writer.number(totals.total if totals else zero, money, font=BOLD),
                available,
            ]
        )
    writer.append()

    writer.append([writer.text(_("Antigüedad de saldos"), SECTION_FONT)])
    writer.header([_("Moneda"), *(bucket_label(bucket, language) for bucket in BUCKETS), _("Total")])
    for currency in list(statement.totals) or [statement.currency]:
        totals = statement.totals.get(currency)
        money = writer.money_format(currency)
        writer.append(
            [
                writer.text(currency, BOLD),
                *(writer.number(totals.aging[bucket] if totals else zero, money) for bucket in BUCKETS),
                writer.number(totals.total if totals else zero, money, font=BOLD),
            ]
        )
    writer.append()


def new_sheet(title: str, creator: str, sheet_name: str, widths: Sequence[float]) -> tuple[Workbook, Any]:
    """A write-only workbook with one landscape sheet fitted to the page width (both kinds of statement)."""
    workbook = Workbook(write_only=True)
    workbook.properties.title = title
    workbook.properties.creator = _ILLEGAL_XML.sub("", creator)[:255]
    sheet = workbook.create_sheet(sheet_name)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    return workbook, sheet


def render_xlsx(statement: Statement) -> bytes:
    """The statement as an XLSX workbook in the statement's language."""
    language = normalize_language(statement.language)
    _ = partial(gettext, language=language)

    workbook, sheet = new_sheet(
        f"{_('Estado de cuenta')} {statement.customer.code} {statement.cutoff.isoformat()}",
        statement.company.name,
        _("Estado de cuenta"),
        COLUMN_WIDTHS,
    )
    take_cells_as_they_are(sheet)
    writer = SheetWriter(sheet, language)
    _write_header_block(writer, statement)

    disputes = statement.has_disputed_lines
    disputed_text = _("En aclaración")
    header_row = writer.lines_header(
        _("Partidas abiertas"),
        [
            _("Documento"),
            _("Tipo"),
            _("Referencia"),
            _("Fecha"),
            _("Vencimiento"),
            _("Días vencidos"),
            _("Importe"),
            _("Moneda"),
            # Only when some line is disputed: its mark (contract section 9).
            *([_("Aclaración")] if disputes else []),
        ],
    )

    # The lines are most of the workbook: their cells are built with their style already resolved (one style per
    # number format, looked up once) and their value already typed, instead of openpyxl checking both per cell.
    type_labels: dict[str, str] = {}
    plain = writer.plain
    date_style = writer.style_of(DATE_FORMATS[language])
    money_styles: dict[str, Any] = {}
    append = sheet.append
    for line in statement.lines:
        label = type_labels.get(line.document_type)
        if label is None:
            label = type_labels[line.document_type] = document_type_label(line.document_type, language)
        money_style = money_styles.get(line.currency)
        if money_style is None:
            money_style = money_styles[line.currency] = writer.style_of(writer.money_format(line.currency))
        append(
            [
                plain(line.document_number),
                label,
                plain(line.reference),
                typed_cell(sheet, line.document_date, "d", date_style),
                typed_cell(sheet, line.due_date, "d", date_style),
                line.days_overdue,
                typed_cell(sheet, line.amount, "n", money_style),
                plain(line.currency),
                *([disputed_text if line.disputed else ""] if disputes else []),
            ]
        )
        writer.row += 1
    last_line_row = writer.row
    if statement.lines:
        sheet.auto_filter.ref = f"A{header_row}:{'I' if disputes else 'H'}{last_line_row}"
        writer.append()
        for currency, totals in statement.totals.items():
            writer.append(
                [
                    writer.text(_("Total %(currency)s") % {"currency": currency}, BOLD, border=TOTAL_BORDER),
                    *(writer.text("", border=TOTAL_BORDER) for _column in range(5)),
                    writer.number(totals.total, writer.money_format(currency), font=BOLD, border=TOTAL_BORDER),
                    writer.text(currency, BOLD, border=TOTAL_BORDER),
                ]
            )
    else:
        writer.append([writer.text(_("Sin movimientos a la fecha de corte"), MUTED)])

    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()
