from sqlalchemy import inspect

from shared.db import get_engine


def test_migrations_create_every_table_on_both_backends(database: str) -> None:
    tables = set(inspect(get_engine()).get_table_names())
    assert {"companies", "customers", "accounts", "open_items", "users", "user_customers", "outbox_emails"} <= tables
