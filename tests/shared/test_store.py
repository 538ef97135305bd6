"""The statement store: hits and misses, atomic writes under concurrency and crashes, pruning, hostile codes."""

from __future__ import annotations

import datetime as dt
import errno
import multiprocessing
import os
import signal
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from shared.statements import Party, build_statement
from shared.store import InvalidStoreKey, StatementStore, StoreKey, get_store

CUTOFF = dt.date(2026, 11, 30)
FP1 = "a" * 64
FP2 = "b" * 64


def key(fingerprint: str = FP1, *, company: str = "1000", customer: str = "100001", fmt: str = "pdf", **kw) -> StoreKey:
    return StoreKey(
        company=company,
        customer=customer,
        cutoff=kw.get("cutoff", CUTOFF),
        fmt=fmt,
        language=kw.get("language", "es"),
        fingerprint=fingerprint,
    )


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def payload(tag: int, size: int = 2 * 1024 * 1024) -> bytes:
    head = f"writer-{tag:04d}:".encode()
    return head + bytes([tag % 251]) * (size - len(head))


# --- hits and misses ---------------------------------------------------------------------------------------


def test_miss_then_hit_returns_the_stored_bytes(tmp_path: Path) -> None:
    store = StatementStore(tmp_path / "statements")
    assert store.get(key()) is None
    assert store.read(key()) is None

    path = store.put(key(), b"%PDF-1.7 statement")

    assert store.get(key()) == path
    assert path.read_bytes() == b"%PDF-1.7 statement"
    assert store.read(key()) == b"%PDF-1.7 statement"
    assert path == store.path(key())
    assert path.is_relative_to(tmp_path / "statements")


@pytest.mark.parametrize(
    "other",
    [
        key(FP2),
        key(fmt="xlsx"),
        key(language="en"),
        key(cutoff=dt.date(2026, 10, 31)),
        key(company="2000"),
        key(customer="100002"),
    ],
    ids=["fingerprint", "format", "language", "cutoff", "company", "customer"],
)
def test_any_other_part_of_the_key_is_a_miss(tmp_path: Path, other: StoreKey) -> None:
    store = StatementStore(tmp_path)
    store.put(key(), b"one")
    assert store.get(other) is None
    assert store.read(other) is None


def test_putting_the_same_key_again_replaces_the_file(tmp_path: Path) -> None:
    store = StatementStore(tmp_path)
    store.put(key(), b"first")
    store.put(key(), b"second")
    assert store.read(key()) == b"second"
    assert len(files_under(tmp_path)) == 1


def test_empty_data_is_refused_and_nothing_written(tmp_path: Path) -> None:
    store = StatementStore(tmp_path)
    with pytest.raises(ValueError, match="empty"):
        store.put(key(), b"")
    assert store.get(key()) is None
    assert files_under(tmp_path) == []


def test_get_store_uses_the_configured_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.servers import use_environment  # imported here: spawned writer processes import this module

    folder = tmp_path / "shared-volume"
    use_environment(monkeypatch, EDOCTA_STORE_DIR=str(folder))
    get_store().put(key(), b"x")
    assert (folder / "1000" / "100001" / "2026-11-30" / f"es_{FP1}.pdf").read_bytes() == b"x"


def test_default_store_is_under_var(var_dir: Path) -> None:
    get_store().put(key(), b"x")
    assert StatementStore(var_dir / "statements").read(key()) == b"x"


# --- keys ------------------------------------------------------------------------------------------------


HOSTILE_CODES = [
    "../../etc",
    "..",
    ".",
    "/",
    "a/b",
    "/etc/passwd",
    "C:\\Windows",
    "Tinacos del Bajío, S.A. de C.V.",
    "ñandú/😀",
    "%2F",
    "a%b",
    "line\nbreak",
    "nul\x00byte",
    "~",
    "0000100011",
    "x" * 64,
    "😀" * 64,
]


