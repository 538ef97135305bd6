"""The statement as PDF: the HTML document printed by WeasyPrint on Letter pages.

WeasyPrint's font configuration and the parsed stylesheet are built once per process and reused by every document
(`prepare_pdf_renderer`, called after a worker forks, or lazily on first use): a new `FontConfiguration` per
document costs time and leaks memory. The lines table has a fixed layout with set column widths, so long
statements are laid out without measuring every cell first. Documents fetch nothing: every URL is refused.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.render.html import PRINT_STYLESHEET, STATIC_DIR, STYLESHEET, render_html
from shared.statements import Statement

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT_FILES = (FONT_DIR / "LiberationSans-Regular.ttf", FONT_DIR / "LiberationSans-Bold.ttf")
PDF_VARIANT = "pdf/ua-1"


@dataclass(frozen=True)
class PdfRenderer:
    font_config: Any  # weasyprint.text.fonts.FontConfiguration
    stylesheet: Any  # weasyprint.CSS, parsed with font_config
    url_fetcher: Any  # fetches the shipped fonts and refuses every other URL
    pid: int  # the process that built it: a forked child builds its own


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
    return PdfRenderer(font_config=font_config, stylesheet=stylesheet, url_fetcher=url_fetcher, pid=os.getpid())


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


def html_to_pdf(html: str, renderer: PdfRenderer | None = None) -> bytes:
    """Print an HTML document of ours with the shared font configuration and stylesheet."""
    from weasyprint import HTML

    renderer = renderer or prepare_pdf_renderer()
    document = HTML(string=html, url_fetcher=renderer.url_fetcher, base_url=".")
    pdf = document.write_pdf(
        stylesheets=[renderer.stylesheet], font_config=renderer.font_config, pdf_variant=PDF_VARIANT
    )
    assert isinstance(pdf, bytes)
    return pdf


def render_pdf(statement: Statement, *, generated_at: dt.datetime | None = None) -> bytes:
    """The statement as a Letter PDF in the statement's language."""
    return html_to_pdf(render_html(statement, for_pdf=True, generated_at=generated_at))
