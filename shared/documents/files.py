"""Checking an invoice document's file before an import writes anything, and keeping it in the store.

A `documents.csv` row names a `.pdf` or `.xml` file relative to the import folder (or the workbook's folder). The
file must stay inside that folder (no `..`, no absolute path, no link that leads out), exist, not be empty, and
be what its extension says: a PDF starts with `%PDF-`, an XML file is well-formed (parsed without DTDs, entities
or network access). Files are kept in the store by their SHA-256, so importing the same file again writes nothing
and two items sharing a file keep one copy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from lxml import etree

from shared.vocab import DocumentKind

# A CFDI's PDF and XML are small; anything much larger is not what the column means.
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024

CONTENT_TYPES = {DocumentKind.PDF: "application/pdf", DocumentKind.XML: "application/xml"}


class DocumentFileError(ValueError):
    """A file a `documents.csv` row cannot name; the message says why."""


@dataclass(frozen=True)
class DocumentFile:
    """A checked file: where it is, what kind it is, and its digest and size."""

    path: Path
    kind: str
    sha256: str
    size: int


def kind_of(name: str) -> str:
    """`pdf` or `xml` by the file's extension (any case); anything else is refused."""
    suffix = PurePosixPath(name.replace("\\", "/")).suffix.lower().lstrip(".")
    if suffix not in tuple(DocumentKind):
        raise DocumentFileError(f"{name!r} is not a .pdf or .xml file")
    return suffix


def locate(base: Path, name: str) -> Path:
    """The file `name` names under `base`, refusing any path that leads out of `base`."""
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or PureWindowsPath(name).drive or ".." in posix.parts:
        raise DocumentFileError(f"{name!r} leaves the import folder; give a path inside it")
    root = base.resolve()
    target = (root / posix).resolve()
    if not target.is_relative_to(root):
        raise DocumentFileError(f"{name!r} leaves the import folder; give a path inside it")
    return target


_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def check_content(kind: str, data: bytes, name: str) -> None:
    if kind == DocumentKind.PDF and not data.startswith(b"%PDF-"):
        raise DocumentFileError(f"{name!r} is not a PDF (it does not start with %PDF-)")
    if kind == DocumentKind.XML:
        try:
            etree.fromstring(data, _XML_PARSER)
        except etree.XMLSyntaxError as error:
            raise DocumentFileError(f"{name!r} is not well-formed XML ({error.msg})") from None


def check_document_file(base: Path, name: str) -> DocumentFile:
    """The checked file of a row, or `DocumentFileError` saying what is wrong with it."""
    kind = kind_of(name)
    path = locate(base, name)
    if not path.is_file():
        raise DocumentFileError(f"{name!r}: no such file in the import folder")
    size = path.stat().st_size
    if size == 0:
        raise DocumentFileError(f"{name!r} is empty")
    if size > MAX_DOCUMENT_BYTES:
        raise DocumentFileError(f"{name!r} is too large ({size} bytes, at most {MAX_DOCUMENT_BYTES})")
    data = path.read_bytes()
    check_content(kind, data, name)
    return DocumentFile(path, kind, hashlib.sha256(data).hexdigest(), size)
