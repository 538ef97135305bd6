from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from shared.db import get_engine
from shared.models import Base

config = context.config


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    with get_engine(config.get_main_option("sqlalchemy.url") or None).begin() as conn:
        run_migrations(conn)
