"""Email addresses: validated (syntax only) and normalized before they are stored or used."""

from __future__ import annotations

import re
from functools import lru_cache

import email_validator

from shared.i18n import N_, TranslatableError

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class InvalidEmail(TranslatableError):
    """An email address that cannot be used as a recipient or sender: a message id and the address (`message`
    shows it in a page's language); `str()` adds the validator's own English reason, for import reports."""


def validate_email(address: str) -> str:
    """Return the normalized form of `address`, or raise InvalidEmail with a reason a person can read.

    Only the syntax is checked (no DNS lookup). Control characters (CR, LF, tabs...) are refused outright, so
    an address can never carry an extra header into a message.
    """
    if not isinstance(address, str):
        raise InvalidEmail(N_("El correo debe ser texto."))
    if CONTROL_CHARACTERS.search(address):
        raise InvalidEmail(
            N_("%(address)s no es un correo válido: tiene un salto de línea o un carácter de control."),
            address=repr(address),
        )
    candidate = address.strip()
    if not candidate:
        raise InvalidEmail(N_("Falta el correo."))
    return _normalized(candidate)


@lru_cache(maxsize=4096)
def _normalized(candidate: str) -> str:
    """The validator's normal form of an address, kept for the addresses seen most recently (every statement email
    checks its recipient and reply-to address again; an import checks each customer's). A refusal is not kept. The
    validator's module-wide options are its defaults (nothing here changes them), so a kept answer stays right."""
    try:
        result = email_validator.validate_email(candidate, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        raise InvalidEmail(
            N_("%(address)s no es un correo válido (se espera nombre@dominio)."),
            detail=str(exc),
            address=repr(candidate),
        ) from None
    return str(result.normalized)