@pytest.mark.parametrize("code", HOSTILE_CODES)
def test_hostile_codes_stay_inside_the_root_and_round_trip(tmp_path: Path, code: str) -> None:
    root = tmp_path / "store"
    store = StatementStore(root)
    k = key(company=code, customer=code)

    path = store.put(k, b"data")

    assert path.resolve().is_relative_to(root.resolve())
    assert [p.relative_to(root) for p in files_under(tmp_path)] == [path.relative_to(root)]
    assert all(len(part.encode()) <= 255 for part in path.relative_to(root).parts)
    assert store.read(k) == b"data"
    assert StoreKey.parse(k.as_string()) == k
    assert "\n" not in k.as_string()


def test_distinct_codes_never_share_a_file(tmp_path: Path) -> None:
    store = StatementStore(tmp_path)
    pairs = [("a/b", "c"), ("a", "b/c"), ("a%2Fb", "c"), ("ab", "c"), ("a", "bc"), ("😀" * 64, "c"), ("😀" * 63, "c")]
    pairs += [(c, "1") for c in HOSTILE_CODES]
    keys = [key(company=company, customer=customer) for company, customer in pairs]
    for i, k in enumerate(keys):
        store.put(k, f"file {i}".encode())
    for i, k in enumerate(keys):
        assert store.read(k) == f"file {i}".encode()
    assert len({store.path(k) for k in keys}) == len(keys)
    assert len({k.as_string() for k in keys}) == len(keys)


def test_key_string_is_readable_and_parses_back() -> None:
    k = key()
    assert k.as_string() == f"1000/100001/2026-11-30/es/{FP1}.pdf"
    assert StoreKey.parse(k.as_string()) == k
    assert str(k) == k.as_string()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1000/100001/2026-11-30/es/abc",
        "1000/100001/2026-11-31/es/abc.pdf",
        "1000/100001/2026-11-30/es/abc.exe",
        "1000/100001/2026-11-30/ES/abc.pdf",
        "1000/100001/2026-11-30/es/ab.c.pdf",
        "../100001/2026-11-30/es/abc.pdf",
        "10.00/100001/2026-11-30/es/abc.pdf",
        "%ZZ/100001/2026-11-30/es/abc.pdf",
        "%FF/100001/2026-11-30/es/abc.pdf",
        "/100001/2026-11-30/es/abc.pdf",
        "1000/100001/2026-11-30/es/abc.pdf/extra",
    ],
)
def test_malformed_key_strings_are_refused(text: str) -> None:
    with pytest.raises(InvalidStoreKey):
        StoreKey.parse(text)


@pytest.mark.parametrize(
    "changes",
    [
        {"company": ""},
        {"customer": ""},
        {"fmt": "exe"},
        {"language": "../"},
        {"language": "EN"},
        {"fingerprint": "../x"},
        {"fingerprint": ""},
        {"fingerprint": "a.b"},
        {"cutoff": "2026-11-30"},
        {"cutoff": dt.datetime(2026, 11, 30, 12, 0)},
    ],
)
def test_bad_key_parts_are_refused(changes: dict) -> None:
    fields = {"company": "1000", "customer": "1", "cutoff": CUTOFF, "fmt": "pdf", "language": "es", "fingerprint": FP1}
    with pytest.raises(InvalidStoreKey):
        StoreKey(**(fields | changes))


def test_key_for_a_statement_uses_its_codes_cutoff_language_and_fingerprint() -> None:
    statement = build_statement(
        Party("1000", "Aceros"),
        Party("0000100011", "Cliente"),
        CUTOFF,
        [],
        account_currency="MXN",
        credit_limit=Decimal("100.00"),
        language="en",
    )
    k = StoreKey.for_statement(statement, "xlsx")
    assert (k.company, k.customer, k.cutoff, k.fmt, k.language) == ("1000", "0000100011", CUTOFF, "xlsx", "en")
    assert k.fingerprint == statement.fingerprint
    assert StoreKey.for_statement(statement, "pdf", language="es").language == "es"


