"""Statement files: the format dispatch, content types and the server-chosen file names."""

from __future__ import annotations

import json
import re

from shared.i18n import N_, gettext
from shared.statements import ActivityStatement, Statement
from shared.store import StoreKey
from shared.vocab import Format

FORMATS = tuple(Format)


CONTENT_TYPES: dict[str, str] = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}

# The file name's first word, in the statement's language ("account-statement" in English).
FILENAME_PREFIX = N_("estado-de-cuenta")
ACTIVITY_FILENAME_PREFIX = N_("movimientos")
_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def _filename_part(value: str) -> str:
    """Codes are free text: keep letters, digits, dot, dash, underscore; nothing can climb out of a folder."""
    cleaned = _UNSAFE_IN_FILENAME.sub("-", value).strip("-.")
    return cleaned or "x"


def statement_filename(statement: Statement | ActivityStatement, fmt: str) -> str:
    """The server-chosen file name, in the statement's language: `estado-de-cuenta_1000_100001_2026-11-30.pdf`
    (company, customer, cut-off), `account-statement_1000_100001_2026-11-30.pdf` in English; an activity
    statement's is `movimientos_1000_100001_2026-10-01_2026-10-31.pdf` (`account-activity_…` in English)."""
    if fmt not in CONTENT_TYPES:
        raise ValueError(f"unknown statement format {fmt!r}; expected one of {', '.join(FORMATS)}")
    dates: tuple[str, ...]
    if isinstance(statement, ActivityStatement):
        prefix, dates = ACTIVITY_FILENAME_PREFIX, (statement.start.isoformat(), statement.end.isoformat())
    else:
        prefix, dates = FILENAME_PREFIX, (statement.cutoff.isoformat(),)
    return _file_name(prefix, statement.language, statement.company.code, statement.customer.code, dates, fmt)


def _file_name(prefix: str, language: str, company: str, customer: str, dates: tuple[str, ...], fmt: str) -> str:
    parts = (_filename_part(gettext(prefix, language)), _filename_part(company), _filename_part(customer), *dates)
    return "_".join(parts) + f".{fmt}"


def stored_filename(key: StoreKey) -> str:
    """The file name `statement_filename` gives the statement a store key holds (what an email attached)."""
    if key.start is not None:
        return _file_name(
            ACTIVITY_FILENAME_PREFIX, key.language, key.company, key.customer, tuple(key.dates.split("_")), key.fmt
        )
    return _file_name(FILENAME_PREFIX, key.language, key.company, key.customer, (key.cutoff.isoformat(),), key.fmt)


def render_json(statement: Statement | ActivityStatement) -> bytes:
    """The contract §3 (or §7) document, UTF-8, indented, with a final newline."""
    return (json.dumps(statement.to_json(), ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def render_activity(statement: ActivityStatement, fmt: str) -> bytes:
    """The activity statement as a file of format `fmt` (json, html, xlsx, pdf), in the statement's language."""
    if fmt == "json":
        return render_json(statement)
    if fmt == "html":
        from shared.render.activity import render_activity_html

        return render_activity_html(statement).encode("utf-8")
    if fmt == "xlsx":
        from shared.render.activity_xlsx import render_activity_xlsx

        return render_activity_xlsx(statement)
    if fmt == "pdf":
        from shared.render.activity import render_activity_pdf

        return render_activity_pdf(statement)
    raise ValueError(f"unknown statement format {fmt!r}; expected one of {', '.join(FORMATS)}")


def render_statement(statement: Statement | ActivityStatement, fmt: str) -> bytes:
    """The statement (either kind) as a file of format `fmt` (json, html, xlsx, pdf), in its language."""
    if isinstance(statement, ActivityStatement):
        return render_activity(statement, fmt)
    if fmt == "json":
        return render_json(statement)
    if fmt == "html":
        from shared.render.html import render_html

        return render_html(statement).encode("utf-8")
    if fmt == "xlsx":
        from shared.render.xlsx import render_xlsx

        return render_xlsx(statement)
    if fmt == "pdf":
        from shared.render.pdf import render_pdf

        return render_pdf(statement)
    raise ValueError(f"unknown statement format {fmt!r}; expected one of {', '.join(FORMATS)}")
