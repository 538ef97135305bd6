"""data feed: import history, companies named per import (freshness), runs held for stale data, scheduler ticks

Revision ID: 0008_feed
Revises: 0007_documents_disputes
Create Date: 2026-12-02 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_feed"
down_revision: str | None = "0007_documents_disputes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("started_by", sa.String(length=150), nullable=False),
        sa.Column("batch", sa.String(length=500), nullable=False),
        sa.Column("claim_key", sa.String(length=300), nullable=True),
        sa.Column("replace_open_items", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("phase", sa.String(length=64), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
        sa.UniqueConstraint("claim_key", name=op.f("uq_imports_claim_key")),
    )
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.create_index("ix_imports_status_created_at", ["status", "created_at"], unique=False)
    op.create_table(
        "import_companies",
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"], ["imports.id"], name=op.f("fk_import_companies_import_id_imports"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_import_companies_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("import_id", "company_id", name=op.f("pk_import_companies")),
    )
    with op.batch_alter_table("import_companies", schema=None) as batch_op:
        batch_op.create_index("ix_import_companies_company_id", ["company_id", "import_id"], unique=False)
    op.create_table(
        "schedule_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("cutoff", sa.Date(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("wait_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("started_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_schedule_holds_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["statement_runs.id"], name=op.f("fk_schedule_holds_run_id_statement_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_holds")),
        sa.UniqueConstraint("rule", "cutoff", "company_id", name=op.f("uq_schedule_holds_rule_cutoff_company_id")),
    )
    op.create_table(
        "scheduler_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("first_tick_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_tick_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduler_state")),
    )


def downgrade() -> None:
    op.drop_table("scheduler_state")
    op.drop_table("schedule_holds")
    with op.batch_alter_table("import_companies", schema=None) as batch_op:
        batch_op.drop_index("ix_import_companies_company_id")
    op.drop_table("import_companies")
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.drop_index("ix_imports_status_created_at")
    op.drop_table("imports")
