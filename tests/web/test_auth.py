"""Sign-in, first access, forced change, forgotten password and password rules, as a user meets them
(quality.md 1-10), through the portal's forms on both databases."""

from __future__ import annotations

import datetime as dt
import json
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from shared import accounts
from shared.accounts import passwords
from shared.db import session_scope
from shared.models import TemporaryPassword, User
from shared.vocab import Task
from tests.factories import PASSWORD, TestUser, user_row
from tests.portal import hidden_inputs, post_form, sign_in
from tests.servers import emails_to, outbox_messages, queued_tasks, run_account_tasks

NEW_PASSWORD = "otra frase larga para el portal"


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def temporary_password_in(message: EmailMessage) -> str:
    match = re.search(r"(?:temporal|temporary password)[^:\n]*:\s*(\S{16,})", body_text(message), re.IGNORECASE)
    assert match, body_text(message)
    return match.group(1)


def change_password(client: TestClient[Any], current: str, new: str, confirm: str | None = None) -> Any:
    return post_form(
        client,
        "/password/change",
        "/password/change",
        {"current_password": current, "new_password": new, "confirm_password": new if confirm is None else confirm},
    )


def invite(username: str, email: str, language: str = "es") -> int:
    return accounts.create_user_and_invite(
        username=username, email=email, role="staff", customer_numbers=[], language=language, full_name="Ana Pérez"
    )


# --- first access -------------------------------------------------------------------------------------------


def test_first_access_from_the_invitation_to_the_personal_password(
    app_client: TestClient[Any], var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDOCTA_BASE_URL", "https://portal.example.com")
    from shared.settings import reset_settings

    reset_settings()
    invite("ana", "ana@example.com")
    (invitation,) = emails_to(var_dir, "ana@example.com")
    text = body_text(invitation)
    assert "ana" in text and "https://portal.example.com/login" in text
    temporary = temporary_password_in(invitation)
    assert len(temporary) >= 16

    signed = sign_in(app_client, "ana", temporary)
    assert signed.status_code == 303 and signed.headers["location"] == "/password/change"
    # Nothing else is reachable; the forced change page explains what to do.
    assert app_client.get("/statements", follow_redirects=False).headers["location"] == "/password/change"
    page = app_client.get("/password/change")
    assert "contraseña temporal" in page.text

    done = change_password(app_client, temporary, NEW_PASSWORD)
    assert done.status_code == 303 and done.headers["location"] == "/password/activated"
    activated = app_client.get("/password/activated")
    assert "Comenzar de nuevo" in activated.text and 'href="/login"' in activated.text
    # The forced session ended: start again at the sign-in page.
    assert app_client.get("/statements", follow_redirects=False).headers["location"].startswith("/login")
    # The temporary password died when it was used; the personal one works.
    assert sign_in(app_client, "ana", temporary).status_code == 401
    assert sign_in(app_client, "ana", NEW_PASSWORD).headers["location"] == "/statements"


def test_the_invitation_is_in_the_users_language(app_client: TestClient[Any], var_dir: Path) -> None:
    invite("reader", "reader@example.com", language="en")
    (invitation,) = emails_to(var_dir, "reader@example.com")
    assert invitation["Subject"] == "Your access to the account statements portal"
    assert "Temporary password:" in body_text(invitation)


# --- quality 4: a temporary-password session reaches only the change and sign-out ------------------------


def test_a_temporary_password_session_reaches_only_the_password_change(
    app_client: TestClient[Any], var_dir: Path
) -> None:
    invite("forced", "forced@example.com")
    temporary = temporary_password_in(emails_to(var_dir, "forced@example.com")[0])
    sign_in(app_client, "forced", temporary)
    for page in ("/statements", "/users", "/", "/statements/1000/100001/2026-11-30"):
        response = app_client.get(page, follow_redirects=False)
        assert response.status_code == 303, page
        assert response.headers["location"] == "/password/change", page
    for file in ("/statements/1000/100001/2026-11-30.pdf", "/statements/1000/100001/2026-11-30.xlsx"):
        response = app_client.get(file, follow_redirects=False)
        assert response.status_code == 403, file
        assert "%PDF" not in response.text
    assert app_client.get("/password/change").status_code == 200
    out = post_form(app_client, "/password/change", "/logout", {})
    assert out.status_code == 303
    assert app_client.get("/password/change", follow_redirects=False).headers["location"].startswith("/login")


# --- quality 1 and 2: the forgotten password ----------------------------------------------------------------


def forgot_response(client: TestClient[Any], username: str) -> tuple[int, str, str, str]:
    page = client.get("/password/forgot")
    data = hidden_inputs(page.text)
    data["username"] = username
    posted = client.post("/password/forgot", data=data, follow_redirects=False)
    answer = client.get(posted.headers["location"])
    cookies = ";".join(sorted(c.split("=")[0] for c in posted.headers.get_list("set-cookie")))
    body = re.sub(r'name="_csrf_token" value="[^"]+"', "", answer.text)
    return posted.status_code, posted.headers["location"], cookies, body


def test_forgot_password_answers_the_same_for_known_unknown_and_disabled_users(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], var_dir: Path
) -> None:
    known = make_user("customer")
    disabled = make_user("customer")
    accounts.disable_user(disabled.username)
    answers = {name: forgot_response(app_client, name) for name in (known.username, "nobody-here", disabled.username)}
    assert len(set(answers.values())) == 1, answers
    status, location, _, body = answers[known.username]
    assert status == 303 and location == "/password/forgot/sent"
    assert "Si el usuario existe" in body
    # The web only enqueued the work: one task per request, whatever the ID.
    tasks = queued_tasks(var_dir)
    assert [t.name for t in tasks] == [Task.SEND_PASSWORD_RESET] * 3
    assert [t.args for t in tasks] == [[known.username], ["nobody-here"], [disabled.username]]
    run_account_tasks(var_dir)
    assert len(emails_to(var_dir, known.email)) == 1
    assert emails_to(var_dir, disabled.email) == []
    assert len(outbox_messages(var_dir)) == 1


