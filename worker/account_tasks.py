"""Account emails, sent by a worker so a web answer never depends on whether a user exists.

Thin adapters over `shared.accounts`. A transient mail failure (SMTP 4xx, connection refused) is retried with
growing delays; a permanent one (5xx) is logged and not retried. A retried invitation or reset issues a fresh
temporary password, voiding the one whose email may not have arrived.
"""

from __future__ import annotations

import logging
from typing import Any

from shared import accounts
from shared.mail import TransientMailError
from shared.tasks import HARD_TIME_LIMITS
from shared.vocab import Task
from worker.celery_app import app

log = logging.getLogger(__name__)


def _options(name: str) -> dict[str, Any]:
    hard = HARD_TIME_LIMITS[name]
    return {
        "name": name,
        "time_limit": hard,
        "soft_time_limit": max(hard - 30, hard * 0.8),
        "acks_late": True,
        "autoretry_for": (TransientMailError, ConnectionError, TimeoutError),
        "retry_backoff": 30,
        "retry_backoff_max": 30 * 60,
        "retry_jitter": True,
        "max_retries": 8,
    }


@app.task(**_options(Task.SEND_INVITATION))
def send_invitation(user_id: int) -> bool:
    return accounts.send_invitation(int(user_id))


@app.task(**_options(Task.SEND_PASSWORD_RESET))
def send_password_reset(username: str) -> None:
    # Returns nothing: whether the user exists is not written to the result backend or the task log.
    accounts.send_password_reset(str(username)[:150])


@app.task(**_options(Task.SEND_PASSWORD_CHANGED))
def send_password_changed(user_id: int) -> bool:
    return accounts.send_password_changed(int(user_id))
