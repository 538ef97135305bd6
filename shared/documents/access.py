"""Finding an item's stored document for a portal user: only a document of an item (open, or cleared and shown
on the activity statement) of a customer the user may see, at the company asked for (anything else is "not
found", like a document that does not exist)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import Session

from shared.models import ClearedItem, Company, Customer, InvoiceDocument, OpenItem
from shared.statements import PortalUserLike, visible_customer_clause
from shared.store import get_store


@dataclass(frozen=True)
class StoredDocument:
    company: str
    document_number: str
    kind: str
    data: bytes

    @property
    def filename(self) -> str:
        return f"{self.company}_{self.document_number}.{self.kind}"


def find_document(
    session: Session, user: PortalUserLike | None, company: str, customer: str, document_number: str, kind: str
) -> StoredDocument | None:
    """The stored file of `document_number` (`kind` pdf or xml) when it is an item of `customer` at `company`
    and `user` may see that customer; None otherwise."""

    def owned(item: type[OpenItem] | type[ClearedItem]) -> ColumnElement[bool]:
        return exists().where(
            item.company_id == InvoiceDocument.company_id,
            item.document_number == InvoiceDocument.document_number,
            item.customer_id == Customer.id,
        )

    sha = session.scalar(
        select(InvoiceDocument.sha256)
        .join(Company, Company.id == InvoiceDocument.company_id)
        .join(Customer, Customer.number == customer)
        .where(
            Company.code == company,
            InvoiceDocument.document_number == document_number,
            InvoiceDocument.kind == kind,
            or_(owned(OpenItem), owned(ClearedItem)),
            visible_customer_clause(user),
        )
        .limit(1)
    )
    if sha is None:
        return None
    data = get_store().read_document(sha)
    if data is None:
        return None
    return StoredDocument(company, document_number, kind, data)
