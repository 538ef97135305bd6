"""Email addresses: validated (syntax only) and normalized before they are stored or used."""

from __future__ import annotations

import re

import email_validator

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class InvalidEmail(ValueError):
    """An email address that cannot be used as a recipient or sender."""


def validate_email(address: str) -> str:
    """Return the normalized form of `address`, or raise InvalidEmail with a reason a person can read.

    Only the syntax is checked (no DNS lookup). Control characters (CR, LF, tabs...) are refused outright, so
    an address can never carry an extra header into a message.
    """
    if not isinstance(address, str):
        raise InvalidEmail("the email address must be text")
    if CONTROL_CHARACTERS.search(address):
        raise InvalidEmail(f"{address!r} is not a valid email address: it contains a line break or control character")
    candidate = address.strip()
    if not candidate:
        raise InvalidEmail("the email address is empty")
    try:
        result = email_validator.validate_email(candidate, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        raise InvalidEmail(f"{candidate!r} is not a valid email address: {exc}") from None
    return str(result.normalized)
