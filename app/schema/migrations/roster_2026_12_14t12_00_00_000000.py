"""Access until: a grant and an invitation may carry an end time (`access_until`, NULL: no end).
An invitation's end carries over to the grant its acceptance creates.

grants.access_notice_sent: the notice (in seconds before the end) of the last reminder sent for
this end; a reminder is claimed by one conditional update of it, so of every process looking,
one sends each. When an end is set, the notices longer than the access are marked sent: no
reminder for access shorter than its notice.

A partial index of the grants that have an end, by their end: the look every process makes every
few seconds (what ended, what is due a reminder) reads only those."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-14T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "grants.access_until, grants.access_notice_sent, invitations.access_until"

ADD = [
    "ALTER TABLE grants ADD COLUMN access_until TIMESTAMPTZ DEFAULT NULL",
    "ALTER TABLE grants ADD COLUMN access_notice_sent INTEGER DEFAULT NULL",
    "ALTER TABLE invitations ADD COLUMN access_until TIMESTAMPTZ DEFAULT NULL",
    "CREATE INDEX grants_access_until ON grants (access_until) WHERE access_until IS NOT NULL",
]
DROP = [
    "DROP INDEX IF EXISTS grants_access_until",
    "ALTER TABLE invitations DROP COLUMN access_until",
    "ALTER TABLE grants DROP COLUMN access_notice_sent",
    "ALTER TABLE grants DROP COLUMN access_until",
]


async def _run(statements) -> None:
    from piccolo_conf import DB

    for statement in statements:
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
