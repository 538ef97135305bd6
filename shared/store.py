"""The statement store: rendered statement files on disk, keyed by what they show.

A file is addressed by company, customer, cut-off, format, language and the fingerprint of the statement's
data (`Statement.fingerprint`), so a lookup is a hit exactly when a file for the same data already exists.
Writes are atomic (a temporary file in the same folder, fsync, rename): a reader sees a complete file or
none, and two processes writing the same key at once both succeed. After a write, files of the same
company, customer, cut-off, format and language holding other (older) data are pruned.

Layout under the root, every code percent-encoded so no code can leave its folder or collide with another:

    <company>/<customer>/<cut-off>/<language>_<fingerprint>.<format>
    <company>/<customer>/<from>_<to>/<language>_<fingerprint>.<format>      (activity statements)

Files that were emailed are kept while their outbox rows exist: `prune` skips the names `keep` returns.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import functools
import hashlib
import logging
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shared.settings import get_settings

if TYPE_CHECKING:
    from shared.statements import ActivityStatement, Statement

log = logging.getLogger(__name__)

FORMATS = ("json", "html", "xlsx", "pdf")
_LANGUAGE = re.compile(r"[a-z]{2}")
_FINGERPRINT = re.compile(r"[A-Za-z0-9]{1,128}")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
# Longer encoded codes are shortened to a readable prefix plus a digest of the whole code, so that a folder
# name stays well under the 255-byte limit of common filesystems. `~` never appears in an encoded code.
_MAX_COMPONENT = 120
_TEMPORARY_SUFFIX = ".tmp"
# A temporary file this old belongs to a writer that died; `prune` removes it.
STALE_TEMPORARY_SECONDS = 3600


class InvalidStoreKey(ValueError):
    """A key that cannot address a stored statement (bad format, language, fingerprint, date or code)."""


def _encode(code: str) -> str:
    """Percent-encode every byte of the UTF-8 text but letters, digits, `_` and `-` (so never `.` or `/`)."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in code.encode("utf-8"))


def _decode(text: str) -> str:
    if not re.fullmatch(r"(?:[A-Za-z0-9_-]|%[0-9A-F]{2})+", text):
        raise InvalidStoreKey(f"badly encoded code in store key: {text!r}")
    raw = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "%":
            raw.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.append(ord(text[i]))
            i += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidStoreKey(f"badly encoded code in store key: {text!r}") from None


@functools.lru_cache(maxsize=4096)
def _folder_name(code: str) -> str:
    encoded = _encode(code)
    if len(encoded) <= _MAX_COMPONENT:
        return encoded
    prefix = encoded[:80]
    cut = prefix.rfind("%")
    if cut > len(prefix) - 3:  # do not split a %XX escape
        prefix = prefix[:cut]
    return f"{prefix}~{hashlib.sha256(code.encode('utf-8')).hexdigest()[:32]}"


