"""Transactions, row locks and the connection pool, the same way on SQLite and PostgreSQL."""

import asyncio
import os
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import datetime
from functools import lru_cache

from asyncpg.exceptions import InternalClientError
from piccolo.engine.finder import engine_finder
from piccolo.engine.sqlite import TransactionType
from piccolo.querystring import QueryString

from app.core.config import db_pool_size
from app.core.dberrors import is_connection_lost
from app.core.engines import ReleasingPostgresEngine, ReusingSQLiteEngine, close_at_once
from app.core.errors import NotFound
from app.core.i18n import _

# Piccolo runs ILIKE as LIKE on SQLite, which already ignores case for ASCII: what we want.
warnings.filterwarnings("ignore", message=".*SQLite doesn't support ILIKE")

# The engines piccolo_conf.py can name (app.core.engines.engine_for).
Engine = ReusingSQLiteEngine | ReleasingPostgresEngine


def configured_engine() -> Engine:
    """The engine piccolo_conf.py names (the one the tables are bound to)."""
    engine = engine_finder()
    if not isinstance(engine, ReusingSQLiteEngine | ReleasingPostgresEngine):
        raise RuntimeError(
            f"piccolo_conf.py must name Roster's SQLite or PostgreSQL engine, not {engine!r}"
        )
    return engine


DB = configured_engine()

# Ids are PostgreSQL `serial` columns (32-bit); SQLite's are wider, but one range for both.
MAX_ID = 2**31 - 1


class Record(dict):
    """A row that also reads as attributes. Templates say `u.email`, and Jinja tries the
    attribute before the key: on a plain dict each read is a failed lookup and a caught
    exception (hundreds per Users tab)."""

    __slots__ = ()

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def is_sqlite() -> bool:
    return isinstance(DB, ReusingSQLiteEngine)


def valid_id(value: int) -> bool:
    """Whether an id can exist at all: outside the column's range it is simply not found."""
    return 1 <= value <= MAX_ID


def check_page_cursor(after: int) -> None:
    """A key-set page starts after an id (0: the first page); outside the id column's range
    there is no such page (and PostgreSQL would refuse the parameter)."""
    if not (after == 0 or valid_id(after)):
        raise NotFound(_("There is no such page."))


# What waits for the outermost transaction of this task to commit (see after_commit).
_after_commit: ContextVar[list | None] = ContextVar("after_commit", default=None)


def _begin():
    if isinstance(DB, ReusingSQLiteEngine):
        return DB.transaction(transaction_type=TransactionType.immediate)
    return DB.transaction()


@asynccontextmanager
async def transaction() -> AsyncIterator[None]:
    """One transaction per change. On SQLite it takes the write lock at BEGIN (IMMEDIATE),
    so a read-then-write cannot be overtaken by another writer. Nested calls join the outer one;
    when the outermost commits, what was handed to after_commit runs."""
    if _after_commit.get() is not None:
        async with _begin():
            yield
        return
    waiting: list = []
    token = _after_commit.set(waiting)
    try:
        async with _begin():
            yield
    finally:
        _after_commit.reset(token)
    for callback in waiting:
        callback()


def after_commit(callback) -> None:
    """Runs `callback` once the current transaction has committed (never if it rolls back), or
    now outside a transaction: another process or task told of a change must be able to see it."""
    waiting = _after_commit.get()
    if waiting is None:
        callback()
    else:
        waiting.append(callback)


@lru_cache(maxsize=32)
def _compiled(sql: str, engine_type: str) -> str:
    """`{}` placeholders as the engine's: ? on SQLite, $1, $2… on PostgreSQL."""
    return QueryString(sql, *[None] * sql.count("{}")).compile_string(engine_type)[0]


async def fetch_quick(sql: str, *args) -> list[dict]:
    """A short read by key, outside any transaction, with `{}` placeholders: the viewer's, run
    by every request. Without Piccolo's query building: on SQLite in the event loop's own
    thread (app.core.engines.read_inline), on PostgreSQL straight on a pooled connection."""
    text = _compiled(sql, DB.engine_type)
    if isinstance(DB, ReusingSQLiteEngine):
        rows = DB.read_inline(text, args)
        if rows is None:
            rows = await DB._run_in_new_connection(text, list(args))
        return rows
    if DB.pool is None:
        raise RuntimeError("The connection pool is not open (app.core.db.start).")
    retried = False
    while True:
        on_a_connection = False
        try:
            async with DB.pool.acquire() as connection:
                on_a_connection = True
                return [dict(row) for row in await connection.fetch(text, *args)]
        except Exception as exc:
            # The server had ended the connection while it sat in the pool (a restart, a
            # terminated backend): it is discarded, and the read tried once on another.
            if retried or not on_a_connection or not is_connection_lost(exc):
                raise
            retried = True


