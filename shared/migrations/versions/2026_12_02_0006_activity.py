"""items cleared by a snapshot import, kept for activity statements

Revision ID: 0006_activity
Revises: 0004_security
Create Date: 2026-12-02 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_activity"
down_revision: str | None = "0004_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cleared_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("document_number", sa.String(length=64), nullable=False),
        sa.Column("document_type", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=False),
        sa.Column("document_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("cleared_on", sa.Date(), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_cleared_items_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_cleared_items_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cleared_items")),
        sa.UniqueConstraint("company_id", "document_number", name=op.f("uq_cleared_items_company_id_document_number")),
    )
    with op.batch_alter_table("cleared_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cleared_items_company_customer", ["company_id", "customer_id", "document_date"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("cleared_items", schema=None) as batch_op:
        batch_op.drop_index("ix_cleared_items_company_customer")
    op.drop_table("cleared_items")