def test_forgot_password_takes_the_same_time_for_any_user_id(
    app_client: TestClient[Any], make_user: Callable[..., TestUser]
) -> None:
    known = make_user("customer")
    page = app_client.get("/password/forgot")
    data = hidden_inputs(page.text)
    timings: dict[str, list[float]] = {known.username: [], "nadie-existe": []}
    for _ in range(25):
        for name in timings:
            started = time.perf_counter()
            response = app_client.post("/password/forgot", data={**data, "username": name}, follow_redirects=False)
            timings[name].append(time.perf_counter() - started)
            assert response.status_code == 303
    known_median = statistics.median(timings[known.username])
    unknown_median = statistics.median(timings["nadie-existe"])
    # A statistical comparison with a generous tolerance: no hashing or lookup happens in the request either way.
    assert 0.5 < known_median / unknown_median < 2.0, (known_median, unknown_median)


def test_asking_for_a_reset_changes_nothing_until_the_temporary_password_is_used(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], var_dir: Path
) -> None:
    user = make_user("customer")
    forgot_response(app_client, user.username)
    run_account_tasks(var_dir)
    temporary = temporary_password_in(emails_to(var_dir, user.email)[0])
    # The old password still works.
    assert sign_in(app_client, user.username, user.password).headers["location"] == "/statements"
    post_form(app_client, "/statements", "/logout", {})
    # The temporary one works too, once, into the forced change.
    assert sign_in(app_client, user.username, temporary).headers["location"] == "/password/change"
    assert change_password(app_client, temporary, NEW_PASSWORD).headers["location"] == "/password/activated"
    assert sign_in(app_client, user.username, user.password).status_code == 401
    assert sign_in(app_client, user.username, NEW_PASSWORD).status_code == 303


def test_links_in_emails_use_the_configured_base_url_not_the_host_header(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], var_dir: Path
) -> None:
    user = make_user("customer")
    page = app_client.get("/password/forgot", headers={"Host": "evil.example"})
    data = {**hidden_inputs(page.text), "username": user.username}
    app_client.post(
        "/password/forgot",
        data=data,
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
        follow_redirects=False,
    )
    run_account_tasks(var_dir)
    (message,) = emails_to(var_dir, user.email)
    text = body_text(message)
    assert "evil.example" not in text
    assert "http://127.0.0.1:8000/login" in text
    assert message["To"] == user.email


# --- quality 3: temporary passwords -------------------------------------------------------------------------