async def read(sql: str, *args) -> list[dict]:
    """A read with `{}` placeholders: in the current transaction when there is one (it sees
    that transaction's writes), else as fetch_quick, without Piccolo's query building and, on
    SQLite, without a trip to a connection's thread: a page's reads of a few rows by key."""
    if DB.current_transaction.get() is not None:
        return [dict(row) for row in await DB.run_querystring(QueryString(sql, *args))]
    return await fetch_quick(sql, *args)


def locked(select, strength: str = "UPDATE"):
    """`SELECT … FOR UPDATE` (or another strength) on PostgreSQL, held until the transaction
    ends. SQLite needs no row lock: its IMMEDIATE transaction already holds the database's
    single write lock."""
    return select if is_sqlite() else select.lock_rows(strength)


async def lock_table(table) -> None:
    """Inside a transaction, serialises the transactions that take it, until the commit: on
    PostgreSQL SHARE ROW EXCLUSIVE, which conflicts with itself and with writes to the table,
    never with reads (for a read-then-write over rows that may not exist yet, which no row lock
    can hold). SQLite's IMMEDIATE transaction already holds its single write lock."""
    if not is_sqlite():
        await table.raw(f'LOCK TABLE "{table._meta.tablename}" IN SHARE ROW EXCLUSIVE MODE')


async def _keep_session_state(connection) -> None:
    """asyncpg's pool runs a reset query (UNLISTEN, RESET ALL, advisory unlocks…) on every release:
    a second round trip per query. Roster sets no session state, and an open transaction is still
    rolled back by the pool itself."""


class FairPool:
    """asyncpg's pool, its connections handed out in the order they were asked for. asyncpg
    waits on an asyncio queue, where a task that comes along just as a connection is given back
    takes it before the waiter it was meant for, which goes to the back of the line: at 32
    concurrent requests on a pool of 10, a Users tab's p50 was 11 ms and its p99 200 ms. A
    semaphore of the pool's size in front of it (asyncio's is first come, first served) keeps
    the queue from ever having a waiter. Piccolo only calls acquire (awaited, or as a context)
    and release."""

    def __init__(self, pool, size: int) -> None:
        self.pool = pool
        self.turns = asyncio.Semaphore(size)

    def acquire(self) -> "_Acquiring":
        return _Acquiring(self)

    async def take(self):
        await self.turns.acquire()
        try:
            return await self.pool.acquire()
        except BaseException:
            self.turns.release()
            raise

    async def release(self, connection) -> None:
        try:
            await self.pool.release(connection)
        except InternalClientError:
            # Its socket closed while it was being given back (the server ended it), and asyncpg
            # took it back on seeing that: it is in the pool already, to be opened anew.
            pass
        finally:
            self.turns.release()

    async def discard(self, connection) -> None:
        """Gives back a connection that must not be handed out again: closed first."""
        close_at_once(connection)
        await self.release(connection)

    async def close(self) -> None:
        await self.pool.close()


class _Acquiring:
    """What asyncpg's `pool.acquire()` is: awaited, a connection; `async with`, one given back
    at the end."""

    def __init__(self, pool: FairPool) -> None:
        self.pool, self.connection = pool, None

    def __await__(self):
        return self.pool.take().__await__()

    async def __aenter__(self):
        self.connection = await self.pool.take()
        return self.connection

    async def __aexit__(self, _type, exc, _traceback) -> None:
        if exc is not None and is_connection_lost(exc):
            await self.pool.discard(self.connection)
        else:
            await self.pool.release(self.connection)


async def start() -> None:
    """Opens the pool: on PostgreSQL at most ROSTER_DB_POOL_SIZE connections for this process
    (read here rather than through the settings, which commands such as `roster migrate` do not
    otherwise need), handed out first come, first served."""
    if isinstance(DB, ReusingSQLiteEngine):
        await DB.run_ddl("PRAGMA journal_mode=WAL")
    else:
        size = db_pool_size(os.environ)
        await DB.start_connection_pool(min_size=1, max_size=size, reset=_keep_session_state)
        DB.pool = FairPool(DB.pool, size)


async def stop() -> None:
    if isinstance(DB, ReusingSQLiteEngine):
        await DB.close_idle_connections()
    else:
        await DB.close_connection_pool()


def instant(value):
    """A moment read by raw SQL: SQLite may give its stored text; None stays None."""
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value
