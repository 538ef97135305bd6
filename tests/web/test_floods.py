"""Floods against the real portal process (`edocta serve`), on embedded defaults and on PostgreSQL + Redis: a
sign-in flood does not stall signed-in users, and parallel guesses on one account get only the allowed handful
checked, while the owner signing in from another address gets in. Bounded request loops on loopback; the long
versions are `bench/abuse`."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from shared.broker import queue_lengths
from shared.db import session_scope
from shared.models import AuditEvent
from tests.factories import CUTOFF, PASSWORD, give_passwords, seed_portal_data, user_row
from tests.servers import ROOT, free_port, wait_for

STATEMENT = "/statements/1000/100001/2026-10-31"


@pytest.fixture(params=["embedded", "postgresql+redis"])
def backend(request: pytest.FixtureRequest, var_dir: Path) -> str:
    """The embedded defaults (SQLite, file stores) or production's PostgreSQL with counters and sessions in Redis."""
    if request.param == "embedded":
        request.getfixturevalue("sqlite_database")
    else:
        request.getfixturevalue("postgres_database")
        request.getfixturevalue("redis_url")
    seed_portal_data()
    give_passwords()
    return str(request.param)


@dataclass
class PortalProcess:
    url: str
    process: subprocess.Popen[bytes]

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM")


@contextlib.contextmanager
def portal_process(var_dir: Path, **variables: str) -> Iterator[PortalProcess]:
    """`edocta serve` on a free port with this test's settings (and `variables`), stopped with SIGTERM."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EDOCTA_BASE_URL": f"http://127.0.0.1:{port}", **variables}
    log = (var_dir / "serve.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "serve", "--port", str(port)],
        cwd=var_dir.parent,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    portal = PortalProcess(f"http://127.0.0.1:{port}", process)

    def answers() -> bool:
        try:
            return httpx.get(f"{portal.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return process.poll() is not None  # it died: stop waiting, the assertion below says so

    try:
        wait_for(answers, 60, "the portal to answer")
        assert process.poll() is None, (var_dir / "serve.log").read_text()[-3000:]
        yield portal
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def csrf_token(client: httpx.Client | httpx.AsyncClient, page: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def signed_in_client(url: str, username: str, password: str, local_address: str = "127.0.0.1") -> httpx.Client:
    client = httpx.Client(base_url=url, transport=httpx.HTTPTransport(local_address=local_address), timeout=60)
    token = csrf_token(client, client.get("/login").text)
    response = client.post("/login", data={"_csrf_token": token, "username": username, "password": password})
    assert response.status_code == 303, (response.status_code, response.text[:500])
    assert response.headers["location"] == "/statements"
    return client


@dataclass
class Answer:
    status: int
    retry_after: str | None
    seconds: float


async def post_logins(url: str, forms: list[tuple[dict[str, str], dict[str, str]]]) -> list[Answer]:
    """POST every (form, headers) to /login at once (one connection each), with one page's CSRF token."""
    limits = httpx.Limits(max_connections=len(forms) + 5, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        token = csrf_token(client, (await client.get("/login")).text)

        async def one(form: dict[str, str], headers: dict[str, str]) -> Answer:
            started = time.monotonic()
            response = await client.post("/login", data={"_csrf_token": token, **form}, headers=headers)
            return Answer(response.status_code, response.headers.get("retry-after"), time.monotonic() - started)

        return list(await asyncio.gather(*(one(form, headers) for form, headers in forms)))


def test_a_sign_in_flood_does_not_stall_signed_in_users(backend: str, var_dir: Path) -> None:
    # Each guess comes through the (trusted) local proxy from an address of its own, as 150 people would.
    with portal_process(var_dir, EDOCTA_TRUSTED_PROXIES="127.0.0.1") as portal:
        reader = signed_in_client(portal.url, "alice", PASSWORD)
        assert reader.get(STATEMENT).status_code == 200
        forms = [
            ({"username": f"nadie{n}", "password": "x" * 400}, {"X-Forwarded-For": f"198.51.100.{n + 1}"})
            for n in range(150)
        ]
        flood: list[Answer] = []

        def run_flood() -> None:
            flood.extend(asyncio.run(post_logins(portal.url, forms)))

        thread = threading.Thread(target=run_flood)
        thread.start()
        pages: list[float] = []
        while thread.is_alive() or len(pages) < 10:
            started = time.monotonic()
            response = reader.get(STATEMENT)
            assert response.status_code == 200
            pages.append(time.monotonic() - started)
        thread.join()
        reader.close()
        statuses = [answer.status for answer in flood]
        assert len(flood) == 150
        # Checked (401) as fast as the CPUs allow, or refused with 503 and Retry-After; never a 429 (each address
        # is new), never an error, and no sign-in waits unbounded.
        assert set(statuses) <= {401, 503}, sorted(set(statuses))
        assert statuses.count(401) >= 1
        assert all(answer.retry_after and int(answer.retry_after) > 0 for answer in flood if answer.status == 503)
        assert max(answer.seconds for answer in flood) < 60
        assert statistics.median(pages) < 1.0, pages
        assert portal.peak_rss_mb() < 400


def wrong_passwords_checked(username: str) -> int:
    with session_scope() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(
                    AuditEvent.event == "sign_in_refused",
                    AuditEvent.username == username,
                    AuditEvent.detail.like("%wrong password%"),
                )
            )
            or 0
        )


