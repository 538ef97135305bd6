"""The portal as a person uses it: real processes (`edocta serve`, `edocta worker`) on embedded defaults,
driven by Playwright in the system Chromium."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import ROOT, Portal, free_port

CHROMIUM = os.environ.get("EDOCTA_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _start(root: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    log = (root / f"{args[0]}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "shared.cli", *args],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.fixture(scope="session")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    """A migrated SQLite database with generated data, a worker and the web server, as separate processes."""
    root = tmp_path_factory.mktemp("portal")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDOCTA_")}
    env.update(
        {
            "EDOCTA_VAR_DIR": str(root / "var"),
            "EDOCTA_BASE_URL": f"http://127.0.0.1:{port}",
            "EDOCTA_SECRET_KEY": "e2e-secret-key",
            "PYTHONPATH": str(ROOT),
        }
    )
    portal = Portal(url=f"http://127.0.0.1:{port}", root=root, env=env)
    data = root / "data"
    setup = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from shared.clock import today; "
            "from shared.cli.demo_data import write_demo_data; "
            "write_demo_data(Path(sys.argv[1]), customers=30, anchor=today())",
            str(data),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert setup.returncode == 0, setup.stderr
    for args in (("db", "upgrade"), ("import", str(data))):
        done = portal.edocta(*args)
        assert done.returncode == 0, done.stderr
    processes = [_start(root, env, "worker", "--concurrency", "1"), _start(root, env, "serve", "--port", str(port))]
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{portal.url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the portal did not start: " + (root / "serve.log").read_text()[-3000:])
        time.sleep(0.3)
    yield portal
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Module-scoped: Playwright's sync API keeps an event loop running in this thread while it is open, which
    later tests that run their own loop (asyncio.run) must not find."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
