"""Invoice documents in the portal (contract section 8), on both databases: the statement page links each line's
documents, and a download is the stored file byte for byte for a user who may see the customer, 404 otherwise
(someone else's customer, an item that is not the customer's, a kind that does not exist)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from shared.cli.demo_documents import invoice_pdf, invoice_xml
from tests.factories import CUTOFF, PASSWORD, give_passwords, run_cli, seed_portal_data, write_folder
from tests.portal import portal_test_client, sign_in

PDF = invoice_pdf("Tinacos del Bajío", "FAC-1", "Ferretería Álvarez", Decimal("1234.50"), dt.date(2026, 9, 1))
XML = invoice_xml("Tinacos del Bajío", "TBA010101AB1", "FAC-1", "Ferretería Álvarez", Decimal("1234.50"), CUTOFF)
OTHER = invoice_pdf("Tinacos del Bajío", "FAC-100", "Acme Supplies", Decimal("999.99"), dt.date(2026, 9, 1))


@pytest.fixture
def with_documents(database: str, tmp_path: Path) -> None:
    seed_portal_data()
    give_passwords()
    folder = write_folder(
        tmp_path / "docs",
        {
            "documents.csv": "company_code,document_number,file\n"
            "1000,FAC-1,FAC-1.pdf\n1000,FAC-1,FAC-1.xml\n1000,FAC-100,FAC-100.pdf\n",
            "FAC-1.pdf": PDF,
            "FAC-1.xml": XML,
            "FAC-100.pdf": OTHER,
        },
    )
    result = run_cli("import", str(folder))
    assert result.exit_code == 0, result.output


@pytest.mark.usefixtures("with_documents")
def test_a_customer_user_downloads_the_documents_of_their_own_items_only() -> None:
    with portal_test_client() as client:
        sign_in(client, "alice", PASSWORD)
        page = client.get(f"/statements/1000/100001/{CUTOFF.isoformat()}").text
        assert 'href="/statements/1000/100001/documents/FAC-1.pdf"' in page
        assert 'href="/statements/1000/100001/documents/FAC-1.xml"' in page
        assert page.count('class="st-doc"') == 2

        pdf = client.get("/statements/1000/100001/documents/FAC-1.pdf")
        assert pdf.status_code == 200
        assert pdf.content == PDF
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.headers["content-disposition"].startswith('attachment; filename="1000_FAC-1.pdf"')
        xml = client.get("/statements/1000/100001/documents/FAC-1.xml")
        assert (xml.status_code, xml.content) == (200, XML)
        assert xml.headers["content-type"].startswith("application/xml")

        json_lines = client.get(f"/statements/1000/100001/{CUTOFF.isoformat()}.json").json()["lines"]
        assert {line["document_number"]: line["documents"] for line in json_lines}["FAC-1"] == ["pdf", "xml"]

        not_found = client.get("/statements/1000/100001/documents/NOPE.pdf")
        for path in (
            "/statements/1000/100002/documents/FAC-100.pdf",  # someone else's customer
            "/statements/1000/100001/documents/FAC-100.pdf",  # an item that is not this customer's
            "/statements/2000/100001/documents/FAC-1.pdf",  # another company
            "/statements/1000/100001/documents/FAC-1.txt",  # no such kind
            "/statements/1000/100001/documents/FAC-100.xml",
        ):
            answer = client.get(path)
            assert answer.status_code == 404, path
            assert answer.text == not_found.text


@pytest.mark.usefixtures("with_documents")
def test_staff_download_any_customers_documents_and_users_without_grants_get_404() -> None:
    with portal_test_client() as client:
        sign_in(client, "sofia", PASSWORD)
        assert client.get("/statements/1000/100002/documents/FAC-100.pdf").content == OTHER
    with portal_test_client() as client:
        sign_in(client, "carla", PASSWORD)
        assert client.get("/statements/1000/100001/documents/FAC-1.pdf").status_code == 404
    with portal_test_client() as client:
        answer = client.get("/statements/1000/100001/documents/FAC-1.pdf", follow_redirects=False)
        assert answer.status_code in (302, 303)
        assert answer.headers["location"].startswith("/login")
