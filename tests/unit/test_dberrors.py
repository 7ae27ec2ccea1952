"""app.core.dberrors: which errors mean the database cannot be reached or used now (503 with
Retry-After), which mean the connection they came from is gone (never handed out again), and
which are the statement's own fault (500, or the rule's answer)."""

import sqlite3

import pytest
from asyncpg.exceptions import (
    ConnectionDoesNotExistError,
    InterfaceError,
    InternalClientError,
    PostgresError,
)

from app.core.dberrors import is_connection_lost, is_database_unavailable


def server_error(sqlstate: str, message: str = "refused") -> PostgresError:
    """An error as asyncpg makes it from the server's ErrorResponse: its class chosen by the
    SQLSTATE."""
    return PostgresError.new({"C": sqlstate, "M": message, "S": "FATAL"})


def sqlite_error(code: int, message: str) -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError(message)
    exc.sqlite_errorcode = code
    return exc


NOT_ACCEPTING = 'database "roster" is not currently accepting connections'

CONNECTION_LOST = {
    "08000 connection_exception": server_error("08000"),
    "08003 connection_does_not_exist": server_error("08003"),
    "08006 connection_failure": server_error("08006"),
    "08001 client cannot connect": server_error("08001"),
    "57P01 admin_shutdown (pg_terminate_backend)": server_error("57P01"),
    "57P02 crash_shutdown": server_error("57P02"),
    "57P05 idle_session_timeout": server_error("57P05"),
    "asyncpg: connection closed mid-operation": ConnectionDoesNotExistError(
        "connection was closed in the middle of operation"
    ),
    "asyncpg: a closed connection used": InterfaceError(
        "cannot perform operation: connection is closed"
    ),
    "asyncpg: out of step after an error on an idle connection": InternalClientError(
        "cannot switch to state 12; another operation (2) is in progress"
    ),
    "connection refused": ConnectionRefusedError(111, "Connect call failed"),
    "connection reset": ConnectionResetError(104, "Connection reset by peer"),
    "host unreachable": OSError(113, "No route to host"),
    "connect timeout": TimeoutError(),
    "sqlite: unable to open": sqlite_error(sqlite3.SQLITE_CANTOPEN, "unable to open database file"),
    "sqlite: disk I/O": sqlite_error(sqlite3.SQLITE_IOERR_SHORT_READ, "disk I/O error"),
    "sqlite: read-only": sqlite_error(
        sqlite3.SQLITE_READONLY, "attempt to write a readonly database"
    ),
    "sqlite: read-only, file moved": sqlite_error(
        sqlite3.SQLITE_READONLY_DBMOVED, "attempt to write a readonly database"
    ),
}

UNAVAILABLE_ONLY = {
    "53300 too_many_connections": server_error("53300", "sorry, too many clients already"),
    "57P03 cannot_connect_now": server_error("57P03", "the database system is starting up"),
    "55000 not accepting connections": server_error("55000", NOT_ACCEPTING),
    "25006 read_only_sql_transaction": server_error(
        "25006", "cannot execute INSERT in a read-only transaction"
    ),
    "sqlite: busy": sqlite_error(sqlite3.SQLITE_BUSY, "database is locked"),
    "sqlite: locked": sqlite_error(sqlite3.SQLITE_LOCKED, "database table is locked"),
    "sqlite, no code: locked": sqlite3.OperationalError("database is locked"),
}

THE_STATEMENTS_FAULT = {
    "55000 currval before nextval": server_error(
        "55000", 'currval of sequence "users_id_seq" is not yet defined in this session'
    ),
    "23505 unique_violation": server_error("23505", "duplicate key value"),
    "42P01 undefined_table": server_error("42P01", 'relation "nothing" does not exist'),
    "40001 serialization_failure": server_error("40001", "could not serialize access"),
    "57014 query_canceled": server_error("57014", "canceling statement due to statement timeout"),
    "asyncpg: two uses of one connection at once": InterfaceError(
        "cannot perform operation: another operation is in progress"
    ),
    "sqlite: syntax": sqlite_error(sqlite3.SQLITE_ERROR, 'near "SELEC": syntax error'),
    "sqlite: unique": sqlite3.IntegrityError("UNIQUE constraint failed: users.email"),
    "sqlite: not a database": sqlite3.DatabaseError("file is not a database"),
    "a missing file (a template, not the database)": FileNotFoundError(2, "No such file"),
    "a bug": ValueError("bad"),
}


@pytest.mark.parametrize("exc", CONNECTION_LOST.values(), ids=CONNECTION_LOST.keys())
def test_a_lost_connection_is_unavailability_and_the_connection_is_not_kept(exc):
    assert is_connection_lost(exc)
    assert is_database_unavailable(exc)


@pytest.mark.parametrize("exc", UNAVAILABLE_ONLY.values(), ids=UNAVAILABLE_ONLY.keys())
def test_a_database_that_cannot_serve_now_is_unavailability(exc):
    assert is_database_unavailable(exc)
    assert not is_connection_lost(exc)


@pytest.mark.parametrize("exc", THE_STATEMENTS_FAULT.values(), ids=THE_STATEMENTS_FAULT.keys())
def test_an_error_of_the_statement_is_not_unavailability(exc):
    assert not is_database_unavailable(exc)
    assert not is_connection_lost(exc)


def test_asyncpg_picks_the_classes_by_sqlstate():
    """The rule reads the SQLSTATE, so it holds for every class asyncpg maps to one."""
    assert type(server_error("55000", NOT_ACCEPTING)).__name__ == (
        "ObjectNotInPrerequisiteStateError"
    )
    assert type(server_error("57P01")).__name__ == "AdminShutdownError"
