"""Passwords (argon2id), tokens (CSPRNG, stored as SHA-256) and password strength."""

import asyncio
import dataclasses
import hashlib
import secrets
from concurrent.futures import ThreadPoolExecutor

from argon2 import Parameters, PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY
from zxcvbn import zxcvbn

from app.core.config import get_settings
from app.core.errors import DomainError
from app.core.i18n import _, ngettext

# argon2id at the first option of OWASP's Password Storage Cheat Sheet: one pass over 46 MiB, one
# lane (the sheet's options give an equal defence, trading memory for passes; this one keeps the
# most memory per guess). A third of the cost of RFC 9106's low-memory option (3 passes over
# 64 MiB: 150 ms of a core here against 51 ms), which put every login of a busy portal in line
# behind the others (the soak's logins waited 2 to 4 s). One lane: libargon2 runs each lane on a
# thread of its own, so that a pool thread (in_hashing_pool) keeps one core busy, no more. A
# stored hash made with other parameters is replaced at the next successful login.
PASSWORD_PARAMETERS: Parameters = dataclasses.replace(
    RFC_9106_LOW_MEMORY, time_cost=1, memory_cost=47104, parallelism=1
)

_hashing_pool: ThreadPoolExecutor | None = None


class _Hashing:
    def __init__(self, parameters: Parameters):
        self.hasher = PasswordHasher.from_parameters(parameters)
        # Verified against when the email is unknown, so that a miss costs as much as a hit.
        self.dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))


_hashing = _Hashing(PASSWORD_PARAMETERS)


def use_password_parameters(parameters: Parameters) -> None:
    """Hash new passwords with these parameters from now on (the tests' cheaper argon2id)."""
    global _hashing
    _hashing = _Hashing(parameters)


def hash_password(password: str) -> str:
    return _hashing.hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        hashing = _hashing
        return (
            hashing.hasher.verify(password_hash or hashing.dummy_hash, password)
            and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with other parameters than the ones in use."""
    return _hashing.hasher.check_needs_rehash(password_hash)


async def in_hashing_pool(work, *args):
    """Runs `work(*args)` (argon2, or anything that calls it) off the event loop, in a pool of
    ROSTER_HASHING_THREADS: hashing takes whole cores on purpose, so at most that many run at
    once and the rest wait in line, leaving a core to the pages during a burst of logins."""
    global _hashing_pool
    if _hashing_pool is None:
        _hashing_pool = ThreadPoolExecutor(
            get_settings().hashing_threads, thread_name_prefix="argon2"
        )
    return await asyncio.get_running_loop().run_in_executor(_hashing_pool, work, *args)


MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
MIN_PASSWORD_SCORE = 2  # zxcvbn score 0..4; the browser meter uses the same estimator's scale


def new_token() -> tuple[str, str]:
    """A 256-bit URL-safe token and the SHA-256 hex digest that is stored instead of it."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def password_score(password: str, user_inputs: "list[str] | None" = None) -> int:
    return zxcvbn(password[:72], user_inputs=user_inputs or [])["score"]  # zxcvbn refuses more


def check_new_password(password: str, user_inputs: "list[str] | None" = None) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(
            ngettext(
                "Choose a password of at least %(num)d character.",
                "Choose a password of at least %(num)d characters.",
                MIN_PASSWORD_LENGTH,
            )
            % {"num": MIN_PASSWORD_LENGTH},
            "password",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise DomainError(
            ngettext(
                "Passwords are limited to %(num)d character.",
                "Passwords are limited to %(num)d characters.",
                MAX_PASSWORD_LENGTH,
            )
            % {"num": MAX_PASSWORD_LENGTH},
            "password",
        )
    if password_score(password, user_inputs) < MIN_PASSWORD_SCORE:
        raise DomainError(
            _("This password is too easy to guess: add more words or characters."), "password"
        )
