"""Mail: address validation, message building, and both backends against a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import email.utils
import errno
import io
import logging
import os
import select
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.generator import BytesGenerator
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from shared.mail import (
    InvalidEmail,
    InvalidMessage,
    OutboxFolderBackend,
    PermanentMailError,
    SMTPBackend,
    TransientMailError,
    build_message,
    get_mail_backend,
    send_message,
    validate_email,
)
from shared.mail.messages import POLICY, _PlainHeader, flatten
from tests.servers import SMTPHandler, SMTPServer, outbox_messages, running_smtp_server, use_environment

PDF = b"%PDF-1.7\n" + os.urandom(150_000) + b"\n%%EOF\n"
XLSX = b"PK\x03\x04" + os.urandom(40_000)
PDF_NAME = "estado-de-cuenta_1000_100001_2026-11-30.pdf"
ACCENTED_NAME = "estado-de-cuenta_Tinacos del Bajío_Ñandú.xlsx"
SUBJECT = "Estado de cuenta al 30 de noviembre de 2026 — Tinacos del Bajío"
TEXT = "Estimado cliente:\n\nAdjuntamos su estado de cuenta. Saldo vencido: $1,234.56\n"
HTML = "<p>Estimado cliente:</p><p>Saldo vencido: <strong>$1,234.56</strong> — año</p>"


def statement_message(to: str = "cobranza@cliente.mx") -> EmailMessage:
    return build_message(
        to=to,
        subject=SUBJECT,
        text=TEXT,
        html=HTML,
        attachments=[
            (PDF_NAME, PDF, "application/pdf"),
            (ACCENTED_NAME, XLSX, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ],
    )


def assert_is_the_statement_message(received: EmailMessage, to: str = "cobranza@cliente.mx") -> None:
    assert received["To"] == to
    assert received["Subject"] == SUBJECT
    assert received["From"] == "estados@localhost"
    # Over SMTP lines end in CRLF; a mail reader shows the same text.
    plain = received.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = received.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert plain.replace("\r\n", "\n") == TEXT
    assert html.strip() == HTML
    files = {part.get_filename(): (part.get_content_type(), part.get_content()) for part in received.iter_attachments()}
    assert files == {
        PDF_NAME: ("application/pdf", PDF),
        ACCENTED_NAME: ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", XLSX),
    }


# --- addresses -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("cobranza@cliente.mx", "cobranza@cliente.mx"),
        ("Cobranza@CLIENTE.MX", "Cobranza@cliente.mx"),
        ("  pagos@cliente.com.mx ", "pagos@cliente.com.mx"),
        ("josé.núñez@dominio.mx", "josé.núñez@dominio.mx"),
        ("a+statements@b.co", "a+statements@b.co"),
    ],
)
def test_valid_addresses_are_normalized(given: str, normalized: str) -> None:
    assert validate_email(given) == normalized


@pytest.mark.parametrize(
    "address",
    [
        "",
        "   ",
        "cobranza",
        "cobranza@",
        "@cliente.mx",
        "a@b",
        "a@b.com\r\nBcc: x@y.com",
        "a@b.com\nBcc: x@y.com",
        "a@b.com\r",
        "a\x00@b.com",
        "a@b.com, c@d.com",
        "a@b.com;c@d.com",
        "Cobranza <a@b.com>",
        "a b@c.com",
        "a@b..com",
    ],
)
def test_invalid_addresses_are_refused(address: str) -> None:
    with pytest.raises(InvalidEmail):
        validate_email(address)


def test_invalid_email_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a valid email address"):
        validate_email("nope")


# --- building messages -----------------------------------------------------------------------------------


def test_message_has_sender_date_id_and_the_parts() -> None:
    message = statement_message()
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)

    assert_is_the_statement_message(parsed)  # type: ignore[arg-type]
    assert email.utils.parsedate_to_datetime(parsed["Date"]).tzinfo is not None
    assert parsed["Message-ID"].startswith("<") and parsed["Message-ID"].endswith("@localhost>")
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed.get_content_type() == "multipart/mixed"
    assert statement_message()["Message-ID"] != message["Message-ID"]


def test_non_ascii_file_name_is_encoded_per_rfc_2231() -> None:
    raw = statement_message().as_bytes()
    assert b"filename*0*=utf-8''estado-de-cuenta_Tinacos%20del%20Baj%C3%ADo_%C3%91and;" in raw
    assert raw.isascii()


def test_plain_text_only_message_has_a_single_part() -> None:
    message = build_message(to="a@b.com", subject="Hola", text="Solo texto ñ")
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content() == "Solo texto ñ\n"


def test_several_recipients_and_reply_to() -> None:
    message = build_message(to=["a@b.com", "C@D.MX"], subject="x", text="y", reply_to="cobranza@empresa.mx")
    assert message["To"] == "a@b.com, C@d.mx"
    assert message["Reply-To"] == "cobranza@empresa.mx"


def test_sender_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    use_environment(monkeypatch, EDOCTA_FROM_EMAIL="Estados de cuenta <estados@aceros.mx>")
    message = build_message(to="a@b.com", subject="x", text="y")
    assert message["From"] == "Estados de cuenta <estados@aceros.mx>"
    assert message["Message-ID"].endswith("@aceros.mx>")


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"to": "a@b.com\r\nBcc: x@y.com"}, InvalidEmail),
        ({"to": ["a@b.com", "x@y.com\nBcc: z@w.com"]}, InvalidEmail),
        ({"to": []}, InvalidMessage),
        ({"subject": "Estado\r\nBcc: x@y.com"}, InvalidMessage),
        ({"subject": "Estado\nX-Injected: 1"}, InvalidMessage),
        ({"subject": "   "}, InvalidMessage),
        ({"reply_to": "a@b.com\r\nBcc: x@y.com"}, InvalidEmail),
        ({"attachments": [("a.pdf\r\nBcc: x@y.com", b"x", "application/pdf")]}, InvalidMessage),
        ({"attachments": [("../../a.pdf", b"x", "application/pdf")]}, InvalidMessage),
        ({"attachments": [("a.pdf", b"x", "application/pdf\r\nBcc: x@y.com")]}, InvalidMessage),
        ({"attachments": [("a.pdf", b"x", "pdf")]}, InvalidMessage),
        ({"attachments": [("a.pdf", "text", "application/pdf")]}, InvalidMessage),
        ({"message_id": "<a@b.com>\r\nBcc: x@y.com"}, InvalidMessage),
        ({"attachments": [("a\u2028b.pdf", b"x", "application/pdf")]}, InvalidMessage),
        ({"subject": "Estado\x85de cuenta"}, InvalidMessage),
    ],
)
def test_header_injection_and_bad_parts_are_refused(arguments: dict, error: type[Exception]) -> None:
    fields = {"to": "a@b.com", "subject": "Estado de cuenta", "text": "x"} | arguments
    with pytest.raises(error):
        build_message(**fields)


def test_a_sender_setting_with_a_line_break_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDOCTA_FROM_EMAIL", "a@b.com\nBcc: x@y.com")
    from shared.settings import reset_settings

    reset_settings()
    # The settings loader strips outer whitespace only; an inner line break must not reach a header.
    with pytest.raises(InvalidMessage):
        build_message(to="a@b.com", subject="x", text="y")


# --- SMTP ------------------------------------------------------------------------------------------------


@pytest.fixture(params=[False, True], ids=["one-command-at-a-time", "pipelining"])
def any_smtp_server(request: pytest.FixtureRequest) -> Iterator[SMTPServer]:
    """An aiosmtpd server that offers PIPELINING (the client then sends MAIL, RCPT and DATA in one write) or not
    (one command, then its reply)."""
    with running_smtp_server(SMTPServer(host="127.0.0.1", port=0, pipelining=request.param)) as server:
        yield server


def test_smtp_delivers_text_html_and_intact_attachments(any_smtp_server: SMTPServer) -> None:
    SMTPBackend.from_url(any_smtp_server.url).send(statement_message())

    assert len(any_smtp_server.messages) == 1
    assert_is_the_statement_message(any_smtp_server.messages[0])


def standard_bytes(message: EmailMessage, linesep: str, utf8: bool, mangle_from: bool) -> bytes:
    """The message as the standard library's own generator writes it (smtplib's `send_message` uses it)."""
    buffer = io.BytesIO()
    generator_policy = message.policy.clone(utf8=True) if utf8 else None  # type: ignore[call-arg]
    BytesGenerator(buffer, mangle_from_=mangle_from, policy=generator_policy).flatten(message, linesep=linesep)
    return buffer.getvalue()


# Bodies with what the writers must treat alike: lines starting "From " (mangled for SMTP) or ".", every kind of
# line end, text that is not ASCII, and an attachment whose own bytes hold such lines.
AWKWARD_TEXT = "From the desk:\r\n.a line with a period\r..two\nFrom here\nsaldo: $1,234.56 — año\n"
AWKWARD_FILE = b"From x\n.y\r\n" + os.urandom(3_000)


def awkward_message() -> EmailMessage:
    return build_message(
        to="cobranza@cliente.mx",
        subject=SUBJECT,
        text=AWKWARD_TEXT,
        html="<p>From here</p>\n.<p>año</p>",
        attachments=[(PDF_NAME, AWKWARD_FILE, "application/pdf"), (ACCENTED_NAME, XLSX, "text/plain")],
    )


@pytest.mark.parametrize(
    ("linesep", "utf8", "mangle_from"), [("\n", False, False), ("\r\n", False, True), ("\r\n", True, False)]
)
@pytest.mark.parametrize("make", [statement_message, awkward_message])
def test_our_writer_writes_the_standard_librarys_bytes(make, linesep: str, utf8: bool, mangle_from: bool) -> None:  # type: ignore[no-untyped-def]
    """edocta's message writer (`flatten`: line ends in one piece, no "From " pass where there is none, base64 in
    one call) writes exactly what the standard generator writes: as a file, for SMTP, and for SMTPUTF8."""
    message = make()
    ours = flatten(message, linesep=linesep, utf8=utf8, mangle_from=mangle_from)  # sets the parts' boundaries
    assert ours == standard_bytes(message, linesep, utf8, mangle_from)
    assert (b"\n>From here" in ours) is (mangle_from and make is awkward_message)


def with_standard_headers(message: EmailMessage) -> EmailMessage:
    """`message` with every header of every part made again by the standard library's own header registry."""
    registry = HeaderRegistry()
    for part in message.walk():
        part._headers = [(name, registry(name, str(value))) for name, value in part._headers]  # type: ignore[attr-defined]
    return message


