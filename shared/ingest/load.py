"""Writing a validated import, file by file in load order, with one upsert algorithm for every table.

Rows are upserted by their natural key: a file's row sets the columns the file has; a column the file lacks
leaves a stored row's value alone (a new row gets its default). A row whose values did not change is counted
as unchanged and not written, so importing the same files twice changes nothing. Everything is compared and
written in bulk (one query per table to read what exists, executemany inserts and updates by primary key),
never one ORM object per row, so hundreds of thousands of open items load quickly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from shared.clock import today, utcnow
from shared.documents import DocumentFile
from shared.ingest.freshness import Changed, Progress, mark_companies
from shared.ingest.plan import ImportPlan
from shared.ingest.report import FileCounts, ImportReport
from shared.ingest.tables import (
    ACCOUNTS,
    COMPANIES,
    CUSTOMERS,
    DOCUMENTS,
    IN_LIST,
    OPEN_ITEMS,
    Key,
    StoredRows,
    Table,
    chunks,
    stored_rows,
)
from shared.models import Account, ClearedItem, Company, Customer, OpenItem, User, UserCustomer
from shared.store import get_store
from shared.vocab import DEFAULT_LANGUAGE, EMAILED_FORMATS, Role, UserStatus


@dataclass(frozen=True)
class Wanted:
    """One file row as the table should hold it: its key, the columns the file sets, and what a new row needs
    besides (its key columns and the defaults of the columns the file lacks)."""

    key: Key
    given: dict[str, Any]
    new: dict[str, Any] = field(default_factory=dict)


def upsert(
    session: Session,
    table: Table,
    label: str,
    wanted: Iterable[Wanted],
    stored: StoredRows,
    *,
    delete_missing: bool = False,
    changed_keys: set[Key] | None = None,
) -> FileCounts:
    """Insert the new rows, update the changed columns of the others, leave the unchanged ones alone; with
    `delete_missing`, delete the stored rows the file does not name. Returns the counts; the keys of the rows
    written go into `changed_keys` when given."""
    counts = FileCounts(label)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    named: set[Key] = set()
    wanted_list = list(wanted)
    for row in wanted_list:
        named.add(row.key)
        found = stored.get(row.key)
        if found is None:
            inserts.append({**row.new, **row.given})
            continue
        row_id, old = found
        changed = {name: value for name, value in row.given.items() if old.get(name) != value}
        if changed:
            updates.append({"id": row_id, **changed})
        else:
            counts.unchanged += 1
    deletes = [row_id for key, (row_id, _) in stored.items() if key not in named] if delete_missing else []
    counts.inserted, counts.updated, counts.deleted = len(inserts), len(updates), len(deletes)
    if changed_keys is not None and (inserts or updates or deletes):
        by_id = {row_id: key for key, (row_id, _) in stored.items()}
        changed_keys.update(row.key for row in wanted_list if row.key not in stored)
        changed_keys.update(by_id[values["id"]] for values in updates)
        changed_keys.update(by_id[row_id] for row_id in deletes)
    model = table.model
    for part in chunks(inserts):
        session.execute(insert(model), part)
    # Bulk UPDATE by primary key groups rows by the set of columns they change.
    by_columns: dict[frozenset[str], list[dict[str, Any]]] = {}
    for values in updates:
        by_columns.setdefault(frozenset(values), []).append(values)
    for group in by_columns.values():
        for part in chunks(group):
            session.execute(update(model), part)
    for part in chunks(deletes):
        session.execute(delete(model).where(model.id.in_(part)))
    return counts


def _given(values: dict[str, Any], *, drop: tuple[str, ...], defaults: dict[str, Any]) -> dict[str, Any]:
    """The columns a row sets: its values but the key columns, an empty cell meaning the column's default."""
    given = {name: value for name, value in values.items() if name not in drop}
    for name, default in defaults.items():
        if given.get(name) == "":
            given[name] = default
    return given


# --- the files, in load order -------------------------------------------------------------------------------


