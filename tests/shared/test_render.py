"""The statement renderers: JSON, HTML (and the context the portal shares), file names, content types.

Statements are built with `build_statement` from plain rows, so these tests need no database; one test goes
through `load_statement` on both database backends.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

import pytest

from shared.render import CONTENT_TYPES, render_statement, statement_filename
from shared.render.html import TEMPLATE_DIR, render_html, statement_context
from shared.statements import Party
from tests.factories import STATEMENT_CUTOFF, item, make_statement, sample_items

# --- formats, names, JSON -------------------------------------------------------------------------------------


def test_content_types_and_file_names_follow_the_statement() -> None:
    statement = make_statement(sample_items())
    assert CONTENT_TYPES["pdf"] == "application/pdf"
    assert CONTENT_TYPES["xlsx"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert CONTENT_TYPES["json"] == "application/json"
    assert CONTENT_TYPES["html"].startswith("text/html")
    assert statement_filename(statement, "pdf") == "estado-de-cuenta_1000_0000100011_2026-11-30.pdf"
    assert statement_filename(statement, "xlsx") == "estado-de-cuenta_1000_0000100011_2026-11-30.xlsx"


def test_file_names_never_carry_path_or_quote_characters() -> None:
    statement = make_statement([], company=Party('../1"0\r\n0', "X"), customer=Party("a/b c", "Y"))
    name = statement_filename(statement, "pdf")
    assert name == "estado-de-cuenta_1-0-0_a-b-c_2026-11-30.pdf"
    assert re.fullmatch(r"[A-Za-z0-9._-]+", name)


def test_unknown_format_is_refused() -> None:
    statement = make_statement([])
    with pytest.raises(ValueError, match="docx"):
        render_statement(statement, "docx")
    with pytest.raises(ValueError, match="docx"):
        statement_filename(statement, "docx")


def test_json_is_the_contract_document() -> None:
    statement = make_statement(sample_items())
    document = json.loads(render_statement(statement, "json"))
    assert document == statement.to_json()
    assert document["totals"]["MXN"]["total"] == "7034.50"
    assert document["customer"]["number"] == "0000100011"


# --- HTML and the shared context --------------------------------------------------------------------------------


def test_html_shows_the_five_figures_and_the_aging_in_spanish() -> None:
    html = render_statement(make_statement(sample_items()), "html").decode()
    assert '<html lang="es-MX">' in html
    for text in ("Límite de crédito", "Saldo vencido", "Saldo a vencer", "Saldo total", "Crédito disponible"):
        assert text in html
    assert "$250,000.00" in html  # credit limit
    assert "$1,034.50" in html  # overdue: 1,234.50 - 200.00
    assert "$6,000.00" in html  # not yet due: due on the cut-off + later
    assert "$7,034.50" in html  # total
    assert "$242,965.50" in html  # available credit
    assert "30 de noviembre de 2026" in html
    assert "Antigüedad de saldos" in html and "31-60 días" in html and "Más de 120 días" in html
    assert "Ferretería Ñandú &amp; Hijos" in html


def test_html_in_english_formats_money_and_dates_for_en_us() -> None:
    html = render_statement(make_statement(sample_items(), language="en"), "html").decode()
    assert '<html lang="en-US">' in html
    assert "Overdue balance" in html and "Available credit" in html
    assert "MX$7,034.50" in html
    assert "November 30, 2026" in html
    assert "11/30/2026" in html  # short dates in the lines' header block
    assert "Saldo vencido" not in html


def test_html_escapes_every_piece_of_data() -> None:
    hostile = '<script>alert("x")</script>'
    statement = make_statement(
        [item("<b>FAC</b>", "10.00", due=STATEMENT_CUTOFF, reference=hostile)],
        company=Party("1000", f"ACME {hostile}", "<i>RFC</i>", "Calle 'uno' & <dos>"),
        customer=Party("K1", f"Cliente {hostile}", "", ""),
        payment_terms="<u>30</u>",
    )
    html = render_statement(statement, "html").decode()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<b>FAC</b>" not in html and "&lt;b&gt;FAC&lt;/b&gt;" in html
    assert "<u>30</u>" not in html and "<i>RFC</i>" not in html
    assert "Calle &#39;uno&#39; &amp; &lt;dos&gt;" in html


def test_an_empty_statement_says_there_is_nothing_at_the_cutoff() -> None:
    html = render_statement(make_statement([]), "html").decode()
    assert "Sin movimientos a la fecha de corte" in html
    assert 'id="statement-lines"' not in html  # no lines table, the message instead
    assert "$250,000.00" in html  # the limit is all available
    english = render_statement(make_statement([], language="en"), "html").decode()
    assert "No open items as of the cut-off date" in english


def test_lines_table_has_sortable_columns_and_a_total_per_currency() -> None:
    items = [*sample_items(), item("INV-USD", "99.90", due=STATEMENT_CUTOFF - dt.timedelta(days=100), currency="USD")]
    html = render_statement(make_statement(items), "html").decode()
    table = html.split('id="statement-lines"', 1)[1]
    headers = re.findall(r'<th scope="col" data-sort="(\w+)" data-key="(\w+)"', table)
    assert headers == [
        ("text", "document_number"),
        ("text", "document_type"),
        ("text", "reference"),
        ("date", "document_date"),
        ("date", "due_date"),
        ("number", "days_overdue"),
        ("number", "amount"),
        ("text", "currency"),
    ]
    assert '<td data-value="2026-10-16">16/10/2026</td>' in table  # FAC-1's due date
    assert '<td data-value="1234.50">1,234.50</td>' in table
    tfoot = table.split("<tfoot>", 1)[1].split("</tfoot>", 1)[0]
    assert "Total MXN" in tfoot and "$7,034.50" in tfoot
    assert "Total USD" in tfoot and "USD\u00a099.90" in tfoot
    assert "Nota de crédito" in table and "Factura" in table


def test_single_currency_lines_name_the_currency_in_the_amount_header() -> None:
    html = render_statement(make_statement(sample_items()), "html").decode()
    table = html.split('id="statement-lines"', 1)[1]
    assert 'data-key="currency"' not in table
    assert "Importe (MXN)" in table


def test_context_orders_figures_by_account_currency_and_keeps_credit_to_it() -> None:
    items = [*sample_items(), item("INV-USD", "99.90", due=STATEMENT_CUTOFF, currency="USD")]
    context = statement_context(make_statement(items), generated_at=dt.datetime(2026, 12, 1, 15, 30, tzinfo=dt.UTC))
    mxn, usd = context["figures"]
    assert (mxn.currency, usd.currency) == ("MXN", "USD")
    assert mxn.has_credit and mxn.credit_limit_text == "$250,000.00" and mxn.available_credit_text == "$242,965.50"
    assert not usd.has_credit and usd.credit_limit_text == "" and usd.available_credit is None
    assert usd.total_text == "USD\u00a099.90"
    assert [row.currency for row in context["aging"]] == ["MXN", "USD"]
    assert [cell.bucket for cell in context["aging"][0].cells] == [
        "current",
        "1-30",
        "31-60",
        "61-90",
        "91-120",
        "120+",
    ]
    assert context["aging"][0].cells[2].text == "$1,234.50"  # 45 days overdue
    assert context["generated_text"] == "Generado el 1 de diciembre de 2026, 09:30"  # America/Mexico_City
    assert context["show_currency_column"] is True
    assert context["line_count"] == 5


def test_context_says_no_limit_when_the_account_has_none() -> None:
    context = statement_context(make_statement(sample_items(), credit_limit=None))
    (mxn,) = context["figures"]
    assert mxn.credit_limit_text == "Sin límite"
    assert mxn.available_credit is None
    english = statement_context(make_statement(sample_items(), credit_limit=None), language="en")
    assert english["figures"][0].credit_limit_text == "No limit"


def test_the_aging_chart_draws_one_bar_per_bucket_and_credits_to_the_left() -> None:
    items = [
        item("FAC-1", "300.00", due=STATEMENT_CUTOFF),
        item("NC-1", "-100.00", due=STATEMENT_CUTOFF - dt.timedelta(days=10), kind="credit_note"),
    ]
    context = statement_context(make_statement(items))
    chart = context["aging"][0].chart
    current, one_to_thirty = chart.bars[0], chart.bars[1]
    assert not current.negative and current.x == chart.zero_x and current.width > 0
    assert one_to_thirty.negative and one_to_thirty.x + one_to_thirty.width == pytest.approx(chart.zero_x)
    assert current.width == pytest.approx(3 * one_to_thirty.width)  # 300 against 100
    assert all(bar.width == 0 for bar in chart.bars[2:])
    html = render_html(make_statement(items))
    svg = html.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert svg.count('class="st-bar') == 2  # empty buckets draw no bar
    assert "Los importes negativos son saldos a favor del cliente." in html


def test_the_portal_can_include_each_partial_with_the_shared_context() -> None:
    from jinja2 import Environment, FileSystemLoader

    from shared.i18n import install_jinja

    environment = Environment(loader=FileSystemLoader(str(TEMPLATE_DIR)), autoescape=True)
    install_jinja(environment)
    page = environment.from_string(
        "{% for name in ['company_header', 'customer', 'figures', 'aging', 'lines'] %}"
        '{% include "statement/_" ~ name ~ ".html.j2" %}{% endfor %}'
    )
    html = page.render(statement_context(make_statement(sample_items(), language="es"), language="en"))
    assert "Total balance" in html and "MX$7,034.50" in html and "Credit note" in html
    assert "Nota de crédito" not in html


def test_load_statement_renders_every_format(database: str) -> None:
    from shared.db import session_scope
    from shared.models import Account, Company, Customer, OpenItem
    from shared.statements import load_statement

    with session_scope() as session:
        company = Company(code="1000", name="Tinacos del Bajío", tax_id="TBA850101AB1", currency="MXN")
        customer = Customer(number="0000100011", name="Ferretería Ñandú", language="en")
        session.add_all([company, customer])
        session.flush()
        session.add(
            Account(company_id=company.id, customer_id=customer.id, credit_limit=Decimal("5000"), currency="MXN")
        )
        session.add(
            OpenItem(
                company_id=company.id,
                customer_id=customer.id,
                document_number="=1+1",
                document_type="invoice",
                reference="PO-1",
                document_date=dt.date(2026, 10, 1),
                due_date=dt.date(2026, 10, 31),
                amount=Decimal("1160.00"),
                currency="MXN",
            )
        )
    with session_scope() as session:
        statement = load_statement(session, "1000", "0000100011", STATEMENT_CUTOFF)

    assert json.loads(render_statement(statement, "json"))["lines"][0]["days_overdue"] == 30
    html = render_statement(statement, "html").decode()
    assert "MX$3,840.00" in html  # available credit, in the customer's language (English)
    assert render_statement(statement, "xlsx")[:2] == b"PK"
    assert render_statement(statement, "pdf")[:5] == b"%PDF-"