@pytest.mark.parametrize("to", [["cobranza@cliente.mx"], ["a.b+c_d-1@sub.cliente.com.mx", "pagos@cliente.mx"]])
def test_a_statement_emails_headers_are_the_standard_registrys(to: list[str]) -> None:
    """The headers each email has its own of (recipient, date, Message-ID, file names) are written without a parse
    where the standard registry would write them back as given: the message's bytes are the same as with every
    header made by the standard library's registry, for a file, for SMTP and for SMTPUTF8."""
    message = build_message(
        to=to,
        subject=SUBJECT,
        text=TEXT,
        html=HTML,
        attachments=[(PDF_NAME, PDF, "application/pdf"), (ACCENTED_NAME, XLSX, "text/plain")],
        reply_to="cobranza@proveedor.mx",
        message_id="<statement.17.2.0123456789abcdef@localhost>",
    )
    written_as_given = {
        name for part in message.walk() for name, value in part.raw_items() if type(value) is _PlainHeader
    }
    assert written_as_given == {"To", "Reply-To", "Date", "Message-ID", "Content-Disposition"}
    assert [str(address) for address in message["To"].addresses] == to  # the parse, when asked for
    ours = [flatten(message, linesep=linesep, utf8=utf8) for linesep, utf8 in (("\n", False), ("\r\n", True))]
    standard = with_standard_headers(message)
    assert ours == [flatten(standard, linesep=linesep, utf8=utf8) for linesep, utf8 in (("\n", False), ("\r\n", True))]
    assert not any(type(value) is _PlainHeader for part in standard.walk() for _, value in part.raw_items())


