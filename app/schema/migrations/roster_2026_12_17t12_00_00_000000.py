"""invitations.renewal_requested_at: when the holder of the invitation's link (expired or
cancelled) asked for a new one; shown beside the invite in the lists, cleared by Resend."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-17T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "invitations.renewal_requested_at"

ADD = "ALTER TABLE invitations ADD COLUMN renewal_requested_at TIMESTAMPTZ DEFAULT NULL"
DROP = "ALTER TABLE invitations DROP COLUMN renewal_requested_at"


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
