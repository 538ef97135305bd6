"""The statement pages: the selector (`selector`), the statement page and its files (`page`), and their
bookmarkable addresses (`addresses`).

Every route reads through `shared.statements`, whose queries are scoped to the signed-in user's grants: a
statement the user may not see answers 404 exactly like one that does not exist (and so does a malformed
address).
"""

from __future__ import annotations

from typing import Any

from web.statements.addresses import content_disposition, selector_url, statement_url
from web.statements.page import statement_file_status, statement_page
from web.statements.selector import statement_companies, statement_customers, statement_selector

route_handlers: list[Any] = [
    statement_selector,
    statement_customers,
    statement_companies,
    statement_page,
    statement_file_status,
]

__all__ = ["content_disposition", "route_handlers", "selector_url", "statement_url"]