# Values of the headers written as given, at and past the length of a line (78), and values the standard registry
# changes (quotes, encodes, normalizes), which go through it.
HEADER_VALUES = [
    ("To", "cobranza@cliente.mx", True),
    ("To", "x" * 56 + "@cliente.example.mx", True),  # 78 characters with "To: "
    ("To", "x" * 57 + "@cliente.example.mx", True),
    ("To", "x" * 30 + "@cliente.example.mx, " + "y" * 30 + "@cliente.example.mx", True),
    ("To", "Cobranza <cobranza@cliente.mx>", False),
    ("To", "josé@cliente.mx", False),
    ("To", "a..b@cliente.mx", False),
    ("Cc", "a@b.mx, c@d.mx", True),
    ("Reply-To", "cobranza@proveedor.mx", True),
    ("Message-ID", "<statement.1.1.abcdef0123456789@localhost>", True),
    ("Message-ID", "<" + "s" * 60 + "@proveedor.example.mx>", True),
    ("Message-ID", "<a b@c>", False),
    ("Date", "Wed, 02 Dec 2026 19:05:17 +0000", True),
    ("Date", "Wed, 02 Dec 2026 19:05:17 -0600", False),
    ("Date", "Wed, 2 Dec 2026 19:05:17 +0000", False),
    ("Content-Disposition", f'attachment; filename="{PDF_NAME}"', True),  # folded before the file name
    ("Content-Disposition", 'attachment; filename="estado de cuenta.pdf"', False),
    ("Content-Disposition", 'attachment; filename="' + "e" * 44 + '.pdf"', True),  # 78: one line
    ("Content-Disposition", 'attachment; filename="' + "e" * 45 + '.pdf"', True),
    ("Content-Disposition", 'attachment; filename="' + "e" * 61 + '.pdf"', True),  # the next line's 77
    ("Content-Disposition", 'attachment; filename="' + "e" * 62 + '.pdf"', True),  # RFC 2231's pieces
    ("Content-Disposition", "attachment; filename*=utf-8''estado-de-cuenta_A%C3%B1o.xlsx", False),
    ("Subject", SUBJECT, False),
]


@pytest.mark.parametrize(("name", "value", "as_given"), HEADER_VALUES)
def test_a_header_written_as_given_is_written_as_the_standard_registry_writes_it(
    name: str, value: str, as_given: bool
) -> None:
    """Each header value the registry writes without a parse (`as_given`) reads and folds as the standard
    registry's header of the same value, under the messages' policy and with other line ends and lengths."""
    ours, standard = POLICY.header_factory(name, value), HeaderRegistry()(name, value)
    assert (type(ours) is _PlainHeader) is as_given
    assert str(ours) == str(standard)
    assert [type(defect) for defect in ours.defects] == [type(defect) for defect in standard.defects]
    policies = ({}, {"linesep": "\r\n"}, {"utf8": True}, {"max_line_length": 40}, {"max_line_length": None})
    for options in policies:
        assert ours.fold(policy=POLICY.clone(**options)) == standard.fold(policy=POLICY.clone(**options)), options


# File names a statement's files may have: plain, accented, with quotes and a semicolon, long enough to fold.
FILE_NAMES = [
    PDF_NAME,
    ACCENTED_NAME,
    'Pagos "Norte"; sucursal 2 (copia).pdf',
    "estado de cuenta " * 8 + "año.pdf",
    "año =?utf-8?q?otro?=.pdf",
]


