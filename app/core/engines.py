"""The database engines: the one ROSTER_DATABASE_URL names (`engine_for`), and SQLite for a
server, with connections kept open and reused.

Piccolo's SQLiteEngine opens a new connection, with a thread of its own, for every query outside a
transaction, and makes four trips to that thread per query (PRAGMA, execute, commit, fetch).
Here a query takes an idle connection (opened once, foreign keys on) and makes one trip; at most
CONNECTIONS are open, and a query waits for one when all are busy (opening and closing them
under load cost more than the queries). Connections run in autocommit mode
(isolation_level=None), so an idle one holds no snapshot. Transactions keep Piccolo's own
connection each.

A short read by key (`read_inline`: the viewer's, on every request) runs on the event loop's own
connection instead, without leaving the loop's thread."""

import asyncio
import contextlib
import sqlite3
import threading
from collections import deque
from urllib.parse import urlsplit

import aiosqlite
from asyncpg.exceptions import InterfaceError, InternalClientError
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction
from piccolo.engine.sqlite import SQLiteEngine, dict_factory

from app.core.dberrors import is_connection_lost

DEFAULT_DATABASE_URL = "sqlite:///./roster.sqlite3"

CONNECTIONS = 4


class ReusingSQLiteEngine(SQLiteEngine):
    __slots__ = ("_idle", "_inline", "_open", "_waiting")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._idle: list[aiosqlite.Connection] = []
        self._open = 0
        self._waiting: deque[asyncio.Future] = deque()
        self._inline: tuple[int, sqlite3.Connection] | None = None

    async def _connect(self) -> aiosqlite.Connection:
        connection = aiosqlite.connect(**self.connection_kwargs)
        # An idle connection's thread must not keep a finished process alive.
        connection._thread.daemon = True
        await connection
        # aiosqlite annotates it `type | None`, but hands it to sqlite3, which takes any callable
        # of (cursor, row), as piccolo's dict_factory is.
        connection.row_factory = dict_factory  # type: ignore[assignment]
        try:
            await connection.execute("PRAGMA foreign_keys = 1")
        except BaseException:
            connection.stop()
            raise
        return connection

    async def _acquire(self) -> aiosqlite.Connection:
        if self._idle:
            return self._idle.pop()
        if self._open < CONNECTIONS:
            self._open += 1
            try:
                return await self._connect()
            except BaseException:
                self._open -= 1
                raise
        handed = asyncio.get_running_loop().create_future()
        self._waiting.append(handed)
        try:
            return await handed
        except asyncio.CancelledError:
            if handed.done() and not handed.cancelled():
                self._release(handed.result())  # handed over just as we were cancelled
            raise

    def _release(self, connection: aiosqlite.Connection) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    def _discard(self, connection: aiosqlite.Connection) -> None:
        connection.stop()
        self._open -= 1

    async def _run_in_new_connection(self, query, args=None, query_type="generic", table=None):
        connection = await self._acquire()
        try:
            rows = await connection.execute_fetchall(query, args or [])
        except sqlite3.Error as exc:
            if is_connection_lost(exc):
                self._discard(connection)  # the next query opens the file again
            else:
                self._release(connection)  # the statement ended; the connection is fine
            raise
        except BaseException:
            # Cancelled while the thread may still be running the statement: never reuse it.
            self._discard(connection)
            raise
        self._release(connection)
        return list(rows)

    async def _run_in_existing_connection(
        self, connection, query, args=None, query_type="generic", table=None
    ):
        # A transaction's connection (get_connection) already has foreign keys on.
        return list(await connection.execute_fetchall(query, args or []))

    def read_inline(self, query: str, args) -> list | None:
        """A short read, run at once in the calling thread, blocking it (an event loop) for the
        read's microseconds: aiosqlite's trip to its connection's thread and back cost more than
        the query (a fifth of a kept Users tab's CPU). In WAL mode a read waits for no writer;
        when it would wait all the same (a lock, a recovery), or in another thread than the
        first caller's, None: the caller goes the usual way."""
        thread = threading.get_ident()
        if self._inline is None:
            connection = sqlite3.connect(**{**self.connection_kwargs, "timeout": 0})
            connection.row_factory = dict_factory
            self._inline = (thread, connection)
        owner, connection = self._inline
        if owner != thread:
            return None
        try:
            return connection.execute(query, args).fetchall()
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                return None
            if is_connection_lost(exc):
                connection.close()
                self._inline = None
            raise

    async def close_idle_connections(self) -> None:
        if self._inline is not None:
            self._inline[1].close()
            self._inline = None
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()
            self._open -= 1


