"""The statement store's two additions: activity statements' files by period, and files the outbox attaches
surviving the pruning of older data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from shared.store import StatementStore, StoreKey

FP_SENT, FP_OLD, FP_NEW = "a" * 64, "b" * 64, "c" * 64


def key(fingerprint: str, start: dt.date | None = None, fmt: str = "pdf") -> StoreKey:
    return StoreKey("1000", "100001", dt.date(2026, 10, 31), fmt, "es", fingerprint, start)


def test_an_activity_key_names_its_period_and_reads_back(tmp_path: Path) -> None:
    activity = key(FP_NEW, dt.date(2026, 10, 1))
    assert activity.as_string() == f"1000/100001/2026-10-01_2026-10-31/es/{FP_NEW}.pdf"
    assert StoreKey.parse(activity.as_string()) == activity
    assert StoreKey.parse(key(FP_NEW).as_string()) == key(FP_NEW)
    store = StatementStore(tmp_path)
    store.put(key(FP_OLD), b"open items")
    store.put(activity, b"activity")
    # Different folders: storing one kind never prunes the other.
    assert store.read(key(FP_OLD)) == b"open items" and store.read(activity) == b"activity"


def test_pruning_keeps_the_files_the_outbox_attaches(tmp_path: Path) -> None:
    asked: list[StoreKey] = []

    def attached(which: StoreKey) -> set[str]:
        asked.append(which)
        return {key(FP_SENT).file_name}

    store = StatementStore(tmp_path, keep=attached)
    store.put(key(FP_SENT), b"sent bytes")
    store.put(key(FP_OLD), b"older data")
    store.put(key(FP_NEW), b"newest data")

    assert store.read(key(FP_SENT)) == b"sent bytes"  # attached to an email: kept
    assert store.read(key(FP_OLD)) is None  # older data nobody attached: pruned
    assert store.read(key(FP_NEW)) == b"newest data"
    assert asked and all(which.fingerprint in (FP_OLD, FP_NEW) for which in asked)


def test_when_the_outbox_cannot_be_read_nothing_is_pruned(tmp_path: Path) -> None:
    def broken(_key: StoreKey) -> set[str]:
        raise RuntimeError("database down")

    store = StatementStore(tmp_path, keep=broken)
    store.put(key(FP_OLD), b"older")
    store.put(key(FP_NEW), b"newer")
    assert store.read(key(FP_OLD)) == b"older"
