"""The message catalogue: one gettext `.po` file per language, extracted with Babel, msgids in Spanish.

`locale/messages.pot` is the template Babel extracts from the code and the templates (see `babel.cfg` and the
README); `locale/<language>/LC_MESSAGES/messages.po` holds each language's texts. Each file is read once per
process and compiled in memory (no `.mo` file is kept). Spanish is the source language: its catalogue may leave a
text empty, and a message without a text is its msgid.

Python code translates with `gettext(msgid, language)` or `ngettext(singular, plural, n, language)` and fills
python-format placeholders itself: `gettext("Corrida %(id)s iniciada.", language) % {"id": 7}`. A msgid defined in
code and translated later (labels, flash messages, password problems) is marked with `N_`, which Babel's
extraction finds and which returns the msgid unchanged.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from shared.i18n.formatting import LOCALES, normalize_language

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
TEMPLATE_PATH = LOCALE_DIR / f"{DOMAIN}.pot"


def N_(msgid: str) -> str:
    """Mark `msgid` for extraction without translating it now (gettext_noop): it is translated where it is shown."""
    return msgid


def catalogue_path(language: str) -> Path:
    """The `.po` file of a language (`es`, `en`)."""
    return LOCALE_DIR / normalize_language(language) / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalogue(language: str) -> Catalog:
    """A language's `.po` file as a Babel catalogue."""
    language = normalize_language(language)
    with catalogue_path(language).open("rb") as file:
        return read_po(file, locale=LOCALES[language], domain=DOMAIN)


def is_translated(message: Message) -> bool:
    """The message has a text for every plural form and is not marked fuzzy."""
    texts = message.string if isinstance(message.string, tuple | list) else (message.string,)
    return bool(texts) and all(texts) and not message.fuzzy


@functools.cache
def translations(language: str) -> Translations:
    """The compiled catalogue of `language` (built once per process). Untranslated and fuzzy messages are left
    out, so gettext answers with the msgid for them."""
    catalog = read_catalogue(language)
    for message in list(catalog):
        if message.id and not is_translated(message):
            del catalog[message.id]
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def gettext(msgid: str, language: str) -> str:
    """The text of `msgid` (Spanish) in `language`; the msgid itself when the catalogue has no text for it."""
    return translations(normalize_language(language)).gettext(msgid)


def ngettext(singular: str, plural: str, n: int, language: str) -> str:
    """The singular or plural text for `n` in `language` (the language's plural rule decides)."""
    return translations(normalize_language(language)).ngettext(singular, plural, n)


class TranslatableError(ValueError):
    """An error a person reads: a catalogue msgid (Spanish, marked with `N_`) and its parameters.

    A page shows `error.message(language)` in its own language; `str(error)` is the English text, for the command
    line and the logs. `detail` (optional, untranslated: a library's own words) follows the English text only.
    """

    msgid: str = ""
    params: dict[str, object]
    detail: str = ""

    def __init__(self, msgid: str, detail: str = "", **params: object) -> None:
        super().__init__(msgid)
        self.msgid = msgid
        self.params = params
        self.detail = detail

    def message(self, language: str) -> str:
        """The message in `language`, its placeholders filled (a message without parameters is left as it is)."""
        text = gettext(self.msgid, language)
        params = getattr(self, "params", None)
        return text % params if params else text

    def __str__(self) -> str:
        english = self.message("en")
        return f"{english.rstrip('.')}: {self.detail}" if self.detail else english
