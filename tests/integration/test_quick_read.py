"""db.fetch_quick, the viewer's read on every request: the same rows as a Piccolo
query; on SQLite in the event loop's own thread, and never blocking it on a lock."""

import asyncio
import contextvars
import sqlite3
import threading
import time

import pytest

from app.core import db
from app.core.engines import ReusingSQLiteEngine
from app.schema.users import User
from piccolo_conf import DB
from tests.factories import make_user

needs_sqlite = pytest.mark.skipif(not db.is_sqlite(), reason="SQLite's own connection")


async def test_it_reads_what_piccolo_reads():
    user = await make_user("Quinn", "Read", email="quinn@example.com")
    sql = "SELECT id, first_name, email, created_at FROM users WHERE id = {} OR email = {}"
    quick = await db.fetch_quick(sql, user["id"], "nobody@example.com")
    assert quick == await User.raw(sql, user["id"], "nobody@example.com")
    assert quick[0]["first_name"] == "Quinn" and quick[0]["created_at"].tzinfo is not None
    assert await db.fetch_quick(sql, 0, "") == []


async def test_a_read_inside_a_transaction_sees_its_writes_and_one_outside_does_not_yet():
    user = await make_user("Tess", "Read", email="tess@example.com")
    sql = "SELECT first_name FROM users WHERE id = {}"
    seen_outside: list = []

    async def read_outside():
        seen_outside.extend(await db.read(sql, user["id"]))

    async with db.transaction():
        await User.update({User.first_name: "Changed"}).where(User.id == user["id"])
        assert await db.read(sql, user["id"]) == [{"first_name": "Changed"}]
        # another request's task: a context of its own, outside this transaction
        await asyncio.create_task(read_outside(), context=contextvars.Context())
    assert seen_outside == [{"first_name": "Tess"}]
    assert await db.read(sql, user["id"]) == [{"first_name": "Changed"}]


@needs_sqlite
async def test_a_read_that_would_wait_for_a_lock_leaves_the_event_loop_free(tmp_path, monkeypatch):
    # A database of its own in rollback-journal mode, where a writer's exclusive lock makes a
    # reader wait (in WAL mode a reader never waits for a writer).
    engine = ReusingSQLiteEngine(path=str(tmp_path / "locked.sqlite3"), timeout=30)
    setup = sqlite3.connect(engine.connection_kwargs["database"], isolation_level=None)
    setup.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)")
    setup.execute("INSERT INTO people VALUES (1, 'Before')")
    setup.execute("BEGIN EXCLUSIVE")
    setup.execute("UPDATE people SET name = 'After' WHERE id = 1")
    monkeypatch.setattr(db, "DB", engine)
    started = time.monotonic()
    assert engine.read_inline("SELECT name FROM people", ()) is None
    assert time.monotonic() - started < 5  # at once, not after the 30 s a writer would wait
    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def commit_later():
        await asyncio.sleep(0.3)
        setup.execute("COMMIT")

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    try:
        rows, _ = await asyncio.gather(
            db.fetch_quick("SELECT name FROM people WHERE id = {}", 1), commit_later()
        )
    finally:
        ticker.cancel()
        setup.close()
    assert rows == [{"name": "After"}]
    assert ticks >= 10  # the loop ran while the read waited in aiosqlite's thread
    assert time.monotonic() - started < 5
    assert engine.read_inline("SELECT name FROM people", ()) == [{"name": "After"}]
    await engine.close_idle_connections()


@needs_sqlite
def test_another_thread_goes_the_usual_way():
    seen = []
    worker = threading.Thread(target=lambda: seen.append(DB.read_inline("SELECT 1 AS one", ())))
    DB.read_inline("SELECT 1 AS one", ())  # this thread's connection
    worker.start()
    worker.join()
    assert seen == [None]
