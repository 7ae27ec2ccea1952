"""invitations.expiry_announced_at: when the invite's expiry was told to the stream of changes
(invite.expired), so that of every process looking, one tells it, once per expiry (a resent
invite that expires again is told again). Invites already expired are marked told: an upgrade
does not announce the past.

Two partial indexes for the look every process makes every few seconds: the open invites by expiry
(which accounts' Pending just became Expired) and those whose expiry is still untold (which
to announce), so neither reads every invite that ever expired."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-11T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "invitations.expiry_announced_at"

ADD = "ALTER TABLE invitations ADD COLUMN expiry_announced_at TIMESTAMPTZ DEFAULT NULL"
PAST = {
    "sqlite": "UPDATE invitations SET expiry_announced_at = expires_at "
    "WHERE expires_at <= strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')",
    "postgres": "UPDATE invitations SET expiry_announced_at = expires_at WHERE expires_at <= now()",
}
OPEN = "accepted_at IS NULL AND cancelled_at IS NULL"
UNTOLD = f"{OPEN} AND (expiry_announced_at IS NULL OR expiry_announced_at < expires_at)"
INDEXES = [
    f"CREATE INDEX invitations_open_by_expiry ON invitations (expires_at) WHERE {OPEN}",
    f"CREATE INDEX invitations_expiry_untold ON invitations (expires_at) WHERE {UNTOLD}",
]
DROP = [
    "DROP INDEX IF EXISTS invitations_expiry_untold",
    "DROP INDEX IF EXISTS invitations_open_by_expiry",
    "ALTER TABLE invitations DROP COLUMN expiry_announced_at",
]


async def _run(*statements_by_engine) -> None:
    from piccolo.engine.sqlite import SQLiteEngine

    from piccolo_conf import DB

    engine = "sqlite" if isinstance(DB, SQLiteEngine) else "postgres"
    for statements in statements_by_engine:
        await DB.run_ddl(statements if isinstance(statements, str) else statements[engine])


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="roster", description=DESCRIPTION)

    async def add():
        await _run(ADD, PAST, *INDEXES)

    async def drop():
        await _run(*DROP)

    manager.add_raw(add)
    manager.add_raw_backwards(drop)
    return manager