class ReleasingPostgresTransaction(PostgresTransaction):
    """Piccolo's transaction, which gives its connection back whatever happens. Piccolo's keeps
    it when BEGIN fails, or the rollback does (on a lost connection): a pool slot lost each time
    (app.core.db.FairPool's turn is never given back), and the dead transaction stays the task's
    current one, so every later query of a long-lived task (the mail worker) goes to it. A
    connection whose BEGIN, COMMIT or ROLLBACK failed is closed, never reused; one the server
    had ended while it sat in the pool is replaced once, at BEGIN, where nothing was done yet."""

    __slots__ = ()

    async def __aenter__(self) -> PostgresTransaction:
        if self._parent is not None:
            return self._parent
        for last_try in (False, True):
            self.connection = await self.get_connection()
            self.transaction = self.connection.transaction()
            try:
                await self.begin()
                break
            except BaseException as exc:
                await self._discard()
                if last_try or not is_connection_lost(exc):
                    raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        if self._parent:
            return exception is None
        try:
            if exception:
                if not self._rolled_back:
                    await self.rollback()
            elif not self._committed and not self._rolled_back:
                await self.commit()
        except BaseException:
            await self._discard()
            raise
        else:
            await self._give_back()
        finally:
            self.engine.current_transaction.reset(self.context)
        return exception is None

    async def _give_back(self) -> None:
        if self.engine.pool:
            await self.engine.pool.release(self.connection)
        else:
            await self.connection.close()

    async def _discard(self) -> None:
        close_at_once(self.connection)
        if self.engine.pool:
            await self.engine.pool.release(self.connection)


def close_at_once(connection) -> None:
    """Closes a PostgreSQL connection without a word to the server. A pooled one that asyncpg
    already took back (it does on seeing the socket close) has nothing left to close."""
    with contextlib.suppress(InterfaceError):
        connection.terminate()


class ReleasingPostgresEngine(PostgresEngine):
    """Piccolo's PostgreSQL engine, with ReleasingPostgresTransaction; a query outside a
    transaction that meets a pooled connection the server had ended is run again on another."""

    __slots__ = ()

    def transaction(self, allow_nested: bool = True) -> PostgresTransaction:
        return ReleasingPostgresTransaction(engine=self, allow_nested=allow_nested)

    async def _run_in_pool(self, query, args=None):
        try:
            return await super()._run_in_pool(query, args)
        except InternalClientError:
            # asyncpg refused to send it (the connection had failed while idle in the pool, and
            # is discarded on the way out): nothing was run.
            return await super()._run_in_pool(query, args)


def names_sqlite(url: str) -> bool:
    return urlsplit(url).scheme == "sqlite"


def engine_for(url: str) -> ReusingSQLiteEngine | ReleasingPostgresEngine:
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = url.removeprefix("sqlite:///") or "roster.sqlite3"
        # timeout: how long a writer waits for another's lock before failing.
        return ReusingSQLiteEngine(path=path, timeout=30)
    if scheme in ("postgresql", "postgres"):
        return ReleasingPostgresEngine(config={"dsn": url}, log_queries=False)
    raise ValueError(
        f"ROSTER_DATABASE_URL must start with sqlite:/// or postgresql://, not {url!r}"
    )
