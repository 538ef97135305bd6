"""The PDF statement, read back with pypdf: figures formatted per locale, accented names, escaped markup, the page
numbering on every page, and the renderer reused across documents."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import subprocess
from decimal import Decimal
from html import unescape
from typing import Any

import pytest
from pypdf import PdfReader

from shared.render import render_statement
from shared.render.activity import render_activity_pdf
from shared.render.pdf import prepare_pdf_renderer, render_pdf
from shared.statements import ItemRow, Party, build_activity
from tests.factories import (
    COMPANY_PARTY,
    CUSTOMER_PARTY,
    STATEMENT_CUTOFF,
    item,
    make_statement,
    many_items,
    sample_items,
)


def pdf_pages(data: bytes) -> list[str]:
    assert data.startswith(b"%PDF-")
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]


def words_placed(data: bytes, *pages: str) -> list[tuple[str, float, float, float, float]]:
    """The words as poppler reads them (of the pages `pages` selects, e.g. "-f", "1", "-l", "1"; all if none),
    each with its box (xMin, yMin, xMax, yMax, in points)."""
    found = subprocess.run(["pdftotext", *pages, "-bbox", "-", "-"], input=data, capture_output=True,
                           check=True).stdout.decode()  # fmt: skip
    return [
        (unescape(word), float(x0), float(y0), float(x1), float(y1))
        for x0, y0, x1, y1, word in re.findall(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', found
        )
    ]


def assert_same_words_in_place(ours: bytes, theirs: bytes, tolerance: float = 0.05) -> None:
    """The first pages' words in the same order, each where the other file has it to within `tolerance` points (a run
    places its glyphs by advances rounded to 1/1000 em, as WeasyPrint places all HTML text; letter by letter,
    each glyph exactly: at 10 px that is hundredths of a point, an invisible fraction of a pixel)."""
    first = ("-f", "1", "-l", "1")
    mine, other = words_placed(ours, *first), words_placed(theirs, *first)
    assert [word for word, *_ in mine] == [word for word, *_ in other]
    assert mine, "no words on the page"
    for (word, *box), (_, *other_box) in zip(mine, other, strict=True):
        assert all(abs(a - b) <= tolerance for a, b in zip(box, other_box, strict=True)), (word, box, other_box)


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def spanish_pages() -> list[str]:
    return pdf_pages(render_statement(make_statement(sample_items()), "pdf"))


def test_spanish_pdf_shows_figures_names_and_page_numbers(spanish_pages: list[str]) -> None:
    assert len(spanish_pages) == 1
    text = flat(spanish_pages[0])
    for expected in (
        "Tinacos del Bajío, S.A. de C.V.",
        "Ferretería Ñandú & Hijos",
        "0000100011",
        "30 de noviembre de 2026",
        "LÍMITE DE CRÉDITO",  # the summary's labels are set in capitals
        "$250,000.00",
        "$1,034.50",
        "$6,000.00",
        "$7,034.50",
        "$242,965.50",
        "Más de 120 días",
        "Nota de crédito",
        "16/10/2026",
        "Página 1 de 1",
        "Generado el",
    ):
        assert expected in text, expected


def test_english_pdf_uses_english_words_money_and_dates() -> None:
    (page,) = pdf_pages(render_statement(make_statement(sample_items(), language="en"), "pdf"))
    text = flat(page)
    for expected in (
        "ACCOUNT STATEMENT",
        "OVERDUE BALANCE",
        "MX$7,034.50",
        "November 30, 2026",
        "10/16/2026",
        "Page 1 of 1",
    ):
        assert expected in text, expected
    assert "Página" not in text and "SALDO VENCIDO" not in text


def test_long_statement_numbers_every_page_and_repeats_the_table_header() -> None:
    pages = pdf_pages(render_statement(make_statement(many_items(150)), "pdf"))
    count = len(pages)
    assert count >= 3
    for number, text in enumerate(pages, start=1):
        assert f"Página {number} de {count}" in flat(text)
        assert "Documento" in text and "Vencimiento" in text  # the lines' header on every page
    everything = flat(" ".join(pages))
    assert all(f"FAC-{n:05d}" in everything for n in range(150))
    assert "Total MXN" in flat(pages[-1]) and "Total MXN" not in flat(pages[0])


def test_markup_and_quotes_in_data_are_printed_as_text() -> None:
    statement = make_statement(
        [item("FAC-<1>", "10.00", due=STATEMENT_CUTOFF, reference='"PO" & <script>x</script>')],
        customer=Party("K1", 'Comercial "El Águila" & Cía <S.A.>'),
    )
    (page,) = pdf_pages(render_pdf(statement))
    text = flat(page)
    assert 'Comercial "El Águila" & Cía <S.A.>' in text
    assert "FAC-<1>" in text
    assert '"PO" & <script>x</script>' in text


def test_credit_balance_and_two_currencies() -> None:
    items = [
        item("NC-1", "-1500.00", due=STATEMENT_CUTOFF - dt.timedelta(days=10), kind="credit_note"),
        item("PAG-1", "-250.00", due=STATEMENT_CUTOFF, kind="payment"),
        item("INV-USD", "99.90", due=STATEMENT_CUTOFF - dt.timedelta(days=100), currency="USD"),
    ]
    (page,) = pdf_pages(render_pdf(make_statement(items, credit_limit="1000.00")))
    text = flat(page)
    assert "-$1,750.00" in text  # the MXN total is a credit
    assert "$2,750.00" in text  # available credit grows by the credit balance
    assert "SALDO A FAVOR" in text
    assert "USD 99.90" in text  # no-break space between code and digits
    assert "Total USD" in text and "Total MXN" in text


def test_empty_statement_pdf_says_there_is_nothing() -> None:
    (page,) = pdf_pages(render_pdf(make_statement([])))
    assert "Sin movimientos a la fecha de corte" in flat(page)


def test_the_renderer_is_built_once_per_process() -> None:
    first = prepare_pdf_renderer()
    render_pdf(make_statement([]), generated_at=dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC))
    assert prepare_pdf_renderer() is first


def test_a_forked_child_builds_its_own_renderer() -> None:
    import os

    parent = prepare_pdf_renderer()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it got a renderer of its own, and whether it prints
        try:
            own = prepare_pdf_renderer()
            pdf = render_pdf(make_statement([]))
            os.write(
                write_end, b"new" if own is not parent and own.pid == os.getpid() and pdf[:5] == b"%PDF-" else b"old"
            )
        finally:
            os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 16)
    os.waitpid(pid, 0)
    assert answer == b"new"
    assert prepare_pdf_renderer() is parent


def test_the_lean_user_agent_stylesheet_prints_the_same_file_as_weasyprints_own() -> None:
    from weasyprint import HTML

    from shared.render.html import render_html
    from shared.render.pdf import PDF_VARIANT, UNIVERSAL_PSEUDO_RULES, lean_user_agent_css

    text, changed = lean_user_agent_css()
    assert changed == UNIVERSAL_PSEUDO_RULES  # else the renderer falls back to WeasyPrint's own stylesheet
    assert "li::marker" in text and "::footnote-call" not in text
    renderer = prepare_pdf_renderer()
    assert renderer.html_class is not HTML
    statement = make_statement([*sample_items(), item("INV-USD", "99.90", due=STATEMENT_CUTOFF, currency="USD")])
    html = render_html(statement, for_pdf=True, generated_at=dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC))
    options = {"stylesheets": [renderer.stylesheet], "font_config": renderer.font_config, "pdf_variant": PDF_VARIANT}

    class PydyfLevel(renderer.html_class):  # type: ignore[name-defined,misc]
        deflate_level = None  # the same compression as WeasyPrint's own, so that the files compare byte for byte
        svg_text_runs = False  # and the chart's texts drawn letter by letter, as WeasyPrint's own

    lean = PydyfLevel(string=html, url_fetcher=renderer.url_fetcher, base_url=".").write_pdf(**options)
    stock = HTML(string=html, url_fetcher=renderer.url_fetcher, base_url=".").write_pdf(**options)
    assert lean == stock


def test_making_the_printer_warns_of_nothing_and_leaves_weasyprints_counter_styles(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each process that prints makes the printer once: it logs no warning (it used to log two, redefining
    WeasyPrint's own `decimal` and `disc` counter styles) and changes none of WeasyPrint's counter styles."""
    from weasyprint.html import UA_COUNTER_STYLE

    from shared.render.pdf import _html_class

    before = dict(UA_COUNTER_STYLE)
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        html_class = _html_class()
    assert [record.getMessage() for record in caplog.records] == []
    assert UA_COUNTER_STYLE.keys() == before.keys()
    assert all(UA_COUNTER_STYLE[name] is style for name, style in before.items())
    assert html_class._ua_counter_style(None)[0] == UA_COUNTER_STYLE  # what a document numbers its lists with


