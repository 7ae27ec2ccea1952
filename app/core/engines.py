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
import sqlite3
import threading
from collections import deque
from urllib.parse import urlsplit

import aiosqlite
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, dict_factory

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
        await connection.execute("PRAGMA foreign_keys = 1")
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
        except sqlite3.Error:
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
            raise

    async def close_idle_connections(self) -> None:
        if self._inline is not None:
            self._inline[1].close()
            self._inline = None
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()
            self._open -= 1


def names_sqlite(url: str) -> bool:
    return urlsplit(url).scheme == "sqlite"


def engine_for(url: str) -> ReusingSQLiteEngine | PostgresEngine:
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = url.removeprefix("sqlite:///") or "roster.sqlite3"
        # timeout: how long a writer waits for another's lock before failing.
        return ReusingSQLiteEngine(path=path, timeout=30)
    if scheme in ("postgresql", "postgres"):
        return PostgresEngine(config={"dsn": url}, log_queries=False)
    raise ValueError(
        f"ROSTER_DATABASE_URL must start with sqlite:/// or postgresql://, not {url!r}"
    )
