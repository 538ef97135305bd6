"""What a statement line carries besides the item's own columns: the invoice documents imported for it and
whether it is disputed (contract sections 8 and 9).

Both are read in the same query as the lines, as three correlated EXISTS columns (`MARK_COLUMNS`), so a
statement of thousands of lines costs no extra round trip. The activity statement adds the same columns to its
own query (`mark_columns`, over the open and the cleared items) and turns them into line values with
`line_documents` and `is_disputed`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists

from shared.models import ClearedItem, Dispute, InvoiceDocument, OpenItem
from shared.vocab import DisputeStatus, DocumentKind

ItemModel = type[OpenItem] | type[ClearedItem]


def _has_document(kind: str, item: ItemModel = OpenItem) -> ColumnElement[bool]:
    return (
        exists()
        .where(
            InvoiceDocument.company_id == item.company_id,
            InvoiceDocument.document_number == item.document_number,
            InvoiceDocument.kind == kind,
        )
        .correlate(item)
    )


def open_dispute_exists(item: ItemModel = OpenItem) -> ColumnElement[bool]:
    """True for an `OpenItem` (or `ClearedItem`) row with an open dispute (of its customer, at its company)."""
    return (
        exists()
        .where(
            Dispute.company_id == item.company_id,
            Dispute.document_number == item.document_number,
            Dispute.customer_id == item.customer_id,
            Dispute.status == DisputeStatus.OPEN,
        )
        .correlate(item)
    )


def mark_columns(item: ItemModel) -> tuple[ColumnElement[bool], ...]:
    """The marks of a select over `item` (`OpenItem` or `ClearedItem`): `has_pdf`, `has_xml`, `disputed`."""
    return (
        _has_document(DocumentKind.PDF, item).label("has_pdf"),
        _has_document(DocumentKind.XML, item).label("has_xml"),
        open_dispute_exists(item).label("disputed"),
    )


# Add these to a select over `OpenItem`; the row then has `has_pdf`, `has_xml` and `disputed`.
MARK_COLUMNS = mark_columns(OpenItem)


def line_documents(row: Any) -> tuple[str, ...]:
    """The kinds of document a row read with `MARK_COLUMNS` has, sorted (`("pdf", "xml")`, or `()`)."""
    kinds = []
    if getattr(row, "has_pdf", False):
        kinds.append(DocumentKind.PDF.value)
    if getattr(row, "has_xml", False):
        kinds.append(DocumentKind.XML.value)
    return tuple(kinds)


def is_disputed(row: Any) -> bool:
    return bool(getattr(row, "disputed", False))