def test_the_printer_compresses_faster_but_the_pages_are_weasyprints_own() -> None:
    """edocta's printer compresses the file's streams at its own level: the same pages, fonts and structure once
    decompressed; only the compressed bytes (a few percent more of them) differ."""
    from weasyprint import HTML

    from shared.render.html import render_html
    from shared.render.pdf import DEFLATE_LEVEL, PDF_VARIANT

    renderer = prepare_pdf_renderer()
    html = render_html(
        make_statement(many_items(90)), for_pdf=True, generated_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    )
    options = {"stylesheets": [renderer.stylesheet], "font_config": renderer.font_config, "pdf_variant": PDF_VARIANT}
    ours = renderer.html_class(string=html, url_fetcher=renderer.url_fetcher, base_url=".").write_pdf(**options)
    stock = HTML(string=html, url_fetcher=renderer.url_fetcher, base_url=".").write_pdf(**options)
    assert DEFLATE_LEVEL < 9 and ours != stock and len(stock) < len(ours) < len(stock) * 1.1

    def decoded(data: bytes) -> list[bytes]:
        reader = PdfReader(io.BytesIO(data))
        streams = [page.get_contents().get_data() for page in reader.pages]  # type: ignore[union-attr]
        fonts = [
            font["/FontDescriptor"]["/FontFile2"].get_data()
            for page in reader.pages
            for font in (descendant["/DescendantFonts"][0] for descendant in page["/Resources"]["/Font"].values())
        ]
        assert len(fonts) >= 6  # two fonts (regular and bold) on each of the three pages
        return [*streams, *fonts]

    assert len(PdfReader(io.BytesIO(ours)).pages) == 3
    assert decoded(ours) == decoded(stock)
    assert pdf_pages(ours) == pdf_pages(stock)


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_charts_texts_drawn_as_runs_are_where_weasyprints_letter_by_letter_drawing_puts_them(language: str) -> None:
    """The aging charts' labels and amounts are laid out and drawn once per text, not once per letter as
    WeasyPrint draws an SVG text: every word of the page in the same place, with two currencies and credit
    balances among the amounts."""
    from shared.render.html import render_html
    from shared.render.pdf import PDF_VARIANT

    renderer = prepare_pdf_renderer()
    items = [*sample_items(), item("INV-USD", "99.90", due=STATEMENT_CUTOFF, currency="USD")]
    items.append(item("NC-USD", "-250.00", due=STATEMENT_CUTOFF, currency="USD", kind="credit_note"))
    statement = make_statement(items, language=language)
    html = render_html(statement, for_pdf=True, generated_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    options = {"stylesheets": [renderer.stylesheet], "font_config": renderer.font_config, "pdf_variant": PDF_VARIANT}

    class Letters(renderer.html_class):  # type: ignore[name-defined,misc]
        svg_text_runs = False

    runs = renderer.html_class(string=html, url_fetcher=renderer.url_fetcher, base_url=".").write_pdf(**options)
    letters = Letters(string=html, url_fetcher=renderer.url_fetcher, base_url=".").write_pdf(**options)

    def chart_texts(data: bytes) -> int:
        """Text-showing operators in the page's form objects (WeasyPrint draws each anchored SVG text in one)."""
        objects = PdfReader(io.BytesIO(data)).pages[0]["/Resources"]["/XObject"].values()
        return sum(len(re.findall(rb"(?:TJ|Tj)\s", shown.get_object().get_data())) for shown in objects)

    assert_same_words_in_place(runs, letters)
    over_120 = "Más de 120 días" if language == "es" else "Over 120 days"
    text = " ".join(word for word, *_ in words_placed(runs, "-f", "1", "-l", "1"))
    assert text.count(over_120) == 3  # in the aging table and in each currency's chart
    assert chart_texts(runs) == 2 * 12 < chart_texts(letters)  # a label and an amount per bucket, each one run


def test_an_svg_text_is_drawn_as_one_run_only_where_it_lands_where_weasyprint_would_draw_it() -> None:
    """Kerned pairs, bold, anchors at the end and the middle, a position between points: drawn as one run each,
    every word where letter-by-letter drawing puts it (a run laid out with kerning would move "AV", "Ty",
    "Yo"... by tenths of a point). Texts that place letters one by one (`dx`), hold another element (`tspan`) or
    ask for another font are WeasyPrint's own."""
    from shared.render.pdf import PDF_VARIANT

    runs = [
        '<text x="290" y="20" text-anchor="end">AVATAR Type WAVE Tea fi fl Yo</text>',
        '<text x="10" y="40">Más de 120 días, Ñandú «LV»</text>',
        '<text x="10" y="60" font-weight="bold">To Vote: 1-30 días $1,234.50</text>',
        '<text x="150" y="80" text-anchor="middle" fill="#2f855a">-USD 150.10</text>',
        '<text x="10.3" y="90" font-size="10">Over 120 days</text>',
    ]
    letters = [
        '<text x="10" y="100" dx="2 1 0 3">Letters dx</text>',
        '<text x="10" y="115">Run <tspan fill="#c53030">tspan</tspan> after</text>',
        '<text x="200" y="115" font-family="Liberation Sans">Another font</text>',
    ]
    renderer = prepare_pdf_renderer()
    options = {"stylesheets": [renderer.stylesheet], "font_config": renderer.font_config, "pdf_variant": PDF_VARIANT}

    class Letters(renderer.html_class):  # type: ignore[name-defined,misc]
        svg_text_runs = False

    def pdf(texts: list[str], printer: Any = renderer.html_class) -> bytes:
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 300 120" width="300" height="120"'
            f' font-family="Edocta Sans" font-size="14">{"".join(texts)}</svg>'
        )
        html = f'<html lang="es"><body>{svg}</body></html>'
        return bytes(printer(string=html, url_fetcher=renderer.url_fetcher, base_url=".").write_pdf(**options))

    def shown(data: bytes) -> int:
        """Text-showing operators on the page and in its form objects."""
        page = PdfReader(io.BytesIO(data)).pages[0]
        streams = [page.get_contents().get_data()]  # type: ignore[union-attr]
        streams += [form.get_object().get_data() for form in page["/Resources"].get("/XObject", {}).values()]
        return sum(len(re.findall(rb"(?:TJ|Tj)\s", stream)) for stream in streams)

    ours = pdf(runs + letters)
    assert_same_words_in_place(ours, pdf(runs + letters, Letters))
    assert shown(ours) == shown(pdf(letters)) + len(runs) < shown(pdf(runs + letters, Letters))


