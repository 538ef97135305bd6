"""The gettext catalogues: complete in English, in step with the code and templates (Babel's own extraction,
run here in-process), and the words that reach the page, the PDF, the XLSX and the emails in both languages."""

from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from openpyxl import load_workbook
from pypdf import PdfReader

from shared.i18n import gettext, ngettext, read_catalogue
from shared.i18n.catalog import TEMPLATE_PATH, is_translated
from shared.mail import render_email
from shared.render import render_statement
from shared.render.html import render_html, statement_context
from tests.factories import item, make_statement, sample_items

ROOT = Path(__file__).resolve().parents[2]
SOURCE_FOLDERS = ("shared", "web")


def extracted_msgids() -> set[str | tuple[str, ...]]:
    """Every msgid Babel's extraction finds with the repository's `babel.cfg` (what `pybabel extract` writes)."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config, str(ROOT / "babel.cfg"))

    def in_sources(path: str) -> bool:
        folder = Path(path)
        return folder.relative_to(ROOT).parts[0] in SOURCE_FOLDERS and not folder.name.startswith((".", "_"))

    found = extract_from_dir(
        ROOT, method_map, options_map, keywords={**DEFAULT_KEYWORDS, "N_": None}, directory_filter=in_sources
    )
    return {message[2] for message in found}


def catalogue_msgids(catalog: Catalog) -> set[str | tuple[str, ...]]:
    return {message.id for message in catalog if message.id}


@pytest.fixture(scope="module")
def code_msgids() -> set[str | tuple[str, ...]]:
    return extracted_msgids()


def test_every_message_has_an_english_text() -> None:
    english = read_catalogue("en")
    missing = [message.id for message in english if message.id and not is_translated(message)]
    assert missing == [], "messages without an English text (empty or fuzzy) in en.po"


def test_english_texts_keep_the_placeholders_of_their_msgids() -> None:
    problems = [(message.id, errors) for message, errors in read_catalogue("en").check()]
    assert problems == []


@pytest.mark.parametrize("language", ["es", "en"])
def test_each_language_holds_exactly_the_messages_of_the_code(
    language: str, code_msgids: set[str | tuple[str, ...]]
) -> None:
    catalog = read_catalogue(language)
    assert sorted(map(str, code_msgids - catalogue_msgids(catalog))) == [], f"msgids missing from {language}.po"
    assert sorted(map(str, catalogue_msgids(catalog) - code_msgids)) == [], f"msgids nobody uses in {language}.po"
    assert not catalog.obsolete, f"obsolete entries left in {language}.po"


def test_the_template_holds_exactly_the_messages_of_the_code(code_msgids: set[str | tuple[str, ...]]) -> None:
    with TEMPLATE_PATH.open("rb") as file:
        template = read_po(file)
    assert catalogue_msgids(template) == code_msgids


def test_spanish_is_the_msgid_and_english_comes_from_the_catalogue() -> None:
    assert gettext("Saldo total", "es") == "Saldo total"
    assert gettext("Saldo total", "en") == "Total balance"
    assert gettext("Usuario", "EN") == "User ID"
    assert ngettext("%(count)s partida", "%(count)s partidas", 1, "es") % {"count": 1} == "1 partida"
    assert ngettext("%(count)s partida", "%(count)s partidas", 3, "es") % {"count": 3} == "3 partidas"
    assert ngettext("%(count)s partida", "%(count)s partidas", 3, "en") % {"count": 3} == "3 items"


# --- the words in what people read ---------------------------------------------------------------------------


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(
    ("language", "expected", "absent"),
    [
        ("es", ["Estado de cuenta", "Saldo total", "Nota de crédito", "4 partidas", "Generado el 1 de diciembre"], []),
        ("en", ["Account statement", "Total balance", "Credit note", "4 items", "Generated on December 1"], ["Saldo"]),
    ],
)
def test_the_statement_document_speaks_the_statement_language(
    language: str, expected: list[str], absent: list[str]
) -> None:
    moment = dt.datetime(2026, 12, 1, 18, 0, tzinfo=dt.UTC)
    html = render_html(make_statement(sample_items(), language=language), generated_at=moment)
    for text in expected:
        assert text in html
    for text in absent:
        assert text not in html


def test_the_portal_environment_translates_the_partials_and_the_plural() -> None:
    from web.app import create_template_engine

    environment = create_template_engine().engine
    template = environment.get_template("statement/_lines.html.j2")
    one_line = statement_context(make_statement(sample_items()[:1]), language="en")
    assert "(1 item)" in template.render(one_line)
    assert "(1 partida)" in template.render({**one_line, "language": "es"})
    english = template.render(statement_context(make_statement(sample_items()), language="en"))
    assert "(4 items)" in english and "Total MXN" in english and "Days overdue" in english


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("es", ["Fecha de corte", "Más de 120 días", "(4 partidas)", "Nota de crédito", "Página 1 de 1"]),
        ("en", ["Cut-off date", "Over 120 days", "(4 items)", "Credit note", "Page 1 of 1"]),
    ],
)
def test_the_pdf_speaks_the_statement_language(language: str, expected: list[str]) -> None:
    data = render_statement(make_statement(sample_items(), language=language), "pdf")
    text = flat(" ".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages))
    for words in expected:
        assert words in text


@pytest.mark.parametrize(
    ("language", "title", "expected"),
    [
        ("es", "Estado de cuenta", {"Antigüedad de saldos", "1-30 días", "Días vencidos", "Total MXN", "Factura"}),
        ("en", "Account statement", {"Aging", "1-30 days", "Days overdue", "Total MXN", "Invoice"}),
    ],
)
def test_the_xlsx_speaks_the_statement_language(language: str, title: str, expected: set[str]) -> None:
    items = [*sample_items(), item("FAC-9", "10.00", due=dt.date(2026, 11, 1), kind="invoice")]
    workbook = load_workbook(io.BytesIO(render_statement(make_statement(items, language=language), "xlsx")))
    assert workbook.sheetnames == [title]
    cells = {cell for row in workbook.active.iter_rows(values_only=True) for cell in row if isinstance(cell, str)}
    assert expected <= cells


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("es", ["Hola Laura,", "Usuario: laura", "Contraseña temporal: S3CRETO", "funciona hasta el 3 de dic"]),
        ("en", ["Hello Laura,", "User ID: laura", "Temporary password: S3CRETO", "works until Dec 3"]),
    ],
)
def test_account_emails_are_templates_of_the_catalogue(language: str, expected: list[str]) -> None:
    context = {
        "language": language,
        "greeting": "Laura",
        "username": "laura",
        "url": "http://x/login",
        "expires_at": "3 de dic" if language == "es" else "Dec 3",
        "zone": "America/Mexico_City",
    }
    text = render_email("invitation.txt.j2", {**context, "password": "S3CRETO"})
    for words in expected:
        assert words in text
    assert text.endswith(".\n")


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("es", "se cambió el 1 de diciembre de 2026, 12:05."),
        ("en", "was changed on December 1, 2026, 12:05 PM."),
    ],
)
def test_the_password_changed_email_gives_the_business_time(
    sqlite_database: str, var_dir: Path, language: str, expected: str
) -> None:
    from shared import accounts
    from shared.db import session_scope
    from tests.servers import outbox_messages

    assert os.environ.get("EDOCTA_TIMEZONE", "America/Mexico_City") == "America/Mexico_City"
    with session_scope() as session:
        user = accounts.create_user(session, username="laura", email="laura@example.mx", language=language)
        user.password_changed_at = dt.datetime(2026, 12, 1, 18, 5, tzinfo=dt.UTC)
        session.flush()
        user_id = user.id
    assert accounts.send_password_changed(user_id)
    (message,) = outbox_messages(var_dir)
    body = message.get_body(("plain",))
    assert body is not None
    assert expected in body.get_content()
