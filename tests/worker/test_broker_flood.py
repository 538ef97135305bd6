"""The embedded broker under a flood (issue 8.1): hundreds of concurrent `/password/forgot` POSTs against the
real portal (`edocta serve`) and worker (`edocta worker`) on the filesystem broker. The worker stays alive and
takes every message whole; a message file that cannot be read is set aside, never fatal."""

from __future__ import annotations

import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from shared.db import session_scope
from shared.models import AuditEvent
from shared.tasks import send_task
from shared.vocab import Task
from tests.factories import create_test_user
from tests.portal import hidden_inputs
from tests.servers import Process, free_port, service_environment, wait_for

pytestmark = pytest.mark.slow
EDOCTA = str(Path(sys.executable).parent / "edocta")
FLOOD_REQUESTS = 240
FLOOD_CONCURRENCY = 30


def _forgot(base_url: str, username: str) -> int:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        # The form's page on a connection of its own: on a loaded machine the POST may follow more than uvicorn's
        # keep-alive timeout later, and a request sent as the server closes an idle connection gets no answer.
        page = client.get("/password/forgot", headers={"Connection": "close"})
        posted = client.post("/password/forgot", data={**hidden_inputs(page.text), "username": username})
        return posted.status_code


def _received(log: str) -> int:
    return len(re.findall(r"Task edocta\.accounts\.send_password_reset\[[0-9a-f-]+\] received", log))


def _reset_events() -> int:
    with session_scope() as session:
        count = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.event.like("reset_%")))
    return int(count or 0)


def test_a_forgot_password_flood_leaves_the_worker_running_and_every_message_taken_whole(
    sqlite_database: str, var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = service_environment(monkeypatch, var_dir, EDOCTA_DATABASE_URL=sqlite_database, EDOCTA_BASE_URL=base_url)
    user = create_test_user()
    worker = Process([EDOCTA, "worker", "-c", "2"], env, var_dir / "edocta-worker.log").start()
    web = Process([EDOCTA, "serve", "--port", str(port)], env, var_dir / "edocta-serve.log").start()
    try:
        worker.wait_ready()

        def answers() -> bool:
            try:
                return httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(answers, 60, "the portal to answer")

        names = [user.username if n % 4 == 0 else f"nobody-{n}" for n in range(FLOOD_REQUESTS)]
        with ThreadPoolExecutor(FLOOD_CONCURRENCY) as pool:
            statuses = list(pool.map(lambda name: _forgot(base_url, name), names))
        assert statuses == [303] * FLOOD_REQUESTS

        messages = var_dir / "broker" / "messages"
        wait_for(lambda: _received(worker.log()) >= FLOOD_REQUESTS, 120, "the worker to take every message")
        assert not list(messages.glob("*.msg"))
        assert worker.process is not None and worker.process.poll() is None, worker.log()[-3000:]
        assert "Unrecoverable error" not in worker.log()
        assert "JSONDecodeError" not in worker.log()
        assert not (var_dir / "broker" / "broken").exists()
        # No temporary file is left behind: every message was renamed into place whole.
        assert not [p for p in messages.iterdir() if p.name.startswith(".")]
        # The requests within the per-address allowance are answered at once (the rest wait their countdown).
        wait_for(lambda: _reset_events() >= 10, 60, "the first resets to be processed")

        # A damaged message file (empty for a while, or not JSON) is moved aside; the next message is processed.
        (messages / f"{int(time.monotonic() * 1000) - 10}_damaged.mail.msg").write_bytes(b'{"body": "trunc')
        empty = messages / f"{int(time.monotonic() * 1000) - 5}_empty.mail.msg"
        empty.write_bytes(b"")
        (messages / f"{int(time.monotonic() * 1000) - 3}_not-a-message.mail.msg").write_bytes(b'["json", "but no"]')
        os.utime(empty, (time.time() - 60, time.time() - 60))
        before = _reset_events()
        send_task(Task.SEND_PASSWORD_RESET, args=["someone-else"])
        wait_for(lambda: _reset_events() > before, 60, "the message after the damaged ones")
        broken = var_dir / "broker" / "broken"
        wait_for(lambda: len(list(broken.glob("*.msg"))) == 3, 10, "the damaged messages to be set aside")
        assert worker.process.poll() is None
        assert "could not be read" in worker.log()
    finally:
        web.stop()
        worker.stop()