@dataclass(frozen=True)
class StoreKey:
    """What one stored file shows: a statement's data (by fingerprint), in one format and language."""

    company: str
    customer: str
    cutoff: dt.date
    fmt: str
    language: str
    fingerprint: str
    # The first day of an activity statement's period (`cutoff` is its last day); None for an open-item statement.
    start: dt.date | None = None

    def __post_init__(self) -> None:
        for name in ("company", "customer"):
            value = getattr(self, name)
            if not isinstance(value, str) or value == "":
                raise InvalidStoreKey(f"{name} must be a non-empty text code, got {value!r}")
        if not isinstance(self.cutoff, dt.date) or isinstance(self.cutoff, dt.datetime):
            raise InvalidStoreKey(f"cutoff must be a date, got {self.cutoff!r}")
        if self.start is not None and (
            not isinstance(self.start, dt.date) or isinstance(self.start, dt.datetime) or self.start > self.cutoff
        ):
            raise InvalidStoreKey(f"start must be a date up to the cut-off, got {self.start!r}")
        if self.fmt not in FORMATS:
            raise InvalidStoreKey(f"format must be one of {', '.join(FORMATS)}, got {self.fmt!r}")
        if not isinstance(self.language, str) or not _LANGUAGE.fullmatch(self.language):
            raise InvalidStoreKey(f"language must be two lowercase letters, got {self.language!r}")
        if not isinstance(self.fingerprint, str) or not _FINGERPRINT.fullmatch(self.fingerprint):
            raise InvalidStoreKey(f"fingerprint must be 1-128 letters or digits, got {self.fingerprint!r}")

    @classmethod
    def for_statement(cls, statement: Statement | ActivityStatement, fmt: str, language: str | None = None) -> StoreKey:
        """The key of `statement` rendered as `fmt` in `language` (default: the statement's own)."""
        return cls(
            company=statement.company.code,
            customer=statement.customer.code,
            cutoff=statement.cutoff,
            fmt=fmt,
            language=language or statement.language,
            fingerprint=statement.fingerprint,
            start=getattr(statement, "start", None),
        )

    @property
    def dates(self) -> str:
        """`2026-11-30`, or `2026-10-01_2026-10-31` for an activity statement's period."""
        if self.start is None:
            return self.cutoff.isoformat()
        return f"{self.start.isoformat()}_{self.cutoff.isoformat()}"

    @property
    def file_name(self) -> str:
        return f"{self.language}_{self.fingerprint}.{self.fmt}"

    def as_string(self) -> str:
        """A one-line text form (kept in the database, e.g. an email's attachments); `parse` reverses it."""
        return (
            "/".join(
                (
                    _encode(self.company),
                    _encode(self.customer),
                    self.dates,
                    self.language,
                    self.fingerprint,
                )
            )
            + f".{self.fmt}"
        )

    @classmethod
    def parse(cls, text: str) -> StoreKey:
        if not isinstance(text, str):
            raise InvalidStoreKey(f"a store key is text, got {text!r}")
        parts = text.split("/")
        if len(parts) != 5 or "." not in parts[4]:
            raise InvalidStoreKey(f"not a store key: {text!r}")
        company, customer, cutoff, language, last = parts
        fingerprint, _, fmt = last.partition(".")
        first, _, cutoff = cutoff.rpartition("_")
        try:
            day = dt.date.fromisoformat(cutoff)
            start = dt.date.fromisoformat(first) if first else None
        except ValueError:
            raise InvalidStoreKey(f"bad cut-off date in store key: {text!r}") from None
        return cls(_decode(company), _decode(customer), day, fmt, language, fingerprint, start)

    def __str__(self) -> str:
        return self.as_string()


