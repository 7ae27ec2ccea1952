"""admins.language: the language of a staff member's admin area and of the emails to them (a
WHMCS name, as users.language; NULL: as their browser asks)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-26T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "admins.language"

ADD = "ALTER TABLE admins ADD COLUMN language VARCHAR(20) DEFAULT NULL"
DROP = "ALTER TABLE admins DROP COLUMN language"


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