def test_the_garbage_collector_is_paused_only_while_documents_print() -> None:
    import gc

    from shared.render.pdf import collector_paused

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # another thread printing meanwhile
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("a failed print")
    assert gc.isenabled()
    render_pdf(make_statement(sample_items()))
    assert gc.isenabled()
    gc.disable()
    try:  # a process that turned the collector off keeps it off
        render_pdf(make_statement([]))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_documents_print_on_a_reserved_frame_stack_the_same_file_without_mapping_memory_for_their_calls() -> None:
    """The printer calls WeasyPrint from a frame that reserves room for the layout's frames: the same file, byte
    for byte, as a call from an ordinary frame, but without the fresh pages CPython maps (and unmaps) each time
    the layout's recursion crosses into a new chunk of its frame stack, wherever the caller's own stack stands."""
    import resource
    import sys

    from shared.render.html import render_html
    from shared.render.pdf import _write_pdf, collector_paused, on_reserved_stack

    renderer = prepare_pdf_renderer()
    html = render_html(
        make_statement(many_items(20)), for_pdf=True, generated_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    )
    first = _write_pdf(html, renderer)  # fonts and caches loaded: from here only what every document costs
    assert on_reserved_stack(_write_pdf, html, renderer) == first

    def printed(reserved: bool, callers: int) -> int:
        """The page faults of this thread while printing the statement `callers` frames deeper than this one."""
        if callers:
            return printed(reserved, callers - 1)
        with collector_paused():
            faults = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
            data = on_reserved_stack(_write_pdf, html, renderer) if reserved else _write_pdf(html, renderer)
            faults = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - faults
        assert data == first
        return faults

    depths = range(0, 96, 12)  # a 16 KiB chunk holds some 50-100 frames
    reserved = max(printed(True, callers) for callers in depths)  # 8-16 here
    plain = max(printed(False, callers) for callers in depths)  # 190-11,000 here, by depth
    if plain < 100:
        pytest.skip(f"this interpreter maps no memory for the layout's calls ({plain} page faults)")
    assert reserved * 4 < plain, (reserved, plain)

    def depth(levels: int) -> int:
        return 1 + depth(levels - 1) if levels else 0

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + 6000)
    try:  # deeper than the reserved room: the frames past it go to chunks of their own, as without it
        assert on_reserved_stack(depth, 5000) == 5000
    finally:
        sys.setrecursionlimit(limit)


