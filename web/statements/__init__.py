"""The statement pages: the selector (`selector`), the statement page and its files (`page`), the activity
statement (`activity`), the statements sent by email (`sent`), and their bookmarkable addresses (`addresses`).

Every route reads through `shared.statements`, whose queries are scoped to the signed-in user's grants: a
statement the user may not see answers 404 exactly like one that does not exist (and so does a malformed
address).
"""

from __future__ import annotations

from typing import Any

from web.statements.activity import activity_file_status, activity_page
from web.statements.addresses import activity_url, content_disposition, selector_url, statement_url
from web.statements.page import statement_file_status, statement_page
from web.statements.selector import statement_companies, statement_customers, statement_selector
from web.statements.sent import sent_statement_file, sent_statements_page, sent_url

route_handlers: list[Any] = [
    statement_selector,
    statement_customers,
    statement_companies,
    statement_page,
    statement_file_status,
    activity_page,
    activity_file_status,
    sent_statements_page,
    sent_statement_file,
]

__all__ = ["activity_url", "content_disposition", "route_handlers", "selector_url", "sent_url", "statement_url"]