COMPANY_DEFAULTS = {
    "tax_id": "",
    "address": "",
    "currency": "MXN",
    "collections_name": "",
    "collections_email": "",
    "collections_phone": "",
    "payment_instructions": "",
}
CUSTOMER_DEFAULTS = {
    "tax_id": "",
    "address": "",
    "statement_emails": "",
    "language": DEFAULT_LANGUAGE,
    "statement_formats": ";".join(EMAILED_FORMATS),
    "collector_name": "",
    "collector_email": "",
    "collector_phone": "",
}


def write_companies(session: Session, plan: ImportPlan, changed: set[Key]) -> FileCounts:
    wanted = [
        Wanted(
            (row.values["company_code"],),
            _given(row.values, drop=("company_code",), defaults={"currency": COMPANY_DEFAULTS["currency"]}),
            {**COMPANY_DEFAULTS, "code": row.values["company_code"]},
        )
        for row in plan.rows("companies")
    ]
    return upsert(session, COMPANIES, plan.files["companies"].label, wanted, plan.companies, changed_keys=changed)


def write_customers(session: Session, plan: ImportPlan, changed: set[Key]) -> FileCounts:
    empty_means_default = {name: CUSTOMER_DEFAULTS[name] for name in ("language", "statement_formats")}
    wanted = [
        Wanted(
            (row.values["customer_number"],),
            _given(row.values, drop=("customer_number",), defaults=empty_means_default),
            {**CUSTOMER_DEFAULTS, "number": row.values["customer_number"]},
        )
        for row in plan.rows("customers")
    ]
    return upsert(session, CUSTOMERS, plan.files["customers"].label, wanted, plan.customers, changed_keys=changed)


@dataclass(frozen=True)
class Ids:
    """Company and customer ids by code, read after companies and customers are written."""

    companies: dict[str, int]
    customers: dict[str, int]

    @classmethod
    def read(cls, session: Session) -> Ids:
        return cls(
            {code: row_id for code, row_id in session.execute(select(Company.code, Company.id))},
            {number: row_id for number, row_id in session.execute(select(Customer.number, Customer.id))},
        )

    def pair(self, values: dict[str, Any]) -> tuple[int, int]:
        return self.companies[values["company_code"]], self.customers[values["customer_number"]]


def write_accounts(session: Session, plan: ImportPlan, ids: Ids, changed: set[Key]) -> FileCounts:
    rows = plan.rows("accounts")
    company_ids = sorted({ids.companies[row.values["company_code"]] for row in rows})
    stored = stored_rows(session, ACCOUNTS, where_in=("company_id", company_ids))
    wanted = []
    for row in rows:
        key = ids.pair(row.values)
        currency = plan.currency_of[row.values["company_code"]]
        given = _given(row.values, drop=("company_code", "customer_number"), defaults={"currency": currency})
        new = {"company_id": key[0], "customer_id": key[1], "credit_limit": None, "payment_terms": ""}
        wanted.append(Wanted(key, given, {**new, "currency": currency}))
    return upsert(session, ACCOUNTS, plan.files["accounts"].label, wanted, stored, changed_keys=changed)


def write_open_items(
    session: Session, plan: ImportPlan, ids: Ids, changed: set[Key]
) -> tuple[FileCounts, set[tuple[int, int]]]:
    """The open items, and the (company, customer) pairs they name."""
    parsed = plan.files["open_items"]
    company_ids = sorted({ids.companies[row.values["company_code"]] for row in parsed.rows})
    stored = stored_rows(session, OPEN_ITEMS, where_in=("company_id", company_ids))
    wanted = []
    pairs: set[tuple[int, int]] = set()
    for row in parsed.rows:
        v = row.values
        company_id, customer_id = ids.pair(v)
        pairs.add((company_id, customer_id))
        given = {
            "customer_id": customer_id,
            "document_type": v["document_type"],
            "document_date": v["document_date"],
            "amount": v["amount"],
        }
        # An optional column the file lacks leaves a stored item's value alone; new items get the default.
        defaults = {
            "due_date": v.get("due_date") or v["document_date"],
            "currency": v.get("currency") or plan.currency_of[v["company_code"]],
            "reference": v.get("reference", ""),
            "cleared_on": v.get("cleared_on"),
        }
        given.update({name: value for name, value in defaults.items() if name in parsed.columns})
        new = {"company_id": company_id, "document_number": v["document_number"], **defaults}
        wanted.append(Wanted((company_id, v["document_number"]), given, new))
    named = {row.key for row in wanted}
    # An item back in a file is open again: it leaves the cleared items (it may have been dropped before).
    _unarchive(session, [key for key in named if key not in stored])
    if plan.replace_open_items:
        _archive(session, [row_id for key, (row_id, _) in stored.items() if key not in named])
    counts = upsert(
        session, OPEN_ITEMS, parsed.label, wanted, stored, delete_missing=plan.replace_open_items, changed_keys=changed
    )
    return counts, pairs


