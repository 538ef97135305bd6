"""Sent statements (contract section 10): after a real mailing run (Celery worker on Redis, PostgreSQL, an SMTP
server), the portal lists each statement email and downloads the very bytes it attached, even after the data
changed and a newer statement at the same cut-off was rendered into the store. The email names the contact and
how to pay."""

from __future__ import annotations

import re
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import update

from shared.cli.runs import watch_run
from shared.db import session_scope
from shared.models import Company, Customer, OpenItem
from shared.render import ensure_rendered
from shared.runs import start_run
from shared.statements import load_statement
from tests.factories import CUTOFF, CustomerSpec, add_company, add_customers, create_test_user
from tests.portal import portal_test_client, sign_in
from tests.servers import Services, SMTPServer

pytestmark = pytest.mark.slow


def attachments(message: EmailMessage) -> dict[str, bytes]:
    return {part.get_filename(): part.get_content() for part in message.iter_attachments()}


def test_sent_statements_download_exactly_what_was_attached(
    services: Services, smtp_server: SMTPServer, var_dir: Path
) -> None:
    add_company("1000", "Tinacos del Bajío")
    add_customers(
        "1000",
        [
            CustomerSpec(
                "100001", "Ferretería La Paz", "pagos@lapaz.example", items=(("F1", "2026-10-15", "1160.00", "MXN"),)
            ),
            CustomerSpec("100002", "Otra", "otra@example.com", items=(("F1", "2026-10-15", "10.00", "MXN"),)),
        ],
    )
    with session_scope() as session:
        session.execute(
            update(Company).values(
                collections_name="Cobranza Bajío",
                collections_email="cobranza@bajio.example",
                collections_phone="+52 477 100 2000",
                payment_instructions="BBVA CLABE 012345678901234567, referencia: su número de cliente",
            )
        )
        session.execute(
            update(Customer)
            .where(Customer.number == "100001")
            .values(collector_name="Laura Méndez", collector_email="laura@bajio.example")
        )
    services.worker().wait_ready()
    run_id = start_run(CUTOFF)
    assert watch_run(run_id, poll_seconds=0.2, timeout=120, write=lambda _line: None) is True

    message = next(m for m in smtp_server.messages if str(m["To"]) == "pagos@lapaz.example")
    sent_files = attachments(message)
    assert sorted(sent_files) == [
        "estado-de-cuenta_1000_100001_2026-10-31.pdf",
        "estado-de-cuenta_1000_100001_2026-10-31.xlsx",
    ]
    # Who to call and how to pay, in the email; a reply reaches the collector's desk.
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None
    text = str(plain.get_content())
    assert "Laura Méndez" in text and "CLABE 012345678901234567" in text
    assert "no es necesario responderlo" not in text
    assert str(message["Reply-To"]) == "laura@bajio.example"

    # The data changes and the statement at the same cut-off is rendered again: the store gets newer files.
    with session_scope() as session:
        session.execute(update(OpenItem).where(OpenItem.document_number == "100001-F1").values(amount=Decimal("99")))
    with session_scope() as session:
        newer = load_statement(session, "1000", "100001", CUTOFF)
    ensure_rendered(newer, ["pdf", "xlsx"])

    staff = create_test_user(role="staff")
    stranger = create_test_user(role="customer", customers=["100002"])
    with portal_test_client(base_url="https://estados.example.com") as client:
        assert sign_in(client, staff.username, staff.password).status_code == 303
        page = client.get("/statements/1000/100001/sent")
        assert page.status_code == 200
        assert "pagos@lapaz.example" in page.text and "31/10/2026" in page.text
        links = re.findall(r'href="(/statements/1000/100001/sent/\d+\.(?:pdf|xlsx))"', page.text)
        assert len(links) == 2
        for link in links:
            response = client.get(link)
            assert response.status_code == 200
            name = re.search(r'filename="([^"]+)"', response.headers["content-disposition"])
            assert name is not None
            assert response.content == sent_files[name.group(1)], name.group(1)
        # Another customer's files are not found, like a file that does not exist.
        assert client.get(links[0].replace("/sent/", "/sent/9")).status_code == 404

    with portal_test_client(base_url="https://estados.example.com") as client:
        assert sign_in(client, stranger.username, stranger.password).status_code == 303
        assert client.get("/statements/1000/100001/sent").status_code == 404
        assert client.get(links[0]).status_code == 404
        assert client.get("/statements/1000/100002/sent").status_code == 200
