"""users.time_zone, admins.time_zone: the time zone a person chose for the dates they read (an
IANA name; NULL: as their browser says)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-27T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "users.time_zone, admins.time_zone"

FORWARDS = (
    "ALTER TABLE users ADD COLUMN time_zone VARCHAR(64) DEFAULT NULL",
    "ALTER TABLE admins ADD COLUMN time_zone VARCHAR(64) DEFAULT NULL",
)
BACKWARDS = (
    "ALTER TABLE admins DROP COLUMN time_zone",
    "ALTER TABLE users DROP COLUMN time_zone",
)


async def _run(statement: str) -> None:
    from piccolo_conf import DB

    await DB.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="roster", description=DESCRIPTION)

    async def add():
        for statement in FORWARDS:
            await _run(statement)

    async def drop():
        for statement in BACKWARDS:
            await _run(statement)

    manager.add_raw(add)
    manager.add_raw_backwards(drop)
    return manager