@pytest.mark.parametrize("language", ["es", "en"])
def test_an_activity_statement_in_three_currencies_stays_inside_the_page_margins(language: str) -> None:
    """Nine columns (the currency one included) fit between the page's margins: no word beyond the right one."""
    start = STATEMENT_CUTOFF - dt.timedelta(days=90)
    items = [
        ItemRow(
            f"FAC-2026-{n:07d}",
            "invoice" if n % 4 else "payment",
            f"OC-{n}",
            start + dt.timedelta(days=n * 3),
            start + dt.timedelta(days=n * 3 + 30),
            Decimal(-123456 if n % 4 == 0 else 98765432) / 100,
            ("MXN", "USD", "EUR")[n % 3],
            start + dt.timedelta(days=n * 3 + 10) if n % 2 else None,
        )
        for n in range(24)
    ]
    activity = build_activity(
        COMPANY_PARTY, CUSTOMER_PARTY, start, STATEMENT_CUTOFF, items, account_currency="MXN", language=language
    )
    pdf = render_activity_pdf(activity, generated_at=dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC))
    words = words_placed(pdf)
    right_edges = [x_max for _, _, _, x_max, _ in words]
    assert any("USD" in word for word, *_ in words) and len(right_edges) > 200
    page_width, right_margin = 612.0, 14 / 25.4 * 72  # Letter, 14 mm
    assert max(right_edges) <= page_width - right_margin + 0.5


