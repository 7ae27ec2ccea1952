"""Recognising constraint violations and an unreachable database, on either engine."""

import sqlite3

from asyncpg.exceptions import (
    CannotConnectNowError,
    ForeignKeyViolationError,
    PostgresConnectionError,
    TooManyConnectionsError,
    UniqueViolationError,
)


def is_unique_violation(exc: BaseException) -> bool:
    if isinstance(exc, UniqueViolationError):
        return True
    return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)


def is_foreign_key_violation(exc: BaseException) -> bool:
    if isinstance(exc, ForeignKeyViolationError):
        return True
    return isinstance(exc, sqlite3.IntegrityError) and "FOREIGN KEY" in str(exc)


def is_database_unavailable(exc: BaseException) -> bool:
    """The database cannot be reached (down, refusing, out of connections, file unreadable)."""
    if isinstance(
        exc,
        (PostgresConnectionError, CannotConnectNowError, TooManyConnectionsError, ConnectionError),
    ):
        return True
    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
        return True  # connection refused, host unreachable, timeouts
    return isinstance(exc, sqlite3.OperationalError) and (
        "unable to open" in str(exc) or "locked" in str(exc) or "disk I/O" in str(exc)
    )
