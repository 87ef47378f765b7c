"""Passwords: the rules a new password follows, and the argon2id hashing.

- A password has 8 characters or more and at most 1024; it is never truncated: a longer one is
  refused, not cut.
- A new password that is easy to guess is refused (ASVS 6.2.4): one of the 3,000 most common
  passwords of 8 characters or more (``common_passwords.txt``, from the zxcvbn package; ignoring
  case), one character repeated (eight spaces), or one that is or contains the account's email
  or the email's local part (ignoring case; a local part shorter than 3 characters is not
  looked for). Existing passwords keep working: the rules apply when one is set.
- Passwords are hashed with argon2id (argon2-cffi). The parameters default to RFC 9106's
  low-memory profile (m = 64 MiB, t = 3, p = 4) and may never go below m = 19 MiB, t = 2 (the
  OWASP floor). A stored hash made with other parameters is rehashed at the next good login.
  Hashing and verifying take tens of milliseconds on purpose: the Hub runs them outside any
  write transaction, and a process computes at most ``HASHING_AT_ONCE`` of them at a time
  (each already runs ``parallelism`` threads): a flood of logins then waits its turn instead
  of taking every core from other users' requests.
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from customer_flow.core.errors import ValidationError

__all__ = [
    "MAX_PASSWORD",
    "MIN_MEMORY_KIB",
    "MIN_PASSWORD",
    "MIN_TIME_COST",
    "Passwords",
    "check_password_rule",
    "common_passwords",
]

MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MIN_MEMORY_KIB = 19 * 1024
MIN_TIME_COST = 2
#: A local part shorter than this ("al@...") is not looked for inside passwords.
MIN_LOCAL_PART = 3
#: How many hashes a process computes at once: one per two cores (at least one). Under a flood
#: of 20 bad logins on 2 cores, 20 at once (80 argon2 threads) left other requests a sliver of
#: the CPU (benchmarks/bench_login_flood.py).
HASHING_AT_ONCE = max(1, (os.cpu_count() or 2) // 2)
_hashing = threading.BoundedSemaphore(HASHING_AT_ONCE)
GUESSABLE = (
    "password: too easy to guess (a common password, one character repeated, or one with the "
    "email address in it); choose another"
)


@cache
def common_passwords() -> frozenset[str]:
    """The refused common passwords, lower case; read from the package once, when first needed."""
    text = (resources.files(__package__) / "common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def _guessable(password: str, email: str | None) -> bool:
    folded = password.casefold()
    if len(set(password)) <= 1 or folded in common_passwords():
        return True
    if email:
        address = email.strip().casefold()
        local = address.split("@", 1)[0]
        if address and address in folded:
            return True
        if len(local) >= MIN_LOCAL_PART and local in folded:
            return True
    return False


def check_password_rule(password: str, *, email: str | None = None) -> None:
    """Refuse a new password that is too short, too long (never truncate it) or too easy to
    guess; ``email`` is the account's."""
    if len(password) < MIN_PASSWORD:
        raise ValidationError(
            f"password: use at least {MIN_PASSWORD} characters",
            field="password",
            code="password_too_short",
        )
    if len(password) > MAX_PASSWORD:
        raise ValidationError(
            f"password: use at most {MAX_PASSWORD} characters",
            field="password",
            code="password_too_long",
        )
    if _guessable(password, email):
        raise ValidationError(GUESSABLE, field="password", code="password_too_common")


@dataclass(frozen=True)
class Passwords:
    """The argon2id parameters in force; ``hasher`` hashes and verifies with them."""

    memory_kib: int = 65536
    time_cost: int = 3
    parallelism: int = 4

    def __post_init__(self) -> None:
        if self.memory_kib < MIN_MEMORY_KIB or self.time_cost < MIN_TIME_COST:
            raise ValidationError(
                f"argon2 parameters below the floor (m >= {MIN_MEMORY_KIB} KiB, "
                f"t >= {MIN_TIME_COST})",
                code="weak_password_hash",
            )

    @property
    def hasher(self) -> PasswordHasher:
        return PasswordHasher(
            time_cost=self.time_cost,
            memory_cost=self.memory_kib,
            parallelism=self.parallelism,
            type=Type.ID,
        )

    def hash(self, password: str) -> str:
        with _hashing:
            return self.hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches the ``stored`` hash. With no hash (no such account) a
        dummy one is checked, so that both cases take as long."""
        against = stored or _dummy_hash(self)
        try:
            with _hashing:
                return bool(self.hasher.verify(against, password)) and bool(stored)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return bool(self.hasher.check_needs_rehash(stored))


# A hash to verify against when the account does not exist, so both cases take as long.
_DUMMY: dict[Passwords, str] = {}


def _dummy_hash(passwords: Passwords) -> str:
    if passwords not in _DUMMY:
        _DUMMY[passwords] = passwords.hash(secrets.token_hex(16))
    return _DUMMY[passwords]
