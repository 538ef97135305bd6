"""Passwords: Argon2id hashing, and the rules a new password must follow.

Rules (NIST SP 800-63B, OWASP):
- passwords are hashed with Argon2id (argon2-cffi defaults); the text is NFKC-normalized first;
- a new password has 12 to 128 characters, any Unicode and spaces, no composition rules, is not a common
  password, does not contain the user ID and differs from the current (or temporary) one;
- temporary passwords come from `secrets`, are 20 characters of a readable alphabet, are stored hashed, live
  72 hours (invitation) or 1 hour (reset), die once used, and a newer one voids the older; any password change
  voids them all. Asking for one changes nothing else: the current password keeps working;
- a sign-in costs exactly one hash check whether the user exists, is disabled, or not;
- the audit trail (table `audit_events` and the `edocta.audit` log) never holds a secret.
"""

from __future__ import annotations

import functools
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shared.i18n import N_, TranslatableError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
# Anything longer than this is refused before any normalization or hashing (a 1 MB "password" costs nothing).
MAX_PASSWORD_INPUT = 4 * MAX_PASSWORD_LENGTH
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "common_passwords.txt"

hasher = PasswordHasher()


class AccountError(TranslatableError):
    """A request about accounts that cannot be done: a message id and its parameters (shown in the page's
    language with `message(language)`; `str()` is the English text, for the command line)."""


@dataclass
class PasswordRejected(AccountError):
    """The new password (or the current one) is not acceptable; `errors` maps form fields to Spanish msgids."""

    errors: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return "; ".join(f"{name}: {message}" for name, message in self.errors.items())


# --- hashing ------------------------------------------------------------------------------------------------


def normalize(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    """Argon2id hash of the NFKC-normalized password."""
    if len(password) > MAX_PASSWORD_INPUT:
        raise AccountError("password too long")
    return hasher.hash(normalize(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; never raises for a malformed or missing hash (it just does not match)."""
    if len(password) > MAX_PASSWORD_INPUT:
        return False
    try:
        return bool(hasher.verify(password_hash or dummy_hash(), normalize(password))) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """The hash was made with weaker parameters than today's: store a new one at the next sign-in."""
    return bool(hasher.check_needs_rehash(password_hash))


@functools.lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash nobody knows the password of: checked for unknown users so they cost the same time."""
    return hasher.hash(secrets.token_urlsafe(32))


# --- password rules -----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The refused passwords (case-insensitive): a list of the most common ones, shipped with the product."""
    words = set()
    for line in COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            words.add(line.casefold())
    return frozenset(words)


_SEQUENCES = ("0123456789" * 3, "abcdefghijklmnopqrstuvwxyz" * 2, "qwertyuiopasdfghjklzxcvbnm" * 2, "1qaz2wsx3edc4rfv")


def is_common_password(password: str) -> bool:
    """Common passwords, and the usual ways of stretching one: repeats, sequences, a common word plus digits."""
    folded = normalize(password).casefold()
    compact = re.sub(r"[\s_\-.!@#$%^&*]+", "", folded)
    words = common_passwords()
    if folded in words or compact in words:
        return True
    if len(set(compact)) <= 2:
        return True
    for sequence in _SEQUENCES:
        if compact in sequence or compact in sequence[::-1]:
            return True
    stem = re.sub(r"\d+$", "", compact)
    stem = re.sub(r"^\d+", "", stem)
    if stem in words and len(stem) >= 4:
        return True
    # A common word repeated ("passwordpassword", "holaholahola").
    for size in range(3, len(compact) // 2 + 1):
        if len(compact) % size == 0 and compact[:size] * (len(compact) // size) == compact:
            return True
    return False


# What is wrong with a new password, as Spanish msgids of the catalogue (the portal translates them).
TOO_LONG = N_("La contraseña puede tener como máximo 128 caracteres.")
TOO_SHORT = N_("La contraseña debe tener al menos 12 caracteres.")
CONTAINS_USERNAME = N_("La contraseña no puede contener tu usuario.")
TOO_COMMON = N_("Esa contraseña es demasiado común. Elige otra, por ejemplo una frase.")
NO_MATCH = N_("Las contraseñas no coinciden.")
MISSING_CURRENT = N_("Escribe tu contraseña actual.")
WRONG_CURRENT = N_("La contraseña actual no es correcta.")
NEW_FIELD, CONFIRM_FIELD, CURRENT_FIELD = "new_password", "confirm_password", "current_password"


def password_problems(new: str, confirm: str, *, username: str) -> dict[str, str]:
    """What is wrong with a new password, per form field (Spanish msgids). Never hashes anything."""
    problems: dict[str, str] = {}
    if len(new) > MAX_PASSWORD_LENGTH:
        problems[NEW_FIELD] = TOO_LONG
        return problems
    normalized = normalize(new)
    if len(normalized) < MIN_PASSWORD_LENGTH:
        problems[NEW_FIELD] = TOO_SHORT
    elif len(normalized) > MAX_PASSWORD_LENGTH:
        problems[NEW_FIELD] = TOO_LONG
    elif username and username.casefold() in normalized.casefold():
        problems[NEW_FIELD] = CONTAINS_USERNAME
    elif is_common_password(new):
        problems[NEW_FIELD] = TOO_COMMON
    if confirm != new:
        problems[CONFIRM_FIELD] = NO_MATCH
    return problems
