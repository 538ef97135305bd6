"""Building an email safely: validated addresses, no line breaks in headers, attachments by content type."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.policy
import io
import re
from collections.abc import Callable, Iterable, Sequence
from email.generator import BytesGenerator
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage, Message
from email.utils import encode_rfc2231, format_datetime, formataddr, make_msgid, parseaddr, quote
from functools import lru_cache
from typing import Any

from shared.mail.addresses import CONTROL_CHARACTERS, validate_email
from shared.settings import get_settings


class _FoldedOnce(BaseHeader):
    """A header that keeps its folded text per (line end, line length, UTF-8): folding depends on nothing else
    (the parse tree reads only those three of the policy), and rebuilds the header's whole parse tree each time."""

    def fold(self, *, policy: Any) -> str:
        key = (policy.linesep, policy.max_line_length, policy.utf8)
        folds: dict[tuple[Any, ...], str] = self.__dict__.setdefault("_folds", {})
        folded = folds.get(key)
        if folded is None:
            folded = folds[key] = super().fold(policy=policy)
        return folded


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, making each header's class once (the standard one creates a new class for
    every header it parses, ~50 an email with attachments: about 40 % of building the message), and each header
    of a given name and value once: a header is an immutable string with its parse, and a run's emails repeat
    most of theirs (the sender, the MIME parts' types and encodings, the auto-submitted mark)."""

    def __init__(self) -> None:
        super().__init__(base_class=_FoldedOnce)
        self._classes: dict[str, type[BaseHeader]] = {}
        self._made = lru_cache(maxsize=HEADERS_KEPT)(super().__call__)

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(name)
        return cls

    def __call__(self, name: str, value: Any) -> BaseHeader:
        value = str(value)
        plain = _PLAIN_VALUES.get(name.lower())
        if plain is not None and plain.fullmatch(value):
            return _PlainHeader(name, value, self._made)  # type: ignore[return-value]
        return self._made(name, value)


# Header values each email has its own of (the recipient, the date, the Message-ID, the files' names) that the
# standard registry writes back as given, on one line when the header fits on one: ASCII addresses, ids and file
# names of letters, digits and `._+-` (nothing to quote or encode), a date as `format_datetime` writes it in UTC.
_ATOMS = r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
_DOMAIN = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_ADDRESSES = re.compile(rf"{_ATOMS}@{_DOMAIN}(?:, {_ATOMS}@{_DOMAIN})*")
_PLAIN_VALUES: dict[str, re.Pattern[str]] = {
    "to": _ADDRESSES,
    "cc": _ADDRESSES,
    "reply-to": _ADDRESSES,
    "message-id": re.compile(rf"<{_ATOMS}@{_DOMAIN}>"),
    "date": re.compile(
        r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
        r"\d{4} \d\d:\d\d:\d\d \+0000"
    ),
    "content-disposition": re.compile(r'(?:attachment|inline); filename="[A-Za-z0-9._-]+"'),
}


class _PlainHeader(str):
    """A header whose value the standard registry would write back as it is (`_PLAIN_VALUES`): written as
    `Name: value` with no parse, or with a file name too long for the line on the next, as that registry folds it
    (parsing and folding the recipient, the date, the Message-ID and the files' names was about 40 % of building
    and writing a statement email). Anything else asked of it (its addresses, parameters, defects), and any other
    folding, is the standard header's, made the first time it is needed."""

    name: str
    _make: Callable[[str, str], BaseHeader]  # the registry's own making of a header

    def __new__(cls, name: str, value: str, make: Callable[[str, str], BaseHeader]) -> _PlainHeader:
        header = super().__new__(cls, value)
        header.name, header._make = name, make
        return header

    def _standard(self) -> BaseHeader:
        made: BaseHeader | None = self.__dict__.get("_header")
        if made is None:
            made = self.__dict__["_header"] = self._make(self.name, str(self))
        return made

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return getattr(self._standard(), attribute)

    def __reduce__(self) -> Any:  # copied or pickled as the standard header
        return self._standard().__reduce__()

    def fold(self, *, policy: Any) -> str:
        limit, linesep = policy.max_line_length, policy.linesep
        if not limit or len(self.name) + 2 + len(self) <= limit:
            return f"{self.name}: {self}{linesep}"
        # A file name too long for the line goes on the next, where the standard registry folds it when it fits
        # there with room to spare (past that, it writes the name in RFC 2231's pieces).
        kind, _, parameter = self.partition("; ")
        if parameter and len(self.name) + 3 + len(kind) <= limit and 1 + len(parameter) < limit:
            return f"{self.name}: {kind};{linesep} {parameter}{linesep}"
        return self._standard().fold(policy=policy)


# Headers kept made, the most recently used: a run's repeated headers stay, each email's own (date, id) pass.
HEADERS_KEPT = 256

# `email.policy.default` with the registry above: the same headers, parsed and written the same way.
POLICY = email.policy.default.clone(header_factory=_HeaderClasses())


class InvalidMessage(ValueError):
    """A message that cannot be built safely (a line break in the subject, a bad attachment name...)."""


Attachment = tuple[str, bytes, str]


def _refuse_line_breaks(value: str, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidMessage(f"the {what} must be text")
    # Also every other character Python takes for a line end (U+0085, U+2028...): the header parser refuses them.
    if CONTROL_CHARACTERS.search(value.replace("\t", " ")) or len(value.splitlines()) > 1:
        raise InvalidMessage(f"the {what} may not contain line breaks or control characters: {value!r}")
    return value


def _sender() -> str:
    """The From address of `EDOCTA_FROM_EMAIL` (a bare address or `Name <address>`); `localhost` is allowed."""
    configured = _refuse_line_breaks(get_settings().from_email, "sender (EDOCTA_FROM_EMAIL)")
    name, address = parseaddr(configured)
    if "@" not in address:
        raise InvalidMessage(f"EDOCTA_FROM_EMAIL is not an email address: {configured!r}")
    return formataddr((name, address)) if name else address


def _domain_of(sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return domain if domain.isascii() else domain.encode("idna").decode("ascii")


def stable_message_id(local_part: str) -> str:
    """A Message-ID of our own at the sender's domain (`EDOCTA_FROM_EMAIL`'s, in ASCII): the same `local_part`
    always gives the same id, so a receiving system can recognise a repeated delivery."""
    return f"<{local_part}@{_domain_of(_sender())}>"


def build_message(
    *,
    to: str | Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Iterable[Attachment] = (),
    reply_to: str | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """An email from `EDOCTA_FROM_EMAIL`: a plain-text body, optionally an HTML alternative, and attachments
    given as `(filename, data, "maintype/subtype")`; its Message-ID is `message_id` when given, else a new one.

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

    message = EmailMessage(policy=POLICY)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    if reply_to:
        message["Reply-To"] = validate_email(reply_to)
    message["Subject"] = subject
    message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    message["Message-ID"] = (
        _refuse_line_breaks(message_id, "message id") if message_id else make_msgid(domain=_domain_of(sender))
    )
    message["Auto-Submitted"] = "auto-generated"
    message["MIME-Version"] = "1.0"
    # The parts are made as `set_content`, `add_alternative` and `add_attachment` make them (the same headers,
    # the same tree), but directly: the text parts' quoted-printable by the C codec, and boundaries fixed in
    # advance, so the multipart headers are the same every time (parsed once, see `_HeaderClasses`).
    content = _text_part(text, "plain")
    if html is not None:
        content = _multipart(ALTERNATIVE_BOUNDARY, "alternative", [content, _text_part(html, "html")])
    if files:
        attached = [_attachment_part(data, maintype, subtype, filename) for filename, data, maintype, subtype in files]
        content = _multipart(MIXED_BOUNDARY, "mixed", [content, *attached])
    for name, value in content.raw_items():
        message[name] = value
    message.set_payload(content._payload)  # type: ignore[attr-defined]
    return message


# The multipart boundaries. "=_" occurs in no quoted-printable text ("=" there is always followed by two hex digits
# or a line end) and in no base64, the only bodies these messages carry; a part's header line cannot start with
# "--". So no line of a part can be a boundary, and the generator has no boundary to make and check.
MIXED_BOUNDARY = "=_edocta-mixed"
ALTERNATIVE_BOUNDARY = "=_edocta-alternative"


def _multipart(boundary: str, subtype: str, parts: list[Message | str]) -> EmailMessage:
    container = EmailMessage(policy=POLICY)
    container["Content-Type"] = f'multipart/{subtype}; boundary="{boundary}"'
    container.set_payload(parts)
    return container


def _text_part(text: str, subtype: str) -> EmailMessage:
    """`set_content(text, subtype=subtype, cte="quoted-printable")`'s part: the same headers and the same decoded
    text (every kind of line end made a line feed, a line feed at the end), encoded by `binascii.b2a_qp` (lines of
    76 characters, 78 where the last is an encoded space or tab, as the standard library's pure-Python encoder
    writes at most)."""
    part = EmailMessage(policy=POLICY)
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
    part["Content-Transfer-Encoding"] = "quoted-printable"
    normal = b"\n".join(text.encode("utf-8").splitlines()) + b"\n"
    part.set_payload(binascii.b2a_qp(normal, istext=True).decode("ascii"))
    return part


def _attachment_part(data: bytes, maintype: str, subtype: str, filename: str) -> EmailMessage:
    """The part `add_attachment(data, maintype=..., subtype=..., filename=...)` adds: the same headers in the same
    order (which `set_content` reaches by setting the disposition twice and parsing it again for its parameter),
    and the same bytes, the base64 text made in one piece (the standard content manager encodes 57 bytes at a
    time)."""
    part = EmailMessage(policy=POLICY)
    part["Content-Type"] = f"{maintype}/{subtype}"
    part["Content-Transfer-Encoding"] = "base64"
    # The file name's parameter as `set_param` writes it: quoted, or in RFC 2231's form when it is not ASCII.
    name = (
        f'filename="{quote(filename)}"' if filename.isascii() else f"filename*={encode_rfc2231(filename, 'utf-8', '')}"
    )
    part["Content-Disposition"] = f"attachment; {name}"
    part["MIME-Version"] = "1.0"
    part.set_payload(_base64_lines(data))
    return part


def _base64_lines(data: bytes) -> str:
    """`data` in base64 lines of 76 characters, each ending in a line feed, as the standard content manager writes
    an attachment with the default policy (`base64.encodebytes` writes exactly these lines)."""
    return base64.encodebytes(data).decode("ascii")


class _BodyGenerator(BytesGenerator):
    """The standard library's generator, writing each body with its line ends changed in one piece rather than
    line by line: the same bytes, but a statement email's base64 attachments are ~700 lines, and writing them one
    at a time was about a tenth of the email's CPU."""

    _mangle_from_: bool

    def _handle_text(self, msg: Any) -> None:
        # With `mangle_from_` the standard generator runs a regular expression over every text part for lines
        # starting "From " (~0.5 ms for a statement's files in base64, where no line can). A part with no
        # "From " anywhere (and no undecodable bytes, for which the generator may encode the part again) is
        # written as it is.
        payload = msg._payload
        if not (self._mangle_from_ and isinstance(payload, str) and payload.isascii() and "From " not in payload):
            super()._handle_text(msg)  # type: ignore[misc]
            return
        self._mangle_from_ = False
        try:
            super()._handle_text(msg)  # type: ignore[misc]
        finally:
            self._mangle_from_ = True

    _writeBody = _handle_text  # the parts that are not text (the attachments), as the standard generator does

    def _write_lines(self, lines: str) -> None:
        # Every line end (CRLF, CR or LF, as the standard generator's `\r\n|\r|\n` finds them) made the
        # generator's own, by plain replacements: ~5x faster than the regular expression on a 50 KB attachment.
        if lines:
            unified = lines.replace("\r\n", "\n").replace("\r", "\n")
            self.write(unified.replace("\n", self._NL))  # type: ignore[attr-defined]

    @classmethod
    def _make_boundary(cls, text: bytes | str | None = None) -> str:
        # The standard generator compiles a regular expression for each new (random) boundary to make sure no
        # line of the parts is that boundary; a boundary that occurs nowhere in them needs no such check.
        boundary: str = super()._make_boundary()  # type: ignore[misc]
        if text is None:
            return boundary
        needle = "--" + boundary
        found = needle in text if isinstance(text, str) else needle.encode() in text
        if not found:
            return boundary
        return super()._make_boundary(text)  # type: ignore[misc]


def flatten(message: EmailMessage, *, linesep: str = "\n", utf8: bool = False, mangle_from: bool = False) -> bytes:
    """`message` as bytes, as `BytesGenerator(mangle_from_, policy=message's with utf8 if asked)` flattens it with
    `linesep`: `as_bytes()` is the defaults; smtplib's `send_message` uses `linesep="\\r\\n"` and, unless the
    addresses need SMTPUTF8, `mangle_from=True`."""
    with io.BytesIO() as buffer:
        policy = message.policy.clone(utf8=True) if utf8 else None  # type: ignore[call-arg]
        _BodyGenerator(buffer, mangle_from_=mangle_from, policy=policy).flatten(message, linesep=linesep)
        return buffer.getvalue()


def _needs_smtputf8(message: EmailMessage) -> bool:
    return any(not str(message.get(name, "")).isascii() for name in ("From", "To", "Cc", "Reply-To"))


def message_bytes(message: EmailMessage) -> bytes:
    """The message as written to a file (RFC 6532 UTF-8 headers only when an address needs them)."""
    return flatten(message, utf8=_needs_smtputf8(message))


def recipients_of(message: EmailMessage) -> str:
    return ", ".join(str(message.get(name)) for name in ("To", "Cc") if message.get(name))
