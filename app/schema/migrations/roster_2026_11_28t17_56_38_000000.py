"""Constraints that Piccolo column options cannot express, the same SQL on both engines."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-28T17:56:38:000000"
VERSION = "1.38.0"
DESCRIPTION = "Composite and partial unique indexes"

CONSTRAINTS = [
    # One grant per (user, client).
    'CREATE UNIQUE INDEX grants_user_client_uniq ON grants ("user", client)',
    "CREATE INDEX grants_client_idx ON grants (client)",
    # At most one open (not accepted, not cancelled) invitation per account and email.
    "CREATE UNIQUE INDEX invitations_open_uniq ON invitations (client, email_key)"
    " WHERE accepted_at IS NULL AND cancelled_at IS NULL",
    "CREATE INDEX clients_owner_idx ON clients (owner)",
    "CREATE INDEX outbound_emails_due_idx ON outbound_emails (status, next_attempt_at)",
    'CREATE INDEX sessions_user_idx ON sessions ("user")',
    "CREATE INDEX login_failures_recent_idx ON login_failures (email_key, created_at)",
    "CREATE INDEX activity_entries_client_user_idx ON activity_entries (client_id, user_id)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="roster", description=DESCRIPTION)

    async def add_constraints():
        from piccolo_conf import DB

        for statement in CONSTRAINTS:
            await DB.run_ddl(statement)

    manager.add_raw(add_constraints)
    return manager