def test_temporary_passwords_are_random_long_hashed_and_work_until_replaced(database: str, var_dir: Path) -> None:
    user_id = invite("temp", "temp@example.com")
    temporary = temporary_password_in(emails_to(var_dir, "temp@example.com")[0])
    assert len(temporary) >= 16 and re.fullmatch(r"[A-Za-z0-9]+", temporary)
    with session_scope() as session:
        (row,) = session.scalars(select(TemporaryPassword).where(TemporaryPassword.user_id == user_id))
        assert row.password_hash.startswith("$argon2id$") and temporary not in row.password_hash
        assert row.purpose == "invitation"
        assert row.expires_at - row.created_at == dt.timedelta(hours=72)
        first = accounts.authenticate(session, "temp", temporary)
        assert first is not None and first.must_change
    # Signing in again with it (the tab on "Cambiar contraseña" was closed) works, into the forced change again.
    with session_scope() as session:
        again = accounts.authenticate(session, "temp", temporary)
        assert again is not None and again.must_change
    others = {accounts.generate_temporary_password() for _ in range(200)}
    assert len(others) == 200


def test_temporary_passwords_expire(database: str, var_dir: Path) -> None:
    invite("late", "late@example.com")
    temporary = temporary_password_in(emails_to(var_dir, "late@example.com")[0])
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=72, minutes=1)
    with session_scope() as session:
        assert accounts.authenticate(session, "late", temporary, now=later) is None
    # A reset lives one hour.
    start = dt.datetime.now(dt.UTC) + dt.timedelta(hours=80)
    assert accounts.send_password_reset("late", now=start)
    reset = temporary_password_in(emails_to(var_dir, "late@example.com")[-1])
    with session_scope() as session:
        assert accounts.authenticate(session, "late", reset, now=start + dt.timedelta(minutes=61)) is None
    with session_scope() as session:
        assert accounts.authenticate(session, "late", reset, now=start + dt.timedelta(minutes=59)) is not None


def test_a_newer_temporary_password_voids_the_older(database: str, var_dir: Path) -> None:
    user_id = invite("twice", "twice@example.com")
    first = temporary_password_in(emails_to(var_dir, "twice@example.com")[0])
    accounts.send_invitation(user_id)
    second = temporary_password_in(emails_to(var_dir, "twice@example.com")[1])
    assert first != second
    with session_scope() as session:
        assert accounts.authenticate(session, "twice", first) is None
        voided = session.scalars(select(TemporaryPassword).where(TemporaryPassword.voided_at.is_not(None))).all()
        assert len(voided) == 1
    with session_scope() as session:
        assert accounts.authenticate(session, "twice", second) is not None


def test_a_password_change_voids_pending_temporary_passwords(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], var_dir: Path
) -> None:
    user = make_user("customer")
    assert accounts.send_password_reset(user.username)
    temporary = temporary_password_in(emails_to(var_dir, user.email)[0])
    sign_in(app_client, user.username, user.password)
    assert change_password(app_client, user.password, NEW_PASSWORD).headers["location"] == "/statements"
    post_form(app_client, "/statements", "/logout", {})
    assert sign_in(app_client, user.username, temporary).status_code == 401


def test_repeated_reset_requests_do_not_void_the_password_just_sent(database: str, var_dir: Path) -> None:
    user_id = invite("spam", "spam@example.com")
    with session_scope() as session:
        session.get(User, user_id).password_hash = accounts.hash_password(PASSWORD)  # type: ignore[union-attr]
    assert accounts.send_password_reset("spam")
    sent = temporary_password_in(emails_to(var_dir, "spam@example.com")[-1])
    # Someone keeps asking: no new email within minutes, so the one the owner has keeps working.
    assert not accounts.send_password_reset("spam")
    assert not accounts.send_password_reset("spam")
    with session_scope() as session:
        assert accounts.authenticate(session, "spam", sent) is not None


# --- quality 5 and 6: password rules and hashing ------------------------------------------------------------