# --- pruning ---------------------------------------------------------------------------------------------


def test_a_new_fingerprint_prunes_only_the_older_files_of_the_same_format_and_language(tmp_path: Path) -> None:
    store = StatementStore(tmp_path)
    kept = [
        key(FP1, fmt="xlsx"),
        key(FP1, language="en"),
        key(FP1, cutoff=dt.date(2026, 10, 31)),
        key(FP1, customer="100002"),
        key(FP1, company="2000"),
    ]
    store.put(key(FP1), b"old pdf")
    for k in kept:
        store.put(k, b"keep me")

    store.put(key(FP2), b"new pdf")

    assert store.get(key(FP1)) is None
    assert store.read(key(FP2)) == b"new pdf"
    for k in kept:
        assert store.read(k) == b"keep me"
    assert len(files_under(tmp_path)) == len(kept) + 1


def test_prune_removes_temporary_files_of_dead_writers_only_when_stale(tmp_path: Path) -> None:
    store = StatementStore(tmp_path)
    store.put(key(FP1), b"pdf")
    fresh = store.folder(key()) / f".es_{FP2}.pdf.999.abc.tmp"
    stale = store.folder(key()) / f".es_{FP2}.pdf.998.def.tmp"
    fresh.write_bytes(b"half")
    stale.write_bytes(b"half")
    old = dt.datetime.now().timestamp() - 2 * 3600
    os.utime(stale, (old, old))

    assert store.prune(key(FP1)) == 1

    assert fresh.exists() and not stale.exists()
    assert store.read(key(FP1)) == b"pdf"


def test_prune_of_a_folder_that_does_not_exist_does_nothing(tmp_path: Path) -> None:
    assert StatementStore(tmp_path / "none").prune(key()) == 0


# --- concurrency -----------------------------------------------------------------------------------------


def test_two_threads_writing_the_same_key_both_succeed_and_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    store = StatementStore(tmp_path)
    writers = 6
    payloads = {payload(i) for i in range(writers)}
    start = threading.Barrier(writers + 1)
    done = threading.Event()
    errors: list[BaseException] = []
    seen: list[int] = []

    def write(i: int) -> None:
        try:
            start.wait()
            for _ in range(3):
                store.put(key(), payload(i))
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        start.wait()
        while not done.is_set():
            data = store.read(key())
            if data is not None:
                if data not in payloads:
                    errors.append(AssertionError(f"partial or mixed file of {len(data)} bytes"))
                seen.append(len(data))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    reader = threading.Thread(target=read)
    for t in [*threads, reader]:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()

    assert errors == []
    assert store.read(key()) in payloads
    assert [p.name for p in files_under(tmp_path)] == [f"es_{FP1}.pdf"]
    assert seen, "the reader should have seen the file at least once"


PROCESS_PAYLOAD = 512 * 1024


def _write_in_process(root: str, tag: int, rounds: int, ready: object) -> None:
    ready.wait()  # type: ignore[attr-defined]
    store = StatementStore(root)
    for _ in range(rounds):
        store.put(key(), payload(tag, PROCESS_PAYLOAD))