def _archive(session: Session, item_ids: list[int]) -> None:
    """Keep the items a snapshot drops as cleared items: cleared on the date the file gave, else today (the day
    the ERP's export stopped listing them)."""
    removed_at, cleared_today = utcnow(), today()
    columns = ("company_id", "customer_id", "document_number", "document_type", "reference", "document_date")
    for part in chunks(item_ids, IN_LIST):
        rows = session.execute(
            select(
                *(getattr(OpenItem, c) for c in columns),
                OpenItem.due_date,
                OpenItem.amount,
                OpenItem.currency,
                OpenItem.cleared_on,
            ).where(OpenItem.id.in_(part))
        )
        values = [
            {
                **dict(zip(columns, row[:6], strict=True)),
                "due_date": row.due_date,
                "amount": row.amount,
                "currency": row.currency,
                "cleared_on": row.cleared_on or cleared_today,
                "removed_at": removed_at,
            }
            for row in rows
        ]
        if values:
            session.execute(insert(ClearedItem), values)


def _unarchive(session: Session, keys: list[tuple[Any, ...]]) -> None:
    by_company: dict[int, list[str]] = {}
    for company_id, number in keys:
        by_company.setdefault(company_id, []).append(number)
    for company_id, numbers in by_company.items():
        for part in chunks(numbers, IN_LIST):
            session.execute(
                delete(ClearedItem).where(ClearedItem.company_id == company_id, ClearedItem.document_number.in_(part))
            )


def open_missing_accounts(
    session: Session, plan: ImportPlan, ids: Ids, pairs: set[tuple[int, int]], changed: set[Key]
) -> int:
    """An item's customer gets an account at the item's company (no credit limit) if it has none yet."""
    if not pairs:
        return 0
    existing = set(stored_rows(session, ACCOUNTS, where_in=("company_id", sorted({c for c, _ in pairs}))))
    currency_by_id = {
        ids.companies[code]: currency for code, currency in plan.currency_of.items() if code in ids.companies
    }
    rows = [
        {"company_id": c, "customer_id": k, "currency": currency_by_id[c], "credit_limit": None, "payment_terms": ""}
        for c, k in sorted(pairs - existing)
    ]
    for part in chunks(rows):
        session.execute(insert(Account), part)
    changed.update((row["company_id"], row["customer_id"]) for row in rows)
    return len(rows)


def write_users(session: Session, plan: ImportPlan, ids: Ids) -> tuple[FileCounts, list[int]]:
    """Users and their grants; returns the counts and the new users' ids (they get an invitation)."""
    parsed = plan.files["users"]
    counts = FileCounts(parsed.label)
    stored: dict[str, User] = {}
    for part in chunks([row.values["username"] for row in parsed.rows], IN_LIST):
        stored.update((user.username, user) for user in session.scalars(select(User).where(User.username.in_(part))))
    grants: dict[int, set[int]] = {}
    for part in chunks([user.id for user in stored.values()], IN_LIST):
        for user_id, customer_id in session.execute(
            select(UserCustomer.user_id, UserCustomer.customer_id).where(UserCustomer.user_id.in_(part))
        ):
            grants.setdefault(user_id, set()).add(customer_id)
    new_users: list[tuple[User, tuple[str, ...] | None]] = []
    for row in parsed.rows:
        v = row.values
        wanted_customers = v.get("customers")
        user = stored.get(v["username"])
        if user is None:
            user = User(
                username=v["username"],
                email=v["email"],
                full_name=v.get("full_name", ""),
                role=v.get("role") or Role.CUSTOMER,
                language=v.get("language") or DEFAULT_LANGUAGE,
                status=UserStatus.ACTIVE,
                password_hash=None,
            )
            session.add(user)
            new_users.append((user, wanted_customers))
            counts.inserted += 1
            continue
        # A column the file lacks leaves the stored value alone; an empty cell means the default.
        wanted = _given(
            v, drop=("username", "customers"), defaults={"role": Role.CUSTOMER, "language": DEFAULT_LANGUAGE}
        )
        changed = False
        for name, value in wanted.items():
            if getattr(user, name) != value:
                setattr(user, name, value)
                changed = True
        if wanted_customers is not None:
            want = {ids.customers[n] for n in wanted_customers}
            have = grants.get(user.id, set())
            if want != have:
                _set_grants(session, user.id, want, have)
                changed = True
        if changed:
            counts.updated += 1
        else:
            counts.unchanged += 1
    session.flush()
    for user, wanted_customers in new_users:
        if wanted_customers:
            _set_grants(session, user.id, {ids.customers[n] for n in wanted_customers}, set())
    return counts, [user.id for user, _ in new_users]


