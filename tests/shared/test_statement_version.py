"""A statement's data version (`shared.statements.version`) changes with every row the statement is built from,
and only with those: the items and their invoice documents through the database's own triggers (whoever writes,
here plain SQL), the customer's open disputes and the header rows read directly. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import text

from shared.db import get_engine
from shared.ingest import import_path
from shared.ingest.load import IMPORT_LOCK
from shared.statements.version import visible_version
from tests.factories import CUTOFF, seed_portal_data, write_folder


def version(user_id: int, company: str = "1000", customer: str = "100001") -> str:
    with get_engine().connect() as connection:
        found = visible_version(connection, user_id, company, customer, CUTOFF)
    assert found is not None
    return found.version


def execute(sql: str, **params: Any) -> None:
    with get_engine().begin() as connection:
        connection.execute(text(sql), params)


def revision(company: str = "1000", customer: str = "100001") -> int:
    with get_engine().connect() as connection:
        number = connection.scalar(
            text(
                "SELECT r.revision FROM statement_revisions r JOIN companies c ON c.id = r.company_id"
                " JOIN customers u ON u.id = r.customer_id WHERE c.code = :company AND u.number = :customer"
            ),
            {"company": company, "customer": customer},
        )
    assert number is not None
    return int(number)


def add_document(number: str, kind: str) -> None:
    execute(
        "INSERT INTO invoice_documents (company_id, document_number, kind, sha256, size, created_at)"
        " SELECT id, :number, :kind, :sha, 10, CURRENT_TIMESTAMP FROM companies WHERE code = '1000'",
        number=number,
        kind=kind,
        sha="0" * 64,
    )


def test_every_change_to_the_statements_rows_changes_its_version_and_no_other(database: str) -> None:
    alice = seed_portal_data()["alice"].id
    seen = [version(alice)]
    assert version(alice) == seen[0], "the same rows, the same version"
    numbers = [revision()]

    def changed(what: str, *, items: bool = True) -> None:
        now = version(alice)
        assert now not in seen, f"{what}: the version did not change"
        seen.append(now)
        if items:  # the items or their documents: the pair's number moved, to one it never had
            assert revision() > numbers[-1], what
            numbers.append(revision())
        else:
            assert revision() == numbers[-1], what

    # Another customer's items, at the same company, and the customer's items at another company: no change.
    execute("UPDATE open_items SET amount = 1 WHERE document_number = 'FAC-100'")
    execute("UPDATE open_items SET amount = 1 WHERE document_number = 'INV-9'")
    add_document("FAC-100", "pdf")
    assert version(alice) == seen[-1]

    execute("UPDATE open_items SET amount = 1234.51 WHERE document_number = 'FAC-1'")
    changed("an amount")
    execute("UPDATE open_items SET cleared_on = :day WHERE document_number = 'FAC-2'", day=CUTOFF)
    changed("an item cleared")
    execute(
        "INSERT INTO open_items (company_id, customer_id, document_number, document_type, reference, document_date,"
        " due_date, amount, currency) SELECT c.id, u.id, 'FAC-9', 'invoice', '', :day, :day, 10, 'MXN'"
        " FROM companies c, customers u WHERE c.code = '1000' AND u.number = '100001'",
        day=CUTOFF,
    )
    changed("an item added")
    add_document("FAC-1", "pdf")
    changed("the PDF of a line")
    add_document("FAC-1", "xml")
    changed("the XML of a line")
    execute("DELETE FROM invoice_documents WHERE document_number = 'FAC-1' AND kind = 'pdf'")
    changed("a line's PDF removed")
    execute("DELETE FROM open_items WHERE document_number = 'NC-3'")
    changed("an item removed")
    execute("UPDATE customers SET name = 'Ferretería Álvarez' WHERE number = '100001'")
    changed("the customer's name", items=False)
    execute("UPDATE companies SET payment_instructions = 'CLABE 0123' WHERE code = '1000'")
    changed("the company's payment instructions", items=False)

    # A dispute opened changes the version; resolved, the rows are those of before, and so is the version.
    before = seen[-1]
    execute(
        "INSERT INTO disputes (company_id, customer_id, document_number, status, opened_by, created_at, updated_at,"
        " resolved_by) SELECT c.id, u.id, 'FAC-1', 'open', 'alice', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ''"
        " FROM companies c, customers u WHERE c.code = '1000' AND u.number = '100001'"
    )
    changed("a dispute opened", items=False)
    execute("UPDATE disputes SET status = 'resolved'")
    assert version(alice) == before


def test_one_statement_changing_many_customers_moves_each_once(database: str) -> None:
    alice = seed_portal_data()["alice"].id
    mine, theirs = version(alice), revision(customer="100002")
    execute("UPDATE open_items SET reference = 'X' WHERE document_number IN ('FAC-1', 'FAC-100')")
    assert version(alice) != mine
    assert revision(customer="100002") > theirs


def test_a_truncated_table_changes_every_version(postgres_database: str) -> None:
    alice = seed_portal_data()["alice"].id
    before = version(alice)
    execute("TRUNCATE open_items")
    assert version(alice) != before


def test_a_customers_first_item_changes_the_version_of_its_empty_statement(database: str) -> None:
    """A pair with an account and no item has no number yet; its first item's insert gives it one."""
    alice = seed_portal_data()["alice"].id
    execute(
        "INSERT INTO user_customers (user_id, customer_id) SELECT :user, id FROM customers WHERE number = '100004'",
        user=alice,
    )
    execute(
        "INSERT INTO accounts (company_id, customer_id, currency, payment_terms) SELECT c.id, u.id, 'MXN', ''"
        " FROM companies c, customers u WHERE c.code = '1000' AND u.number = '100004'"
    )
    empty = version(alice, customer="100004")
    execute(
        "INSERT INTO open_items (company_id, customer_id, document_number, document_type, reference, document_date,"
        " due_date, amount, currency) SELECT c.id, u.id, 'FAC-40', 'invoice', '', :day, :day, 10, 'MXN'"
        " FROM companies c, customers u WHERE c.code = '1000' AND u.number = '100004'",
        day=CUTOFF,
    )
    assert version(alice, customer="100004") != empty


