"""The words the renderers show for codes of the statement: document types and aging buckets, as msgids marked
for the catalogue and translated when shown."""

from __future__ import annotations

from shared.i18n import N_, gettext
from shared.vocab import DocumentType

DOCUMENT_TYPE_LABELS: dict[str, str] = {
    DocumentType.INVOICE: N_("Factura"),
    DocumentType.CREDIT_NOTE: N_("Nota de crédito"),
    DocumentType.DEBIT_NOTE: N_("Nota de cargo"),
    DocumentType.PAYMENT: N_("Pago"),
    DocumentType.OTHER: N_("Otro"),
}

BUCKET_LABELS: dict[str, str] = {
    "current": N_("Al corriente"),
    "1-30": N_("1-30 días"),
    "31-60": N_("31-60 días"),
    "61-90": N_("61-90 días"),
    "91-120": N_("91-120 días"),
    "120+": N_("Más de 120 días"),
}


def document_type_label(document_type: str, language: str) -> str:
    """The document type in `language`; an unknown type reads as "Otro"."""
    return gettext(DOCUMENT_TYPE_LABELS.get(document_type, DOCUMENT_TYPE_LABELS[DocumentType.OTHER]), language)


def bucket_label(bucket: str, language: str) -> str:
    return gettext(BUCKET_LABELS[bucket], language)
