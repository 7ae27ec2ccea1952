"""Test database set-up. Runs before the app is imported, because Piccolo binds tables to the
engine at import time.

ROSTER_TEST_ENGINE=sqlite (default): a fresh SQLite file in a temp dir.
ROSTER_TEST_ENGINE=postgres: a fresh database created on ROSTER_TEST_POSTGRES_URL's server and
dropped at the end.
"""

import asyncio
import os
import secrets
import tempfile
from urllib.parse import urlsplit, urlunsplit

import pytest

ENGINE = os.environ.get("ROSTER_TEST_ENGINE", "sqlite")
_tmpdir = tempfile.mkdtemp(prefix="roster-tests-")
_admin_url = None

if ENGINE == "postgres":
    _admin_url = os.environ.get("ROSTER_TEST_POSTGRES_URL")
    if not _admin_url:
        raise RuntimeError("ROSTER_TEST_ENGINE=postgres needs ROSTER_TEST_POSTGRES_URL")
    _scratch_db = f"roster_test_{secrets.token_hex(4)}"
    parts = urlsplit(_admin_url)
    os.environ["ROSTER_DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{_scratch_db}"))
elif ENGINE == "sqlite":
    os.environ["ROSTER_DATABASE_URL"] = f"sqlite:///{_tmpdir}/roster-test.sqlite3"
else:
    raise RuntimeError(f"ROSTER_TEST_ENGINE must be sqlite or postgres, not {ENGINE!r}")

os.environ["ROSTER_SECRET_KEY"] = "test-secret-key"
os.environ["ROSTER_ENV"] = "development"
os.environ["ROSTER_BASE_URL"] = "http://testserver.local"
# Tests resend at once; the cooldown has its own tests (they set it back).
os.environ["ROSTER_RESEND_COOLDOWN_SECONDS"] = "0"
os.environ.pop("ROSTER_SMTP_URL", None)

# The passwords the tests make are hashed with argon2id at its cheapest: at the production
# parameters, hashing was over half of the suite's time. tests/unit/test_security.py holds those
# parameters to their floor, and the `roster serve` servers that tests start use them.
from argon2 import profiles  # noqa: E402

from app.core import security  # noqa: E402

security.use_password_parameters(profiles.CHEAPEST)


async def _create_scratch_database() -> None:
    import asyncpg

    conn = await asyncpg.connect(_admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{_scratch_db}"')
    finally:
        await conn.close()


async def _drop_scratch_database() -> None:
    import asyncpg

    conn = await asyncpg.connect(_admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{_scratch_db}" WITH (FORCE)')
    finally:
        await conn.close()


def pytest_report_header(config):
    return f"roster database engine: {ENGINE} ({os.environ['ROSTER_DATABASE_URL']})"


@pytest.fixture(scope="session", autouse=True)
async def database():
    """Migrates a fresh database once for the whole run, with the real migrations."""
    if ENGINE == "postgres":
        await _create_scratch_database()
    from app.cli import migrate
    from app.core import db

    await migrate()
    await db.start()
    yield
    await db.stop()
    if ENGINE == "postgres":
        await _drop_scratch_database()


@pytest.fixture(autouse=True)
async def clean_tables(database):
    """Every test starts from empty tables, with ids counted from 1 again. One transaction of
    DELETEs: on PostgreSQL, TRUNCATE of 31 tables took about 0.15 s a test (new files for
    each table and index), and on SQLite each DELETE on its own was a commit."""
    yield
    from app.schema.piccolo_app import TABLES
    from piccolo_conf import DB

    async def empty_all() -> None:
        async with DB.transaction():
            for table in reversed(TABLES):
                await DB.run_ddl(f'DELETE FROM "{table._meta.tablename}"')
            if ENGINE == "postgres":
                await DB.run_ddl(
                    "SELECT setval(oid::regclass, 1, false) FROM pg_class"
                    " WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace"
                )

    if ENGINE == "sqlite":
        await empty_all()
        return
    import asyncpg

    # A module's `roster serve` keeps its background work going (the sweeper, the access and
    # invite watchers), whose locks can meet these DELETEs': PostgreSQL then ends one of the
    # two as a deadlock, and emptying the tables is simply tried again.
    for attempt in range(5):
        try:
            await empty_all()
            break
        except asyncpg.exceptions.DeadlockDetectedError:
            if attempt == 4:
                raise
            await asyncio.sleep(0.2)
