"""The long-running processes: `edocta serve` (the portal), `edocta worker`, `edocta beat` (exactly one) and
`edocta demo`, which runs all three on embedded defaults."""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit

import click

from shared.cli.base import UserError
from shared.cli.signals import stop_on_signals
from shared.settings import Settings, get_settings
from shared.vocab import QUEUES


def refuse_unless_embedded(settings: Settings) -> None:
    """The demo resets the demo users' passwords and mails every customer: only on the embedded SQLite database
    under var/ and the .eml outbox folder, never on a database or mail server someone else uses."""
    embedded = f"sqlite:///{settings.var_dir / 'edocta.sqlite3'}"
    problems = []
    if settings.database_url != embedded:
        problems.append(f"EDOCTA_DATABASE_URL ({urlsplit(settings.database_url).scheme}:…)")
    if settings.smtp_url:
        problems.append(f"EDOCTA_SMTP_URL ({urlsplit(settings.smtp_url).scheme}:…)")
    if problems:
        raise UserError(
            "edocta demo runs only on the embedded SQLite database and the .eml outbox; unset " + " and ".join(problems)
        )


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve_command(host: str, port: int, workers: int) -> None:
    """Serve the portal (uvicorn)."""
    import uvicorn
    from uvicorn.supervisors import multiprocess

    # With several workers uvicorn's supervisor restarts them on SIGHUP; here SIGHUP stops them, as SIGTERM does.
    multiprocess.Multiprocess.handle_hup = multiprocess.Multiprocess.handle_term  # type: ignore[method-assign]

    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # The portal itself reads forwarded headers, only from EDOCTA_TRUSTED_PROXIES (web/client.py); uvicorn's
        # own reading would believe any local peer.
        proxy_headers=False,
        log_level="info",
    )


def _celery(*args: str) -> None:
    settings = get_settings()
    settings.broker_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "celery", "-A", "worker.celery_app", *args]
    os.execv(sys.executable, command)  # noqa: S606 (replace this process with celery)


@click.command("worker", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--queues", "-Q", default=",".join(QUEUES), show_default=True)
@click.option("--concurrency", "-c", default=None, type=int)
@click.pass_context
def worker_command(ctx: click.Context, queues: str, concurrency: int | None) -> None:
    """A Celery worker (extra options go to `celery worker`)."""
    args = ["worker", "-Q", queues, "--loglevel", "INFO", "-E"]
    if concurrency:
        args += ["-c", str(concurrency)]
    _celery(*args, *ctx.args)


@click.command("beat", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def beat_command(ctx: click.Context) -> None:
    """The scheduler: run exactly one."""
    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    _celery("beat", "--loglevel", "INFO", "-s", str(settings.var_dir / "celerybeat-schedule"), *ctx.args)


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Stop after the first run instead of serving the portal.")
@click.option("--customers", default=200, show_default=True, type=click.IntRange(10, 100_000), help="Demo data size.")
def demo_command(host: str, port: int, no_serve: bool, customers: int) -> None:
    """The main job on embedded defaults: migrate, demo data, one run, then portal + worker + beat."""
    from shared.cli.demo import run_demo

    refuse_unless_embedded(get_settings())
    with stop_on_signals():
        run_demo(host=host, port=port, serve=not no_serve, customers=customers)
