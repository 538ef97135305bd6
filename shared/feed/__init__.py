"""Data from the ERP without a person at a terminal: the drop folder (`folder`) and the import history with
each company's freshness (`history`)."""

from shared.feed.folder import READY, BatchRefused, ScanReport, check_batch, claim_name, import_batch, import_root, scan
from shared.feed.history import (
    Freshness,
    company_freshness,
    is_stale,
    last_refreshed,
    list_imports,
    run_import,
    who_runs_this,
)

__all__ = [
    "READY",
    "BatchRefused",
    "Freshness",
    "ScanReport",
    "check_batch",
    "claim_name",
    "company_freshness",
    "import_batch",
    "import_root",
    "is_stale",
    "last_refreshed",
    "list_imports",
    "run_import",
    "scan",
    "who_runs_this",
]
