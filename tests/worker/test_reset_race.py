"""Simultaneous reset requests (issue 8.5): six processes, as six worker processes would, each handle a
`/password/forgot` for the same user at the same moment. Exactly one email goes out, and its password works."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shared import accounts
from shared.db import session_scope
from shared.models import AuditEvent
from tests.factories import create_test_user
from tests.servers import ROOT, emails_to, service_environment
from tests.web.test_auth import temporary_password_in

pytestmark = pytest.mark.slow
PROCESSES = 6
AT_ONCE = """
import sys, time
from shared.accounts import send_password_reset
start = float(sys.argv[1])
time.sleep(max(0.0, start - time.time()))
print(send_password_reset(sys.argv[2]))
"""


def test_six_simultaneous_reset_requests_send_exactly_one_email_whose_password_works(
    database: str, var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = service_environment(monkeypatch, var_dir, EDOCTA_DATABASE_URL=database)
    user = create_test_user()
    start = time.time() + 6  # every process imported and waiting before the moment comes
    children = [
        subprocess.Popen(
            [sys.executable, "-c", AT_ONCE, str(start), user.username],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    results = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err[-2000:]
        results.append(out.strip())
    assert sorted(results) == ["False"] * (PROCESSES - 1) + ["True"]

    (email,) = emails_to(var_dir, user.email)
    temporary = temporary_password_in(email)
    with session_scope() as session:
        signed = accounts.authenticate(session, user.username, temporary)
        assert signed is not None and signed.must_change
        counts = select(AuditEvent.event, func.count()).where(AuditEvent.event.like("reset_%"))
        events = dict(session.execute(counts.group_by(AuditEvent.event)).all())
    assert events == {"reset_issued": 1, "reset_sent": 1, "reset_throttled": PROCESSES - 1}
    # The owner's own password still works too: nothing changed until the temporary one is used.
    with session_scope() as session:
        assert accounts.authenticate(session, user.username, user.password) is not None
