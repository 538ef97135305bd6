"""`edocta db upgrade`, `edocta import` and `edocta statement`: the schema, the ERP's data, one statement."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from shared.cli.base import UserError, parse_date


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations (Alembic)."""
    from shared.migrate import upgrade

    upgrade()
    click.echo("database is up to date")


@click.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--replace-open-items", is_flag=True, help="Open items become a snapshot per company in the file.")
def import_command(path: Path, replace_open_items: bool) -> None:
    """Load ERP exports: a folder of CSV files or one XLSX workbook (contract §1)."""
    from shared.feed import run_import, who_runs_this
    from shared.ingest import ImportFailed
    from shared.vocab import ImportSource

    try:
        report = run_import(
            path, source=ImportSource.CLI, started_by=who_runs_this(), batch=str(path), replace=replace_open_items
        )
    except ImportFailed as failure:
        for error in failure.errors:
            click.echo(error, err=True)
        click.echo(f"import failed: {len(failure.errors)} error(s), nothing was written", err=True)
        sys.exit(2)
    for line in report.lines():
        click.echo(line)
    for note in report.notes:
        click.echo(note, err=True)


@click.command("imports")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--failed", is_flag=True, help="Only the imports that failed.")
def imports_command(limit: int, failed: bool) -> None:
    """The import history: when, who or what, the files with their counts, the outcome (contract §11)."""
    from shared.clock import local_minute
    from shared.db import session_scope
    from shared.feed import list_imports
    from shared.vocab import ImportStatus

    with session_scope() as session:
        records = list_imports(session, limit=limit, status=ImportStatus.FAILED if failed else None)
        if not records:
            click.echo("no imports recorded")
        for record in records:
            replace = " --replace-open-items" if record.replace_open_items else ""
            who = f"{record.source} ({record.started_by})" if record.started_by else record.source
            click.echo(f"#{record.id} {local_minute(record.created_at)} {record.status} {who}: {record.batch}{replace}")
            if record.phase:
                click.echo(f"    {record.phase}")
            for counts in record.files:
                click.echo(
                    f"    {counts['name']}: {counts['inserted']} inserted, {counts['updated']} updated, "
                    f"{counts['unchanged']} unchanged, {counts['deleted']} deleted"
                )
            for line in record.errors.splitlines()[:10]:
                click.echo(f"    {line}")
            if record.error_count > 10:
                click.echo(f"    … {record.error_count - 10} more error(s)")


@click.command("statement")
@click.argument("company")
@click.argument("customer")
@click.option("--cutoff", help="Cut-off date, YYYY-MM-DD: the open items at that date.")
@click.option("--from", "start", help="First day of an activity statement, YYYY-MM-DD (with --to).")
@click.option("--to", "end", help="Last day of an activity statement, YYYY-MM-DD (with --from).")
@click.option("--format", "fmt", type=click.Choice(["json", "html", "xlsx", "pdf"]), default="json", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to FILE instead of stdout.")
def statement_command(
    company: str, customer: str, cutoff: str | None, start: str | None, end: str | None, fmt: str, output: Path | None
) -> None:
    """One statement, to stdout or a file: open items at --cutoff (contract §3), or the activity of the period
    --from/--to (contract §7)."""
    from shared.db import session_scope
    from shared.i18n import gettext
    from shared.render import render_statement
    from shared.statements import ActivityPeriodError, StatementNotFound, load_activity, load_statement

    activity = start is not None or end is not None
    if activity and cutoff is not None:
        raise UserError("--cutoff and --from/--to exclude each other")
    if activity and (start is None or end is None):
        raise UserError("an activity statement needs both --from and --to")
    if not activity and cutoff is None:
        raise UserError("give --cutoff D, or --from F --to T for an activity statement")
    try:
        with session_scope() as session:
            if start is not None and end is not None:
                first, last = parse_date(start, "--from"), parse_date(end, "--to")
                statement: Any = load_activity(session, company, customer, first, last)
            else:
                statement = load_statement(session, company, customer, parse_date(cutoff or "", "--cutoff"))
    except StatementNotFound:
        raise UserError(f"no statement for company {company!r} and customer {customer!r}") from None
    except ActivityPeriodError as error:
        raise UserError(gettext(error.message, "en") % error.params) from None
    data = render_statement(statement, fmt)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        output.write_bytes(data)
        click.echo(f"wrote {output}", err=True)
