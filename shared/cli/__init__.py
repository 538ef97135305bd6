"""The `edocta` command line (contract section 4), above the domain: each command parses, calls one service and
reports. It may start the portal (`web`) and the worker (`worker`) as processes; nothing in the domain does.

Exit status: 0 on success, 2 on bad input with a one-line reason (never a traceback for a user's mistake).
"""

from __future__ import annotations

import click

from shared.cli.base import UserError, parse_date
from shared.cli.data import db, import_command, imports_command, statement_command
from shared.cli.processes import beat_command, demo_command, serve_command, worker_command
from shared.cli.runs import run_command, runs_command
from shared.cli.users import users
from shared.settings import restrict_file_modes


@click.group()
def main() -> None:
    """edocta: accounts-receivable statements by email, and the customer portal."""
    restrict_file_modes()


for command in (
    db,
    import_command,
    imports_command,
    statement_command,
    users,
    run_command,
    runs_command,
    serve_command,
    worker_command,
    beat_command,
    demo_command,
):
    main.add_command(command)

__all__ = ["UserError", "main", "parse_date"]
