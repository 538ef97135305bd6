"""The XLSX statement, reopened with openpyxl: exact numbers, real dates, formats, frozen panes, autofilter, and
text that stays text whatever it starts with."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from shared.render import render_statement
from shared.statements import Party
from tests.factories import STATEMENT_CUTOFF, item, make_statement, many_items, sample_items


def open_sheet(data: bytes) -> Worksheet:
    workbook = load_workbook(io.BytesIO(data))
    sheet = workbook.active
    assert isinstance(sheet, Worksheet)
    return sheet


def find_row(sheet: Worksheet, first_value: str) -> int:
    for (cell,) in sheet.iter_rows(min_col=1, max_col=1):
        if cell.value == first_value:
            return int(cell.row)
    raise AssertionError(f"no row starting with {first_value!r}")


def row_values(sheet: Worksheet, row: int) -> list[Any]:
    return [cell.value for cell in sheet[row]]


def as_decimal(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def test_lines_are_numbers_and_dates_under_a_frozen_filtered_header() -> None:
    sheet = open_sheet(render_statement(make_statement(sample_items()), "xlsx"))
    header = find_row(sheet, "Documento")
    assert row_values(sheet, header) == [
        "Documento",
        "Tipo",
        "Referencia",
        "Fecha",
        "Vencimiento",
        "Días vencidos",
        "Importe",
        "Moneda",
    ]
    assert sheet.freeze_panes == f"A{header + 1}"
    assert sheet.auto_filter.ref == f"A{header}:H{header + 4}"

    first = sheet[header + 1]
    assert [first[0].value, first[1].value, first[2].value] == ["FAC-1", "Factura", "PO-7"]
    assert first[3].is_date and first[3].value.date() == dt.date(2026, 9, 16)
    assert first[4].is_date and first[4].value.date() == dt.date(2026, 10, 16)
    assert first[3].number_format == "dd/mm/yyyy"
    assert first[5].value == 45 and first[5].data_type == "n"
    assert first[6].data_type == "n" and as_decimal(first[6].value) == Decimal("1234.50")
    assert first[6].number_format == '"$"#,##0.00;-"$"#,##0.00'
    amounts = [as_decimal(sheet.cell(header + n, 7).value) for n in range(1, 5)]
    assert amounts == [Decimal("1234.50"), Decimal("-200.00"), Decimal("1000.00"), Decimal("5000.00")]

    total_row = find_row(sheet, "Total MXN")
    assert total_row > header + 4  # outside the filtered range
    assert as_decimal(sheet.cell(total_row, 7).value) == Decimal("7034.50")


def test_header_block_has_company_customer_cutoff_figures_and_aging() -> None:
    sheet = open_sheet(render_statement(make_statement(sample_items()), "xlsx"))
    assert sheet["A1"].value == "Tinacos del Bajío, S.A. de C.V."
    cutoff_row = find_row(sheet, "Fecha de corte")
    assert sheet.cell(cutoff_row, 2).value.date() == STATEMENT_CUTOFF
    assert sheet.cell(find_row(sheet, "Número de cliente"), 2).value == "0000100011"  # zeros kept: text
    assert sheet.cell(find_row(sheet, "Cliente"), 2).value == "Ferretería Ñandú & Hijos"

    summary_header = find_row(sheet, "Moneda")
    assert row_values(sheet, summary_header)[:6] == [
        "Moneda",
        "Límite de crédito",
        "Saldo vencido",
        "Saldo a vencer",
        "Saldo total",
        "Crédito disponible",
    ]
    figures = row_values(sheet, summary_header + 1)
    assert figures[0] == "MXN"
    assert [as_decimal(value) for value in figures[1:6]] == [
        Decimal("250000.00"),
        Decimal("1034.50"),
        Decimal("6000.00"),
        Decimal("7034.50"),
        Decimal("242965.50"),
    ]
    aging_header = find_row(sheet, "Antigüedad de saldos") + 1
    assert row_values(sheet, aging_header)[1:8] == [
        "Al corriente",
        "1-30 días",
        "31-60 días",
        "61-90 días",
        "91-120 días",
        "Más de 120 días",
        "Total",
    ]
    aging = row_values(sheet, aging_header + 1)
    assert aging[0] == "MXN"
    assert [as_decimal(value) for value in aging[1:8]] == [
        Decimal("6000.00"),
        Decimal("-200.00"),
        Decimal("1234.50"),
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("7034.50"),
    ]


@pytest.mark.parametrize("text", ["=1+1", "+52 55 1234", "-3", "@x", "\tTAB", "\rCR", '=HYPERLINK("http://x","y")'])
def test_text_that_looks_like_a_formula_stays_text(text: str) -> None:
    statement = make_statement(
        [item(text, "10.00", due=STATEMENT_CUTOFF, reference=text)],
        company=Party("1000", text),
        customer=Party(text, text, text, text),
        payment_terms=text,
    )
    sheet = open_sheet(render_statement(statement, "xlsx"))
    cells = [cell for row in sheet.iter_rows() for cell in row if cell.value == text]
    # company name, customer name, number, tax id, address, terms, document number, reference
    assert len(cells) == 8
    assert all(cell.data_type == "s" for cell in cells)
    assert not any(cell.data_type == "f" for row in sheet.iter_rows() for cell in row)


def test_control_characters_are_dropped_not_fatal() -> None:
    statement = make_statement([item("FAC\x01-1", "10.00", due=STATEMENT_CUTOFF, reference="PO\x0b-2")])
    sheet = open_sheet(render_statement(statement, "xlsx"))
    header = find_row(sheet, "Documento")
    assert row_values(sheet, header + 1)[:3] == ["FAC-1", "Factura", "PO-2"]


def test_two_currencies_get_their_own_formats_and_totals_in_english() -> None:
    items = [*sample_items(), item("INV-USD", "99.90", due=STATEMENT_CUTOFF - dt.timedelta(days=100), currency="USD")]
    sheet = open_sheet(render_statement(make_statement(items, language="en"), "xlsx"))
    header = find_row(sheet, "Document")
    assert row_values(sheet, header)[-1] == "Currency"
    usd_row = next(r for r in range(header + 1, header + 6) if sheet.cell(r, 1).value == "INV-USD")
    assert sheet.cell(usd_row, 4).number_format == "mm/dd/yyyy"
    assert sheet.cell(usd_row, 7).number_format == '"$"#,##0.00;-"$"#,##0.00'  # USD is "$" in en-US
    mxn_row = next(r for r in range(header + 1, header + 6) if sheet.cell(r, 1).value == "FAC-1")
    assert sheet.cell(mxn_row, 7).number_format == '"MX$"#,##0.00;-"MX$"#,##0.00'
    assert as_decimal(sheet.cell(find_row(sheet, "Total USD"), 7).value) == Decimal("99.90")
    assert as_decimal(sheet.cell(find_row(sheet, "Total MXN"), 7).value) == Decimal("7034.50")
    summary = find_row(sheet, "Currency")
    assert sheet.cell(summary + 2, 1).value == "USD"
    assert sheet.cell(summary + 2, 2).value == "Not applicable"  # no credit limit in another currency


def test_an_empty_statement_says_so_and_has_no_filter() -> None:
    sheet = open_sheet(render_statement(make_statement([]), "xlsx"))
    assert find_row(sheet, "Sin movimientos a la fecha de corte") > find_row(sheet, "Documento")
    assert sheet.auto_filter.ref is None


def test_a_long_statement_keeps_every_line() -> None:
    sheet = open_sheet(render_statement(make_statement(many_items(1200)), "xlsx"))
    header = find_row(sheet, "Documento")
    assert sheet.auto_filter.ref == f"A{header}:H{header + 1200}"
    total = sum(as_decimal(sheet.cell(header + n, 7).value) for n in range(1, 1201))
    assert total == sum(Decimal(f"{100 + n}.25") for n in range(1200))