def test_two_processes_writing_the_same_key_both_succeed(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    processes = [context.Process(target=_write_in_process, args=(str(tmp_path), i, 4, ready)) for i in (1, 2, 3)]
    for p in processes:
        p.start()
    ready.set()
    store = StatementStore(tmp_path)
    complete = {payload(i, PROCESS_PAYLOAD) for i in (1, 2, 3)}
    partial = 0
    while any(p.is_alive() for p in processes):
        data = store.read(key())
        if data is not None and data not in complete:
            partial += 1
        time.sleep(0.002)
    for p in processes:
        p.join(60)

    assert [p.exitcode for p in processes] == [0, 0, 0]
    assert partial == 0
    assert store.read(key()) in complete
    assert [p.name for p in files_under(tmp_path)] == [f"es_{FP1}.pdf"]


# --- crashes ---------------------------------------------------------------------------------------------


def _write_then_hang_before_rename(root: str, data: bytes, connection: object) -> None:
    """Store `data`, but stop after the temporary file is written and before it is renamed into place."""
    import shared.store

    def hang(*args: object) -> None:
        connection.send("written")  # type: ignore[attr-defined]
        threading.Event().wait(120)

    shared.store.os.replace = hang  # type: ignore[assignment]
    StatementStore(root).put(key(), data)


@pytest.mark.parametrize("earlier", [None, b"complete earlier file"])
def test_a_writer_killed_mid_write_leaves_no_partial_file(tmp_path: Path, earlier: bytes | None) -> None:
    store = StatementStore(tmp_path)
    if earlier:
        store.put(key(), earlier)
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe()
    child = context.Process(target=_write_then_hang_before_rename, args=(str(tmp_path), payload(7), child_end))
    child.start()
    assert parent_end.poll(60), "the writer never reached the rename"
    assert parent_end.recv() == "written"
    os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
    child.join(10)
    assert child.exitcode == -signal.SIGKILL

    leftovers = [p for p in files_under(tmp_path) if p.name.endswith(".tmp")]
    assert len(leftovers) == 1 and leftovers[0].stat().st_size == len(payload(7))
    assert store.read(key()) == earlier
    assert (store.get(key()) is None) == (earlier is None)

    # The next writer succeeds; the dead writer's file goes once it is stale.
    store.put(key(), b"next")
    assert store.read(key()) == b"next"
    old = dt.datetime.now().timestamp() - 2 * 3600
    os.utime(leftovers[0], (old, old))
    store.prune(key())
    assert [p.name for p in files_under(tmp_path)] == [f"es_{FP1}.pdf"]


def test_a_failing_write_raises_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = StatementStore(tmp_path)
    store.put(key(FP1, fmt="xlsx"), b"other format")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("shared.store.os.fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        store.put(key(FP2), payload(3))
    monkeypatch.undo()

    assert store.get(key(FP2)) is None
    assert [p.name for p in files_under(tmp_path)] == [f"es_{FP1}.xlsx"]
    assert store.read(key(FP1, fmt="xlsx")) == b"other format"


def test_many_files_stored_at_once_are_hits_and_prune_their_older_versions(tmp_path: Path) -> None:
    store = StatementStore(tmp_path)
    store.put(key(FP1, customer="100001"), b"older data")
    batch = [
        (key(FP2, customer="100001"), payload(1, 1000)),
        (key(FP2, customer="100001", fmt="xlsx"), payload(2, 1000)),
        (key(FP1, customer="100002"), payload(3, 1000)),
    ]

    paths = store.put_many(batch)

    assert [store.read(k) for k, _ in batch] == [data for _, data in batch]
    assert paths == [store.path(k) for k, _ in batch]
    assert store.get(key(FP1, customer="100001")) is None  # the older version pruned
    assert len(files_under(tmp_path)) == 3  # no temporary file left


@pytest.mark.parametrize("fails", ["the flush", "a file"])
def test_many_files_failing_to_store_leave_no_name_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails: str
) -> None:
    store = StatementStore(tmp_path)
    store.put(key(FP1, fmt="xlsx"), b"earlier")
    batch = [(key(FP2), payload(1, 1000)), (key(FP2, customer="100002"), payload(2, 1000))]
    if fails == "the flush":

        def disk_error(path: Path) -> bool:
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr("shared.store._syncfs", disk_error)
    else:
        batch.append((key(FP2, customer="100003"), b""))  # refused: nothing of the batch may be named

    with pytest.raises((OSError, ValueError)):
        store.put_many(batch)

    assert [store.get(k) for k, _ in batch] == [None] * len(batch)
    assert [p.name for p in files_under(tmp_path)] == [f"es_{FP1}.xlsx"]
