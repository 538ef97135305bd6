"""Building an email safely: validated addresses, no line breaks in headers, attachments by content type."""

from __future__ import annotations

import datetime as dt
import email.policy
import re
from collections.abc import Iterable, Sequence
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr

from shared.mail.addresses import CONTROL_CHARACTERS, validate_email
from shared.settings import get_settings


class InvalidMessage(ValueError):
    """A message that cannot be built safely (a line break in the subject, a bad attachment name...)."""


Attachment = tuple[str, bytes, str]


def _refuse_line_breaks(value: str, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidMessage(f"the {what} must be text")
    if CONTROL_CHARACTERS.search(value.replace("\t", " ")):
        raise InvalidMessage(f"the {what} may not contain line breaks or control characters: {value!r}")
    return value


def _sender() -> str:
    """The From address of `EDOCTA_FROM_EMAIL` (a bare address or `Name <address>`); `localhost` is allowed."""
    configured = _refuse_line_breaks(get_settings().from_email, "sender (EDOCTA_FROM_EMAIL)")
    name, address = parseaddr(configured)
    if "@" not in address:
        raise InvalidMessage(f"EDOCTA_FROM_EMAIL is not an email address: {configured!r}")
    return formataddr((name, address)) if name else address


def build_message(
    *,
    to: str | Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Iterable[Attachment] = (),
    reply_to: str | None = None,
) -> EmailMessage:
    """An email from `EDOCTA_FROM_EMAIL`: a plain-text body, optionally an HTML alternative, and attachments
    given as `(filename, data, "maintype/subtype")`.

    Every address is validated and the subject and file names may not hold line breaks, so no header can be
    injected. Raises InvalidEmail or InvalidMessage, building nothing.
    """
    recipients = [to] if isinstance(to, str) else list(to)
    if not recipients:
        raise InvalidMessage("a message needs at least one recipient")
    recipients = [validate_email(address) for address in recipients]
    subject = _refuse_line_breaks(subject, "subject").strip()
    if not subject:
        raise InvalidMessage("the subject is empty")
    sender = _sender()
    files: list[tuple[str, bytes, str, str]] = []
    for filename, data, content_type in attachments:
        _refuse_line_breaks(filename, "attachment file name")
        if not filename.strip() or "/" in filename or "\\" in filename:
            raise InvalidMessage(f"bad attachment file name: {filename!r}")
        maintype, slash, subtype = content_type.partition("/")
        if not slash or not re.fullmatch(r"[\w.+-]+", maintype) or not re.fullmatch(r"[\w.+-]+", subtype):
            raise InvalidMessage(f"bad attachment content type: {content_type!r}")
        if not isinstance(data, bytes | bytearray):
            raise InvalidMessage(f"attachment {filename!r} must be bytes")
        files.append((filename, bytes(data), maintype, subtype))

    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    if reply_to:
        message["Reply-To"] = validate_email(reply_to)
    message["Subject"] = subject
    message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    domain = parseaddr(sender)[1].rpartition("@")[2]
    domain = domain if domain.isascii() else domain.encode("idna").decode("ascii")
    message["Message-ID"] = make_msgid(domain=domain or "localhost")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, cte="quoted-printable")
    if html is not None:
        message.add_alternative(html, subtype="html", cte="quoted-printable")
    for filename, data, maintype, subtype in files:
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message


def _needs_smtputf8(message: EmailMessage) -> bool:
    return any(not str(message.get(name, "")).isascii() for name in ("From", "To", "Cc", "Reply-To"))


def message_bytes(message: EmailMessage) -> bytes:
    """The message as written to a file (RFC 6532 UTF-8 headers only when an address needs them)."""
    if _needs_smtputf8(message):
        return message.as_bytes(policy=email.policy.default.clone(utf8=True))
    return message.as_bytes()


def recipients_of(message: EmailMessage) -> str:
    return ", ".join(str(message.get(name)) for name in ("To", "Cc") if message.get(name))
