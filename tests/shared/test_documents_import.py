"""`documents.csv` (contract sections 1 and 8): good rows link PDF and XML files to items and keep the files in
the store byte for byte; any bad row (missing or empty file, wrong type, unknown item, a path leaving the import
folder) is reported as `FILE:LINE: column: message`, exit 2, and nothing at all is written."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from shared.cli.demo_documents import invoice_pdf, invoice_xml
from shared.db import session_scope
from shared.models import InvoiceDocument
from shared.store import get_store
from tests.factories import GOOD, dump, run_cli, write_folder, write_workbook

PDF = invoice_pdf("Tinacos del Bajío", "FAC-0001", "Ferretería", Decimal("1160.00"), dt.date(2026, 10, 1))
XML = invoice_xml(
    "Tinacos del Bajío", "TBA850101AB1", "FAC-0001", "Ferretería", Decimal("1160.00"), dt.date(2026, 10, 1)
)


def documents() -> list[tuple[str, str, str]]:
    with session_scope() as session:
        rows = session.execute(select(InvoiceDocument.document_number, InvoiceDocument.kind, InvoiceDocument.sha256))
        return sorted((number, kind, sha) for number, kind, sha in rows)


def test_good_documents_link_files_to_items_and_reimport_changes_nothing(database: str, tmp_path: Path) -> None:
    folder = write_folder(
        tmp_path / "batch",
        {
            **GOOD,
            "documents.csv": "company_code,document_number,file\n"
            "1000,FAC-0001,cfdi/FAC-0001.pdf\n1000,FAC-0001,cfdi/FAC-0001.XML\n1000,FAC-0004,cfdi/FAC-0004.pdf\n",
        },
    )
    write_folder(folder / "cfdi", {"FAC-0001.pdf": PDF, "FAC-0001.XML": XML, "FAC-0004.pdf": PDF})

    first = run_cli("import", str(folder))
    assert first.exit_code == 0, first.output
    assert "documents.csv: 3 inserted, 0 updated, 0 unchanged, 0 deleted" in first.output
    sha_pdf, sha_xml = hashlib.sha256(PDF).hexdigest(), hashlib.sha256(XML).hexdigest()
    assert documents() == [("FAC-0001", "pdf", sha_pdf), ("FAC-0001", "xml", sha_xml), ("FAC-0004", "pdf", sha_pdf)]
    assert get_store().read_document(sha_pdf) == PDF
    assert get_store().read_document(sha_xml) == XML

    again = run_cli("import", str(folder))
    assert again.exit_code == 0, again.output
    assert "documents.csv: 0 inserted, 0 updated, 3 unchanged, 0 deleted" in again.output

    shown = run_cli("statement", "1000", "0000100011", "--cutoff", "2026-11-30", "--format", "json")
    lines = {line["document_number"]: line for line in json.loads(shown.output)["lines"]}
    assert lines["FAC-0001"]["documents"] == ["pdf", "xml"]
    assert lines["NC-0002"]["documents"] == []


def test_a_document_may_name_an_item_already_stored(database: str, tmp_path: Path) -> None:
    assert run_cli("import", str(write_folder(tmp_path / "one", GOOD))).exit_code == 0
    folder = write_folder(
        tmp_path / "two",
        {"documents.csv": "company_code,document_number,file\n1000,FAC-0004,f.xml\n", "f.xml": XML},
    )
    result = run_cli("import", str(folder))
    assert result.exit_code == 0, result.output
    assert [(number, kind) for number, kind, _ in documents()] == [("FAC-0004", "xml")]


def test_every_bad_document_row_is_reported_and_nothing_is_written(database: str, tmp_path: Path) -> None:
    assert run_cli("import", str(write_folder(tmp_path / "base", GOOD))).exit_code == 0
    before = dump()
    outside = write_folder(tmp_path / "outside", {"secret.pdf": PDF})
    folder = write_folder(
        tmp_path / "bad",
        {
            "documents.csv": "company_code,document_number,file\n"
            "1000,FAC-0001,missing.pdf\n"  # 2: no such file
            "1000,FAC-0001,text.pdf\n"  # 3: not a PDF (and a duplicate key of line 2)
            "1000,FAC-0003,broken.xml\n"  # 4: not well-formed XML
            "1000,NOPE-1,good.pdf\n"  # 5: unknown item
            "1000,FAC-0004,../outside/secret.pdf\n"  # 6: leaves the folder
            f"1000,NC-0002,{outside / 'secret.pdf'}\n"  # 7: absolute path, leaves the folder
            "1000,FAC-0003,empty.pdf\n"  # 8: empty
            "1000,FAC-0003,notes.txt\n"  # 9: neither .pdf nor .xml
            "9999,FAC-0001,good.pdf\n",  # 10: unknown company
            "text.pdf": "just text, no PDF header",
            "broken.xml": "<cfdi:Comprobante><a></cfdi:Comprobante>",
            "good.pdf": PDF,
            "empty.pdf": b"",
            "notes.txt": "x",
        },
    )

    result = run_cli("import", str(folder))

    assert result.exit_code == 2
    errors = result.output.splitlines()
    expected = [
        "documents.csv:2: file: 'missing.pdf': no such file in the import folder",
        "documents.csv:3: company_code+document_number+kind: duplicate key 1000/FAC-0001/pdf (first on line 2)",
        "documents.csv:4: file: 'broken.xml' is not well-formed XML",
        "documents.csv:5: document_number: unknown item 'NOPE-1' of company '1000'",
        "documents.csv:6: file: '../outside/secret.pdf' leaves the import folder",
        "documents.csv:7: file: ",
        "documents.csv:8: file: 'empty.pdf' is empty",
        "documents.csv:9: file: 'notes.txt' is not a .pdf or .xml file",
        "documents.csv:10: company_code: unknown company '9999'",
    ]
    for start in expected:
        assert any(line.startswith(start) for line in errors), (start, errors)
    assert any(line.startswith("documents.csv:7:") and "leaves the import folder" in line for line in errors)
    assert dump() == before
    assert documents() == []
    assert not (get_store().root / "~documents").exists()


def test_a_pdf_named_xml_is_refused(database: str, tmp_path: Path) -> None:
    assert run_cli("import", str(write_folder(tmp_path / "base", GOOD))).exit_code == 0
    folder = write_folder(
        tmp_path / "bad",
        {
            "documents.csv": "company_code,document_number,file\n1000,FAC-0001,a.xml\n1000,FAC-0004,b.pdf\n",
            "a.xml": PDF,
            "b.pdf": XML,
        },
    )
    result = run_cli("import", str(folder))
    assert result.exit_code == 2
    assert "documents.csv:2: file: 'a.xml' is not well-formed XML" in result.output
    assert "documents.csv:3: file: 'b.pdf' is not a PDF (it does not start with %PDF-)" in result.output
    assert documents() == []


def test_a_workbook_names_files_relative_to_its_folder(database: str, tmp_path: Path) -> None:
    assert run_cli("import", str(write_folder(tmp_path / "base", GOOD))).exit_code == 0
    write_folder(tmp_path / "wb" / "cfdi", {"f1.pdf": PDF})
    rows: list[list[Any]] = [["company_code", "document_number", "file"], ["1000", "FAC-0001", "cfdi/f1.pdf"]]
    workbook = write_workbook(tmp_path / "wb" / "data.xlsx", {"documents": rows})
    result = run_cli("import", str(workbook))
    assert result.exit_code == 0, result.output
    assert [(number, kind) for number, kind, _ in documents()] == [("FAC-0001", "pdf")]


def test_replacing_open_items_leaves_no_item_for_a_document_of_a_removed_item(database: str, tmp_path: Path) -> None:
    assert run_cli("import", str(write_folder(tmp_path / "base", GOOD))).exit_code == 0
    header = "company_code,customer_number,document_number,document_type,document_date,amount\n"
    folder = write_folder(
        tmp_path / "snapshot",
        {
            "open_items.csv": header + "1000,100002,FAC-0004,invoice,2026-11-20,2000.00\n",
            "documents.csv": "company_code,document_number,file\n1000,FAC-0001,f.pdf\n1000,FAC-0004,f.pdf\n",
            "f.pdf": PDF,
        },
    )
    result = run_cli("import", "--replace-open-items", str(folder))
    assert result.exit_code == 2
    assert "documents.csv:2: document_number: unknown item 'FAC-0001' of company '1000'" in result.output
    assert "documents.csv:3" not in result.output
