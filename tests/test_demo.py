"""`edocta demo` on embedded defaults: no service, one command, every statement mailed to var/outbox/."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path


def test_demo_runs_the_main_job_with_no_service(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDOCTA_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "demo", "--no-serve", "--customers", "12"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "0 failed" in done.stdout
    var = tmp_path / "var"
    assert (var / "edocta.sqlite3").exists()
    # The demo data came through the drop folder, as an ERP's batches do.
    assert f"drop folder: {(var / 'import').resolve()}/" in done.stdout
    processed = list((var / "import" / "processed").iterdir())
    assert len(processed) == 1 and processed[0].name.split("-", 1)[1].startswith("demo-")
    assert (processed[0] / "report.txt").read_text().startswith("companies.csv: ")
    assert list((var / "import" / "incoming").iterdir()) == []

    # Every customer with lines at last month's cut-off and an address got an email with its files attached.
    emails = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in (var / "outbox").glob("*.eml")]
    statements = [m for m in emails if m.get_content_maintype() == "multipart" and "estado-de-cuenta" in str(m)]
    assert statements, done.stdout[-2000:]
    with (var / "demo-data" / "customers.csv").open(encoding="utf-8") as handle:
        addresses = {a for row in csv.DictReader(handle) for a in row["statement_emails"].split(";") if a}
    for message in statements:
        assert str(message["To"]) in addresses
        names = [part.get_filename() for part in message.iter_attachments()]
        assert names and all(n.startswith("estado-de-cuenta_") for n in names)
        for part in message.iter_attachments():
            payload = part.get_content()
            if part.get_filename().endswith(".pdf"):
                assert payload.startswith(b"%PDF")
    # One email per recipient and statement: no duplicates.
    keys = [(str(m["To"]), str(m["Subject"])) for m in statements]
    assert len(keys) == len(set(keys))
    assert any((var / "statements").rglob("*.pdf"))