class StatementStore:
    """Rendered statement files under `root` (the folder is created on the first write)."""

    def __init__(self, root: Path | str, keep: Callable[[StoreKey], Collection[str]] | None = None) -> None:
        self.root = Path(root)
        # The file names in a key's folder that must survive pruning (files that were emailed).
        self.keep = keep

    def __repr__(self) -> str:
        return f"StatementStore({str(self.root)!r})"

    def folder(self, key: StoreKey) -> Path:
        """The folder holding every version of one customer's statements at one company and cut-off."""
        return self.root / _folder_name(key.company) / _folder_name(key.customer) / key.dates

    def path(self, key: StoreKey) -> Path:
        """Where the file of `key` is (or would be) stored."""
        return self.folder(key) / key.file_name

    def get(self, key: StoreKey) -> Path | None:
        """The stored file of `key` (a hit), or None (a miss)."""
        path = self.path(key)
        return path if path.is_file() else None

    def has_all(self, keys: Collection[StoreKey]) -> bool:
        """True when every key is a hit: the keys of one statement (its formats) share a folder, whose path is
        worked out once; then one `stat` per file."""
        folders: dict[tuple[str, str, str], str] = {}
        for key in keys:
            place = (key.company, key.customer, key.dates)
            folder = folders.get(place)
            if folder is None:
                folder = folders[place] = os.fspath(self.folder(key))
            if not os.path.isfile(os.path.join(folder, key.file_name)):
                return False
        return True

    def read(self, key: StoreKey) -> bytes | None:
        """The stored bytes of `key`, or None. Safe against a prune removing the file between lookup and read."""
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def put(self, key: StoreKey, data: bytes) -> Path:
        """Store `data` under `key` atomically and return its path; then prune older versions.

        Two writers of the same key at once both succeed and the file is complete either way. If anything
        fails (disk full, the process dies), the key stays a miss (or keeps its earlier complete file).
        """
        folder, temporary = self._write_temporary(key, data, durable=True)
        target = folder / key.file_name
        try:
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        _fsync_folder(folder)
        log.debug("stored %s (%d bytes)", key, len(data))
        self.prune(key)
        return target

    def put_many(self, files: Collection[tuple[StoreKey, bytes]]) -> list[Path]:
        """`put` for several files (a batch of a run's accounts), durable with two flushes of the store's file
        system for all of them instead of two `fsync`s for each (on a disk where a flush takes ~7 ms, a batch of
        ten accounts' PDF and XLSX waited 40 of them).

        Why this is as safe as `put`:
        - A name must never point to an incomplete file (a truncated PDF would be a hit, and be mailed): every
          file's bytes are written to its temporary name, then one `syncfs` makes all of them durable, and only
          then are they renamed to their real names. A crash before that leaves temporary files only, which
          `prune` removes.
        - The caller records the accounts (and queues emails attaching these files) after this returns: the
          renames are made durable first by a second `syncfs`, so a committed record never names a file the
          store lost in a crash.
        - `syncfs` (Linux) flushes every file and folder of the file system the store is on, these files' among
          them, and reports a write-back error on it (since Linux 5.8). Where it is not available, each temporary
          file and each folder is flushed by `fsync`, as `put` does. On NFS the client writes back and commits its
          dirty pages on `syncfs`, and the server does a rename before it replies.
        The price: `syncfs` also flushes whatever else is waiting on that file system, so on a busy shared disk
        it can take longer than one `fsync`; it stays two calls per batch.
        """
        if not files:
            return []
        written: list[tuple[StoreKey, Path, Path]] = []
        try:
            for key, data in files:
                folder, temporary = self._write_temporary(key, data, durable=False)
                written.append((key, folder, temporary))
            if not _syncfs(self.root):
                for _, _, temporary in written:
                    _fsync_path(temporary)
            for key, folder, temporary in written:
                os.replace(temporary, folder / key.file_name)
        except BaseException:
            for _, _, temporary in written:
                with contextlib.suppress(OSError):
                    temporary.unlink()
            raise
        if not _syncfs(self.root):
            for folder in {folder for _, folder, _ in written}:
                _fsync_folder(folder)
        for key, _, _ in written:
            self.prune(key)
        return [folder / key.file_name for key, folder, _ in written]

    def _write_temporary(self, key: StoreKey, data: bytes, *, durable: bool) -> tuple[Path, Path]:
        """Write `data` to a new temporary file in `key`'s folder (flushed to disk when `durable`)."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"stored data must be bytes, got {type(data).__name__}")
        if len(data) == 0:
            raise ValueError(f"refusing to store an empty file for {key}")
        folder = self.folder(key)
        temporary = folder / f".{key.file_name}.{os.getpid()}.{secrets.token_hex(6)}{_TEMPORARY_SUFFIX}"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        except FileNotFoundError:  # the folder is made when its first file is written (not checked for every file)
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        return folder, temporary

    # --- invoice documents (contract section 8), by content ------------------------------------------------

    def document_path(self, sha256: str) -> Path:
        """Where the document file with this SHA-256 is kept (`~documents` never collides with a company's
        folder: an encoded code never starts with `~`)."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise InvalidStoreKey(f"not a SHA-256: {sha256!r}")
        return self.root / "~documents" / sha256[:2] / sha256

    def put_document(self, sha256: str, data: bytes) -> Path:
        """Keep a document's bytes (atomically; nothing is written when the same file is already kept)."""
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError("the document's bytes do not match its SHA-256")
        target = self.document_path(sha256)
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.parent / f".{sha256}.{os.getpid()}.{secrets.token_hex(6)}{_TEMPORARY_SUFFIX}"
        try:
            temporary.write_bytes(data)
            with open(temporary, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        _fsync_folder(target.parent)
        return target

    def read_document(self, sha256: str) -> bytes | None:
        try:
            return self.document_path(sha256).read_bytes()
        except (FileNotFoundError, NotADirectoryError, InvalidStoreKey):
            return None

    def prune(self, key: StoreKey, *, stale_after: float = STALE_TEMPORARY_SECONDS) -> int:
        """Delete the files of the same company, customer, cut-off, format and language whose fingerprint is
        not `key`'s (older data), and temporary files left by writers that died. Returns how many were deleted.
        Files `keep` names (attachments of emails still in the outbox) stay.

        When two writers store different data for the same statement at once, each may prune the other's
        file; the statement is then a miss and is rendered again from the current data.
        """
        folder = self.folder(key)
        pattern = re.compile(rf"{re.escape(key.language)}_[A-Za-z0-9]+\.{re.escape(key.fmt)}")
        now = time.time()
        removed = 0
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return 0
        kept: Collection[str] = ()
        older = [entry.name for entry in entries if entry.name != key.file_name and pattern.fullmatch(entry.name)]
        if self.keep is not None and older:
            try:
                kept = self.keep(key)
            except Exception:  # no way to tell which were emailed: keep them all this time
                log.warning("could not read which files the outbox attaches; nothing pruned in %s", folder)
                kept = set(older)
        for entry in entries:
            try:
                if entry.name.startswith(".") and entry.name.endswith(_TEMPORARY_SUFFIX):
                    if now - entry.stat().st_mtime < stale_after:
                        continue
                elif entry.name == key.file_name or not pattern.fullmatch(entry.name) or entry.name in kept:
                    continue
                os.unlink(entry.path)
                removed += 1
                log.debug("pruned %s", entry.path)
            except FileNotFoundError:
                continue  # another process pruned it first
        return removed


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_LIBC: ctypes.CDLL | None = None


def _syncfs(path: Path) -> bool:
    """Flush the whole file system `path` is on (Linux `syncfs`); False where the call is not available. Raises
    OSError when the flush fails."""
    global _LIBC
    if not sys.platform.startswith("linux"):
        return False
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    syncfs = getattr(_LIBC, "syncfs", None)
    if syncfs is None:
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"syncfs {path}: {os.strerror(error)}")
    finally:
        os.close(fd)
    return True


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (where the platform allows opening a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def attached_file_names(key: StoreKey) -> set[str]:
    """The names of the files in `key`'s folder that emails in the outbox attach (sent or still to send): the
    sent statements the portal lists are downloaded from them, so they outlive newer data."""
    if key.start is not None:
        return set()  # activity statements are not emailed
    from sqlalchemy import select

    from shared.db import session_scope
    from shared.models import Company, Customer, OutboxEmail

    with session_scope() as session:
        rows = session.scalars(
            select(OutboxEmail.attachments)
            .join(Company, Company.id == OutboxEmail.company_id)
            .join(Customer, Customer.id == OutboxEmail.customer_id)
            .where(Company.code == key.company, Customer.number == key.customer, OutboxEmail.cutoff == key.cutoff)
        )
        names: set[str] = set()
        for attachments in rows:
            for text in attachments or ():
                try:
                    names.add(StoreKey.parse(text).file_name)
                except InvalidStoreKey:
                    continue
    return names


def get_store() -> StatementStore:
    """The store at `EDOCTA_STORE_DIR` (default `var/statements`); it keeps the files the outbox attaches."""
    return StatementStore(get_settings().store_dir, keep=attached_file_names)
