"""The wheel that installs edocta holds the application and nothing else: the top-level shared/, web/ and worker/
packages with their templates, static files, data files and migrations, and beat_schedule.py; no tests, no
benchmarks (whose folders have the same names further down)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("shared", "web", "worker")


def build_wheel(folder: Path) -> Path:
    """Build the wheel as `uv build` would, with the hatchling of this environment (no network)."""
    built = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = folder.glob("edocta-*.whl")
    return wheel


def test_the_wheel_holds_exactly_the_application(tmp_path: Path) -> None:
    with zipfile.ZipFile(build_wheel(tmp_path)) as wheel:
        names = set(wheel.namelist())
    metadata = {name.split("/")[0] for name in names if name.split("/")[0].endswith(".dist-info")}
    assert len(metadata) == 1 and next(iter(metadata)).startswith("edocta-"), metadata
    application = {name for name in names if name.split("/")[0] not in metadata}
    assert {name.split("/")[0] for name in application} == {"shared", "web", "worker", "beat_schedule.py"}

    # Every file of the packages, code and data alike, and nothing that Python writes at run time.
    on_disk = {
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    assert application == on_disk | {"beat_schedule.py"}
    for expected in (
        "web/templates/base.html.j2",
        "web/static/app.css",
        "shared/render/templates/statement/document.html.j2",
        "shared/render/static/statement.css",
        "shared/mail/templates/statement.txt.j2",
        "shared/accounts/common_passwords.txt",
        "shared/migrations/env.py",
        "shared/migrations/script.py.mako",
    ):
        assert expected in application, expected
    assert any(name.startswith("shared/migrations/versions/") and name.endswith(".py") for name in application)
