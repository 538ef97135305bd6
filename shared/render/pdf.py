"""The statement as PDF: the HTML document printed by WeasyPrint on Letter pages.

WeasyPrint's font configuration and the parsed stylesheet are built once per process and reused by every document
(`prepare_pdf_renderer`, called after a worker forks, or lazily on first use): a new `FontConfiguration` per
document costs time and leaks memory. The lines table has a fixed layout with set column widths, so long
statements are laid out without measuring every cell first. Documents fetch nothing: every URL is refused.

Settings of the printer itself, none of which changes what a page shows (the last moves glyphs by hundredths of
a point at most; the others change not a pixel):

- Our documents are parsed by expat (C) as XML when they are well-formed XML, which the statement templates are
  written to be (void elements closed, no named entities): the same element tree as WeasyPrint's HTML5 parser
  builds for them, 50 times faster than that pure-Python parser (5 of the 60 ms of a statement with no lines, 4 %
  of a long one). A document that is not well-formed XML is parsed by WeasyPrint as before.
- The user-agent stylesheet is WeasyPrint's own without its rules for pseudo-elements of every element
  (`::marker`, which only a list item shows, and `::footnote-call` and its kin, which only an element floated to
  a footnote or note area shows; ours are neither). WeasyPrint computes a style for each such pseudo-element of
  each element and keeps it as long as the document: six per element, a third of the memory of a long
  statement's layout.
- Python's cyclic garbage collector is paused while a document is laid out and written
  (`collector_paused`). The layout builds a tree of boxes that only grows until the file is written, so every
  full collection during it walks the whole tree again and frees nothing; with the collector on they took a
  quarter of the time of a 200-line statement and 40 % of a 3,000-line one. The document's own garbage is
  collected once, when it is done.
- A document is printed from a call that reserves room for the layout's Python frames (`on_reserved_stack`).
  CPython 3.11 keeps frames on a stack of 16 KiB chunks, mapping a chunk from the system when a call finds no
  room and unmapping it as soon as the call that opened it returns (CPython issue gh-142183; later versions keep
  a chunk). WeasyPrint's layout goes down and up its recursive calls across such a boundary hundreds of times a
  document: each crossing was a `mmap`, a `munmap` and fresh pages, from 200 to 11,000 page faults a document by
  how deep the caller's own stack stood (a tenth of a statement's CPU time with no lines, a third of each
  line's). A frame that asks for a large stack of its own (never touched, so never in memory) makes CPython map
  a 1 MiB chunk; the layout's frames stay in its free part until the document is done: 8 to 16 page faults a
  document.
- A text of the aging chart (an SVG `<text>` in the shipped font, with one position and a plain Latin run of
  characters) is laid out and drawn as one run. WeasyPrint lays out and draws every letter of an SVG text on its
  own (each its own shaping of the font, for the positions a text may give each letter): twelve labels and
  amounts, a tenth of a statement with no lines. Drawn alone, a letter is neither kerned nor joined to the next in
  a ligature, so the run is laid out with both off: the same glyphs at the same advances, placed as WeasyPrint
  places all HTML text (advances rounded to 1/1000 em: a glyph may move by hundredths of a point, a fraction of
  a pixel; tests/shared/test_render_pdf.py compares every word's place). Any other SVG text, and every text with
  a WeasyPrint other than the one this was written against (`SVG_RUNS_WEASYPRINT`), is drawn by WeasyPrint.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import gc
import os
import re
import shutil
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from shared.render.html import PRINT_STYLESHEET, STATIC_DIR, STYLESHEET, render_html
from shared.statements import Statement

T = TypeVar("T")

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT_FILES = (FONT_DIR / "LiberationSans-Regular.ttf", FONT_DIR / "LiberationSans-Bold.ttf")
PDF_VARIANT = "pdf/ua-1"
# zlib's own default level for the file's streams (pydyf compresses at 9, its slowest: 5x the CPU for 4 % fewer
# bytes on a statement's pages).
DEFLATE_LEVEL = 6


# WeasyPrint's user-agent rules for a pseudo-element of every element (see the module's docstring). `::marker`
# stays for list items (the only elements the stylesheet displays as `list-item`); the footnote and note rules go.
_UNIVERSAL_PSEUDO_RULE = re.compile(
    r"^::(marker|footnote-call|footnote-marker|note-call|note-marker|note-callback)\s*\{[^}]*\}", re.MULTILINE
)
UNIVERSAL_PSEUDO_RULES = 6


@dataclass(frozen=True)
class PdfRenderer:
    font_config: Any  # weasyprint.text.fonts.FontConfiguration
    stylesheet: Any  # weasyprint.CSS, parsed with font_config
    url_fetcher: Any  # fetches the shipped fonts and refuses every other URL
    pid: int  # the process that built it: a forked child builds its own
    html_class: Any  # weasyprint.HTML parsing with expat, with the lean user-agent stylesheet


_RENDERER: PdfRenderer | None = None
_LOCK = threading.Lock()


def _font_fetcher() -> Any:
    """A WeasyPrint URL fetcher that answers the `file:` URLs of `FONT_FILES` and refuses every other URL."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    allowed = {path.as_uri(): path for path in FONT_FILES}

    class PackageFontFetcher(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            path = allowed.get(url)
            if path is None:
                raise ValueError(f"a statement fetches nothing but its own fonts: {url!r} refused")
            return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": "font/ttf"})

    return PackageFontFetcher(allowed_protocols=("file",))


def _remove_font_folder(font_config: Any, pid: int) -> None:
    """At exit, remove the font configuration's temporary folder while the interpreter is whole (WeasyPrint's own
    `__del__` runs during shutdown, after `shutil` is torn down, and prints a TypeError). A forked child leaves
    its parent's folder alone."""
    folder = getattr(font_config, "_folder", None)
    if folder and os.getpid() == pid:
        shutil.rmtree(folder, ignore_errors=True)
        font_config._folder = None


def lean_user_agent_css() -> tuple[str, int]:
    """WeasyPrint's HTML user-agent stylesheet without its rules for a pseudo-element of every element, and how
    many rules were taken out or narrowed (`UNIVERSAL_PSEUDO_RULES` for the WeasyPrint this project locks)."""
    from weasyprint.html import UA

    def narrow(rule: re.Match[str]) -> str:
        return "li" + rule.group(0) if rule.group(1) == "marker" else ""

    return _UNIVERSAL_PSEUDO_RULE.subn(narrow, UA)


_SVG_ROOT = "{http://www.w3.org/2000/svg}svg"
_XMLNS_ATTRIBUTE = "{http://www.w3.org/2000/xmlns/}xmlns"


def xml_element_tree(html: str) -> Any | None:
    """The element tree of a document of ours that is well-formed XML, as WeasyPrint's HTML5 parser builds it
    (no namespace on HTML elements, SVG in its own), or None when expat refuses the text (WeasyPrint then parses
    it itself). Where the two parsers differ on such a document, white space outside `<head>` and `<body>`,
    the tree is made the HTML5 parser's: it drops the white space before `<head>` and moves the white space after
    `</body>` and after `</html>` to the end of the body."""
    from xml.etree.ElementTree import ParseError, XMLParser

    if "<!ENTITY" in html:  # ours declare none (their data is escaped text): no entity expansion to fear
        return None
    parser = XMLParser()  # noqa: S314 (our own templates' output; expat fetches no external entity)
    try:
        parser.feed(html)
        root = parser.close()
    except ParseError:
        return None
    body = root.find("body")
    if root.tag != "html" or body is None or (root.text or "").strip() or (body.tail or "").strip():
        return None
    for element in root.iter():
        if element.tag == "svg":  # an SVG without its namespace: HTML would give it one
            return None
        if element.tag == _SVG_ROOT:  # HTML keeps the namespace declaration as an attribute
            element.set(_XMLNS_ATTRIBUTE, _SVG_ROOT[1:-4])
    root.text = None
    after_body = (body.tail or "") + html[len(html.rstrip()) :]
    body.tail = None
    if after_body and len(body):
        body[-1].tail = (body[-1].tail or "") + after_body
    elif after_body:
        body.text = (body.text or "") + after_body
    return root


_DEFLATE_LEVEL: ContextVar[int | None] = ContextVar("edocta_deflate_level", default=None)


class _PydyfZlib:
    """The `zlib` module as pydyf sees it: the streams of a document printed by `StatementHTML` are compressed at
    its `deflate_level`, everyone else's at the level pydyf asks for."""

    def __getattr__(self, name: str) -> Any:
        return getattr(zlib, name)

    def compressobj(self, level: int = -1, *args: Any, **kwargs: Any) -> Any:
        ours = _DEFLATE_LEVEL.get()
        return zlib.compressobj(level if ours is None else ours, *args, **kwargs)


def _install_deflate_level() -> None:
    import pydyf

    if getattr(pydyf, "zlib", None) is zlib:
        pydyf.zlib = _PydyfZlib()


_SVG_TEXT_RUNS: ContextVar[bool] = ContextVar("edocta_svg_text_runs", default=False)
# The WeasyPrint whose SVG text drawing `_draw_text_run` reproduces (weasyprint/svg/text.py), and the font whose
# every character of `_RUN_TEXT` has the same glyph and advance alone as in a run with kerning and ligatures off.
SVG_RUNS_WEASYPRINT = "70."
_RUN_FONT = "Edocta Sans"
# An SVG text drawn as one run (see the module's docstring): printable Latin-1 and Latin Extended-A, no combining
# mark (nothing a neighbour could change the shape of), all in the shipped font.
_RUN_TEXT = re.compile(r"[ -~\u00a0-\u017f]+")
# Attributes that place a text's letters one by one or move it off its baseline: such a text is WeasyPrint's.
_LETTER_ATTRIBUTES = frozenset({
    "dx", "dy", "rotate", "letter-spacing", "textLength", "lengthAdjust", "display-anchor", "dominant-baseline",
    "alignment-baseline", "direction",
})  # fmt: skip


def _lengths(node: Any, name: str, font_size: float, reference: float) -> list[float]:
    """The text's `x` or `y` positions (none, one, or one per letter), as WeasyPrint reads them."""
    from weasyprint.svg.utils import normalize, size

    if name not in node.attrib:
        return []
    return [size(value, font_size, reference) for value in normalize(node.attrib[name]).split(" ")]


def _draw_text_run(svg: Any, node: Any, font_size: float) -> bool:
    """Draw an SVG `<text>` as one run when its letters would be drawn one after the other on one baseline, with
    the same result as WeasyPrint's `weasyprint.svg.text.text`; False (nothing drawn) for any other text."""
    from math import inf

    from weasyprint.css.properties import INITIAL_VALUES
    from weasyprint.draw.text import draw_emojis, draw_first_line
    from weasyprint.matrix import Matrix
    from weasyprint.svg.bounding_box import extend_bounding_box
    from weasyprint.svg.text import Style, TextBox
    from weasyprint.text.line_break import split_first_line

    text = node.text
    families = [font.strip("\"'") for font in node.get("font-family", "sans-serif").split(",")]
    plain = node.tag == "text" and text and _RUN_TEXT.fullmatch(text) and families[0] == _RUN_FONT
    if not plain or not _LETTER_ATTRIBUTES.isdisjoint(node.attrib) or next(iter(node), None) is not None:
        return False
    xs = _lengths(node, "x", font_size, svg.inner_width)
    ys = _lengths(node, "y", font_size, svg.inner_height)
    if len(xs) > 1 or len(ys) > 1:
        return False
    weight = node.get("font-weight", 400)
    try:
        weight = {"normal": 400, "bold": 700}.get(weight) or int(weight)
    except ValueError:
        weight = 400
    style = Style(INITIAL_VALUES)
    style.font_config = svg.font_config
    style.update(
        font_family=families,
        font_style=node.get("font-style", "normal"),
        font_weight=weight,
        font_size=font_size,
        font_kerning="none",
        font_variant_ligatures="none",
    )
    layout, _, _, width, height, baseline = split_first_line(text, style, svg.context, inf, 0)
    # As WeasyPrint places the first letter (a position of 0 keeps the cursor's shift) and moves the cursor
    # past the last.
    if xs and xs[0]:
        svg.cursor_d_position[0] = 0
    if ys and ys[0]:
        svg.cursor_d_position[1] = 0
    x = xs[0] if xs else svg.cursor_position[0]
    y = ys[0] if ys else svg.cursor_position[1]
    svg.cursor_position = x + width, y
    x_position, y_position = x + svg.cursor_d_position[0], y + svg.cursor_d_position[1]
    node.text_bounding_box = extend_bounding_box(
        node.text_bounding_box,
        ((x_position, y_position - baseline), (x_position + width, y_position - baseline + height)),
    )
    svg.stream.push_state()
    fill, stroke = svg.set_graphical_state(node, font_size)
    svg.stream.begin_text()
    layout.reactivate(style)
    svg.fill_stroke(fill, stroke, text=True)
    text_box = TextBox(layout, style)
    text_box.baseline = baseline
    emojis = draw_first_line(svg.stream, text_box, "none", "none", Matrix(a=1, d=-1, e=x_position, f=y_position))
    svg.stream.end_text()
    svg.stream.pop_state()
    draw_emojis(svg.stream, style, x, y, emojis)
    return True


def _install_svg_text_runs() -> None:
    """Make WeasyPrint's SVG text drawing try `_draw_text_run` first in documents printed by `StatementHTML`. The
    same function takes the place of WeasyPrint's for every text tag, since WeasyPrint tells text elements apart
    by comparing their drawing function with its own."""
    import weasyprint
    import weasyprint.svg as svg_module

    weasyprint_text = svg_module.text
    if getattr(weasyprint_text, "edocta_runs", False) or not weasyprint.__version__.startswith(SVG_RUNS_WEASYPRINT):
        return

    def text(svg: Any, node: Any, font_size: float) -> None:
        if not (_SVG_TEXT_RUNS.get() and _draw_text_run(svg, node, font_size)):
            weasyprint_text(svg, node, font_size)

    text.edocta_runs = True  # type: ignore[attr-defined]
    for tag, function in list(svg_module.TAGS.items()):
        if function is weasyprint_text:
            svg_module.TAGS[tag] = text
    svg_module.text = text


def _html_class() -> Any:
    """`weasyprint.HTML` reading our documents with expat (`xml_element_tree`), printing with the lean
    user-agent stylesheet (WeasyPrint's own if it no longer has the expected rules: then every document is
    printed as before, only slower), compressing the file's streams at `deflate_level` and drawing the chart's
    texts as runs (`svg_text_runs`)."""
    import cssselect2
    from weasyprint import CSS, HTML
    from weasyprint.css.counters import CounterStyle
    from weasyprint.urls import ensure_url

    text, changed = lean_user_agent_css()
    # Its `@counter-style` rules are read into a collection of their own, which nothing uses: a document takes its
    # counter styles from WeasyPrint's (`HTML._ua_counter_style`), made from the same rules when WeasyPrint was
    # imported. Read into that one, they would define its styles again, and two of them (`decimal`, `disc`) may
    # be defined only once: a warning each, in every process that prints.
    user_agent = CSS(string=text, counter_style=CounterStyle()) if changed == UNIVERSAL_PSEUDO_RULES else None

    class StatementHTML(HTML):
        deflate_level: int | None = DEFLATE_LEVEL  # None: pydyf's own
        svg_text_runs = True  # False: every SVG text drawn letter by letter, as WeasyPrint does

        def __init__(self, *, string: str, url_fetcher: Any, base_url: str) -> None:
            root = xml_element_tree(string)
            if root is None or next(root.iter("base"), None) is not None:
                super().__init__(string=string, url_fetcher=url_fetcher, base_url=base_url)
                return
            # What HTML.__init__ sets after parsing (tests/shared/test_render_pdf.py compares the two).
            self.base_url = ensure_url(base_url)
            self.url_fetcher = url_fetcher
            self.media_type = "print"
            self.wrapper_element = cssselect2.ElementWrapper.from_html_root(root, content_language=None)
            self.etree_element = self.wrapper_element.etree_element

        def _ua_stylesheets(self, forms: bool = False) -> list[Any]:
            return [user_agent] if user_agent is not None else super()._ua_stylesheets(forms)

        def write_pdf(self, *args: Any, **kwargs: Any) -> Any:
            token, runs = _DEFLATE_LEVEL.set(self.deflate_level), _SVG_TEXT_RUNS.set(self.svg_text_runs)
            try:
                return super().write_pdf(*args, **kwargs)
            finally:
                _SVG_TEXT_RUNS.reset(runs)
                _DEFLATE_LEVEL.reset(token)

    _install_deflate_level()
    _install_svg_text_runs()
    return StatementHTML


def _build_renderer() -> PdfRenderer:
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    font_config = FontConfiguration()
    atexit.register(_remove_font_folder, font_config, os.getpid())
    url_fetcher = _font_fetcher()
    css_text = STYLESHEET.read_text(encoding="utf-8") + "\n" + PRINT_STYLESHEET.read_text(encoding="utf-8")
    # Relative URLs (the fonts) resolve against the stylesheets' own folder.
    stylesheet = CSS(
        string=css_text, base_url=STATIC_DIR.as_uri() + "/", font_config=font_config, url_fetcher=url_fetcher
    )
    return PdfRenderer(
        font_config=font_config,
        stylesheet=stylesheet,
        url_fetcher=url_fetcher,
        pid=os.getpid(),
        html_class=_html_class(),
    )


def prepare_pdf_renderer() -> PdfRenderer:
    """Build this process's font configuration and parsed CSS (once; call it after fork in worker processes)."""
    global _RENDERER
    with _LOCK:
        if _RENDERER is None or _RENDERER.pid != os.getpid():
            _RENDERER = _build_renderer()
        return _RENDERER


def reset_pdf_renderer() -> None:
    """Forget this process's renderer (a forked child must not share its parent's font configuration)."""
    global _RENDERER
    with _LOCK:
        _RENDERER = None


_PAUSES = 0
_PAUSES_LOCK = threading.Lock()
_COLLECTOR_WAS_ENABLED = False


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while the block runs (in any thread: it stays paused until the last
    paused block ends), then collect the youngest generation: the garbage the block left, all of it allocated
    while the collector was paused. Reference counting frees everything else as usual meanwhile."""
    global _PAUSES, _COLLECTOR_WAS_ENABLED
    with _PAUSES_LOCK:
        if _PAUSES == 0:
            _COLLECTOR_WAS_ENABLED = gc.isenabled()
            gc.disable()
        _PAUSES += 1
    try:
        yield
    finally:
        with _PAUSES_LOCK:
            _PAUSES -= 1
            resume = _PAUSES == 0 and _COLLECTOR_WAS_ENABLED
            if resume:
                gc.enable()
        if resume:
            gc.collect(0)


# The frames `on_reserved_stack` reserves room for, in slots of 8 bytes: with its own frame, CPython maps the next
# power of two, a chunk of 1 MiB, and the layout's frames (a few hundred bytes each) have its last ~420 KiB.
RESERVED_FRAME_SLOTS = 75_000


def on_reserved_stack(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)`, called from a frame with a large stack of its own (see the module's docstring)."""
    return function(*args)


if sys.implementation.name == "cpython":
    on_reserved_stack.__code__ = on_reserved_stack.__code__.replace(
        co_stacksize=on_reserved_stack.__code__.co_stacksize + RESERVED_FRAME_SLOTS
    )


def with_printer_settings(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` as the printer runs every document: the collector paused, on the reserved frame stack."""
    with collector_paused():
        return on_reserved_stack(function, *args)


def _write_pdf(html: str, renderer: PdfRenderer) -> bytes:
    document = renderer.html_class(string=html, url_fetcher=renderer.url_fetcher, base_url=".")
    pdf = document.write_pdf(
        stylesheets=[renderer.stylesheet], font_config=renderer.font_config, pdf_variant=PDF_VARIANT
    )
    assert isinstance(pdf, bytes)
    return pdf


def html_to_pdf(html: str, renderer: PdfRenderer | None = None) -> bytes:
    """Print an HTML document of ours with the shared font configuration and stylesheet."""
    renderer = renderer or prepare_pdf_renderer()
    return with_printer_settings(_write_pdf, html, renderer)  # its document is garbage once this returns


def render_pdf(statement: Statement, *, generated_at: dt.datetime | None = None) -> bytes:
    """The statement as a Letter PDF in the statement's language."""
    return html_to_pdf(render_html(statement, for_pdf=True, generated_at=generated_at))
