"""What an import did (counts per file, notes), and the refusal that lists every problem found."""

from __future__ import annotations

from dataclasses import dataclass, field


class ImportFailed(Exception):
    """The import was refused; nothing was written. `errors` are lines `FILE:LINE: column: message`."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass
class FileCounts:
    name: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def line(self) -> str:
        return (
            f"{self.name}: {self.inserted} inserted, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.deleted} deleted"
        )


@dataclass
class ImportReport:
    """What an import did, per file present, plus notes (invitations sent, accounts opened for new items)."""

    files: list[FileCounts] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    new_user_ids: list[int] = field(default_factory=list)
    # Company ids the import named (refreshed) and those whose data it changed (new "data as of").
    named_companies: set[int] = field(default_factory=set)
    changed_companies: set[int] = field(default_factory=set)

    def counts(self, kind: str) -> FileCounts:
        """The counts of one file by its kind (`open_items`), whatever it was called (`open_items.csv`)."""
        for counts in self.files:
            if counts.name.removesuffix(".csv") == kind:
                return counts
        raise KeyError(kind)

    @property
    def rows_written(self) -> int:
        return sum(c.inserted + c.updated + c.deleted for c in self.files)

    def lines(self) -> list[str]:
        """One line per file present, in load order (what `edocta import` prints)."""
        return [c.line() for c in self.files]
