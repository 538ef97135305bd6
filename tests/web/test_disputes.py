"""Disputes over HTTP (contract section 9), on both databases, with real emails (a real SMTP server).

A customer user opens a dispute from the statement page (the form works without JavaScript: "Aclarar" on a line
fills in its document); the collector gets one email, however often the send task runs; the line is marked in
the page, the JSON, the XLSX, the PDF and the statement email; staff reply (the customer's recipients and the
user who opened it get the reply) and resolve from /disputes; bad input writes nothing and keeps the text;
disputes survive a snapshot import that drops their item, and staff see that mark.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import func, select

from shared.db import session_scope
from shared.disputes import send_dispute_email
from shared.mail import compose_statement_email
from shared.models import Company, Customer, Dispute, DisputeEmail, DisputeMessage, OpenItem
from shared.render import render_statement
from shared.statements import load_statement
from shared.vocab import Outcome, Task
from tests.factories import CUTOFF, PASSWORD, give_passwords, run_cli, seed_portal_data, write_folder
from tests.portal import hidden_inputs, portal_test_client, sign_in
from tests.servers import SMTPServer, queued_tasks, use_environment

DAY = CUTOFF.isoformat()
PAGE = f"/statements/1000/100001/{DAY}"
ACTION = "/statements/1000/100001/disputes"


@pytest.fixture
def seeded(database: str, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch) -> SMTPServer:
    use_environment(monkeypatch, EDOCTA_SMTP_URL=smtp_server.url)
    seed_portal_data()
    with session_scope() as session:
        company = session.scalar(select(Company).where(Company.code == "1000"))
        customer = session.scalar(select(Customer).where(Customer.number == "100001"))
        assert company is not None and customer is not None
        company.collections_email = "cobranza@bajio.example"
        customer.statement_emails = "pagos@alvarez.example;compras@alvarez.example"
        # Open at the cut-off on screen, cleared since.
        session.add(
            OpenItem(
                company_id=company.id,
                customer_id=customer.id,
                document_number="FAC-PAID",
                document_type="invoice",
                reference="",
                document_date=dt.date(2026, 9, 5),
                due_date=dt.date(2026, 10, 5),
                amount=300,
                currency="MXN",
                cleared_on=dt.date(2026, 11, 15),
            )
        )
    give_passwords()
    return smtp_server


@contextlib.contextmanager
def signed_in(username: str) -> Iterator[TestClient[Any]]:
    with portal_test_client() as client:
        assert sign_in(client, username, PASSWORD).status_code == 303
        yield client


def post_dispute(client: TestClient[Any], document: str, message: str) -> Any:
    page = client.get(f"{PAGE}?dispute={document}")
    fields = {**hidden_inputs(page.text), "document_number": document, "message": message}
    return client.post(ACTION, data=fields, follow_redirects=False)


def counts() -> tuple[int, int, int]:
    with session_scope() as session:
        return (
            session.scalar(select(func.count()).select_from(Dispute)) or 0,
            session.scalar(select(func.count()).select_from(DisputeMessage)) or 0,
            session.scalar(select(func.count()).select_from(DisputeEmail)) or 0,
        )


def run_dispute_emails(var: Path) -> list[Outcome]:
    """What a worker does with the queued dispute emails (the same service), each task run twice."""
    outcomes = []
    for task in queued_tasks(var):
        if task.name == Task.SEND_DISPUTE_EMAIL:
            outcomes.append(send_dispute_email(*task.args).result)
            outcomes.append(send_dispute_email(*task.args).result)  # a duplicate delivery sends nothing
            task.path.unlink()
    return outcomes


def pdf_text(data: bytes) -> str:
    return " ".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def test_the_dispute_flow(seeded: SMTPServer, var_dir: Path) -> None:
    smtp = seeded
    with signed_in("alice") as alice:
        page = alice.get(PAGE)
        assert page.status_code == 200
        assert 'href="?dispute=FAC-1#dispute-form"' in page.text
        assert 'id="dispute-form"' in page.text
        # Without JavaScript, "Aclarar" reloads the page with the line's document filled in.
        assert 'name="document_number" value="FAC-2"' in alice.get(f"{PAGE}?dispute=FAC-2").text

        # Bad input: a clear error, nothing written, the text kept.
        too_long = "¿" + "x" * 1999 + "<b>"
        refused = post_dispute(alice, "FAC-1", too_long)
        assert refused.status_code == 400
        assert "El mensaje tiene 2,003 caracteres; el máximo es 2,000." in html.unescape(refused.text)
        assert html.escape(too_long, quote=False) in refused.text
        cleared = post_dispute(alice, "FAC-PAID", "Ya lo pagamos")
        assert cleared.status_code == 400
        assert "El documento FAC-PAID ya está saldado" in cleared.text
        assert ">Ya lo pagamos</textarea>" in cleared.text
        assert post_dispute(alice, "FAC-100", "No es nuestro").status_code == 404  # acme's item
        assert post_dispute(alice, "NOPE", "No existe").status_code == 404
        assert post_dispute(alice, "FAC-1", "   ").status_code == 400
        assert counts() == (0, 0, 0)

        opened = post_dispute(alice, "FAC-1", "No reconocemos este cargo: la mercancía llegó dañada.")
        assert opened.status_code == 303
        assert opened.headers["location"] == f"{PAGE}#disputes"
        assert counts() == (1, 1, 1)
        assert run_dispute_emails(var_dir) == [Outcome.SENT, Outcome.NOT_CLAIMED]
        [to_collector] = smtp.received_by("cobranza@bajio.example")
        assert "FAC-1" in str(to_collector["Subject"])
        body = to_collector.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "la mercancía llegó dañada" in body
        assert "/disputes?company=1000&customer=100001" in body
        assert to_collector["Reply-To"] is None

        # The line is marked everywhere.
        shown = alice.get(PAGE).text
        assert "En aclaración" in shown and "la mercancía llegó dañada" in shown
        lines = {line["document_number"]: line for line in alice.get(f"{PAGE}.json").json()["lines"]}
        assert lines["FAC-1"]["disputed"] is True and lines["FAC-2"]["disputed"] is False
        sheet = load_workbook(io.BytesIO(alice.get(f"{PAGE}.xlsx").content)).active
        rows = [[cell for cell in row] for row in sheet.iter_rows(values_only=True)]  # type: ignore[union-attr]
        header = next(row for row in rows if row[0] == "Documento")
        assert header[8] == "Aclaración"
        assert next(row for row in rows if row[0] == "FAC-1")[8] == "En aclaración"
        with session_scope() as session:
            statement = load_statement(session, "1000", "100001", CUTOFF)
        assert "FAC-1 *" in pdf_text(render_statement(statement, "pdf"))
        email = compose_statement_email(statement, "pagos@alvarez.example", [])
        assert "En aclaración: FAC-1" in email.get_body(("plain",)).get_content()  # type: ignore[union-attr]

        # A customer user does not reach the staff's page.
        assert alice.get("/disputes").status_code == 403

    with signed_in("sofia") as sofia:
        listed = sofia.get("/disputes?customer=100001")
        assert listed.status_code == 200
        assert "la mercancía llegó dañada" in listed.text
        assert "No hay aclaraciones que coincidan." in sofia.get("/disputes?customer=100002").text
        with session_scope() as session:
            dispute_id = session.scalar(select(Dispute.id))
        fields = hidden_inputs(listed.text)
        refused = sofia.post(
            f"/disputes/{dispute_id}/reply", data={**fields, "message": "y" * 2001}, follow_redirects=False
        )
        assert refused.status_code == 400 and "y" * 2001 in refused.text
        assert counts() == (1, 1, 1)
        replied = sofia.post(
            f"/disputes/{dispute_id}/reply",
            data={**fields, "message": "Enviaremos una nota de crédito."},
            follow_redirects=False,
        )
        assert replied.status_code == 303
        assert run_dispute_emails(var_dir) == [Outcome.SENT, Outcome.NOT_CLAIMED] * 3
        for address in ("pagos@alvarez.example", "compras@alvarez.example", "alice@example.com"):
            [reply] = smtp.received_by(address)
            assert "Enviaremos una nota de crédito." in reply.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            assert str(reply["Reply-To"]) == "cobranza@bajio.example"  # answering it reaches the collector
        resolved = sofia.post(f"/disputes/{dispute_id}/resolve", data=fields, follow_redirects=False)
        assert resolved.status_code == 303
        assert "resuelta" in sofia.get("/disputes").text

    with signed_in("alice") as alice:
        shown = alice.get(PAGE).text
        assert "Enviaremos una nota de crédito." in shown and "Resuelta por sofia" in shown
        lines = {line["document_number"]: line for line in alice.get(f"{PAGE}.json").json()["lines"]}
        assert lines["FAC-1"]["disputed"] is False


def test_a_dispute_survives_a_snapshot_that_drops_its_item(seeded: SMTPServer, tmp_path: Path) -> None:
    with signed_in("alice") as alice:
        assert post_dispute(alice, "FAC-2", "El precio no es el pactado.").status_code == 303
        assert post_dispute(alice, "FAC-2", "Adjunto la cotización.").status_code == 303
    assert counts()[:2] == (1, 2)  # the second message joined the open dispute

    header = "company_code,customer_number,document_number,document_type,document_date,amount\n"
    folder = write_folder(
        tmp_path / "snapshot", {"open_items.csv": header + "1000,100001,FAC-1,invoice,2026-09-01,100\n"}
    )
    assert run_cli("import", "--replace-open-items", str(folder)).exit_code == 0
    again = write_folder(
        tmp_path / "again", {"open_items.csv": header + "1000,100001,FAC-1,invoice,2026-09-01,100.00\n"}
    )
    assert run_cli("import", str(again)).exit_code == 0

    with signed_in("ana") as ana:
        listed = ana.get("/disputes?company=1000").text
        assert "El precio no es el pactado." in listed and "Adjunto la cotización." in listed
        assert "la partida ya no está en los datos" in listed
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Dispute)) == 1


def test_disputes_are_paginated_open_first(seeded: SMTPServer) -> None:
    with session_scope() as session:
        company_id = session.scalar(select(Company.id).where(Company.code == "1000"))
        customer_id = session.scalar(select(Customer.id).where(Customer.number == "100001"))
        for n in range(30):
            session.add(
                Dispute(
                    company_id=company_id,
                    customer_id=customer_id,
                    document_number=f"OLD-{n:02d}",
                    status="resolved" if n % 2 else "open",
                    opened_by="alice",
                )
            )
    with signed_in("sofia") as sofia:
        first = sofia.get("/disputes").text
        second = sofia.get("/disputes?page=2").text
        assert "15 abiertas de 30 aclaraciones." in first
        assert "Página 1 de 2" in first and "Página 2 de 2" in second
        assert first.count("dispute-state--open") == 15 and first.count("dispute-state--resolved") == 10
        assert second.count("dispute-state--resolved") == 5 and "dispute-state--open" not in second


def test_json_line_marks_follow_the_contract(seeded: SMTPServer) -> None:
    with signed_in("bruno") as bruno:
        lines = bruno.get(f"/statements/1000/100002/{DAY}.json").json()["lines"]
        assert [(line["documents"], line["disputed"]) for line in lines] == [([], False)]
        assert post_dispute(bruno, "FAC-1", "ajeno").status_code == 404  # alice's customer, not bruno's
    assert json.dumps(counts()) == "[0, 0, 0]"
