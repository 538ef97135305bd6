"""The worker's main process, before its pool forks: what its processes inherit."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.servers import ROOT

# The worker module imported (as beat and `celery inspect` import it), then the signal a worker sends before its
# pool starts: which drivers are imported after each.
IMPORTED = """
import sys
from celery import signals
import worker.celery_app
drivers = lambda: [name for name in ('psycopg', 'sqlite3') if name in sys.modules]
print(drivers())
signals.worker_init.send(sender=None)
print(drivers())
"""


@pytest.mark.parametrize(
    ("url", "imported"),
    [
        ("postgresql+psycopg://postgres@127.0.0.1:5432/edocta", ["[]", "['psycopg']"]),
        ("sqlite:///var/edocta.db", ["[]", "['sqlite3']"]),
        ("nosuchdb://x", ["[]", "[]"]),  # a bad URL: the worker still starts; its first task says what is wrong
    ],
)
def test_the_database_driver_is_imported_before_the_pool_forks(url: str, imported: list[str]) -> None:
    # Each pool process imported psycopg on its first task (~0.4 s of CPU, again whenever a process is replaced).
    environment = {**os.environ, "EDOCTA_DATABASE_URL": url}
    result = subprocess.run(
        [sys.executable, "-c", IMPORTED], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == imported