@pytest.mark.parametrize(
    ("size", "filename"),
    [(size, PDF_NAME) for size in (0, 1, 56, 57, 58, 114, 1_000, 150_001)] + [(1_000, name) for name in FILE_NAMES[1:]],
)
def test_an_attachment_part_is_the_standard_librarys(size: int, filename: str) -> None:
    """The attachment's part (headers and base64 lines) as `EmailMessage.add_attachment` makes it."""
    data = os.urandom(size)
    ours = build_message(to="a@b.mx", subject="s", text="t", attachments=[(filename, data, "application/pdf")])
    standard = EmailMessage(policy=ours.policy)
    standard.set_content("t", cte="quoted-printable")
    standard.add_attachment(data, maintype="application", subtype="pdf", filename=filename)
    [part], [standard_part] = list(ours.iter_attachments()), list(standard.iter_attachments())
    assert part.as_bytes() == standard_part.as_bytes()
    international = ours.policy.clone(utf8=True)  # type: ignore[call-arg]
    assert part.as_bytes(policy=international) == standard_part.as_bytes(policy=international)
    assert part.get_content() == data
    assert part.get_filename() == filename


def standard_message(text: str, html: str | None, files: list[tuple[str, bytes, str]]) -> EmailMessage:
    """The message as the standard library's `set_content`, `add_alternative` and `add_attachment` make it."""
    standard = EmailMessage(policy=policy.default)
    standard.set_content(text, cte="quoted-printable")
    if html is not None:
        standard.add_alternative(html, subtype="html", cte="quoted-printable")
    for filename, data, content_type in files:
        maintype, subtype = content_type.split("/")
        standard.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return standard


def content_of(message: EmailMessage) -> list[tuple[str, str | None, str, object]]:
    """Each part as a mail reader sees it: type, file name, transfer encoding and decoded content."""
    return [
        (
            part.get_content_type(),
            part.get_filename(),
            part.get("Content-Transfer-Encoding", ""),
            None if part.is_multipart() else part.get_content(),
        )
        for part in message.walk()
    ]


# Texts the quoted-printable encoder must carry whole: long lines with and without spaces, spaces and tabs at a
# line's end, "=" signs, every kind of line end, no line end, control characters, text that is not Latin, a line
# that looks like a boundary of the message's own, nothing at all.
TEXTS = [
    "",
    "Saldo vencido: $1,234.56 — año\n",
    "x" * 200 + "\n" + "palabra " * 40 + "\n",
    "espacio al final   \ntab al final\t\n= signo = 3D =\n=\n",
    "CRLF\r\nCR\rLF\nsin fin de línea",
    "control \x01\x7f and \x0c form feed\n",
    "日本語のテキスト、とても長い行です。" * 10 + "\n",
    "--=_edocta-mixed\n--=_edocta-alternative--\n",
    "x" * 75 + " \n" + "y" * 74 + "\t\n",
    AWKWARD_TEXT,
]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("shape", ["text", "html", "files"])
def test_a_built_message_reads_as_the_standard_librarys(text: str, shape: str) -> None:
    """Whatever the text, the message `build_message` makes reads, once sent and parsed again, exactly as the
    one the standard library's own content methods make: the same tree of parts, types, file names, transfer
    encodings, text and files;
    no line of its text parts is longer than the standard library's encoder writes (78 characters)."""
    html = None if shape == "text" else f"<p>{text}</p>"
    files = [(PDF_NAME, PDF, "application/pdf"), (ACCENTED_NAME, XLSX, "text/plain")] if shape == "files" else []
    ours = build_message(to="cobranza@cliente.mx", subject=SUBJECT, text=text, html=html, attachments=files)
    standard = standard_message(text, html, files)
    ours_read = message_from_bytes(flatten(ours, linesep="\r\n", mangle_from=True), policy=policy.default)
    standard_read = message_from_bytes(standard_bytes(standard, "\r\n", False, True), policy=policy.default)
    assert content_of(ours_read) == content_of(standard_read)  # type: ignore[arg-type]
    assert (ours_read["Subject"], ours_read["MIME-Version"]) == (SUBJECT, "1.0")
    assert ours_read.defects == [] and all(not part.defects for part in ours_read.walk())
    for part in ours.walk():
        if part.get_content_maintype() == "text" and part.get_filename() is None:
            assert part["Content-Transfer-Encoding"] == "quoted-printable"
            assert max(len(line) for line in part.get_payload().splitlines()) <= 78  # type: ignore[union-attr]


@pytest.mark.parametrize("make", [statement_message, awkward_message])
def test_smtp_sends_the_bytes_smtplib_would_with_periods_quoted_only_where_needed(
    make, any_smtp_server: SMTPServer
) -> None:  # type: ignore[no-untyped-def]
    """Lines starting with a period are doubled on the wire and undoubled by the server; a message without such a
    line skips smtplib's quoting pass. Either way the server receives the bytes smtplib's `send_message` sends."""
    message = make()
    for number, part in enumerate(message.walk()):  # boundaries of its own, so that both writings share them
        if part.is_multipart():
            part.set_boundary(f"part-{number}")
    SMTPBackend.from_url(any_smtp_server.url).send(message)

    assert any_smtp_server.contents == [standard_bytes(message, "\r\n", False, True)]
    received = any_smtp_server.messages[0]
    if make is awkward_message:
        plain = received.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        text = AWKWARD_TEXT.replace("\r\n", "\n").replace("\r", "\n")
        assert plain.replace("\r\n", "\n") == ">" + text.replace("\nFrom ", "\n>From ")  # as smtplib mangles
        files = [part.get_content() for part in received.iter_attachments()]
        assert files[0] == AWKWARD_FILE
    else:
        assert_is_the_statement_message(received)


