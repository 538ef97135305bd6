from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from shared.db import get_engine
from shared.models import Base


def test_migrations_create_every_table_on_both_backends(database: str) -> None:
    tables = set(inspect(get_engine()).get_table_names())
    assert {"companies", "customers", "accounts", "open_items", "users", "user_customers", "outbox_emails"} <= tables


def test_models_and_migrations_agree(database: str) -> None:
    """A model change without its migration would pass on create_all and fail in production."""
    with get_engine().connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