class CountingHasher:
    """The real Argon2 hasher, counting its calls (to prove what was never hashed)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: list[str] = []

    def hash(self, password: str) -> str:
        self.calls.append("hash")
        return str(self.real.hash(password))

    def verify(self, hashed: str, password: str) -> bool:
        self.calls.append("verify")
        return bool(self.real.verify(hashed, password))

    def check_needs_rehash(self, hashed: str) -> bool:
        return bool(self.real.check_needs_rehash(hashed))


@pytest.fixture
def counting_hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    passwords.dummy_hash()  # built once per process, outside the counts
    hasher = CountingHasher(passwords.hasher)
    monkeypatch.setattr(passwords, "hasher", hasher)
    return hasher


@pytest.mark.parametrize(
    ("new", "confirm", "field", "message"),
    [
        ("corta", None, "new_password", "al menos 12 caracteres"),
        ("password1234", None, "new_password", "demasiado común"),
        ("qwertyuiop123", None, "new_password", "demasiado común"),
        ("aaaaaaaaaaaaaaaa", None, "new_password", "demasiado común"),
        ("mi usuario es USERNAME y ya", None, "new_password", "no puede contener tu usuario"),
        ("x" * 129, None, "new_password", "como máximo 128"),
        ("una frase suficientemente larga", "otra distinta", "confirm_password", "no coinciden"),
    ],
)
def test_new_passwords_follow_the_rules_and_say_what_is_wrong_next_to_the_field(
    app_client: TestClient[Any],
    make_user: Callable[..., TestUser],
    new: str,
    confirm: str | None,
    field: str,
    message: str,
) -> None:
    user = make_user("customer", username="luis.perez")
    new = new.replace("USERNAME", "Luis.Perez")
    sign_in(app_client, user.username, user.password)
    before = user_row(user.username).password_version
    response = change_password(app_client, user.password, new, confirm)
    assert response.status_code == 400
    errors = re.findall(r'id="field-([a-z_]+)-error">([^<]+)<', response.text)
    assert any(name == field and message in text for name, text in errors), errors
    assert new not in response.text  # passwords are never echoed back
    assert user_row(user.username).password_version == before


@pytest.mark.parametrize(
    "new",
    [
        "x" * 12,
        "correcto caballo batería grapa",
        "ñandú 🦆 über straße 東京",
        "a" + "b" * 126 + "c",
    ],
)
def test_any_unicode_and_spaces_from_12_to_128_characters_are_accepted(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], new: str
) -> None:
    if new == "x" * 12:
        new = "xQ3 vh!9 Lm2k"  # 13 varied characters, no composition rule needed
    user = make_user("customer")
    sign_in(app_client, user.username, user.password)
    assert change_password(app_client, user.password, new).headers["location"] == "/statements"
    post_form(app_client, "/statements", "/logout", {})
    assert sign_in(app_client, user.username, new).status_code == 303


def test_the_new_password_must_differ_from_the_temporary_one(app_client: TestClient[Any], var_dir: Path) -> None:
    invite("same", "same@example.com")
    temporary = temporary_password_in(emails_to(var_dir, "same@example.com")[0])
    sign_in(app_client, "same", temporary)
    response = change_password(app_client, temporary, temporary)
    assert response.status_code == 400
    assert "distinta de la temporal" in response.text


def test_a_one_megabyte_password_is_refused_fast_and_never_hashed(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], counting_hasher: CountingHasher
) -> None:
    user = make_user("customer")
    sign_in(app_client, user.username, user.password)
    counting_hasher.calls.clear()
    huge = ("ñandú " + "abcdefghij" * 100) * 1000  # about 1 MB
    response = change_password(app_client, user.password, huge)
    assert response.status_code == 400
    assert "como máximo 128" in response.text
    assert counting_hasher.calls == []
    # The same at the sign-in form: refused without hashing.
    post_form(app_client, "/statements", "/logout", {})
    counting_hasher.calls.clear()
    assert sign_in(app_client, user.username, huge).status_code == 401
    assert counting_hasher.calls == []


def test_passwords_are_stored_as_argon2id(make_user: Callable[..., TestUser]) -> None:
    user = make_user("customer")
    with session_scope() as session:
        stored = accounts.find_user(session, user.username)
        assert stored is not None and stored.password_hash is not None
        assert stored.password_hash.startswith("$argon2id$v=19$")
        assert user.password not in stored.password_hash


# --- quality 7: sign-in failures all look the same ----------------------------------------------------------


def login_failure(client: TestClient[Any], username: str, password: str) -> tuple[int, str]:
    response = sign_in(client, username, password)
    body = re.sub(r'name="_csrf_token" value="[^"]+"', "", response.text)
    body = body.replace(f'value="{username}"', 'value="USER"')
    return response.status_code, body


def test_sign_in_failures_look_the_same_and_cost_the_same_hashing(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], counting_hasher: CountingHasher
) -> None:
    known = make_user("customer")
    disabled = make_user("customer")
    accounts.disable_user(disabled.username)
    pending = make_user("customer")
    accounts.send_password_reset(pending.username)  # a live temporary password too
    results = {}
    costs = {}
    for label, username, password in (
        ("wrong", known.username, "not the password at all"),
        ("unknown", "nadie", "not the password at all"),
        ("disabled", disabled.username, disabled.password),
        ("pending", pending.username, "not the password at all"),
    ):
        counting_hasher.calls.clear()
        results[label] = login_failure(app_client, username, password)
        costs[label] = counting_hasher.calls.count("verify")
    assert len(set(results.values())) == 1, results
    status, body = results["wrong"]
    assert status == 401 and "Usuario o contraseña incorrectos." in body
    assert set(costs.values()) == {1}, costs


def test_the_sign_in_form_keeps_the_user_id_but_never_the_password(
    app_client: TestClient[Any], make_user: Callable[..., TestUser]
) -> None:
    user = make_user("customer")
    response = sign_in(app_client, user.username, "a wrong but memorable secret")
    assert f'value="{user.username}"' in response.text
    assert "a wrong but memorable secret" not in response.text
    assert 'href="/password/forgot"' in response.text and "Olvidé mi contraseña" in response.text


# --- quality 8: guessing is refused at once, the owner and the reset flow stay open -------------------------


def test_guesses_over_the_limit_are_refused_at_once_and_the_owner_can_still_reset(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], var_dir: Path, counting_hasher: CountingHasher
) -> None:
    user = make_user("customer")
    for _ in range(5):
        assert sign_in(app_client, user.username, "guessing wrong again").status_code == 401
    counting_hasher.calls.clear()
    started = time.monotonic()
    refused = sign_in(app_client, user.username, user.password)  # even the right password: not checked now
    elapsed = time.monotonic() - started
    assert refused.status_code == 429
    assert counting_hasher.calls == []
    assert 800 <= int(refused.headers["retry-after"]) <= 900
    assert "Demasiados intentos de inicio de sesión. Espera 15 min y vuelve a intentarlo" in refused.text
    assert f'value="{user.username}"' in refused.text  # the form keeps the user ID
    assert elapsed < 5, elapsed  # refused at once (it used to wait 8 s and more with no word)
    # The owner can still ask for a reset, get the email and sign in with it once the wait is over.
    status, location, _, _ = forgot_response(app_client, user.username)
    assert (status, location) == (303, "/password/forgot/sent")
    run_account_tasks(var_dir)
    temporary = temporary_password_in(emails_to(var_dir, user.email)[0])
    assert sign_in(app_client, user.username, temporary).status_code == 429
    # In English for an English reader.
    app_client.cookies.set("edocta_lang", "en")
    english = sign_in(app_client, user.username, temporary)
    assert english.status_code == 429
    assert "Too many sign-in attempts. Wait 15 min and try again" in english.text, english.text


def test_when_every_hash_slot_is_taken_a_sign_in_gets_503_and_its_attempt_back(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], counting_hasher: CountingHasher
) -> None:
    from web.hashing import HashGate

    user = make_user("customer")
    state = app_client.app.state
    state["hash_gate"] = HashGate(slots=1, max_wait=0.1, max_waiting=0)  # nobody may wait: busy at once
    counting_hasher.calls.clear()
    for _ in range(8):
        busy = sign_in(app_client, user.username, user.password)
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "1"
        assert "Hay muchos inicios de sesión en este momento" in busy.text
        assert f'value="{user.username}"' in busy.text
    assert counting_hasher.calls == []
    # Those attempts were given back: once a slot is free the owner signs in (no 429 after 8 unchecked tries).
    state["hash_gate"] = HashGate(slots=1)
    assert sign_in(app_client, user.username, user.password).status_code == 303


def test_the_limits_per_address_per_account_and_pair_hold_and_a_success_resets_the_pair() -> None:
    from shared.accounts.throttle import FileCounterStore, LoginThrottle

    throttle = LoginThrottle(FileCounterStore(Path(tempfile.mkdtemp())), ip_limit=12, account_limit=20)
    # One address guessing one account: five checked, then refused, and the refusals are not counted anywhere.
    outcomes = [throttle.attempt("someone", "10.0.0.1") for _ in range(50)]
    assert outcomes[:5] == [None] * 5
    assert {(o.limit, o.first) for o in outcomes[5:6] if o} == {("pair", True)}
    assert all(o is not None and o.limit == "pair" and not o.first for o in outcomes[6:])
    # The owner from another address is not slowed down.
    assert throttle.attempt("someone", "10.0.0.2") is None
    throttle.succeeded("someone", "10.0.0.2")
    # The same address trying other accounts runs into the address's own limit (12 attempts in all).
    others = [throttle.attempt(f"user{n}", "10.0.0.1") for n in range(10)]
    assert others[:7] == [None] * 7
    assert all(o is not None and o.limit == "address" for o in others[7:])
    # Many addresses guessing one account run into the account's looser limit (20 attempts in all).
    spread = [throttle.attempt("someone", f"10.1.0.{n}") for n in range(30)]
    assert spread.count(None) == 20 - 5
    assert all(o is not None and o.limit == "account" and o.retry_after > 0 for o in spread[15:])
    # A success clears the pair's count.
    throttle = LoginThrottle(FileCounterStore(Path(tempfile.mkdtemp())))
    for _ in range(4):
        assert throttle.attempt("owner", "10.0.0.9") is None
    throttle.succeeded("owner", "10.0.0.9")
    assert [throttle.attempt("owner", "10.0.0.9") for _ in range(5)] == [None] * 5


def test_the_redis_counters_refuse_parallel_guesses_beyond_the_limit(redis_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from shared.accounts.throttle import LoginThrottle, RedisCounterStore

    throttle = LoginThrottle(RedisCounterStore(redis_url, key_prefix="edocta-test"))
    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(lambda _: throttle.attempt("target", "192.0.2.1"), range(200)))
    assert outcomes.count(None) == 5
    refused = [o for o in outcomes if o is not None]
    assert sum(o.first for o in refused) == 1
    assert all(o.limit == "pair" and 890 <= o.retry_after <= 900 for o in refused)
    assert throttle.attempt("target", "192.0.2.2") is None


# --- quality 9: the password-changed email ------------------------------------------------------------------


def test_a_password_change_is_announced_by_email_without_any_secret(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], var_dir: Path
) -> None:
    user = make_user("customer")
    sign_in(app_client, user.username, user.password)
    change_password(app_client, user.password, NEW_PASSWORD)
    tasks = run_account_tasks(var_dir)
    assert [t.name for t in tasks] == [Task.SEND_PASSWORD_CHANGED]
    (message,) = emails_to(var_dir, user.email)
    text = body_text(message)
    assert message["Subject"] == "Tu contraseña se cambió"
    assert user.username in text and "http://127.0.0.1:8000/password/forgot" in text
    assert NEW_PASSWORD not in message.as_string() and user.password not in message.as_string()
    with session_scope() as session:
        stored = accounts.find_user(session, user.username)
        assert stored is not None and stored.password_hash is not None
        assert stored.password_hash not in message.as_string()


def test_a_flood_of_reset_requests_from_one_address_only_postpones_the_emails(
    app_client: TestClient[Any], make_user: Callable[..., TestUser], var_dir: Path
) -> None:
    from shared.accounts.throttle import FileCounterStore, LoginThrottle

    throttle = LoginThrottle(FileCounterStore(Path(tempfile.mkdtemp())))
    delays = [throttle.forgot_delay("10.0.0.9") for _ in range(20)]
    assert delays[:10] == [0] * 10
    assert delays[10:14] == [15, 30, 60, 120]
    assert max(delays) == 900
    assert throttle.forgot_delay("10.0.0.10") == 0

    user = make_user("customer")
    answers = {forgot_response(app_client, user.username) for _ in range(12)}
    assert len(answers) == 1  # the same answer every time, nothing refused
    tasks = queued_tasks(var_dir)
    assert len(tasks) == 12 and all(t.args == [user.username] for t in tasks)
    etas = [json.loads(t.path.read_text())["headers"]["eta"] for t in tasks]
    assert etas[:10] == [None] * 10 and all(etas[10:])