def test_send_message_uses_the_configured_smtp_server(smtp_server: SMTPServer, monkeypatch, var_dir: Path) -> None:
    use_environment(monkeypatch, EDOCTA_SMTP_URL=smtp_server.url)
    assert isinstance(get_mail_backend(), SMTPBackend)

    send_message(statement_message("pagos@cliente.mx"))

    assert [m["To"] for m in smtp_server.received_by("pagos@cliente.mx")] == ["pagos@cliente.mx"]
    assert outbox_messages(var_dir) == []


def test_550_for_a_recipient_is_permanent_with_the_servers_reply(any_smtp_server: SMTPServer) -> None:
    any_smtp_server.replies["nadie@cliente.mx"] = "550 5.1.1 no such user"
    with pytest.raises(PermanentMailError) as caught:
        SMTPBackend.from_url(any_smtp_server.url).send(statement_message("nadie@cliente.mx"))
    assert caught.value.code == 550
    assert "no such user" in caught.value.reply
    assert any_smtp_server.messages == []


def test_421_is_transient_with_the_servers_reply(any_smtp_server: SMTPServer) -> None:
    any_smtp_server.refuse_all = "421 4.3.2 service not available, try later"
    with pytest.raises(TransientMailError) as caught:
        SMTPBackend.from_url(any_smtp_server.url).send(statement_message())
    assert caught.value.code == 421
    assert "try later" in caught.value.reply
    assert any_smtp_server.messages == []


def test_452_mailbox_full_is_transient(any_smtp_server: SMTPServer) -> None:
    any_smtp_server.replies["lleno@cliente.mx"] = "452 4.2.2 mailbox full"
    with pytest.raises(TransientMailError) as caught:
        SMTPBackend.from_url(any_smtp_server.url).send(statement_message("lleno@cliente.mx"))
    assert caught.value.code == 452


class RefusingHandler(SMTPHandler):
    """Answers MAIL FROM or DATA with a fixed reply."""

    def __init__(self, server: SMTPServer, stage: str, reply: str) -> None:
        super().__init__(server)
        self.stage, self.reply = stage, reply

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # type: ignore[no-untyped-def]
        if self.stage == "MAIL":
            return self.reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if self.stage == "DATA":
            return self.reply
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-command-at-a-time", "pipelining"])
@pytest.mark.parametrize(
    ("stage", "reply", "error", "code"),
    [
        ("DATA", "554 5.7.1 message rejected as spam", PermanentMailError, 554),
        ("DATA", "451 4.3.0 local error, try again", TransientMailError, 451),
        ("MAIL", "553 5.7.1 sender not allowed", PermanentMailError, 553),
        ("MAIL", "450 4.7.1 greylisted, come back later", TransientMailError, 450),
    ],
)
def test_refusals_of_the_sender_or_the_message_keep_the_servers_reply(stage, reply, error, code, pipelining) -> None:  # type: ignore[no-untyped-def]
    server = SMTPServer(host="127.0.0.1", port=0, pipelining=pipelining)
    with running_smtp_server(server, RefusingHandler(server, stage, reply)), pytest.raises(error) as caught:
        SMTPBackend.from_url(server.url).send(statement_message())
    assert caught.value.code == code
    assert caught.value.reply == reply.split(" ", 1)[1]
    assert str(caught.value) == reply
    assert server.messages == []


def test_a_server_that_is_down_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientMailError) as caught:
        SMTPBackend.from_url(f"smtp://127.0.0.1:{port}?timeout=5").send(statement_message())
    assert caught.value.code is None
    assert "refused" in caught.value.reply.lower()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_a_server_that_never_answers_times_out_as_transient(silent_server: int) -> None:
    with pytest.raises(TransientMailError) as caught:
        SMTPBackend.from_url(f"smtp://127.0.0.1:{silent_server}?timeout=0.5").send(statement_message())
    assert caught.value.code is None
    assert "timed out" in caught.value.reply.lower()


