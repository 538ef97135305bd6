"""The `Statement` value every renderer draws from (contract section 3), and the small values inside it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any, Self

from shared.clock import business_zone
from shared.vocab import DEFAULT_LANGUAGE

BUCKETS = ("current", "1-30", "31-60", "61-90", "91-120", "120+")
CENTS = Decimal("0.01")
# Bump when a renderer's output changes, so stored files made by older code are not reused.
RENDER_VERSION = "2"


def data_as_of_text(moment: dt.datetime | None) -> str | None:
    """`2026-11-30T06:12:03-06:00`: ISO 8601 in the business time zone, to the second (None when never)."""
    if moment is None:
        return None
    return moment.astimezone(business_zone()).isoformat(timespec="seconds")


def money(value: Decimal) -> str:
    """Exactly two decimals, as the contract's JSON writes amounts."""
    return str(value.quantize(CENTS))


def bucket_for(days_overdue: int) -> str:
    """The aging bucket of a line by its days overdue (contract section 2)."""
    if days_overdue <= 0:
        return "current"
    if days_overdue <= 30:
        return "1-30"
    if days_overdue <= 60:
        return "31-60"
    if days_overdue <= 90:
        return "61-90"
    if days_overdue <= 120:
        return "91-120"
    return "120+"


@dataclass(frozen=True)
class Party:
    code: str
    name: str
    tax_id: str = ""
    address: str = ""


@dataclass(frozen=True)
class Contact:
    """Who the customer calls about the statement: its collector, else the company's collections desk."""

    name: str = ""
    email: str = ""
    phone: str = ""

    def __bool__(self) -> bool:
        return bool(self.name or self.email or self.phone)

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "email": self.email, "phone": self.phone}


NO_CONTACT = Contact()


@dataclass(frozen=True)
class StatementLine:
    document_number: str
    document_type: str
    reference: str
    document_date: dt.date
    due_date: dt.date
    days_overdue: int
    amount: Decimal
    currency: str
    # The invoice documents imported for the item (`("pdf", "xml")`), and whether a dispute on it is open.
    documents: tuple[str, ...] = ()
    disputed: bool = False

    @property
    def bucket(self) -> str:
        return bucket_for(self.days_overdue)


@dataclass(frozen=True)
class CurrencyTotals:
    total: Decimal
    overdue: Decimal
    not_due: Decimal
    aging: dict[str, Decimal]


@dataclass(frozen=True)
class ItemRow:
    """The fields of an open item the rules read (an `OpenItem`, or any row with these attributes)."""

    document_number: str
    document_type: str
    reference: str
    document_date: dt.date
    due_date: dt.date
    amount: Decimal
    currency: str
    cleared_on: dt.date | None
    # Read beside the item (`shared.statements.marks.MARK_COLUMNS`).
    has_pdf: bool = False
    has_xml: bool = False
    disputed: bool = False


class StatementBehaviour:
    """What both kinds of statement (open items, activity) do alike over their `lines` and `language`."""

    lines: Sequence[Any]
    language: str

    @property
    def has_lines(self) -> bool:
        return bool(self.lines)

    @property
    def has_disputed_lines(self) -> bool:
        return any(line.disputed for line in self.lines)

    def in_language(self, language: str) -> Self:
        """The same statement, to be rendered in another language (its fingerprint follows the language)."""
        if self.language == language:
            return self
        return dataclasses.replace(self, language=language)  # type: ignore[type-var]

    @cached_property
    def fingerprint(self) -> str:
        """A digest of everything a rendered file shows: equal fingerprints mean an identical document."""
        return document_fingerprint(self)


@dataclass(frozen=True)
class Statement(StatementBehaviour):
    """One customer's open-item statement at one company and cut-off, in the language it is rendered in.

    Equal statements hash alike (the lines and the figures are compared), so a statement can key a cache.
    """

    company: Party
    customer: Party
    cutoff: dt.date
    currency: str
    credit_limit: Decimal | None
    available_credit: Decimal | None
    totals: dict[str, CurrencyTotals]
    lines: list[StatementLine]
    language: str = DEFAULT_LANGUAGE
    payment_terms: str = ""
    contact: Contact = NO_CONTACT
    payment_instructions: str = ""
    # When the company's data last changed by an import (aware), None if never.
    data_as_of: dt.datetime | None = None

    def __hash__(self) -> int:
        return hash(
            (
                self.company,
                self.customer,
                self.cutoff,
                self.credit_limit,
                self.language,
                self.data_as_of,
                tuple(self.lines),
            )
        )

    def to_json(self) -> dict[str, Any]:
        """The contract section 3 document."""
        return {
            "company": {"code": self.company.code, "name": self.company.name, "tax_id": self.company.tax_id},
            "customer": {"number": self.customer.code, "name": self.customer.name, "tax_id": self.customer.tax_id},
            "cutoff": self.cutoff.isoformat(),
            "currency": self.currency,
            "credit_limit": None if self.credit_limit is None else money(self.credit_limit),
            "available_credit": None if self.available_credit is None else money(self.available_credit),
            "totals": {
                currency: {
                    "total": money(t.total),
                    "overdue": money(t.overdue),
                    "not_due": money(t.not_due),
                    "aging": {bucket: money(t.aging[bucket]) for bucket in BUCKETS},
                }
                for currency, t in self.totals.items()
            },
            "lines": [
                {
                    "document_number": line.document_number,
                    "document_type": line.document_type,
                    "reference": line.reference,
                    "document_date": line.document_date.isoformat(),
                    "due_date": line.due_date.isoformat(),
                    "days_overdue": line.days_overdue,
                    "amount": money(line.amount),
                    "currency": line.currency,
                    "documents": list(line.documents),
                    "disputed": line.disputed,
                }
                for line in self.lines
            ],
            "contact": self.contact.to_json(),
            "payment_instructions": self.payment_instructions,
            "data_as_of": data_as_of_text(self.data_as_of),
        }


def document_fingerprint(statement: Any) -> str:
    """A digest of everything a rendered file of `statement` (either kind) shows: its JSON, and what only the
    documents show (addresses, payment terms) with the renderer's version and the language."""
    document = statement.to_json()
    document["_render"] = {
        "version": RENDER_VERSION,
        "language": statement.language,
        "company_address": statement.company.address,
        "customer_address": statement.customer.address,
        "payment_terms": statement.payment_terms,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