def test_a_document_added_while_its_item_moves_to_another_customer_moves_the_new_customers_statement(
    postgres_database: str,
) -> None:
    """The document's trigger reads its item as committed: it waits for the move and moves the new customer's
    number (reading the item as it was would move the old customer's, leaving the new one's statement stale)."""
    seed_portal_data()
    mover = get_engine().connect()
    mover.execute(
        text(
            "UPDATE open_items SET customer_id = (SELECT id FROM customers WHERE number = '100002')"
            " WHERE document_number = 'FAC-1'"
        )
    )  # not committed yet
    adding = threading.Thread(target=add_document, args=("FAC-1", "pdf"))
    adding.start()
    adding.join(timeout=0.5)
    assert adding.is_alive(), "the document's insert waits for the item being moved"
    mover.commit()
    mover.close()
    adding.join(timeout=10)
    assert not adding.is_alive()
    # The move moved both customers' numbers; the document then moved the new owner's again.
    assert revision(customer="100002") > revision(customer="100001")


def test_an_import_waits_for_another_imports_transaction(postgres_database: str, tmp_path: Path) -> None:
    seed_portal_data()
    items = (
        "company_code,customer_number,document_number,document_type,reference,document_date,due_date,amount,currency\n"
        "1000,100001,FAC-77,invoice,PO-7,2026-09-01,2026-09-30,10.00,MXN\n"
    )
    folder = write_folder(tmp_path / "erp", {"open_items.csv": items})
    other = get_engine().connect()
    other.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK})  # an import in progress
    done: list[Any] = []
    importing = threading.Thread(target=lambda: done.append(import_path(folder)))
    importing.start()
    importing.join(timeout=1)
    assert importing.is_alive() and not done, "the second import waits"
    other.rollback()
    other.close()
    importing.join(timeout=30)
    assert done and done[0].files[0].inserted == 1
