"""The PDF prints with the fonts edocta ships, so it looks the same on every host: rendered on a host whose only
fonts are the ones the README asks for (DejaVu; simulated with a fontconfig file of its own), a statement with the
widest values keeps every date whole and its column headers apart. Read back with poppler's `pdftotext -bbox`
(the README asks for poppler-utils): every word and where it stands."""

from __future__ import annotations

import html
import itertools
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from pypdf import PdfReader

from shared.render.html import statement_context
from shared.render.pdf import FONT_FILES, html_to_pdf
from tests.factories import widest_statement

ROOT = Path(__file__).resolve().parents[2]
DEJAVU_FOLDERS = [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu")]
HEADERS = {"es": "Documento", "en": "Document"}
# Two words of one line closer than this run into each other (a space between words is about 2 pt at 7 pt).
MIN_GAP = 1.5

RENDER = """
import sys
from pathlib import Path
from shared.render.pdf import render_pdf
from tests.factories import widest_statement
from weasyprint import HTML

out = Path(sys.argv[1])
for language in ("es", "en"):
    (out / f"statement-{language}.pdf").write_bytes(render_pdf(widest_statement(language)))
# What the host itself offers for the font the statement asked for before it shipped its own.
probe = '<p style="font-family: \\'Liberation Sans\\', Arial, sans-serif">Vencimiento</p>'
(out / "probe.pdf").write_bytes(HTML(string=probe).write_pdf())
"""


@dataclass(frozen=True)
class Word:
    page: int
    x_min: float
    y_min: float
    x_max: float
    text: str


def words_of(pdf: Path) -> list[Word]:
    found = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    words: list[Word] = []
    for number, page in enumerate(found.split("<page ")[1:], start=1):
        for x_min, y_min, x_max, text in re.findall(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>', page
        ):
            words.append(Word(number, float(x_min), float(y_min), float(x_max), html.unescape(text)))
    return words


def font_names(pdf: Path) -> set[str]:
    names = set()
    for page in PdfReader(pdf).pages:
        fonts = page["/Resources"].get_object().get("/Font", {})
        for font in fonts.values():
            names.add(str(font.get_object()["/BaseFont"]).split("+")[-1])
    return names


def run_into_each_other(line: list[Word]) -> list[tuple[str, str]]:
    ordered = sorted(line, key=lambda word: word.x_min)
    return [(a.text, b.text) for a, b in itertools.pairwise(ordered) if b.x_min - a.x_max < MIN_GAP]


@pytest.fixture(scope="module")
def dejavu_only_host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The statements rendered in a process whose fontconfig knows DejaVu and nothing else."""
    folder = next((path for path in DEJAVU_FOLDERS if path.is_dir()), None)
    assert folder is not None, "fonts-dejavu-core is not installed (the README asks for it)"
    out = tmp_path_factory.mktemp("dejavu-host")
    config = out / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        f"<fontconfig><dir>{folder}</dir><cachedir>{out / 'cache'}</cachedir></fontconfig>\n"
    )
    env = {**os.environ, "FONTCONFIG_FILE": str(config), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", RENDER, str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_the_simulated_host_has_only_dejavu(dejavu_only_host: Path) -> None:
    probe = font_names(dejavu_only_host / "probe.pdf")
    assert probe and all(name.startswith("DejaVu") for name in probe), probe


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_pdf_prints_with_the_shipped_fonts_only(dejavu_only_host: Path, language: str) -> None:
    assert font_names(dejavu_only_host / f"statement-{language}.pdf") == {"Edocta-Sans", "Edocta-Sans-Bold"}


@pytest.mark.parametrize("language", ["es", "en"])
def test_widest_values_keep_dates_whole_and_headers_apart(dejavu_only_host: Path, language: str) -> None:
    words = words_of(dejavu_only_host / f"statement-{language}.pdf")
    texts = Counter(word.text for word in words)

    # Every date of every line, whole: none is cut as "05/04/202" with its "6" on the next line.
    context = statement_context(widest_statement(language))
    expected = Counter(line.document_date_text for line in context["lines"])
    expected.update(line.due_date_text for line in context["lines"])
    missing = {date: count for date, count in expected.items() if texts[date] < count}
    assert not missing, missing
    cut = [word.text for word in words if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{0,3}", word.text)]
    assert not cut, cut

    # The lines' column headers, on every page, stand apart ("Vencimiento" does not run into "Días vencidos").
    header_tops = [word for word in words if word.text == HEADERS[language]]
    assert len(header_tops) >= 2  # a header on every page of the lines
    for top in header_tops:
        band = [w for w in words if w.page == top.page and abs(w.y_min - top.y_min) < 14]
        rows: dict[int, list[Word]] = {}
        for word in band:
            rows.setdefault(round(word.y_min), []).append(word)
        for row in rows.values():
            assert not run_into_each_other(row), run_into_each_other(row)

    # No two amounts share a word (figures running into each other), no text leaves its cell that way.
    merged = [word.text for word in words if re.search(r"\.\d\d[^\d\s]*\d", word.text)]
    assert not merged, merged


def test_the_renderer_fetches_its_fonts_and_nothing_else(tmp_path: Path) -> None:
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"\x89PNG\r\n\x1a\n")
    document = (
        '<html lang="es"><head><title>x</title></head><body>'
        f'<img src="{outside.as_uri()}" alt=""><img src="http://127.0.0.1:9/x.png" alt="">'
        "<p style=\"font-family: 'Edocta Sans'\">Hola</p></body></html>"
    )
    pdf = html_to_pdf(document)
    assert pdf.startswith(b"%PDF-")
    assert b"/Subtype /Image" not in pdf and b"/Subtype/Image" not in pdf
    assert all(path.is_file() for path in FONT_FILES)
    assert (FONT_FILES[0].parent / "LICENSE").read_text().count("SIL Open Font License") >= 1