def test_parallel_guesses_get_the_allowed_handful_checked_and_the_owner_elsewhere_gets_in(
    backend: str, var_dir: Path
) -> None:
    # No trusted proxy (the default): the rotating X-Forwarded-For changes nothing, the guesses are one address's.
    with portal_process(var_dir) as portal:
        forms = [
            ({"username": "alice", "password": f"guess number {n}"}, {"X-Forwarded-For": f"203.0.113.{n % 250 + 1}"})
            for n in range(200)
        ]
        answers = asyncio.run(post_logins(portal.url, forms))
        statuses = [answer.status for answer in answers]
        assert statuses.count(401) == 5
        assert statuses.count(429) == 195
        assert all(
            answer.retry_after and 0 < int(answer.retry_after) <= 900 for answer in answers if answer.status == 429
        )
        assert wrong_passwords_checked("alice") == 5
        # The owner, from another address, signs in; from the guessing address even the right password waits.
        signed_in_client(portal.url, "alice", PASSWORD, local_address="127.0.0.2").close()
        with httpx.Client(base_url=portal.url, timeout=30) as client:
            token = csrf_token(client, client.get("/login").text)
            response = client.post("/login", data={"_csrf_token": token, "username": "alice", "password": PASSWORD})
            assert response.status_code == 429
            assert "Demasiados intentos de inicio de sesión" in response.text
        assert wrong_passwords_checked("alice") == 5


async def get_all(url: str, cookies: httpx.Cookies, paths: list[str]) -> list[httpx.Response]:
    # A connection per request: under load a request sent on a kept-alive connection as uvicorn closes it after its
    # idle timeout gets no answer at all, a transport race that is not what these floods test.
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, cookies=cookies, limits=limits, timeout=120) as client:
        return list(await asyncio.gather(*(client.get(path) for path in paths)))


def test_one_user_asking_for_300_pdfs_gets_a_few_prepared_and_the_rest_refused(backend: str, var_dir: Path) -> None:
    from shared.render import render_on_demand

    with portal_process(var_dir) as portal:
        client = signed_in_client(portal.url, "alice", PASSWORD)
        cutoffs = [CUTOFF - dt.timedelta(days=n) for n in range(300)]
        answers = asyncio.run(
            get_all(portal.url, client.cookies, [f"/statements/1000/100001/{day.isoformat()}.pdf" for day in cutoffs])
        )
        statuses = [answer.status_code for answer in answers]
        assert statuses.count(202) == 3 and statuses.count(429) == 297, sorted(set(statuses))
        refused = next(answer for answer in answers if answer.status_code == 429)
        assert int(refused.headers["retry-after"]) > 0
        assert "Ya tienes 3 archivos en preparación" in refused.text
        assert (queue_lengths() or {}).get("on_demand") == 3  # only the three were asked of a worker
        # Asking again for a file in preparation is no new request; a fourth file still waits its turn.
        preparing = [day for day, answer in zip(cutoffs, answers, strict=True) if answer.status_code == 202]
        assert client.get(f"/statements/1000/100001/{preparing[0].isoformat()}.pdf").status_code == 202
        waiting = next(day for day in cutoffs if day not in preparing)
        assert client.get(f"/statements/1000/100001/{waiting.isoformat()}.pdf").status_code == 429
        # A worker finishes one of them (as the on_demand task does): a slot is free again.
        alice = user_row("alice")
        render_on_demand("1000", "100001", preparing[0], "pdf", "es", user_id=alice.id)
        assert client.get(f"/statements/1000/100001/{preparing[0].isoformat()}.pdf").status_code == 200
        assert client.get(f"/statements/1000/100001/{waiting.isoformat()}.pdf").status_code == 202
        client.close()
