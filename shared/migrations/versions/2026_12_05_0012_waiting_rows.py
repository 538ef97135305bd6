"""a run's waiting accounts and emails in indexes of their own, so whether a run is settled is read newest first;
no index of `run_id` alone on the run's tables

Revision ID: 0012_waiting_rows
Revises: 0011_statement_revisions
Create Date: 2026-12-05 08:00:00

A run takes its accounts and sends its emails oldest first. Read from the oldest end, "is anything still pending?"
walked the index entries of every row done before it (an index keeps a changed row's old entries until VACUUM).
These partial indexes hold the waiting rows only, and are read from the newest end. The indexes of `run_id` alone
go: the run's other indexes start with it, and when the planner's statistics do not know a run yet, it took that
one for "the run's newest rows" and sorted every row of the run.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_waiting_rows"
down_revision: str | None = "0011_statement_revisions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in shared/models/runs.py (ACCOUNT_WAITING, EMAIL_WAITING), written out: a migration keeps its own text.
INDEXES = {
    "run_accounts": ("ix_run_accounts_waiting", "status = 'pending'"),
    "outbox_emails": ("ix_outbox_emails_waiting", "status IN ('pending', 'sending')"),
}


def upgrade() -> None:
    for table, (name, waiting) in INDEXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_run_id")
            batch_op.create_index(
                name,
                ["run_id", "id"],
                unique=False,
                postgresql_where=sa.text(waiting),
                sqlite_where=sa.text(waiting),
            )


def downgrade() -> None:
    for table, (name, _) in INDEXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
            batch_op.create_index(f"ix_{table}_run_id", ["run_id"], unique=False)
