"""The `edocta` command line (contract §4). Each command parses, calls one service, and reports.

Exit status: 0 on success, 2 on bad input with a one-line reason (never a traceback for a user's mistake).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import click

from shared.settings import get_settings


class UserError(click.ClickException):
    """A user's mistake: one line on stderr, exit status 2."""

    exit_code = 2


def parse_date(value: str, what: str = "date") -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{what} must be YYYY-MM-DD, got {value!r}") from None


@click.group()
def main() -> None:
    """edocta: accounts-receivable statements by email, and the customer portal."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations (Alembic)."""
    from shared.migrate import upgrade

    upgrade()
    click.echo("database is up to date")


@main.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--replace-open-items", is_flag=True, help="Open items become a snapshot per company in the file.")
def import_command(path: Path, replace_open_items: bool) -> None:
    """Load ERP exports: a folder of CSV files or one XLSX workbook (contract §1)."""
    from shared.importer import ImportFailed, import_path

    try:
        report = import_path(path, replace_open_items=replace_open_items)
    except ImportFailed as failure:
        for error in failure.errors:
            click.echo(error, err=True)
        click.echo(f"import failed: {len(failure.errors)} error(s), nothing was written", err=True)
        sys.exit(2)
    for line in report.lines():
        click.echo(line)
    for note in report.notes:
        click.echo(note, err=True)


@main.command("statement")
@click.argument("company")
@click.argument("customer")
@click.option("--cutoff", required=True, help="Cut-off date, YYYY-MM-DD.")
@click.option("--format", "fmt", type=click.Choice(["json", "html", "xlsx", "pdf"]), default="json", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to FILE instead of stdout.")
def statement_command(company: str, customer: str, cutoff: str, fmt: str, output: Path | None) -> None:
    """One statement, to stdout or a file (contract §3)."""
    from shared.db import session_scope
    from shared.render import render_statement
    from shared.statement import StatementNotFound, load_statement

    cutoff_date = parse_date(cutoff, "--cutoff")
    try:
        with session_scope() as session:
            statement = load_statement(session, company, customer, cutoff_date)
    except StatementNotFound:
        raise UserError(f"no statement for company {company!r} and customer {customer!r}") from None
    data = render_statement(statement, fmt)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        output.write_bytes(data)
        click.echo(f"wrote {output}", err=True)


@main.group()
def users() -> None:
    """Portal users."""


@users.command("add")
@click.argument("username")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(["customer", "staff", "admin"]), default="customer", show_default=True)
@click.option("--customers", default="", help="Customer numbers, `;`-separated (customer users).")
@click.option("--language", type=click.Choice(["es", "en"]), default="es", show_default=True)
@click.option("--full-name", default="")
def users_add(username: str, email: str, role: str, customers: str, language: str, full_name: str) -> None:
    """Create a user and email the invitation."""
    from shared.accounts import AccountError, create_user_and_invite

    try:
        create_user_and_invite(
            username=username,
            email=email,
            role=role,
            customer_numbers=[c.strip() for c in customers.split(";") if c.strip()],
            language=language,
            full_name=full_name,
        )
    except AccountError as error:
        raise UserError(str(error)) from None
    click.echo(f"user {username} created; invitation sent to {email}")


@users.command("disable")
@click.argument("username")
def users_disable(username: str) -> None:
    """Disable a user (takes effect on their next request)."""
    from shared.accounts import AccountError, disable_user

    try:
        disable_user(username)
    except AccountError as error:
        raise UserError(str(error)) from None
    click.echo(f"user {username} disabled")


@users.command("grant")
@click.argument("username")
@click.argument("customers")
def users_grant(username: str, customers: str) -> None:
    """Let a customer user see these customers (`;`-separated numbers)."""
    from shared.accounts import AccountError, grant_customers

    try:
        grant_customers(username, [c.strip() for c in customers.split(";") if c.strip()])
    except AccountError as error:
        raise UserError(str(error)) from None
    click.echo(f"granted {customers} to {username}")


@users.command("revoke")
@click.argument("username")
@click.argument("customers")
def users_revoke(username: str, customers: str) -> None:
    """Remove grants (`;`-separated customer numbers); effective at once."""
    from shared.accounts import AccountError, revoke_customers

    try:
        revoke_customers(username, [c.strip() for c in customers.split(";") if c.strip()])
    except AccountError as error:
        raise UserError(str(error)) from None
    click.echo(f"revoked {customers} from {username}")


@main.command("run")
@click.option("--cutoff", required=True, help="Cut-off date, YYYY-MM-DD.")
@click.option("--company", default=None, help="Only this company's accounts.")
@click.option("--wait", is_flag=True, help="Show progress until the run is done.")
def run_command(cutoff: str, company: str | None, wait: bool) -> None:
    """Start a statement-mailing run now (what beat does on schedule)."""
    from shared.runs import RunError, start_run, watch_run

    cutoff_date = parse_date(cutoff, "--cutoff")
    try:
        run_id = start_run(cutoff_date, company_code=company, trigger="cli")
    except RunError as error:
        raise UserError(str(error)) from None
    click.echo(f"run {run_id} started for cut-off {cutoff_date.isoformat()}")
    if wait:
        ok = watch_run(run_id)
        if not ok:
            sys.exit(1)


@main.command("runs")
@click.argument("action", required=False, type=click.Choice(["show"]))
@click.argument("run_id", required=False, type=int)
def runs_command(action: str | None, run_id: int | None) -> None:
    """List runs, or `runs show ID` for one run's progress and failures."""
    from shared.runs import describe_run, list_runs_table

    if action == "show":
        if run_id is None:
            raise UserError("usage: edocta runs show ID")
        text = describe_run(run_id)
        if text is None:
            raise UserError(f"no run {run_id}")
        click.echo(text)
    else:
        click.echo(list_runs_table())


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve_command(host: str, port: int, workers: int) -> None:
    """Serve the portal (uvicorn)."""
    import uvicorn

    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_level="info",
    )


def _celery(*args: str) -> None:
    settings = get_settings()
    settings.broker_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "celery", "-A", "worker.celery_app", *args]
    os.execv(sys.executable, command)  # noqa: S606 (replace this process with celery)


@main.command("worker", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--queues", "-Q", default="render,render_large,mail,celery", show_default=True)
@click.option("--concurrency", "-c", default=None, type=int)
@click.pass_context
def worker_command(ctx: click.Context, queues: str, concurrency: int | None) -> None:
    """A Celery worker (extra options go to `celery worker`)."""
    args = ["worker", "-Q", queues, "--loglevel", "INFO", "-E"]
    if concurrency:
        args += ["-c", str(concurrency)]
    _celery(*args, *ctx.args)


@main.command("beat", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def beat_command(ctx: click.Context) -> None:
    """The scheduler: run exactly one."""
    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    _celery("beat", "--loglevel", "INFO", "-s", str(settings.var_dir / "celerybeat-schedule"), *ctx.args)


@main.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Stop after the first run instead of serving the portal.")
@click.option("--customers", default=200, show_default=True, type=click.IntRange(10, 100_000), help="Demo data size.")
def demo_command(host: str, port: int, no_serve: bool, customers: int) -> None:
    """The main job on embedded defaults: migrate, demo data, one run, then portal + worker + beat."""
    from shared.demo import run_demo

    run_demo(host=host, port=port, serve=not no_serve, customers=customers)


if __name__ == "__main__":  # pragma: no cover
    main()
