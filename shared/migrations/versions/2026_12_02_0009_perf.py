"""indexes for runs of 100,000 accounts: a run's counters and "anything pending?" read from an index alone

Revision ID: 0009_perf
Revises: 0008_feed
Create Date: 2026-12-02 08:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_perf"
down_revision: str | None = "0008_feed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run_accounts", schema=None) as batch_op:
        batch_op.create_index("ix_run_accounts_run_status", ["run_id", "status", "rendered"], unique=False)
    with op.batch_alter_table("outbox_emails", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_emails_run_status", ["run_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox_emails", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_emails_run_status")
    with op.batch_alter_table("run_accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_run_accounts_run_status")
