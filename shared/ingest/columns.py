"""The import files' columns (contract section 1): how each value is read, which are required, and each file's key.

A reader turns a raw cell (CSV text, or an XLSX value) into the stored value, or raises `CellError` with a
reason a person understands. `SPECS` lists every file's columns in the order the contract gives them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.mail.addresses import InvalidEmail, validate_email
from shared.vocab import EMAILED_FORMATS, LANGUAGES, DocumentType, Role

MAX_AMOUNT = Decimal("9999999999999999.99")  # Numeric(18, 2)

_AMOUNT = re.compile(r"-?\d+(\.\d{1,2})?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")


class CellError(ValueError):
    """A value that cannot be read; the message says why, in words a person understands."""


def text_of(value: Any) -> str:
    """A cell as text: CSV text as is; XLSX numbers without losing meaning (1000.0 -> "1000")."""
    if value is None:
        return ""
    if isinstance(value, str):
        if "\x00" in value:
            raise CellError("the value contains a NUL character")
        return value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _limited(limit: int) -> Callable[[Any], str]:
    def read(value: Any) -> str:
        text = text_of(value)
        if len(text) > limit:
            raise CellError(f"too long ({len(text)} characters, at most {limit})")
        return text

    return read


def _one_line(limit: int) -> Callable[[Any], str]:
    """Text of at most `limit` characters on one line (a name that goes into email headers and greetings)."""
    limited = _limited(limit)

    def read(value: Any) -> str:
        text = limited(value)
        if any(c in text for c in "\r\n\x0b\x0c\x85\u2028\u2029"):
            raise CellError("line breaks are not allowed")
        return text

    return read


def read_code(value: Any) -> str:
    if isinstance(value, float) and not value.is_integer():
        raise CellError(f"{value!r} is a number with decimals; write codes as text")
    if isinstance(value, dt.date):
        raise CellError("a date is not a code; write codes as text")
    text = text_of(value)
    if len(text) > 64:
        raise CellError(f"too long ({len(text)} characters, at most 64)")
    return text


def read_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float):
        raise CellError(f"{text_of(value)!r} is not a date; use YYYY-MM-DD or a date cell")
    text = text_of(value)
    if not text:
        return None
    if not _DATE.fullmatch(text):
        raise CellError(f"{text!r} is not a date; use YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CellError(f"{text!r} is not a valid date") from None


def read_amount(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise CellError("a true/false value is not an amount")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        exact = Decimal(repr(value))
        amount = exact.quantize(Decimal("0.01"))
        if abs(exact - amount) > Decimal("0.000001"):
            raise CellError(f"{value!r} has more than 2 decimals")
    elif isinstance(value, Decimal):
        amount = value
    else:
        text = text_of(value)
        if not text:
            return None
        if not _AMOUNT.fullmatch(text):
            if re.fullmatch(r"-?\d+\.\d{3,}", text):
                raise CellError(f"{text!r} has more than 2 decimals")
            if "," in text:
                raise CellError(f"{text!r} is not an amount: no thousands separators, `.` for decimals")
            raise CellError(f"{text!r} is not an amount; write it like -1234.56")
        try:
            amount = Decimal(text)
        except InvalidOperation:  # pragma: no cover (the pattern already refused it)
            raise CellError(f"{text!r} is not an amount") from None
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise CellError(f"{text_of(value)!r} has more than 2 decimals")
    if abs(amount) > MAX_AMOUNT:
        raise CellError(f"{text_of(value)!r} is too large")
    return amount.quantize(Decimal("0.01"))


def read_currency(value: Any) -> str:
    text = text_of(value)
    if text and not _CURRENCY.fullmatch(text):
        raise CellError(f"{text!r} is not a currency code (three capital letters, like MXN or USD)")
    return text


def _choice(allowed: Sequence[str], what: str) -> Callable[[Any], str]:
    def read(value: Any) -> str:
        text = text_of(value).lower()
        if text and text not in allowed:
            raise CellError(f"{text_of(value)!r} is not a {what}; use one of: {', '.join(allowed)}")
        return text

    return read


read_language = _choice(LANGUAGES, "language")
read_document_type = _choice(tuple(DocumentType), "document type")
read_role = _choice(tuple(Role), "role")


def read_formats(value: Any) -> str:
    text = text_of(value)
    parts = [p.strip().lower() for p in text.split(";") if p.strip()]
    for part in parts:
        if part not in EMAILED_FORMATS:
            raise CellError(f"{text!r} is not a statement format; use pdf;xlsx, pdf or xlsx")
    if len(set(parts)) != len(parts):
        raise CellError(f"{text!r} names a format twice")
    return ";".join(f for f in EMAILED_FORMATS if f in parts)


def read_email(value: Any) -> str:
    text = text_of(value)
    if not text:
        return ""
    try:
        return validate_email(text)
    except InvalidEmail as exc:
        raise CellError(str(exc)) from None


def read_emails(value: Any) -> str:
    text = text_of(value)
    addresses: list[str] = []
    for part in text.split(";"):
        if not part.strip():
            continue
        try:
            address = validate_email(part.strip())
        except InvalidEmail as exc:
            raise CellError(str(exc)) from None
        if address not in addresses:
            addresses.append(address)
    return ";".join(addresses)


def read_code_list(value: Any) -> tuple[str, ...]:
    text = text_of(value)
    numbers: list[str] = []
    for part in text.split(";"):
        number = part.strip()
        if number and number not in numbers:
            numbers.append(number)
    return tuple(numbers)


@dataclass(frozen=True)
class Column:
    name: str
    read: Callable[[Any], Any]
    required: bool = False


@dataclass(frozen=True)
class FileSpec:
    kind: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}


SPECS: dict[str, FileSpec] = {
    "companies": FileSpec(
        "companies",
        (
            Column("company_code", read_code, True),
            Column("name", _limited(255), True),
            Column("tax_id", _limited(64)),
            Column("address", text_of),
            Column("currency", read_currency),
            # Second release: who customers call, and how they pay (optional).
            Column("collections_name", _limited(255)),
            Column("collections_email", read_email),
            Column("collections_phone", _limited(64)),
            Column("payment_instructions", _limited(2000)),
        ),
        ("company_code",),
    ),
    "customers": FileSpec(
        "customers",
        (
            Column("customer_number", read_code, True),
            Column("name", _limited(255), True),
            Column("tax_id", _limited(64)),
            Column("address", text_of),
            Column("statement_emails", read_emails),
            Column("language", read_language),
            Column("statement_formats", read_formats),
            # Second release: this customer's own collector, instead of the company's desk (optional).
            Column("collector_name", _limited(255)),
            Column("collector_email", read_email),
            Column("collector_phone", _limited(64)),
        ),
        ("customer_number",),
    ),
    "accounts": FileSpec(
        "accounts",
        (
            Column("company_code", read_code, True),
            Column("customer_number", read_code, True),
            Column("credit_limit", read_amount),
            Column("currency", read_currency),
            Column("payment_terms", _limited(64)),
        ),
        ("company_code", "customer_number"),
    ),
    "open_items": FileSpec(
        "open_items",
        (
            Column("company_code", read_code, True),
            Column("customer_number", read_code, True),
            Column("document_number", read_code, True),
            Column("document_type", read_document_type, True),
            Column("reference", _limited(255)),
            Column("document_date", read_date, True),
            Column("due_date", read_date),
            Column("amount", read_amount, True),
            Column("currency", read_currency),
            Column("cleared_on", read_date),
        ),
        ("company_code", "document_number"),
    ),
    "users": FileSpec(
        "users",
        (
            Column("username", _limited(150), True),
            Column("email", read_email, True),
            Column("full_name", _one_line(255)),
            Column("role", read_role),
            Column("customers", read_code_list),
            Column("language", read_language),
        ),
        ("username",),
    ),
    # Second release: the invoice documents' files (checked against the folder by `shared.ingest.documents`).
    # The key's `kind` (pdf or xml) comes from the file's extension.
    "documents": FileSpec(
        "documents",
        (
            Column("company_code", read_code, True),
            Column("document_number", read_code, True),
            Column("file", _limited(1000), True),
        ),
        ("company_code", "document_number", "kind"),
    ),
}
