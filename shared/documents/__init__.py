"""Invoice documents (contract section 8): checking the files `documents.csv` names (`files`), and finding the
stored file of a customer's item for the portal (`access`)."""

from shared.documents.access import StoredDocument, find_document
from shared.documents.files import (
    CONTENT_TYPES,
    MAX_DOCUMENT_BYTES,
    DocumentFile,
    DocumentFileError,
    check_document_file,
    kind_of,
)

__all__ = [
    "CONTENT_TYPES",
    "MAX_DOCUMENT_BYTES",
    "DocumentFile",
    "DocumentFileError",
    "StoredDocument",
    "check_document_file",
    "find_document",
    "kind_of",
]
