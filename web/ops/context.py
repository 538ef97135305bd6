"""What the ops pages share: the words for states (catalogue msgids), the links of a paginated list, and the
sentence that says what a run at a cut-off finds already mailed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from litestar import Request

from shared.clock import local_date
from shared.i18n import N_, format_date, gettext
from shared.runs import Mailed
from shared.vocab import EmailStatus, RunAccountOutcome, RunStatus

PAGE_SIZE = 50

RUN_STATUS_LABELS: dict[str, str] = {
    RunStatus.RUNNING: N_("en curso"),
    RunStatus.DONE: N_("terminada"),
    RunStatus.FAILED: N_("con fallas"),
    RunStatus.CANCELLED: N_("cancelada"),
}
OUTCOME_LABELS: dict[str, str] = {
    RunAccountOutcome.PENDING: N_("en espera"),
    RunAccountOutcome.SENDING: N_("enviando"),
    RunAccountOutcome.SENT: N_("enviado"),
    RunAccountOutcome.NO_LINES: N_("sin movimientos"),
    RunAccountOutcome.NO_RECIPIENTS: N_("sin destinatarios"),
    RunAccountOutcome.FAILED: N_("con falla"),
    RunAccountOutcome.CANCELLED: N_("cancelada"),
}
EMAIL_STATUS_LABELS: dict[str, str] = {
    EmailStatus.PENDING: N_("en cola"),
    EmailStatus.SENDING: N_("enviándose"),
    EmailStatus.SENT: N_("enviado"),
    EmailStatus.FAILED: N_("fallido"),
    EmailStatus.CANCELLED: N_("cancelado"),
}


def page_number(text: str) -> int:
    """A `page=` query value as a page number (1 when absent or not a number)."""
    return int(text) if text.isdigit() and 0 < len(text) < 7 else 1


def page_links(request: Request[Any, Any, Any]) -> Callable[[int], str]:
    """`link(n)`: this page's URL with its filters and `page=n`."""
    kept = [(name, value) for name, value in request.query_params.multi_items() if name != "page" and value]

    def link(number: int) -> str:
        return f"{request.url.path}?{urlencode([*kept, ('page', str(number))])}"

    return link


def _day(moment: Any, language: str) -> str:
    return format_date(local_date(moment), language, "long")


def mailed_note(mailed: Mailed, language: str) -> str:
    """ "0 to send: all 267 were sent on …" when every account was already mailed at that cut-off, how many were
    when some were, "" when none was."""
    if not mailed.mailed or mailed.last_sent_at is None or mailed.first_sent_at is None:
        return ""
    first, last = _day(mailed.first_sent_at, language), _day(mailed.last_sent_at, language)
    if mailed.all_mailed and first == last:
        text = gettext("0 por enviar: las %(count)s cuentas ya se enviaron el %(date)s.", language)
        return text % {"count": mailed.accounts, "date": last}
    if mailed.all_mailed:
        text = gettext("0 por enviar: las %(count)s cuentas ya se enviaron entre el %(first)s y el %(last)s.", language)
        return text % {"count": mailed.accounts, "first": first, "last": last}
    text = gettext(
        "%(mailed)s de %(count)s cuentas ya se enviaron (el último envío, el %(date)s); no se envían otra vez.",
        language,
    )
    return text % {"mailed": mailed.mailed, "count": mailed.accounts, "date": last}
