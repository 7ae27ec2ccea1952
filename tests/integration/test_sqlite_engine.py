"""The SQLite engine reuses a few open connections (app/sqlite_engine.py): queries beyond them
wait their turn, errors and cancellations leave the pool sound."""

import asyncio
import sqlite3

import pytest

from app.core import db
from app.core.engines import CONNECTIONS
from app.schema.users import User
from piccolo_conf import DB

pytestmark = pytest.mark.skipif(not db.is_sqlite(), reason="SQLite's engine only")


async def test_many_queries_at_once_share_a_few_connections():
    results = await asyncio.gather(*(User.raw("SELECT {} AS n", n) for n in range(50)))
    assert [r[0]["n"] for r in results] == list(range(50))
    assert DB._open <= CONNECTIONS and len(DB._idle) == DB._open


async def test_a_failed_statement_gives_its_connection_back():
    before = DB._open
    with pytest.raises(sqlite3.OperationalError):
        await User.raw("SELECT * FROM no_such_table")
    assert (await User.raw("SELECT 1 AS one"))[0]["one"] == 1
    assert DB._open == max(before, 1) and len(DB._idle) == DB._open


async def test_a_cancelled_query_never_hands_out_a_busy_connection():
    slow = asyncio.ensure_future(
        User.raw(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000)"
            " SELECT count(*) AS n FROM c"
        ).run()
    )
    await asyncio.sleep(0.01)
    open_while_running = DB._open
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    # Its connection may still be counting in its thread: closed, not put back.
    assert DB._open == open_while_running - 1 and len(DB._idle) == DB._open
    results = await asyncio.gather(*(User.raw("SELECT {} AS n", n) for n in range(20)))
    assert [r[0]["n"] for r in results] == list(range(20))
    assert DB._open <= CONNECTIONS and len(DB._idle) == DB._open
