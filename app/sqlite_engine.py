"""SQLite for a server: connections kept open and reused.

Piccolo's SQLiteEngine opens a new connection, with a thread of its own, for every query outside a
transaction, and makes four trips to that thread per query (PRAGMA, execute, commit, fetch).
Here a query takes an idle connection (opened once, foreign keys on) and makes one trip.
Connections run in autocommit mode (isolation_level=None), so an idle one holds no snapshot."""

import sqlite3

import aiosqlite
from piccolo.engine.sqlite import SQLiteEngine, dict_factory

IDLE_CONNECTIONS = 4


class ReusingSQLiteEngine(SQLiteEngine):
    __slots__ = ("_idle",)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._idle: list[aiosqlite.Connection] = []

    async def _connect(self) -> aiosqlite.Connection:
        connection = aiosqlite.connect(**self.connection_kwargs)
        # An idle connection's thread must not keep a finished process alive.
        connection._thread.daemon = True
        await connection
        connection.row_factory = dict_factory  # type: ignore[assignment]
        await connection.execute("PRAGMA foreign_keys = 1")
        return connection

    async def _run_in_new_connection(self, query, args=None, query_type="generic", table=None):
        connection = self._idle.pop() if self._idle else await self._connect()
        try:
            rows = await connection.execute_fetchall(query, args or [])
        except sqlite3.Error:
            self._release(connection)  # the statement ended; the connection is fine
            raise
        except BaseException:
            # Cancelled while the thread may still be running the statement: never reuse it.
            connection.stop()
            raise
        self._release(connection)
        return list(rows)

    async def _run_in_existing_connection(
        self, connection, query, args=None, query_type="generic", table=None
    ):
        # A transaction's connection (get_connection) already has foreign keys on.
        return list(await connection.execute_fetchall(query, args or []))

    def _release(self, connection: aiosqlite.Connection) -> None:
        if len(self._idle) < IDLE_CONNECTIONS:
            self._idle.append(connection)
        else:
            connection.stop()

    async def close_idle_connections(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()
