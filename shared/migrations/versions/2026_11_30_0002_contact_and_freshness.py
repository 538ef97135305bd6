"""contact, payment instructions and data freshness

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("collections_name", sa.String(length=255), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("collections_email", sa.String(length=320), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("collections_phone", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("payment_instructions", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("data_as_of", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("collector_name", sa.String(length=255), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("collector_email", sa.String(length=320), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("collector_phone", sa.String(length=64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("collector_phone")
        batch_op.drop_column("collector_email")
        batch_op.drop_column("collector_name")
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.drop_column("data_as_of")
        batch_op.drop_column("payment_instructions")
        batch_op.drop_column("collections_phone")
        batch_op.drop_column("collections_email")
        batch_op.drop_column("collections_name")
