"""The outbox's rules, called directly (no worker): claims and leases, back-off, giving up after the retry
period, and a resend as a new generation. Real PostgreSQL/SQLite and a real SMTP server.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import delete, select, update

from shared.db import session_scope
from shared.mail import claim_email, send_statement_email
from shared.models import Account, Customer, OpenItem, OutboxEmail, RunAccount, utcnow
from shared.runs import process_account, resend_email, start_run
from shared.statements import load_statement
from tests.factories import CUTOFF, CustomerSpec, add_company, add_customers
from tests.servers import SMTPHandler, SMTPServer, running_smtp_server, use_environment


@pytest.fixture
def queued_email(database: str, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch, var_dir: Path) -> int:
    """One statement email in the outbox (the account processed in this process), not yet sent."""
    use_environment(
        monkeypatch,
        EDOCTA_SMTP_URL=smtp_server.url,
        EDOCTA_MAIL_RETRY_BASE_SECONDS="60",
        EDOCTA_MAIL_LEASE_SECONDS="300",
    )
    add_company("1000", "Tinacos del Bajío")
    add_customers(
        "1000",
        [
            CustomerSpec(
                "100001",
                "Ferretería La Paz",
                "pagos@lapaz.example",
                formats="xlsx",
                items=(("F1", "2026-10-01", "1160.00", "MXN"),),
            )
        ],
    )
    start_run(CUTOFF)
    with session_scope() as session:
        run_account_id = session.scalars(select(RunAccount.id)).one()
    assert process_account(run_account_id).status == "done"
    with session_scope() as session:
        return session.scalars(select(OutboxEmail.id)).one()


def row(outbox_id: int) -> OutboxEmail:
    with session_scope() as session:
        found = session.get(OutboxEmail, outbox_id)
        assert found is not None
        return found


def test_only_one_claim_wins_and_a_sent_email_is_never_sent_again(queued_email: int, smtp_server: SMTPServer) -> None:
    with session_scope() as session:
        first = claim_email(session, queued_email)
        second = claim_email(session, queued_email)
    assert first is not None and not first.recovered
    assert second is None  # held by a live lease
    # The lease expires (its worker died): the next claim takes it over and says so.
    with session_scope() as session:
        session.execute(
            update(OutboxEmail)
            .values(lease_until=utcnow() - dt.timedelta(seconds=1))
            .where(OutboxEmail.id == queued_email)
        )
    assert send_statement_email(queued_email).result == "sent"
    assert row(queued_email).attempts == 2
    assert send_statement_email(queued_email).result == "not_claimed"
    assert len(smtp_server.messages) == 1


def test_an_email_states_the_data_as_it_is_when_it_is_sent(queued_email: int, smtp_server: SMTPServer) -> None:
    # After the email was queued, the customer's invoice changes, its account at the company is closed and it now
    # takes PDF and XLSX: the email sent states what the portal states now (the new amount; no credit limit), with
    # its files rendered anew. A row that names no files (queued before rows named them) attaches the customer's
    # formats.
    queued = row(queued_email)
    with session_scope() as session:
        session.execute(update(OpenItem).values(amount="2320.00"))
        session.execute(update(Customer).values(statement_formats="pdf;xlsx"))
        session.execute(update(OutboxEmail).values(attachments=[]))
        session.execute(delete(RunAccount))
        session.execute(delete(Account))
    assert send_statement_email(queued_email).result == "sent"
    (message,) = smtp_server.messages
    plain = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "2,320.00" in plain and "1,160.00" not in plain
    assert "Saldo total" in plain and "Límite de crédito" not in plain and "Crédito disponible" not in plain
    with session_scope() as session:
        now = load_statement(session, "1000", "100001", queued.cutoff).in_language("es")
    sent = row(queued_email)
    assert sent.fingerprint == now.fingerprint != queued.fingerprint
    assert [key.rsplit(".", 1)[1] for key in sent.attachments] == ["pdf", "xlsx"]
    assert [part.get_filename() for part in message.iter_attachments()] == [  # type: ignore[attr-defined]
        "estado-de-cuenta_1000_100001_2026-10-31.pdf",
        "estado-de-cuenta_1000_100001_2026-10-31.xlsx",
    ]


def test_a_421_waits_with_back_off_then_gives_up_after_the_retry_period(
    queued_email: int, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp_server.refuse_all = "421 4.3.2 Service not available"
    before = utcnow()
    outcome = send_statement_email(queued_email)
    assert (outcome.result, outcome.retry_in) == ("retry", 60.0)
    waiting = row(queued_email)
    assert (waiting.status, waiting.attempts, waiting.lease_token) == ("pending", 1, None)
    assert waiting.last_error.startswith("421 4.3.2")
    assert waiting.next_attempt_at >= before + dt.timedelta(seconds=60)
    assert send_statement_email(queued_email).result == "not_claimed"  # not due yet

    # Due again, refused again: the back-off doubles.
    with session_scope() as session:
        session.execute(update(OutboxEmail).values(next_attempt_at=utcnow()).where(OutboxEmail.id == queued_email))
    assert send_statement_email(queued_email).retry_in == 120.0

    # Queued more than 24 hours ago: the next refusal is final.
    with session_scope() as session:
        session.execute(
            update(OutboxEmail)
            .values(next_attempt_at=utcnow(), first_queued_at=utcnow() - dt.timedelta(hours=24, minutes=1))
            .where(OutboxEmail.id == queued_email)
        )
    assert send_statement_email(queued_email).result == "failed"
    failed = row(queued_email)
    assert failed.status == "failed"
    assert failed.last_error.startswith("gave up after 3 attempts over 24 h: 421 4.3.2")
    assert smtp_server.messages == []


def test_a_resend_is_a_new_generation_that_goes_out_once(queued_email: int, smtp_server: SMTPServer) -> None:
    assert send_statement_email(queued_email).result == "sent"
    resend_email(queued_email, by_username="admin")
    again = row(queued_email)
    assert (again.status, again.generation, again.attempts) == ("pending", 2, 0)
    assert send_statement_email(queued_email).result == "sent"
    assert send_statement_email(queued_email).result == "not_claimed"
    assert [len(m.get_all("Message-ID")) for m in smtp_server.messages] == [1, 1]
    ids = [str(m["Message-ID"]) for m in smtp_server.messages]
    assert len(ids) == 2 and ids[0] != ids[1]
    assert f"statement.{queued_email}.1." in ids[0] and f"statement.{queued_email}.2." in ids[1]


class TroubleAtQuit(SMTPHandler):
    """Accepts the message, then holds QUIT until released and drops the connection instead of answering."""

    def __init__(self, server: SMTPServer) -> None:
        super().__init__(server)
        self.at_quit = threading.Event()
        self.release = threading.Event()

    async def handle_QUIT(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.at_quit.set()
        while not self.release.is_set():
            await asyncio.sleep(0.05)
        server.transport.abort()
        return "421 4.4.2 connection dropped"


def test_an_email_is_recorded_sent_when_the_server_accepts_it_and_a_failing_quit_never_resends(
    queued_email: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    trouble = SMTPServer(host="127.0.0.1", port=0)
    handler = TroubleAtQuit(trouble)
    with running_smtp_server(trouble, handler):
        use_environment(monkeypatch, EDOCTA_SMTP_URL=trouble.url)
        with ThreadPoolExecutor(1) as pool:
            sending = pool.submit(send_statement_email, queued_email)
            assert handler.at_quit.wait(60), "the server never saw QUIT"
            # DATA was answered 250; QUIT has not been: the email is already recorded as sent.
            held = row(queued_email)
            assert held.status == "sent" and held.sent_at is not None and held.lease_until is None
            handler.release.set()
            outcome = sending.result(timeout=60)
        assert outcome.result == "sent"
        assert send_statement_email(queued_email).result == "not_claimed"
    assert len(trouble.messages) == 1
    assert row(queued_email).attempts == 1


def test_emails_sent_together_share_one_connection_and_a_dropped_one_is_replaced(
    database: str, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch, var_dir: Path
) -> None:
    import shared.mail.backends as backends
    from shared.mail import reusing_connections, send_statement_emails
    from shared.runs import process_accounts

    use_environment(monkeypatch, EDOCTA_SMTP_URL=smtp_server.url)
    add_company("1000", "Tinacos del Bajío")
    add_customers(
        "1000",
        [
            CustomerSpec(f"10000{n}", f"Cliente {n}", f"pagos@cliente{n}.example", formats="xlsx", items=ITEMS)
            for n in range(4)
        ],
    )
    run_id = start_run(CUTOFF)
    with session_scope() as session:
        accounts = list(session.scalars(select(RunAccount.id).where(RunAccount.run_id == run_id)))
    assert [outcome.status for outcome in process_accounts(accounts)] == ["done"] * 4
    with session_scope() as session:
        emails = list(session.scalars(select(OutboxEmail.id).order_by(OutboxEmail.id)))

    # Two emails of one task: one connection, each row claimed and recorded as alone; a second call sends nothing.
    assert [outcome.result for outcome in send_statement_emails(emails[:2])] == ["sent", "sent"]
    assert len(smtp_server.messages) == 2 and smtp_server.sessions[0] is smtp_server.sessions[1]
    assert [outcome.result for outcome in send_statement_emails(emails[:2])] == ["not_claimed"] * 2
    assert len(smtp_server.messages) == 2

    # The connection kept between two messages is gone (the server hung up): the next message opens a new one.
    with reusing_connections():
        assert send_statement_email(emails[2]).result == "sent"
        (kept,) = backends._KEPT.get().values()  # type: ignore[union-attr]
        kept.sock.shutdown(socket.SHUT_RDWR)
        assert send_statement_email(emails[3]).result == "sent"
    assert len(smtp_server.messages) == 4 and smtp_server.sessions[2] is not smtp_server.sessions[3]
    assert sorted(str(m["To"]) for m in smtp_server.messages) == [f"pagos@cliente{n}.example" for n in range(4)]
    for outbox_id in emails:
        assert (row(outbox_id).status, row(outbox_id).attempts) == ("sent", 1)


ITEMS = (("F1", "2026-10-01", "1160.00", "MXN"),)


def _customers_with_their_amounts() -> dict[str, str]:
    """Three customers of one company, each with its own invoice amount; the first with two recipients."""
    amounts = {"100000": "1160.00", "100001": "2500.50", "100002": "999.99"}
    add_company("1000", "Tinacos del Bajío")
    add_customers(
        "1000",
        [
            CustomerSpec(
                number,
                f"Cliente {number}",
                f"pagos@c{number}.example" + (f";cxp@c{number}.example" if number == "100000" else ""),
                formats="pdf;xlsx" if number == "100002" else "xlsx",
                items=(("F1", "2026-10-01", amount, "MXN"),),
            )
            for number, amount in amounts.items()
        ],
    )
    return amounts


def _queued_emails() -> list[int]:
    from shared.runs import process_accounts

    run_id = start_run(CUTOFF)
    with session_scope() as session:
        accounts = list(session.scalars(select(RunAccount.id).where(RunAccount.run_id == run_id)))
    assert {outcome.status for outcome in process_accounts(accounts)} == {"done"}
    with session_scope() as session:
        return list(session.scalars(select(OutboxEmail.id).order_by(OutboxEmail.id)))


def _each_states_its_own_customer(smtp_server: SMTPServer, amounts: dict[str, str]) -> None:
    by_recipient = {str(message["To"]): message for message in smtp_server.messages}
    assert sorted(by_recipient) == [
        "cxp@c100000.example",
        "pagos@c100000.example",
        "pagos@c100001.example",
        "pagos@c100002.example",
    ]
    for recipient, message in by_recipient.items():
        number = recipient.split("@c")[1].split(".")[0]
        plain = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        shown = f"{float(amounts[number]):,.2f}"
        assert shown in plain, (recipient, shown)
        assert not [other for key, other in amounts.items() if key != number and f"{float(other):,.2f}" in plain]
        names = [part.get_filename() for part in message.iter_attachments()]  # type: ignore[attr-defined]
        formats = ["pdf", "xlsx"] if number == "100002" else ["xlsx"]
        assert names == [f"estado-de-cuenta_1000_{number}_2026-10-31.{fmt}" for fmt in formats]
    with session_scope() as session:
        sent = session.execute(
            select(OutboxEmail.status, OutboxEmail.fingerprint, Customer.number).join(Customer)
        ).all()
        for status, fingerprint, number in sent:
            assert status == "sent"
            assert fingerprint == load_statement(session, "1000", number, CUTOFF).in_language("es").fingerprint


@contextlib.contextmanager
def _emails_queued_for(
    handler_for: Callable[[SMTPServer], SMTPHandler], monkeypatch: pytest.MonkeyPatch, pipelining: bool = False
) -> Iterator[tuple[SMTPServer, dict[str, str], list[int]]]:
    """A server answering with `handler_for(server)` (offering PIPELINING or not), and the four emails of
    `_customers_with_their_amounts` queued to go through it: (the server, each customer's amount, the outbox ids)."""
    server = SMTPServer("127.0.0.1", 0, pipelining=pipelining)
    with running_smtp_server(server, handler_for(server)):
        use_environment(monkeypatch, EDOCTA_SMTP_URL=server.url)
        amounts = _customers_with_their_amounts()
        yield server, amounts, _queued_emails()


def test_the_emails_of_one_task_each_state_their_own_customers_statement_as_it_is_now(
    database: str, monkeypatch: pytest.MonkeyPatch, var_dir: Path
) -> None:
    from shared.mail import send_statement_emails

    with _emails_queued_for(SMTPHandler, monkeypatch) as (smtp_server, amounts, emails):
        assert len(emails) == 4
        # After the emails were queued one customer's invoice changed: its email states the new amount, rendered
        # anew.
        with session_scope() as session:
            customer_id = session.scalar(select(Customer.id).where(Customer.number == "100001"))
            session.execute(update(OpenItem).where(OpenItem.customer_id == customer_id).values(amount="4321.00"))
        amounts["100001"] = "4321.00"
        # The task reads the four statements' rows together; each email is still claimed, built and recorded alone.
        assert [outcome.result for outcome in send_statement_emails(emails)] == ["sent"] * 4
        _each_states_its_own_customer(smtp_server, amounts)


def test_emails_of_a_task_whose_statements_cannot_be_read_together_read_their_own(
    database: str, monkeypatch: pytest.MonkeyPatch, var_dir: Path
) -> None:
    import shared.mail.statement_rows as statement_rows
    from shared.mail import send_statement_emails

    def failing(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the database went away for a moment")

    with _emails_queued_for(SMTPHandler, monkeypatch) as (smtp_server, amounts, emails):
        # The batch's read fails; each email then reads its own.
        monkeypatch.setattr(statement_rows, "items_of", failing)
        assert [outcome.result for outcome in send_statement_emails(emails)] == ["sent"] * 4
        _each_states_its_own_customer(smtp_server, amounts)


class _HangingUpHandler(SMTPHandler):
    """Accepts each message, then ends the session shortly after its 250: closes it, or first says 421, as a
    server ending an idle session (or limiting messages per session) does."""

    def __init__(self, server: SMTPServer, goodbye: bytes) -> None:
        super().__init__(server)
        self.goodbye = goodbye

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        def hang_up() -> None:
            if self.goodbye:
                server.transport.write(self.goodbye)
            server.transport.close()

        asyncio.get_running_loop().call_later(0.05, hang_up)
        return await super().handle_DATA(server, session, envelope)


def test_on_postgresql_each_record_of_a_task_claims_the_next_email_in_the_same_statement(
    database: str, sent_statements: list[tuple[str, Any]], monkeypatch: pytest.MonkeyPatch, var_dir: Path
) -> None:
    from shared.mail import send_statement_emails

    with _emails_queued_for(SMTPHandler, monkeypatch) as (smtp_server, amounts, emails):
        sent_statements.clear()  # the statements of the task only
        assert [outcome.result for outcome in send_statement_emails(emails)] == ["sent"] * 4
        writes = [statement for statement, _ in sent_statements if "UPDATE outbox_emails" in statement]
        _each_states_its_own_customer(smtp_server, amounts)
    for outbox_id in emails:
        assert (row(outbox_id).status, row(outbox_id).attempts, row(outbox_id).lease_token) == ("sent", 1, None)
    # The first email's claim, then a record for each, the first three also claiming the next: 5 statements for
    # 4 emails; on SQLite a claim and a record each.
    assert len(writes) == (5 if database.startswith("postgresql") else 8), writes


def test_two_tasks_sending_the_same_emails_at_once_send_each_email_once(
    database: str, monkeypatch: pytest.MonkeyPatch, var_dir: Path
) -> None:
    """A task's emails queued twice (the sweeper's and the run's message both delivered), one task going forward
    and one backward through them: every claim, made alone or with the previous email's record, is taken once."""
    from shared.mail import send_statement_emails

    with _emails_queued_for(SMTPHandler, monkeypatch) as (smtp_server, amounts, emails):
        with ThreadPoolExecutor(2) as pool:
            forward = pool.submit(send_statement_emails, emails)
            backward = pool.submit(send_statement_emails, list(reversed(emails)))
            results = [outcome.result for outcome in forward.result() + backward.result()]
        assert sorted(results) == ["not_claimed"] * 4 + ["sent"] * 4
        assert len(smtp_server.messages) == 4
        _each_states_its_own_customer(smtp_server, amounts)
    for outbox_id in emails:
        assert (row(outbox_id).status, row(outbox_id).attempts, row(outbox_id).lease_token) == ("sent", 1, None)


def test_a_task_stopped_after_claiming_its_next_email_gives_that_claim_back(
    database: str, monkeypatch: pytest.MonkeyPatch, var_dir: Path
) -> None:
    import shared.mail.outbox as outbox
    import shared.mail.statement_rows as statement_rows
    from shared.mail import send_statement_emails

    reads = []
    read_batch = outbox.read_batch

    def stopping_at_the_second_read(outbox_ids: list[int]) -> object:
        reads.append(outbox_ids)
        if len(reads) == 2:  # the task's time is up: after the first email's record, before the second is sent
            raise SoftTimeLimitExceeded()
        return read_batch(outbox_ids)

    with _emails_queued_for(SMTPHandler, monkeypatch) as (smtp_server, amounts, emails):
        monkeypatch.setattr(statement_rows, "BATCH_ROWS_SECONDS", 0.0)  # each email reads the rows again
        monkeypatch.setattr(outbox, "read_batch", stopping_at_the_second_read)
        with pytest.raises(SoftTimeLimitExceeded):
            send_statement_emails(emails)
        assert len(smtp_server.messages) == 1
        assert (row(emails[0]).status, row(emails[0]).attempts) == ("sent", 1)
        for outbox_id in emails[1:]:  # the second was claimed with the first's record: given back, uncounted
            assert (row(outbox_id).status, row(outbox_id).attempts, row(outbox_id).lease_token) == ("pending", 0, None)
        monkeypatch.setattr(outbox, "read_batch", read_batch)
        assert [outcome.result for outcome in send_statement_emails(emails[1:])] == ["sent"] * 3
        _each_states_its_own_customer(smtp_server, amounts)
    for outbox_id in emails:
        assert (row(outbox_id).status, row(outbox_id).attempts) == ("sent", 1)


@pytest.mark.parametrize("goodbye", [b"", b"421 4.4.2 Idle timeout, closing the session\r\n"])
def test_a_kept_connection_the_server_ended_is_replaced_and_no_email_waits_for_a_retry(
    database: str, monkeypatch: pytest.MonkeyPatch, var_dir: Path, goodbye: bytes
) -> None:
    import time

    from shared.mail import reusing_connections

    with _emails_queued_for(lambda server: _HangingUpHandler(server, goodbye), monkeypatch) as (server, _, emails):
        with reusing_connections():
            for outbox_id in emails:
                assert send_statement_email(outbox_id).result == "sent"
                time.sleep(0.3)  # the server has ended the session it kept by now
        assert len(server.messages) == 4
        assert len({id(session) for session in server.sessions}) == 4  # each on a connection of its own
    for outbox_id in emails:
        assert (row(outbox_id).status, row(outbox_id).attempts) == ("sent", 1)


class _SlowFirstDataHandler(SMTPHandler):
    """Takes its time over the first message (longer than a task's rows are used), and meanwhile the ERP changes
    another customer's invoice."""

    def __init__(self, server: SMTPServer, change: Callable[[], None]) -> None:
        super().__init__(server)
        self.change = change

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if not self.server.messages:
            await asyncio.to_thread(self.change)
            await asyncio.sleep(1.2)
        return await super().handle_DATA(server, session, envelope)


def test_an_email_of_a_task_waiting_behind_a_slow_one_states_the_data_as_it_is_when_its_turn_comes(
    database: str, monkeypatch: pytest.MonkeyPatch, var_dir: Path
) -> None:
    from shared.mail import send_statement_emails
    from shared.mail.statement_rows import BATCH_ROWS_SECONDS

    assert BATCH_ROWS_SECONDS < 1.2

    def change() -> None:
        with session_scope() as session:
            customer_id = session.scalar(select(Customer.id).where(Customer.number == "100002"))
            session.execute(update(OpenItem).where(OpenItem.customer_id == customer_id).values(amount="7777.00"))

    with _emails_queued_for(lambda server: _SlowFirstDataHandler(server, change), monkeypatch) as queued:
        server, amounts, emails = queued
        # The task read the four statements together before its first email, which the server held while the
        # invoice changed: the last email states the new amount, not the one read with the others.
        assert [outcome.result for outcome in send_statement_emails(emails)] == ["sent"] * 4
        amounts["100002"] = "7777.00"
        _each_states_its_own_customer(server, amounts)


class _OneMessagePerSessionHandler(SMTPHandler):
    """Takes one message a session: says 421 to the next MAIL, as servers that limit messages per session do; or
    says so in the same write as the first message's 250 (`eager`), leaving the reply in the client's buffer."""

    def __init__(self, server: SMTPServer, eager: bool) -> None:
        super().__init__(server)
        self.eager = eager
        self.served: set[int] = set()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # type: ignore[no-untyped-def]
        if id(session) in self.served:
            return "421 4.7.0 One message a session, please reconnect"
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.served.add(id(session))
        reply = await super().handle_DATA(server, session, envelope)
        return reply + ("\r\n421 4.7.0 One message a session, please reconnect" if self.eager else "")


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-command-at-a-time", "pipelining"])
@pytest.mark.parametrize("eager", [False, True], ids=["at-mail", "with-the-250"])
def test_a_server_that_takes_one_message_a_session_gets_every_email_at_once(
    database: str, monkeypatch: pytest.MonkeyPatch, var_dir: Path, eager: bool, pipelining: bool
) -> None:
    from shared.mail import send_statement_emails

    handler = lambda server: _OneMessagePerSessionHandler(server, eager)  # noqa: E731
    with _emails_queued_for(handler, monkeypatch, pipelining) as queued:
        server, amounts, emails = queued
        # The kept connection's next MAIL is refused with 421 before anything of the message reached the server:
        # the email goes on a new connection at once instead of waiting for a retry.
        assert [outcome.result for outcome in send_statement_emails(emails)] == ["sent"] * 4
        assert len({id(session) for session in server.sessions}) == 4
        _each_states_its_own_customer(server, amounts)
    for outbox_id in emails:
        assert (row(outbox_id).status, row(outbox_id).attempts) == ("sent", 1)
