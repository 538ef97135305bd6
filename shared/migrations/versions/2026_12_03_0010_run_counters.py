"""a finished run's counters kept on its row; indexes for the ops page's last email sent and latest mail error

Revision ID: 0010_run_counters
Revises: 0009_perf
Create Date: 2026-12-03 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_run_counters"
down_revision: str | None = "0009_perf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTERS = ("done_accounts", "failed_accounts", "cancelled_accounts", "emails", "cancelled_emails")


def upgrade() -> None:
    with op.batch_alter_table("statement_runs", schema=None) as batch_op:
        for name in COUNTERS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    # Runs recorded before: their counters counted once from their rows.
    op.execute(
        """
        UPDATE statement_runs SET
            done_accounts = (
                SELECT count(*) FROM run_accounts r WHERE r.run_id = statement_runs.id AND r.status = 'done'
            ),
            failed_accounts = (
                SELECT count(*) FROM run_accounts r WHERE r.run_id = statement_runs.id AND r.status = 'failed'
            ),
            cancelled_accounts = (
                SELECT count(*) FROM run_accounts r WHERE r.run_id = statement_runs.id AND r.status = 'cancelled'
            ),
            emails = (SELECT count(*) FROM outbox_emails o WHERE o.run_id = statement_runs.id),
            cancelled_emails = (
                SELECT count(*) FROM outbox_emails o WHERE o.run_id = statement_runs.id AND o.status = 'cancelled'
            )
        """
    )
    with op.batch_alter_table("outbox_emails", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_emails_sent_at",
            ["sent_at"],
            unique=False,
            postgresql_where=sa.text("sent_at IS NOT NULL"),
            sqlite_where=sa.text("sent_at IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_outbox_emails_errors",
            ["updated_at"],
            unique=False,
            postgresql_where=sa.text("last_error <> ''"),
            sqlite_where=sa.text("last_error <> ''"),
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_emails", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_emails_errors")
        batch_op.drop_index("ix_outbox_emails_sent_at")
    with op.batch_alter_table("statement_runs", schema=None) as batch_op:
        for name in reversed(COUNTERS):
            batch_op.drop_column(name)
