"""Covering search indexes on users: every key index also holds the other search
keys, so that checking the other typed words on a row found through one index reads that index
only, never the table (app/users/search.py).

- users_first_name_key_idx  (first_name_key, last_name_key, id)      + email_key, email_domain_key
- users_last_name_key_idx   (last_name_key, first_name_key, id)      + email_key, email_domain_key
- users_email_domain_key_idx (email_domain_key, first_name_key, last_name_key, id) + email_key
- email_key: on PostgreSQL the unique constraint's own index INCLUDEs the other keys and id (still
  one index on email_key); SQLite cannot widen its table's unique index, so a second one,
  users_email_key_search_idx, holds email_key with the other keys (the rowid comes with it).

PostgreSQL serves the extra columns from INCLUDE and answers from the index alone only for
pages the visibility map marks all-visible: VACUUM ANALYZE at the end, outside a transaction.
Every statement drops before it creates, so a re-run after a failure part way is safe.
`backwards` puts the indexes of roster_2026_12_01t12_00_00_000000 back."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-02T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Covering search indexes on users"

POSTGRES = [
    "DROP INDEX IF EXISTS users_first_name_key_idx",
    "CREATE INDEX users_first_name_key_idx ON users (first_name_key, last_name_key, id)"
    " INCLUDE (email_key, email_domain_key)",
    "DROP INDEX IF EXISTS users_last_name_key_idx",
    "CREATE INDEX users_last_name_key_idx ON users (last_name_key, first_name_key, id)"
    " INCLUDE (email_key, email_domain_key)",
    "DROP INDEX IF EXISTS users_email_domain_key_idx",
    "CREATE INDEX users_email_domain_key_idx"
    " ON users (email_domain_key, first_name_key, last_name_key, id) INCLUDE (email_key)",
    "ALTER TABLE users DROP CONSTRAINT IF EXISTS users_email_key_key,"
    " ADD CONSTRAINT users_email_key_key UNIQUE (email_key)"
    " INCLUDE (first_name_key, last_name_key, email_domain_key, id)",
]

SQLITE = [
    "DROP INDEX IF EXISTS users_first_name_key_idx",
    "CREATE INDEX users_first_name_key_idx"
    " ON users (first_name_key, last_name_key, id, email_key, email_domain_key)",
    "DROP INDEX IF EXISTS users_last_name_key_idx",
    "CREATE INDEX users_last_name_key_idx"
    " ON users (last_name_key, first_name_key, id, email_key, email_domain_key)",
    "DROP INDEX IF EXISTS users_email_domain_key_idx",
    "CREATE INDEX users_email_domain_key_idx"
    " ON users (email_domain_key, first_name_key, last_name_key, id, email_key)",
    "DROP INDEX IF EXISTS users_email_key_search_idx",
    "CREATE INDEX users_email_key_search_idx"
    " ON users (email_key, first_name_key, last_name_key, email_domain_key)",
    "ANALYZE users",
]

# The indexes as roster_2026_12_01t12_00_00_000000 made them.
PREVIOUS = [
    "DROP INDEX IF EXISTS users_email_key_search_idx",
    "DROP INDEX IF EXISTS users_first_name_key_idx",
    "CREATE INDEX users_first_name_key_idx ON users (first_name_key, last_name_key, id)",
    "DROP INDEX IF EXISTS users_last_name_key_idx",
    "CREATE INDEX users_last_name_key_idx ON users (last_name_key, first_name_key, id)",
    "DROP INDEX IF EXISTS users_email_domain_key_idx",
    "CREATE INDEX users_email_domain_key_idx"
    " ON users (email_domain_key, first_name_key, last_name_key, id)",
]
PREVIOUS_POSTGRES = [
    *PREVIOUS,
    "ALTER TABLE users DROP CONSTRAINT IF EXISTS users_email_key_key,"
    " ADD CONSTRAINT users_email_key_key UNIQUE (email_key)",
]


async def _run(statements: list[str]) -> None:
    from piccolo.engine.sqlite import SQLiteEngine

    from piccolo_conf import DB

    sqlite = isinstance(DB, SQLiteEngine)
    async with DB.transaction():
        for statement in statements[0 if sqlite else 1]:
            await DB.run_ddl(statement)
    if not sqlite:
        await DB.run_ddl("VACUUM ANALYZE users")  # not in a transaction


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="roster", description=DESCRIPTION, wrap_in_transaction=False
    )

    async def covering_indexes():
        await _run([SQLITE, POSTGRES])

    async def previous_indexes():
        await _run([[*PREVIOUS, "ANALYZE users"], PREVIOUS_POSTGRES])

    manager.add_raw(covering_indexes)
    manager.add_raw_backwards(previous_indexes)
    return manager
