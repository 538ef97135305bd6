"""The addresses of the statement pages and files: building them, reading them back, and download headers.

A statement's address is bookmarkable: `/statements/<company>/<customer>/<cut-off>` for the page, with `.json`,
`.xlsx` or `.pdf` for its files. Anything malformed answers 404, like a statement that does not exist.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from litestar import Request
from litestar.exceptions import NotFoundException

from shared.clock import parse_day
from shared.db import autocommit, read_snapshot
from shared.statements import Statement, StatementNotFound, load_visible_statement
from shared.statements.version import visible_version
from shared.vocab import Format
from web.security import current_user

FILE_SUFFIXES = {f".{fmt}": fmt for fmt in (Format.JSON, Format.XLSX, Format.PDF)}


def statement_url(company: str, customer: str, cutoff: dt.date | str, fmt: str | None = None) -> str:
    """The bookmarkable address of a statement (`fmt`: json, xlsx, pdf for its files)."""
    day = cutoff.isoformat() if isinstance(cutoff, dt.date) else cutoff
    path = f"/statements/{quote(company, safe='')}/{quote(customer, safe='')}/{quote(day, safe='')}"
    return f"{path}.{fmt}" if fmt else path


def file_status_url(company: str, customer: str, cutoff: dt.date, fmt: str) -> str:
    return f"{statement_url(company, customer, cutoff)}/file-status?{urlencode({'format': fmt})}"


def activity_url(company: str, customer: str, start: dt.date, end: dt.date, fmt: str | None = None) -> str:
    """The bookmarkable address of an activity statement (`fmt`: json, xlsx, pdf for its files)."""
    path = (
        f"/statements/{quote(company, safe='')}/{quote(customer, safe='')}/activity/"
        f"{start.isoformat()}/{end.isoformat()}"
    )
    return f"{path}.{fmt}" if fmt else path


def activity_status_url(company: str, customer: str, start: dt.date, end: dt.date, fmt: str) -> str:
    return f"{activity_url(company, customer, start, end)}/file-status?{urlencode({'format': fmt})}"


def selector_url(**params: str) -> str:
    query = urlencode({k: v for k, v in params.items() if v})
    return f"/statements?{query}" if query else "/statements"


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """An RFC 6266 header value: an ASCII fallback `filename` and the exact name as `filename*` (RFC 5987).

    Control characters (CR, LF), quotes, backslashes and path separators never reach the header as such.
    """
    cleaned = "".join(ch for ch in filename if unicodedata.category(ch)[0] != "C")
    cleaned = cleaned.replace("/", "_").replace("\\", "_").strip(" .") or "download"
    ascii_name = unicodedata.normalize("NFKD", cleaned).encode("ascii", "ignore").decode("ascii")
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name).strip("._") or "download"
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(cleaned, safe='')}"


@dataclass(frozen=True)
class StatementAddress:
    company: str
    customer: str
    cutoff: dt.date
    fmt: str | None  # None: the HTML page


def parse_address(company: str, customer: str, cutoff_and_suffix: str) -> StatementAddress:
    """The statement named by a URL; anything malformed is "not found", like a statement that does not exist."""
    text = cutoff_and_suffix
    fmt: str | None = None
    for suffix, name in FILE_SUFFIXES.items():
        if text.endswith(suffix):
            text, fmt = text[: -len(suffix)], name
            break
    day = parse_day(text)
    if day is None or not company or not customer:
        raise NotFoundException()
    return StatementAddress(company, customer, day, fmt)


def load_statement_at(request: Request[Any, Any, Any], address: StatementAddress) -> Statement:
    """The statement at `address` if the signed-in user may see it; 404 otherwise (as for one that does not exist)."""
    user = current_user(request)
    try:
        # Two reads and nothing written: one pooled connection in autocommit (no BEGIN/COMMIT round trips).
        with autocommit() as connection:
            return load_visible_statement(connection, user, address.company, address.customer, address.cutoff)
    except StatementNotFound:
        raise NotFoundException() from None


def load_statement_and_version_at(
    request: Request[Any, Any, Any], address: StatementAddress
) -> tuple[Statement, str | None]:
    """`load_statement_at`, and the data version (`shared.statements.version`) the statement was read at: both
    read in one snapshot, so the version is exactly that of the rows the statement was built from."""
    user = current_user(request)
    try:
        with (
            autocommit() as connection,
            read_snapshot(connection),
        ):
            found = visible_version(connection, user.id, address.company, address.customer, address.cutoff)
            statement = load_visible_statement(connection, user, address.company, address.customer, address.cutoff)
    except StatementNotFound:
        raise NotFoundException() from None
    # The statement was read, so the version's row exists in the same snapshot (None would only leave it unnoted).
    return statement, found.version if found is not None else None
