"""invitations.group_token_hash and sent_with: one invitation email for several accounts. Each
account keeps its own invitation row (its pending list shows it, Cancel closes it alone); the link
the email holds is the SHA-256 shared by the rows it was sent with (a Resend takes a row out of
the group), and sent_with names the invitation the email was queued with (for the history)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-25T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "invitations.group_token_hash, invitations.sent_with"

FORWARDS = (
    "ALTER TABLE invitations ADD COLUMN group_token_hash VARCHAR(64) DEFAULT NULL",
    "ALTER TABLE invitations ADD COLUMN sent_with INTEGER DEFAULT NULL",
    "CREATE INDEX invitations_group_token_hash ON invitations (group_token_hash) "
    "WHERE group_token_hash IS NOT NULL",
)
BACKWARDS = (
    "DROP INDEX invitations_group_token_hash",
    "ALTER TABLE invitations DROP COLUMN sent_with",
    "ALTER TABLE invitations DROP COLUMN group_token_hash",
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
