"""Recognising constraint violations and an unavailable database, on either engine."""

import sqlite3

from asyncpg.exceptions import (
    ForeignKeyViolationError,
    InterfaceError,
    InternalClientError,
    PostgresError,
    UniqueViolationError,
)

from app.core.i18n import N_

# What a request the database could not serve is told (translated where it is answered: _()),
# and when to try again (seconds).
DATABASE_DOWN = N_("Roster cannot reach its database; nothing was changed. Try again in a moment.")
RETRY_AFTER_DATABASE_DOWN = 30

# The server ended this connection (admin_shutdown, crash_shutdown, idle_session_timeout).
CONNECTION_ENDED = frozenset({"57P01", "57P02", "57P05"})
# The server cannot serve us now: too_many_connections, cannot_connect_now (starting up,
# shutting down, in recovery), read_only_sql_transaction (a standby, or a server made
# read-only).
CANNOT_SERVE_NOW = frozenset({"53300", "57P03", "25006"})
# object_not_in_prerequisite_state is mostly about the statement (currval before nextval...);
# on connecting it is the database set to ALLOW_CONNECTIONS false.
NOT_ACCEPTING = ("55000", "is not currently accepting connections")

# SQLite's primary result codes that say the file, as this connection opened it, cannot be used
# (read-only, disk I/O, cannot open: moved, unmounted, permissions changed); a new connection may
# find it restored.
SQLITE_FILE_LOST = frozenset(
    {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN}
)
# ... and that another connection holds it too long.
SQLITE_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def is_unique_violation(exc: BaseException) -> bool:
    if isinstance(exc, UniqueViolationError):
        return True
    return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)


def is_foreign_key_violation(exc: BaseException) -> bool:
    if isinstance(exc, ForeignKeyViolationError):
        return True
    return isinstance(exc, sqlite3.IntegrityError) and "FOREIGN KEY" in str(exc)


def _sqlstate(exc: BaseException) -> str:
    if isinstance(exc, PostgresError):
        return getattr(exc, "sqlstate", None) or ""
    return ""


def _sqlite_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(exc, sqlite3.OperationalError) and code is not None else None


def is_connection_lost(exc: BaseException) -> bool:
    """The connection this came from cannot be used again: the server ended it, the network
    did, the driver lost step with the server (an error that arrived while the connection was
    idle in the pool), or SQLite's file cannot be used through it."""
    if _sqlite_code(exc) in SQLITE_FILE_LOST:
        return True
    state = _sqlstate(exc)
    if state.startswith("08") or state in CONNECTION_ENDED:
        return True
    if isinstance(exc, InterfaceError):
        return "connection is closed" in str(exc) or "connection was closed" in str(exc)
    if isinstance(exc, InternalClientError):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError)


def is_database_unavailable(exc: BaseException) -> bool:
    """The database cannot be reached or used now, and a later try may work: down, refusing
    connections, out of connections, read-only, ended our connection, or (SQLite) its file
    cannot be opened, read or written, or another writer holds it too long."""
    if is_connection_lost(exc):
        return True
    state = _sqlstate(exc)
    if state in CANNOT_SERVE_NOW:
        return True
    if state == NOT_ACCEPTING[0]:
        return NOT_ACCEPTING[1] in str(exc)
    if _sqlite_code(exc) in SQLITE_BUSY:
        return True
    # Raised without a result code (by aiosqlite or an older sqlite3): its words.
    return isinstance(exc, sqlite3.OperationalError) and any(
        words in str(exc) for words in ("unable to open", "locked", "disk I/O", "readonly")
    )
