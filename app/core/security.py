"""Passwords (argon2id), tokens (CSPRNG, stored as SHA-256) and password strength."""

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from app.core.errors import DomainError

_hasher = PasswordHasher()  # argon2id with the library's recommended parameters
# Verified against when the email is unknown, so that a miss costs as much time as a hit.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
MIN_PASSWORD_SCORE = 2  # zxcvbn score 0..4; the browser meter uses the same estimator's scale


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


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
            f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.", "password"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise DomainError(f"Passwords are limited to {MAX_PASSWORD_LENGTH} characters.", "password")
    if password_score(password, user_inputs) < MIN_PASSWORD_SCORE:
        raise DomainError(
            "This password is too easy to guess: add more words or characters.", "password"
        )
