"""The lines of a statement page: which ones match a search, and in what order they are shown."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from shared.statements.access import fold
from shared.statements.values import StatementLine

# A thousands separator between digits ("104,282.12"): searching ignores it, so `104282.12` finds what
# `104,282.12` finds and the reverse.
_GROUPING = re.compile(r"(?<=\d),(?=\d{3})")

SORT_COLUMNS = (
    "document_number",
    "document_type",
    "reference",
    "document_date",
    "due_date",
    "days_overdue",
    "amount",
    "currency",
)


def _search_fields(line: StatementLine, extra: Iterable[str]) -> str:
    parts = [
        line.document_number,
        line.document_type,
        line.reference,
        line.document_date.isoformat(),
        line.due_date.isoformat(),
        str(line.days_overdue),
        str(line.amount),
        line.currency,
        *extra,
    ]
    folded = fold(" \x00 ".join(parts))
    return f"{folded} \x00 {_GROUPING.sub('', folded)}"


def _search_word(word: str) -> str:
    """A word of the query, case- and accent-insensitive, without thousands separators between digit groups."""
    return _GROUPING.sub("", fold(word))


def _sort_key(column: str) -> Any:
    def key(line: StatementLine) -> Any:
        value = getattr(line, column)
        return fold(value) if isinstance(value, str) else value

    return key


def line_order(
    lines: Sequence[StatementLine],
    query: str = "",
    column: str | None = None,
    direction: str | None = None,
    *,
    shown: dict[int, Sequence[str]] | None = None,
) -> list[int]:
    """The indices of the lines to show, in order: those containing every word of `query` in some column
    (case- and accent-insensitive, thousands separators ignored), ordered by `column` (one of `SORT_COLUMNS`;
    others keep the statement's order), `asc` or `desc`; ties keep the statement's order.

    `shown` may map a line's index to the texts the page displays for it (formatted dates, translated type),
    so what the user reads can be searched too.
    """
    words = [_search_word(word) for word in (query or "").split()]
    indices = list(range(len(lines)))
    if words:
        extra = shown or {}
        indices = [
            index
            for index in indices
            if all(word in _search_fields(lines[index], extra.get(index, ())) for word in words)
        ]
    if column in SORT_COLUMNS:
        key = _sort_key(column)
        indices.sort(key=lambda index: key(lines[index]), reverse=direction == "desc")
    return indices


def filter_lines(
    lines: Sequence[StatementLine], query: str, *, shown: dict[int, Sequence[str]] | None = None
) -> list[StatementLine]:
    """The lines containing every word of `query` (see `line_order`)."""
    return [lines[index] for index in line_order(lines, query, shown=shown)]


def sort_lines(lines: Sequence[StatementLine], column: str | None, direction: str | None) -> list[StatementLine]:
    """The lines ordered by `column`, `asc` or `desc` (see `line_order`)."""
    return [lines[index] for index in line_order(lines, "", column, direction)]