def _set_grants(session: Session, user_id: int, want: set[int], have: set[int]) -> None:
    removed = sorted(have - want)
    if removed:
        session.execute(
            delete(UserCustomer).where(UserCustomer.user_id == user_id, UserCustomer.customer_id.in_(removed))
        )
    added = sorted(want - have)
    if added:
        session.execute(insert(UserCustomer), [{"user_id": user_id, "customer_id": c} for c in added])


def write_documents(session: Session, plan: ImportPlan, ids: Ids) -> FileCounts:
    """Invoice documents by company, number and kind; their files are kept in the store by content (a file
    already kept is not written again)."""
    parsed = plan.files["documents"]
    company_ids = sorted({ids.companies[row.values["company_code"]] for row in parsed.rows})
    stored = stored_rows(session, DOCUMENTS, where_in=("company_id", company_ids))
    store = get_store()
    wanted = []
    for row in parsed.rows:
        v = row.values
        file: DocumentFile = v["_file"]
        key = (ids.companies[v["company_code"]], v["document_number"], file.kind)
        given = {"sha256": file.sha256, "size": file.size}
        wanted.append(Wanted(key, given, {"company_id": key[0], "document_number": key[1], "kind": key[2]}))
        if not store.document_path(file.sha256).is_file():
            store.put_document(file.sha256, file.path.read_bytes())
    return upsert(session, DOCUMENTS, parsed.label, wanted, stored)


# The lock an import holds for its transaction on PostgreSQL ("edocta" and 1): imports write one at a time.
IMPORT_LOCK = 0x6564_6F63_7461_01


def load(session: Session, plan: ImportPlan, progress: Progress | None = None) -> ImportReport:
    """Write every file of a validated import in load order (in the caller's transaction), and mark the
    companies it named as refreshed, and those whose data it changed with a new "data as of".

    On PostgreSQL the import first waits for any other import's transaction to end: the database's triggers lock
    each customer's statement revision as its items change (migration 0011), and two imports changing the same
    customers in a different order would otherwise deadlock. SQLite's writers take turns already."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(IMPORT_LOCK)))
    report = ImportReport()
    step = progress or (lambda phase: None)
    changed = Changed()
    if "companies" in plan.files:
        step("companies")
        report.files.append(write_companies(session, plan, changed.companies))
    if "customers" in plan.files:
        step("customers")
        report.files.append(write_customers(session, plan, changed.customers))
    ids = Ids.read(session)
    if "accounts" in plan.files:
        step("accounts")
        report.files.append(write_accounts(session, plan, ids, changed.accounts))
    if "open_items" in plan.files:
        step("open_items")
        counts, pairs = write_open_items(session, plan, ids, changed.open_items)
        report.files.append(counts)
        opened = open_missing_accounts(session, plan, ids, pairs, changed.accounts)
        if opened:
            report.notes.append(f"accounts opened for customers with open items: {opened}")
    if "users" in plan.files:
        step("users")
        counts, new_user_ids = write_users(session, plan, ids)
        report.files.append(counts)
        report.new_user_ids.extend(new_user_ids)
    if "documents" in plan.files:
        step("documents")
        report.files.append(write_documents(session, plan, ids))
    session.flush()
    report.named_companies, report.changed_companies = mark_companies(session, plan, ids.companies, changed)
    return report
