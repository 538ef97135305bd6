"""Statements: the rules of contract section 2 (`rules`), the activity statement of section 7 (`activity`), the
`Statement` value (`values`), the loaders by code (`loading`) and, scoped to a portal user's grants, what that
user may see (`access`, `lines`)."""

from shared.statements.access import (
    PortalUserLike,
    can_see,
    companies_for_customer,
    load_visible_statement,
    visible_customer,
    visible_customer_clause,
    visible_customers,
)
from shared.statements.activity import (
    ActivityBalance,
    ActivityLine,
    ActivityPeriodError,
    ActivityStatement,
    build_activity,
    check_period,
    load_activity,
    load_visible_activity,
)
from shared.statements.lines import SORT_COLUMNS, filter_lines, line_order, sort_lines
from shared.statements.loading import StatementNotFound, load_statement, open_items_at, statement_for
from shared.statements.marks import (
    MARK_COLUMNS,
    is_disputed,
    line_documents,
    mark_columns,
    open_dispute_exists,
)
from shared.statements.rules import build_statement, is_open_at, open_at
from shared.statements.values import (
    BUCKETS,
    CENTS,
    CurrencyTotals,
    ItemRow,
    Party,
    Statement,
    StatementLine,
    bucket_for,
    money,
)

__all__ = [
    "BUCKETS",
    "CENTS",
    "MARK_COLUMNS",
    "SORT_COLUMNS",
    "ActivityBalance",
    "ActivityLine",
    "ActivityPeriodError",
    "ActivityStatement",
    "CurrencyTotals",
    "ItemRow",
    "Party",
    "PortalUserLike",
    "Statement",
    "StatementLine",
    "StatementNotFound",
    "bucket_for",
    "build_activity",
    "build_statement",
    "can_see",
    "check_period",
    "companies_for_customer",
    "filter_lines",
    "is_disputed",
    "is_open_at",
    "line_documents",
    "line_order",
    "load_activity",
    "load_statement",
    "load_visible_activity",
    "load_visible_statement",
    "mark_columns",
    "money",
    "open_at",
    "open_dispute_exists",
    "open_items_at",
    "sort_lines",
    "statement_for",
    "visible_customer",
    "visible_customer_clause",
    "visible_customers",
]
