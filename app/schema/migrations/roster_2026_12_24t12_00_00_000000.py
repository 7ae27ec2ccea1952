"""oauth_codes.reused_at: when a used code was presented again. Tokens from the code saved after
that moment (by the exchange that won the race) are saved already revoked."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-24T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "oauth_codes.reused_at"

ADD = "ALTER TABLE oauth_codes ADD COLUMN reused_at TIMESTAMPTZ DEFAULT NULL"
DROP = "ALTER TABLE oauth_codes DROP COLUMN reused_at"


async def _run(statement: str) -> None:
    from piccolo_conf import DB

    await DB.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="roster", description=DESCRIPTION)

    async def add():
        await _run(ADD)

    async def drop():
        await _run(DROP)

    manager.add_raw(add)
    manager.add_raw_backwards(drop)
    return manager
