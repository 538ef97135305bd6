"""statement revisions: a number per company and customer that the database changes whenever their items or the
items' invoice documents change, so a statement's data version is read in constant time

Revision ID: 0011_statement_revisions
Revises: 0010_run_counters
Create Date: 2026-12-04 08:00:00

The triggers are the database's: every writer (the import, the feed, the invoice files, a person at `psql`) moves
the number in the same transaction as its change. PostgreSQL takes a new number from a sequence (statement-level
triggers over the changed rows), once per pair and transaction: a pair already moved by the same transaction
(`xact`, its 64-bit id) is left as it is, which keeps an import of many rows from writing the pair's row again for
each (one statement per row, as the driver sends them). A document's pairs are those of its items as they are
committed: the items are read with a share lock, so an item being moved to another customer is waited for and
read moved. The pair's row stays locked until the writer commits, so two writers of items of the same customers
take turns; the import takes one lock for its whole transaction first (`shared.ingest.load`), so two imports
never hold each other's pairs. SQLite, whose writers take turns, takes one more than the largest number (row-level
triggers, an index on the number). Disputes are not counted here: the version reads a customer's open disputes
itself, so a customer opening one never waits for an import that holds this row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_statement_revisions"
down_revision: str | None = "0010_run_counters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The pairs (company_id, customer_id) whose rows a statement of `open_items` or `invoice_documents` changed, from
# a transition table `rows` (PostgreSQL).
PG_PAIRS = {
    "open_items": "SELECT DISTINCT company_id, customer_id FROM {rows}",
    "invoice_documents": (
        "SELECT DISTINCT company_id, customer_id FROM (SELECT i.company_id, i.customer_id FROM {rows} d"
        " JOIN open_items i ON i.company_id = d.company_id AND i.document_number = d.document_number"
        " FOR SHARE OF i) AS items"
    ),
}
PG_TOUCH = """
INSERT INTO statement_revisions (company_id, customer_id, revision, xact)
SELECT company_id, customer_id, nextval('statement_revision_seq'), pg_current_xact_id()::text::bigint
FROM ({pairs} ORDER BY 1, 2) AS pairs
ON CONFLICT (company_id, customer_id) DO UPDATE SET revision = EXCLUDED.revision, xact = EXCLUDED.xact
WHERE statement_revisions.xact IS DISTINCT FROM EXCLUDED.xact;
"""

# The same for one row `{row}` (NEW or OLD) on SQLite.
SQLITE_PAIRS = {
    "open_items": "SELECT {row}.company_id, {row}.customer_id",
    "invoice_documents": (
        "SELECT company_id, customer_id FROM open_items"
        " WHERE company_id = {row}.company_id AND document_number = {row}.document_number"
    ),
}
SQLITE_TOUCH = """
INSERT INTO statement_revisions (company_id, customer_id, revision)
SELECT pairs.*, (SELECT coalesce(max(revision), 0) + 1 FROM statement_revisions) FROM ({pairs}) AS pairs WHERE true
ON CONFLICT (company_id, customer_id) DO UPDATE SET revision = excluded.revision;
"""

OPERATIONS = ("INSERT", "UPDATE", "DELETE")

FIRST_NUMBERS = """
INSERT INTO statement_revisions (company_id, customer_id, revision)
SELECT company_id, customer_id, {first} FROM (SELECT DISTINCT company_id, customer_id FROM open_items) AS pairs
"""
PG_TRUNCATE = """
CREATE FUNCTION {table}_truncate_touches_statements() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE statement_revisions
    SET revision = nextval('statement_revision_seq'), xact = pg_current_xact_id()::text::bigint;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "statement_revisions",
        sa.Column("company_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("customer_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("xact", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("company_id", "customer_id", name=op.f("pk_statement_revisions")),
    )
    with op.batch_alter_table("statement_revisions", schema=None) as batch_op:
        batch_op.create_index("ix_statement_revisions_revision", ["revision"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()
    # The pairs that already have items start with a number of their own.
    first = "nextval('statement_revision_seq')" if op.get_bind().dialect.name == "postgresql" else "1"
    op.execute(FIRST_NUMBERS.format(first=first))


def _postgresql_triggers() -> None:
    op.execute("CREATE SEQUENCE statement_revision_seq")
    for table, pairs in PG_PAIRS.items():
        old = PG_TOUCH.format(pairs=pairs.format(rows="old_rows"))
        new = PG_TOUCH.format(pairs=pairs.format(rows="new_rows"))
        op.execute(
            f"""
            CREATE FUNCTION {table}_touch_statements() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP IN ('UPDATE', 'DELETE') THEN {old} END IF;
                IF TG_OP IN ('INSERT', 'UPDATE') THEN {new} END IF;
                RETURN NULL;
            END
            $$
            """
        )
        tables = {"INSERT": "NEW TABLE AS new_rows", "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows"}
        tables["DELETE"] = "OLD TABLE AS old_rows"
        for operation in OPERATIONS:
            op.execute(
                f"CREATE TRIGGER {table}_{operation.lower()}_touches_statements AFTER {operation} ON {table}"
                f" REFERENCING {tables[operation]} FOR EACH STATEMENT EXECUTE FUNCTION {table}_touch_statements()"
            )
        # A TRUNCATE has no rows to read: every pair gets a new number.
        op.execute(PG_TRUNCATE.format(table=table))
        op.execute(
            f"CREATE TRIGGER {table}_truncate_touches_statements AFTER TRUNCATE ON {table}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {table}_truncate_touches_statements()"
        )


def _sqlite_triggers() -> None:
    for table, pairs in SQLITE_PAIRS.items():
        for operation in OPERATIONS:
            rows = {"INSERT": ("NEW",), "UPDATE": ("OLD", "NEW"), "DELETE": ("OLD",)}[operation]
            body = "".join(SQLITE_TOUCH.format(pairs=pairs.format(row=row)) for row in rows)
            op.execute(
                f"CREATE TRIGGER {table}_{operation.lower()}_touches_statements AFTER {operation} ON {table}"
                f" BEGIN {body} END"
            )


def downgrade() -> None:
    for table in PG_PAIRS:
        for operation in (*OPERATIONS, "TRUNCATE"):
            if operation == "TRUNCATE" and op.get_bind().dialect.name != "postgresql":
                continue
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{operation.lower()}_touches_statements" + _on(table))
    if op.get_bind().dialect.name == "postgresql":
        for table in PG_PAIRS:
            op.execute(f"DROP FUNCTION IF EXISTS {table}_touch_statements()")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_truncate_touches_statements()")
        op.execute("DROP SEQUENCE IF EXISTS statement_revision_seq")
    with op.batch_alter_table("statement_revisions", schema=None) as batch_op:
        batch_op.drop_index("ix_statement_revisions_revision")
    op.drop_table("statement_revisions")


def _on(table: str) -> str:
    return f" ON {table}" if op.get_bind().dialect.name == "postgresql" else ""