class BareServer:
    """A listening socket on a free local port, its one connection served by `serve` in a thread."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.thread.join(10)
        self.listener.close()


class ScriptedServer(BareServer):
    """A bare SMTP server speaking just enough of the protocol to misbehave at a chosen moment:
    `drop_after` is the command after which it closes the connection without a reply."""

    def __init__(self, drop_after: str) -> None:
        self.drop_after = drop_after
        self.accepted_messages = 0
        super().__init__()

    def serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"220 scripted ESMTP\r\n")
            for raw in lines:
                command = raw.decode().strip().split(" ", 1)[0].upper()
                if command == self.drop_after:
                    return
                if command == "EHLO":
                    conn.sendall(b"250-scripted\r\n250 8BITMIME\r\n")
                elif command == "DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    for body in lines:
                        if body == b".\r\n":
                            break
                    self.accepted_messages += 1
                    conn.sendall(b"250 2.0.0 queued\r\n")
                elif command == "QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 OK\r\n")


def test_a_connection_dropped_after_the_message_was_accepted_is_a_success() -> None:
    # The message is queued: reporting a failure here would make the caller send a second copy.
    server = ScriptedServer(drop_after="QUIT")
    SMTPBackend.from_url(f"smtp://127.0.0.1:{server.port}?timeout=5").send(statement_message())
    server.close()
    assert server.accepted_messages == 1


@pytest.mark.parametrize("drop_after", ["EHLO", "MAIL", "RCPT", "DATA"])
def test_a_connection_dropped_before_the_message_was_accepted_is_transient(drop_after: str) -> None:
    server = ScriptedServer(drop_after=drop_after)
    with pytest.raises(TransientMailError) as caught:
        SMTPBackend.from_url(f"smtp://127.0.0.1:{server.port}?timeout=5").send(statement_message())
    server.close()
    assert caught.value.code is None
    assert server.accepted_messages == 0


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-command-at-a-time", "pipelining"])
def test_a_non_ascii_recipient_is_delivered_with_smtputf8(pipelining: bool) -> None:
    server = SMTPServer(host="127.0.0.1", port=0, pipelining=pipelining)
    with running_smtp_server(server, enable_SMTPUTF8=True):
        SMTPBackend.from_url(server.url).send(statement_message("josé@dominio.mx"))
    assert len(server.messages) == 1
    assert server.messages[0]["To"] == "josé@dominio.mx"


class PipeliningScript(BareServer):
    """A bare SMTP server that records what each read brought. It answers EHLO (offering PIPELINING when
    `pipelining`), then, when it offers it, says nothing until DATA has arrived: a client that waits for the reply
    to MAIL before going on never gets one. Then it answers the group with `replies` (MAIL, each RCPT, DATA) and,
    after a 354, reads the message up to its ending line and answers 250."""

    def __init__(self, pipelining: bool, replies: list[bytes]) -> None:
        self.pipelining = pipelining
        self.replies = replies
        self.reads: list[bytes] = []  # what came in each read after EHLO's reply
        self.group = b""  # with PIPELINING: what had come when the server first answered
        self.commands_alone: list[bool] = []  # without PIPELINING: whether each command came with nothing after it
        super().__init__()

    def read_until(self, conn: socket.socket, buffer: bytes, end: bytes) -> bytes:
        while end not in buffer.upper():  # commands in any case (smtplib writes "mail FROM:")
            chunk = conn.recv(65536)
            if not chunk:
                break
            self.reads.append(chunk)
            buffer += chunk
        return buffer

    def serve(self) -> None:
        conn, _ = self.listener.accept()
        conn.settimeout(10)
        with conn:
            conn.sendall(b"220 scripted ESMTP\r\n")
            self.read_until(conn, b"", b"\r\n")
            self.reads.clear()
            offered = b"250-PIPELINING\r\n" if self.pipelining else b""
            conn.sendall(b"250-scripted\r\n" + offered + b"250 8BITMIME\r\n")
            if self.pipelining:
                buffer = self.read_until(conn, b"", b"DATA\r\n")
                self.group = buffer
                buffer = buffer[buffer.upper().index(b"DATA\r\n") + 6 :]
                conn.sendall(b"".join(self.replies))
            else:
                buffer = b""
                for reply in self.replies:
                    buffer = self.read_until(conn, buffer, b"\r\n")
                    _line, buffer = buffer.split(b"\r\n", 1)
                    time.sleep(0.05)  # time for a client that does not wait to send more
                    readable, _, _ = select.select([conn], [], [], 0)
                    self.commands_alone.append(not buffer and not readable)
                    conn.sendall(reply)
            if self.replies[-1].startswith(b"354"):  # the message, up to its ending line (a lone "." included)
                buffer = self.read_until(conn, b"\r\n" + buffer, b"\r\n.\r\n")
                buffer = buffer.split(b"\r\n.\r\n", 1)[1]
                conn.sendall(b"250 2.0.0 queued\r\n")
            while True:  # RSET after a refusal, then QUIT
                buffer = self.read_until(conn, buffer, b"\r\n")
                if b"\r\n" not in buffer:
                    return
                line, buffer = buffer.split(b"\r\n", 1)
                conn.sendall(b"221 bye\r\n" if line.upper() == b"QUIT" else b"250 2.0.0 ok\r\n")
                if line.upper() == b"QUIT":
                    return


def two_recipient_message() -> EmailMessage:
    return build_message(to=["cobranza@cliente.mx", "pagos@cliente.mx"], subject=SUBJECT, text="Saldo adjunto.")


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "one-command-at-a-time"])
def test_mail_rcpt_and_data_go_in_one_write_only_to_a_server_that_offers_pipelining(pipelining: bool) -> None:
    accepted = [b"250 2.1.0 ok\r\n", b"250 2.1.5 ok\r\n", b"250 2.1.5 ok\r\n", b"354 go ahead\r\n"]
    server = PipeliningScript(pipelining, accepted)
    SMTPBackend.from_url(f"smtp://127.0.0.1:{server.port}?timeout=5").send(two_recipient_message())
    server.close()
    commands = [line.split(b":")[0].upper() for line in b"".join(server.reads).split(b"\r\n")[:4]]
    assert commands == [b"MAIL FROM", b"RCPT TO", b"RCPT TO", b"DATA"]
    if pipelining:  # the whole group had come before the server answered any of it
        assert [line.split(b":")[0].upper() for line in server.group.split(b"\r\n")] == [*commands, b""]
    else:  # RFC 2920: a client may not pipeline unless the server offers it
        assert server.commands_alone == [True, True, True, True]


@pytest.mark.parametrize(
    ("replies", "error", "code"),
    [
        # The sender refused: the server refuses the rest of the group for want of a sender.
        (
            [b"553 5.7.1 sender not allowed\r\n", b"503 5.5.1 need MAIL\r\n", b"503 5.5.1 need MAIL\r\n"],
            PermanentMailError,
            553,
        ),
        # No recipient accepted, and DATA refused for want of one.
        ([b"250 ok\r\n", b"550 5.1.1 no such user\r\n", b"554 5.5.1 no valid recipients\r\n"], PermanentMailError, 550),
        # No recipient accepted, yet DATA answered 354: the client ends it with a lone period, sending nothing.
        ([b"250 ok\r\n", b"550 5.1.1 no such user\r\n", b"354 go ahead\r\n"], PermanentMailError, 550),
        ([b"250 ok\r\n", b"250 ok\r\n", b"451 4.3.0 try again later\r\n"], TransientMailError, 451),
    ],
    ids=["sender-refused", "recipient-refused", "recipient-refused-data-accepted", "data-refused"],
)
def test_a_pipelined_group_refused_keeps_the_servers_reply_and_sends_no_message(replies, error, code) -> None:  # type: ignore[no-untyped-def]
    server = PipeliningScript(True, replies)
    with pytest.raises(error) as caught:
        SMTPBackend.from_url(f"smtp://127.0.0.1:{server.port}?timeout=5").send(statement_message())
    server.close()
    assert caught.value.code == code
    received = b"".join(server.reads).upper()
    assert b"CONTENT-TYPE" not in received  # nothing of the message went
    if replies[-1].startswith(b"354"):  # RFC 2920 3.1: a DATA taken anyway is ended at once
        assert b"DATA\r\n.\r\nRSET\r\n" in received
    else:  # the refused transaction is reset, leaving the session clean
        assert b"DATA\r\nRSET\r\n" in received


# --- TLS and AUTH ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


USERS = {"estados": "pa:ss/wörd@1?"}
AUTHENTICATED: list[str] = []


def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:  # type: ignore[no-untyped-def]
    if isinstance(auth_data, LoginPassword):
        login, password = auth_data.login.decode(), auth_data.password.decode()
        if USERS.get(login) == password:
            AUTHENTICATED.append(login)
            return AuthResult(success=True)
    return AuthResult(success=False, handled=False)


def credentials(password: str = USERS["estados"]) -> str:
    return f"estados:{quote(password, safe='')}@"


def test_starttls_with_auth_delivers(certificate: tuple[Path, Path]) -> None:
    server = SMTPServer(host="127.0.0.1", port=0)
    options = {"tls_context": server_tls(certificate), "require_starttls": True, "authenticator": authenticate}
    AUTHENTICATED.clear()
    with running_smtp_server(server, auth_required=True, **options):
        url = f"smtp://{credentials()}127.0.0.1:{server.port}?starttls=1&cafile={certificate[0]}"
        SMTPBackend.from_url(url).send(statement_message())
    assert AUTHENTICATED == ["estados"]
    assert len(server.messages) == 1
    assert_is_the_statement_message(server.messages[0])


def test_starttls_refuses_an_untrusted_certificate_unless_told_not_to_verify(certificate: tuple[Path, Path]) -> None:
    server = SMTPServer(host="127.0.0.1", port=0)
    with running_smtp_server(server, tls_context=server_tls(certificate), require_starttls=True):
        with pytest.raises(TransientMailError, match=r"(?i)certificate"):
            SMTPBackend.from_url(f"smtp://127.0.0.1:{server.port}?starttls=1").send(statement_message())
        assert server.messages == []
        SMTPBackend.from_url(f"smtp://127.0.0.1:{server.port}?starttls=1&verify=0").send(statement_message())
    assert len(server.messages) == 1


def test_starttls_asked_of_a_server_without_it_is_transient(smtp_server: SMTPServer) -> None:
    with pytest.raises(TransientMailError, match="STARTTLS"):
        SMTPBackend.from_url(smtp_server.url + "?starttls=1").send(statement_message())
    assert smtp_server.messages == []


def test_smtps_implicit_tls_delivers(certificate: tuple[Path, Path]) -> None:
    server = SMTPServer(host="127.0.0.1", port=0)
    # aiosmtpd only counts STARTTLS as TLS for AUTH; this connection is encrypted from the first byte.
    options = {"authenticator": authenticate, "auth_required": True, "auth_require_tls": False}
    with (
        pytest.warns(UserWarning, match="AUTH"),
        running_smtp_server(server, ssl_context=server_tls(certificate), **options),
    ):
        url = f"smtps://{credentials()}127.0.0.1:{server.port}?cafile={certificate[0]}"
        SMTPBackend.from_url(url).send(statement_message())
    assert len(server.messages) == 1
    assert_is_the_statement_message(server.messages[0])


def test_auth_over_plain_connection_and_a_wrong_password(caplog: pytest.LogCaptureFixture) -> None:
    server = SMTPServer(host="127.0.0.1", port=0)
    options = {"authenticator": authenticate, "auth_required": True, "auth_require_tls": False}
    with pytest.warns(UserWarning, match="AUTH"), running_smtp_server(server, **options):
        SMTPBackend.from_url(f"smtp://{credentials()}127.0.0.1:{server.port}").send(statement_message())
        # Wrong credentials are a setting to fix, not a reason to drop the mail: the error is transient.
        with pytest.raises(TransientMailError) as caught:
            SMTPBackend.from_url(f"smtp://{credentials('wrong')}127.0.0.1:{server.port}").send(statement_message())
    assert caught.value.code == 535
    assert len(server.messages) == 1
    assert "wrong" not in caplog.text and USERS["estados"] not in caplog.text


# --- the SMTP URL ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", ("mail.example.com", 25, False, False, None, 30.0)),
        ("smtp://u:p@mail.example.com:587?starttls=1", ("mail.example.com", 587, False, True, "u", 30.0)),
        ("smtp://mail.example.com?starttls=true&timeout=5", ("mail.example.com", 587, False, True, None, 5.0)),
        ("smtps://u%40x.com:p@mail.example.com", ("mail.example.com", 465, True, False, "u@x.com", 30.0)),
        ("smtp://mailpit:1025", ("mailpit", 1025, False, False, None, 30.0)),
    ],
)
def test_smtp_url_forms(url: str, expected: tuple) -> None:
    backend = SMTPBackend.from_url(url)
    assert (
        backend.host,
        backend.port,
        backend.implicit_tls,
        backend.starttls,
        backend.username,
        backend.timeout,
    ) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://mail.example.com",
        "smtp://",
        "smtp://mail.example.com?starttls=maybe",
        "smtp://mail.example.com?timeout=soon",
        "smtp://mail.example.com?timeout=0",
        "smtp://mail.example.com:notaport",
        "smtps://mail.example.com?starttls=1",
    ],
)
def test_bad_smtp_urls_are_refused_with_a_reason(url: str) -> None:
    with pytest.raises(ValueError, match="EDOCTA_SMTP_URL"):
        SMTPBackend.from_url(url)


def test_the_password_never_shows_in_the_backend_repr() -> None:
    backend = SMTPBackend.from_url("smtp://estados:s3cr3t@mail.example.com:587?starttls=1")
    assert "s3cr3t" not in repr(backend)
    assert backend.password == "s3cr3t"


# --- the outbox folder -----------------------------------------------------------------------------------


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


def test_without_smtp_the_outbox_folder_gets_parseable_eml_files(var_dir: Path) -> None:
    assert get_mail_backend() == OutboxFolderBackend(var_dir / "outbox")
    recipients = ["uno@cliente.mx", "dos@cliente.mx", "tres@cliente.mx"]
    for to in recipients:
        send_message(statement_message(to))

    files = sorted((var_dir / "outbox").iterdir())
    assert [f.suffix for f in files] == [".eml"] * 3
    by_name = [message_from_bytes(f.read_bytes(), policy=policy.default)["To"] for f in files]
    assert by_name == recipients  # names sort in the order written
    messages = outbox_messages(var_dir)
    assert [m["To"] for m in messages] == recipients
    for message, to in zip(messages, recipients, strict=True):
        assert_is_the_statement_message(message, to)
    assert b"filename*0*=utf-8''estado-de-cuenta_Tinacos" in files[0].read_bytes()


def test_outbox_file_names_are_unique_even_when_written_at_once(outbox: Path) -> None:
    backend = OutboxFolderBackend(outbox)
    threads = [threading.Thread(target=backend.send, args=(statement_message(f"c{i}@cliente.mx"),)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    files = list(outbox.iterdir())
    assert len(files) == 8 and all(f.name.endswith(".eml") and not f.name.startswith(".") for f in files)
    received = {message_from_bytes(f.read_bytes(), policy=policy.default)["To"] for f in files}
    assert received == {f"c{i}@cliente.mx" for i in range(8)}


def test_outbox_keeps_a_non_ascii_recipient_readable(outbox: Path) -> None:
    OutboxFolderBackend(outbox).send(statement_message("josé@dominio.mx"))
    (file,) = outbox.iterdir()
    parsed = message_from_bytes(file.read_bytes(), policy=policy.default)
    assert parsed["To"] == "josé@dominio.mx"
    assert_is_the_statement_message(parsed, "josé@dominio.mx")  # type: ignore[arg-type]


def test_a_failed_outbox_write_raises_and_leaves_no_file(outbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("shared.mail.backends.os.fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        OutboxFolderBackend(outbox).send(statement_message())
    assert list(outbox.iterdir()) == []


# --- logging ---------------------------------------------------------------------------------------------


def test_each_send_is_logged_with_recipient_and_id_but_never_the_body(
    smtp_server: SMTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shared.mail")
    message = statement_message()
    SMTPBackend.from_url(smtp_server.url).send(message)
    OutboxFolderBackend(tmp_path).send(message)

    sent = [r.getMessage() for r in caplog.records if r.name.startswith("shared.mail")]
    assert len(sent) == 2
    assert all("cobranza@cliente.mx" in line and message["Message-ID"] in line for line in sent)
    assert "Saldo vencido" not in caplog.text and "1,234.56" not in caplog.text
