"""The data model, by concern: master data (companies, customers, accounts, open items, items a snapshot
cleared), invoice documents and disputes, users (grants, temporary passwords, audit) and runs (runs, run
accounts, the email outbox, render durations). Every table is re-exported here."""

from shared.clock import utcnow
from shared.models.base import AwareDateTime, Base, Money
from shared.models.disputes import Dispute, DisputeEmail, DisputeMessage, InvoiceDocument
from shared.models.feed import ImportCompany, ImportRecord, ScheduleHold, SchedulerState
from shared.models.master import Account, ClearedItem, Company, Customer, OpenItem, StatementRevision
from shared.models.runs import OutboxEmail, RenderDuration, RunAccount, StatementRun
from shared.models.users import AuditEvent, TemporaryPassword, User, UserCustomer

__all__ = [
    "Account",
    "AuditEvent",
    "AwareDateTime",
    "Base",
    "ClearedItem",
    "Company",
    "Customer",
    "Dispute",
    "DisputeEmail",
    "DisputeMessage",
    "ImportCompany",
    "ImportRecord",
    "InvoiceDocument",
    "Money",
    "OpenItem",
    "OutboxEmail",
    "RenderDuration",
    "RunAccount",
    "ScheduleHold",
    "SchedulerState",
    "StatementRevision",
    "StatementRun",
    "TemporaryPassword",
    "User",
    "UserCustomer",
    "utcnow",
]
