"""Search keys for prefix search on users: first_name_key, last_name_key and
email_domain_key, filled in for the users already there, with btree indexes; and the second,
plain index on email_key dropped (its unique constraint already has one).

On PostgreSQL the key columns and email_key are COLLATE "C": a prefix is searched as a range
(key >= 'abc' AND key < 'abd'), which holds only in code-point order. SQLite's BINARY
collation already is.

The keys are filled in by SQL first (lower(): right for most names), then every row is checked
against app.schema.users.user_keys, the folding the application writes, and the few that differ
(accents, non-ASCII case) are corrected one by one."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-01T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Search keys on users; one index on email_key"

POSTGRES = [
    "DROP INDEX IF EXISTS users_email_key",
    "ALTER TABLE users ADD COLUMN first_name_key VARCHAR(255) COLLATE \"C\" NOT NULL DEFAULT '',"
    " ADD COLUMN last_name_key VARCHAR(255) COLLATE \"C\" NOT NULL DEFAULT '',"
    " ADD COLUMN email_domain_key VARCHAR(254) COLLATE \"C\" NOT NULL DEFAULT ''",
    'ALTER TABLE users ALTER COLUMN email_key TYPE VARCHAR(254) COLLATE "C"',
    "UPDATE users SET first_name_key = lower(first_name), last_name_key = lower(last_name),"
    " email_domain_key = substring(email_key from '[^@]*$')",
]

SQLITE = [
    "DROP INDEX IF EXISTS users_email_key",
    "ALTER TABLE users ADD COLUMN first_name_key VARCHAR(255) NOT NULL DEFAULT ''",
    "ALTER TABLE users ADD COLUMN last_name_key VARCHAR(255) NOT NULL DEFAULT ''",
    "ALTER TABLE users ADD COLUMN email_domain_key VARCHAR(254) NOT NULL DEFAULT ''",
    # After the last '@': rtrim strips every trailing character that is not an '@'.
    "UPDATE users SET first_name_key = lower(first_name), last_name_key = lower(last_name),"
    " email_domain_key = substr(email_key,"
    " length(rtrim(email_key, replace(email_key, '@', ''))) + 1)",
]

BOTH = [
    "CREATE INDEX users_first_name_key_idx ON users (first_name_key, last_name_key, id)",
    "CREATE INDEX users_last_name_key_idx ON users (last_name_key, first_name_key, id)",
    "CREATE INDEX users_email_domain_key_idx"
    " ON users (email_domain_key, first_name_key, last_name_key, id)",
    "ANALYZE users",
]

BATCH = 5000


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="roster", description=DESCRIPTION)

    async def add_search_keys():
        from piccolo.engine.sqlite import SQLiteEngine

        from app.schema.users import User, user_keys
        from piccolo_conf import DB

        statements = SQLITE if isinstance(DB, SQLiteEngine) else POSTGRES
        for statement in statements:
            await DB.run_ddl(statement)

        last = 0
        while True:
            rows = await User.raw(
                "SELECT id, first_name, last_name, email_key, first_name_key, last_name_key,"
                " email_domain_key FROM users WHERE id > {} ORDER BY id LIMIT {}",
                last,
                BATCH,
            )
            if not rows:
                break
            last = rows[-1]["id"]
            for row in rows:
                keys = user_keys(row["first_name"], row["last_name"], row["email_key"])
                if any(row[k] != v for k, v in keys.items()):
                    await User.update({getattr(User, k): v for k, v in keys.items()}).where(
                        User.id == row["id"]
                    )

        for statement in BOTH:
            await DB.run_ddl(statement)

    manager.add_raw(add_search_keys)
    return manager
