"""Delivering email: an SMTP server (`EDOCTA_SMTP_URL`), or `.eml` files in an outbox folder (embedded default).

Both raise `TransientMailError` (try again later: a 4xx reply, no connection) or `PermanentMailError` (a 5xx
reply) with the server's words.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import logging
import os
import secrets
import select
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from shared.mail.messages import message_bytes, recipients_of
from shared.mail.smtp_client import SMTPClient, SMTPClientOverTLS, send_message_bytes
from shared.settings import get_settings

log = logging.getLogger(__name__)


class MailError(Exception):
    """Delivery failed. `code` is the SMTP reply code (None when there was no reply), `reply` its text."""

    def __init__(self, code: int | None, reply: str) -> None:
        super().__init__(code, reply)
        self.code = code
        self.reply = reply

    def __str__(self) -> str:
        return self.reply if self.code is None else f"{self.code} {self.reply}"


class TransientMailError(MailError):
    """Try again later: an SMTP 4xx reply, the server unreachable or gone mid-conversation, a timeout."""


class PermanentMailError(MailError):
    """Do not try again: an SMTP 5xx reply (no such user, message refused...)."""


class NotRecorded(Exception):
    """The server accepted the message, but recording that (`on_accepted`) failed: never send it again now."""


class MailBackend(Protocol):
    def send(self, message: EmailMessage, on_accepted: Callable[[], None] | None = None) -> None: ...


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _flag(query: dict[str, list[str]], name: str, default: bool) -> bool:
    values = query.get(name)
    if not values:
        return default
    value = values[-1].strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"EDOCTA_SMTP_URL: {name} must be 1 or 0, got {value!r}")


def _reply_text(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    return str(reply)


def _classify(code: int, reply: bytes | str) -> MailError:
    text = _reply_text(reply)
    if 500 <= code < 600:
        return PermanentMailError(code, text)
    return TransientMailError(code if code > 0 else None, text)


@dataclass(frozen=True)
class SMTPBackend:
    """Delivery to an SMTP server, one connection per message (one for several inside `reusing_connections`).

    URL forms: `smtp://host:25`, `smtp://user:pass@host:587?starttls=1`, `smtps://user:pass@host:465`
    (implicit TLS). Options: `timeout` (seconds, default 30), `cafile` (a CA bundle to trust), `verify=0`
    (skip certificate checks; development only), `helo` (the name the client gives). User and password are
    percent-decoded.
    """

    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    cafile: str | None = None
    verify: bool = True
    helo: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SMTPBackend:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(f"EDOCTA_SMTP_URL must start with smtp:// or smtps://, got {parts.scheme or url!r}")
        if not parts.hostname:
            raise ValueError("EDOCTA_SMTP_URL has no host")
        query = parse_qs(parts.query)
        implicit_tls = parts.scheme == "smtps"
        starttls = _flag(query, "starttls", False)
        if implicit_tls and starttls:
            raise ValueError("EDOCTA_SMTP_URL: smtps:// is already encrypted; starttls=1 applies to smtp:// only")
        try:
            port = parts.port or (465 if implicit_tls else 587 if starttls else 25)
            timeout = float(query.get("timeout", ["30"])[-1])
        except ValueError as exc:
            raise ValueError(f"EDOCTA_SMTP_URL: {exc}") from None
        if not 0 < timeout <= 3600:
            raise ValueError("EDOCTA_SMTP_URL: timeout must be between 0 and 3600 seconds")
        return cls(
            host=parts.hostname,
            port=port,
            implicit_tls=implicit_tls,
            starttls=starttls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            timeout=timeout,
            cafile=query.get("cafile", [None])[-1],
            verify=_flag(query, "verify", True),
            helo=query.get("helo", [None])[-1],
        )

    def __repr__(self) -> str:  # never show the password
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.username}:***@" if self.username else ""
        return f"SMTPBackend({scheme}://{user}{self.host}:{self.port}{'?starttls=1' if self.starttls else ''})"

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.cafile)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> SMTPClient:
        local_hostname = self.helo or socket.gethostname() or "localhost"
        if self.implicit_tls:
            return SMTPClientOverTLS(
                self.host, self.port, local_hostname=local_hostname, timeout=self.timeout, context=self._tls_context()
            )
        return SMTPClient(self.host, self.port, local_hostname=local_hostname, timeout=self.timeout)

    def _login(self, connection: smtplib.SMTP) -> None:
        username, password = self.username or "", self.password or ""
        if (username + password).isascii():
            connection.login(username, password)
            return
        # smtplib encodes credentials as ASCII; AUTH PLAIN carries UTF-8 (RFC 4616).
        if "PLAIN" not in connection.esmtp_features.get("auth", "").upper().split():
            raise TransientMailError(None, f"{self.host} does not offer AUTH PLAIN, needed for non-ASCII credentials")
        token = base64.b64encode(b"\0" + username.encode() + b"\0" + password.encode()).decode("ascii")
        code, reply = connection.docmd("AUTH", f"PLAIN {token}")
        if code != 235:
            raise smtplib.SMTPAuthenticationError(code, reply)

    def _open(self) -> SMTPClient:
        """A connection ready for a message: greeted, encrypted and signed in as the URL asks."""
        connection = self._connect()
        try:
            connection.ehlo_or_helo_if_needed()
            if self.starttls:
                if not connection.has_extn("starttls"):
                    raise TransientMailError(None, f"{self.host} does not offer STARTTLS")
                connection.starttls(context=self._tls_context())
                connection.ehlo()
            if self.username is not None:
                if not connection.has_extn("auth"):
                    raise TransientMailError(None, f"{self.host} does not offer AUTH (is TLS required?)")
                self._login(connection)
        except BaseException:
            _close(connection)
            raise
        return connection

    def _deliver(
        self, message: EmailMessage, on_accepted: Callable[[], None] | None = None
    ) -> dict[str, tuple[int, bytes]]:
        kept = _KEPT.get()
        reused = _still_open(kept.pop(self, None)) if kept is not None else None
        connection = reused or self._open()
        delivered = False
        try:
            try:
                refused = send_message_bytes(connection, message)
            except (smtplib.SMTPServerDisconnected, smtplib.SMTPSenderRefused) as error:
                # A kept connection the server ended without a word we could see (dropped on the way, or it takes
                # so many messages a session and says 421 to the next MAIL): nothing of this message reached it
                # yet, so it goes once more on a connection of its own rather than waiting for a retry.
                ended = not isinstance(error, smtplib.SMTPSenderRefused) or error.smtp_code == 421
                if connection is not reused or connection.data_started or not ended:
                    raise
                _close(connection)
                connection = self._open()
                refused = send_message_bytes(connection, message)
            # DATA answered 250: the message is the server's. Record it now, before the QUIT round trip, so a
            # connection lost at QUIT (or a crash meanwhile) does not send it again.
            if on_accepted is not None:
                try:
                    on_accepted()
                except Exception as error:
                    raise NotRecorded(f"{type(error).__name__}: {error}") from error
            delivered = True
            return refused
        finally:
            if delivered and kept is not None:
                kept[self] = connection  # for the next message of `reusing_connections`
            else:
                _close(connection)

    def check(self, timeout: float = 5.0) -> str:
        """Connect, greet, start TLS and sign in as a delivery would, then say goodbye (the ops page's health).

        Returns "" when the server answered every step, else what went wrong (never the password)."""
        probe = SMTPBackend(**{**self.__dict__, "timeout": min(self.timeout, timeout)})
        try:
            connection = probe._connect()
        except (smtplib.SMTPException, OSError) as error:
            return f"{type(error).__name__}: {error}"
        try:
            connection.ehlo_or_helo_if_needed()
            if probe.starttls:
                connection.starttls(context=probe._tls_context())
                connection.ehlo()
            if probe.username is not None:
                probe._login(connection)
            code, reply = connection.noop()
            return "" if code == 250 else f"{code} {_reply_text(reply)}"
        except smtplib.SMTPResponseException as error:
            return f"{error.smtp_code} {_reply_text(error.smtp_error)}"
        except (smtplib.SMTPException, OSError, MailError) as error:
            return f"{type(error).__name__}: {error}"
        finally:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                connection.quit()
            connection.close()

    def send(self, message: EmailMessage, on_accepted: Callable[[], None] | None = None) -> None:
        """Deliver `message` or raise TransientMailError / PermanentMailError (with the server's reply).

        `on_accepted` is called once the server accepted the message (DATA's 250), before QUIT; if it fails,
        NotRecorded is raised (the message was sent)."""
        message_id = message.get("Message-ID", "")
        recipients = recipients_of(message)
        try:
            refused = self._deliver(message, on_accepted)
        except NotRecorded:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            replies = list(exc.recipients.values())
            permanent = all(500 <= code < 600 for code, _ in replies)
            code, reply = next(((c, r) for c, r in replies if not 500 <= c < 600), replies[0]) if replies else (0, b"")
            error: MailError = PermanentMailError(code, _reply_text(reply)) if permanent else _classify(code, reply)
            log.warning("mail refused to=%s message-id=%s: %s", recipients, message_id, error)
            raise error from None
        except smtplib.SMTPAuthenticationError as exc:
            # Wrong credentials are the operator's to fix: keep the mail and try again later.
            log.error("SMTP sign-in refused by %s: %s %s", self.host, exc.smtp_code, _reply_text(exc.smtp_error))
            raise TransientMailError(exc.smtp_code, _reply_text(exc.smtp_error)) from None
        except smtplib.SMTPResponseException as exc:
            error = _classify(exc.smtp_code, exc.smtp_error)
            log.warning("mail refused to=%s message-id=%s: %s", recipients, message_id, error)
            raise error from None
        except smtplib.SMTPNotSupportedError as exc:
            # SMTPUTF8 needed for an address the server cannot take: it never will.
            log.warning("mail refused to=%s message-id=%s: %s", recipients, message_id, exc)
            raise PermanentMailError(None, str(exc)) from None
        except MailError as exc:
            log.warning("mail not sent to=%s message-id=%s: %s", recipients, message_id, exc)
            raise
        except (smtplib.SMTPException, OSError) as exc:  # refused, timed out, disconnected, TLS failure
            reason = f"{self.host}:{self.port}: {type(exc).__name__}: {exc}".rstrip(": ")
            log.warning("mail not sent to=%s message-id=%s: %s", recipients, message_id, reason)
            raise TransientMailError(None, reason) from None
        if refused:
            # Accepted for some recipients: trying again would send them a second copy.
            log.warning("mail sent to=%s message-id=%s but refused for %s", recipients, message_id, refused)
        log.info("mail sent to=%s message-id=%s via %s:%s", recipients, message_id, self.host, self.port)


# Connections kept open between the messages sent inside `reusing_connections` (None outside it).
_KEPT: ContextVar[dict[SMTPBackend, SMTPClient] | None] = ContextVar("edocta_smtp_kept", default=None)


@contextlib.contextmanager
def reusing_connections() -> Iterator[None]:
    """Messages sent inside this block go over one SMTP connection per server instead of one each (several
    emails of one task). A connection is kept only after a message went through completely (accepted and
    recorded); any failure closes it, and the next message opens a new one. Closed (QUIT) at the end."""
    kept: dict[SMTPBackend, SMTPClient] = {}
    token = _KEPT.set(kept)
    try:
        yield
    finally:
        _KEPT.reset(token)
        for connection in kept.values():
            _close(connection)


def _still_open(connection: SMTPClient | None) -> SMTPClient | None:
    """A kept connection the server has not ended meanwhile, or None (then closed).

    A connection is kept only after a complete transaction (DATA answered 250), which leaves the session clean
    (RFC 5321 4.1.4): it needs no RSET, only a look, without a round trip, at whether the server said anything
    since. A server that hangs up, or ends an idle session with a 421, leaves the end of the stream or that reply
    to read; one still listening leaves nothing. (An RSET before each reuse was one more round trip per email.)"""
    if connection is None:
        return None
    sock = connection.sock
    quiet = False
    if sock is not None:
        try:
            poller = select.poll()
            poller.register(sock, select.POLLIN | select.POLLPRI)
            quiet = not poller.poll(0) and not (isinstance(sock, ssl.SSLSocket) and sock.pending())
        except (OSError, ValueError):  # a socket closed meanwhile
            quiet = False
    if quiet:
        return connection
    _close(connection)
    return None


def _close(connection: smtplib.SMTP) -> None:
    # The message may already be accepted: a failing QUIT must not turn that into an error.
    with contextlib.suppress(smtplib.SMTPException, OSError):
        connection.quit()
    connection.close()


@dataclass(frozen=True)
class OutboxFolderBackend:
    """Writes each message as an `.eml` file into a folder (the embedded default: `var/outbox/`).

    File names sort by the time they were written (UTC, nanoseconds) and are unique; each file appears
    complete or not at all.
    """

    folder: Path

    def send(self, message: EmailMessage, on_accepted: Callable[[], None] | None = None) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        now = time.time_ns()
        stamp = dt.datetime.fromtimestamp(now // 1_000_000_000, dt.UTC).strftime("%Y%m%dT%H%M%S")
        name = f"{stamp}.{now % 1_000_000_000:09d}Z-{secrets.token_hex(6)}.eml"
        temporary = self.folder / f".{name}.tmp"
        data = message_bytes(message)
        try:
            with open(temporary, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.folder / name)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        log.info("mail written to=%s message-id=%s file=%s", recipients_of(message), message.get("Message-ID"), name)
        if on_accepted is not None:
            try:
                on_accepted()
            except Exception as error:
                raise NotRecorded(f"{type(error).__name__}: {error}") from error


def get_mail_backend() -> MailBackend:
    """SMTP when `EDOCTA_SMTP_URL` is set, otherwise the outbox folder `var/outbox/`."""
    settings = get_settings()
    if settings.smtp_url:
        return SMTPBackend.from_url(settings.smtp_url)
    return OutboxFolderBackend(settings.outbox_dir)


def send_message(message: EmailMessage) -> None:
    """Deliver `message` with the configured backend (raises TransientMailError / PermanentMailError)."""
    get_mail_backend().send(message)