def _element_tree(root: Any) -> list[tuple[Any, ...]]:
    return [(element.tag, dict(element.attrib), element.text, element.tail) for element in root.iter()]


def test_our_documents_are_read_as_xml_into_the_tree_weasyprints_html_parser_builds() -> None:
    """The printer reads a statement with expat: the element tree must be the HTML5 parser's, for both kinds of
    statement, with the optional blocks (three currencies, disputed lines, contact, payment instructions, the
    empty statement's note) and text that looks like markup."""
    import dataclasses

    import tinyhtml5
    from weasyprint import HTML

    from shared.render.activity import render_activity_html
    from shared.render.html import render_html
    from shared.render.pdf import xml_element_tree
    from shared.statements import build_statement
    from shared.statements.values import Contact

    disputed = [dataclasses.replace(row, disputed=n % 2 == 0) for n, row in enumerate(sample_items())]
    tricky = Party("9", "A <b>&amp;</b> \"B\" 'C' & D", "", "Line 1\nLine 2\r\n\tLine 3")
    documents = [
        render_html(
            make_statement([*disputed, item("INV-USD", "9.90", due=STATEMENT_CUTOFF, currency="USD")]), for_pdf=True
        ),
        render_html(make_statement([]), for_pdf=True),
        render_html(make_statement(sample_items(), language="en", customer=tricky), for_pdf=True),
        render_html(
            build_statement(
                COMPANY_PARTY,
                CUSTOMER_PARTY,
                STATEMENT_CUTOFF,
                disputed,
                account_currency="MXN",
                credit_limit=None,
                contact=Contact("Ana", "ana@example.com", "442"),
                payment_instructions="Banco\nCLABE 1",
            ),
            for_pdf=True,
        ),
        render_activity_html(
            build_activity(
                COMPANY_PARTY,
                CUSTOMER_PARTY,
                STATEMENT_CUTOFF - dt.timedelta(days=60),
                STATEMENT_CUTOFF,
                disputed,
                account_currency="MXN",
            ),
            for_pdf=True,
        ),
    ]
    renderer = prepare_pdf_renderer()
    for html in documents:
        root = xml_element_tree(html)
        assert root is not None
        assert _element_tree(root) == _element_tree(tinyhtml5.parse(html, namespace_html_elements=False))
        ours = renderer.html_class(string=html, url_fetcher=renderer.url_fetcher, base_url=".")
        weasyprints = HTML(string=html, url_fetcher=renderer.url_fetcher, base_url=".")
        assert {name: value for name, value in vars(ours).items() if "element" not in name} == {
            name: value for name, value in vars(weasyprints).items() if "element" not in name
        }
        assert _element_tree(ours.etree_element) == _element_tree(weasyprints.etree_element)


def test_a_document_that_is_not_xml_is_read_by_weasyprints_parser() -> None:
    from shared.render.pdf import html_to_pdf, xml_element_tree

    html = "<!DOCTYPE html><html lang=es><body><p>Uno&nbsp;dos<br>tres</p><p>cuatro</body></html>"
    assert xml_element_tree(html) is None
    (page,) = pdf_pages(html_to_pdf(html))
    assert "Uno\xa0dos" in page and "tres" in page and "cuatro" in page
