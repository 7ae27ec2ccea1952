"""An account's version: a
number that every change to what an account's Users tab shows
replaces, in the same transaction, so that a process may keep the tab's rendered lists and
know, from one column read with the request's session, whether they are still current
(app.http.shared.account_users.kept_section). Triggers bump it, so no writer can forget: a grant or
an invite of the account added, changed or removed; an invitation email's outcome; one of the
account's users renamed, their email changed or verified, their last login; the account itself
changed.

Each new version is a random 63-bit number, not the old one plus one: an account's versions never
repeat, even when its id is used again (tables emptied between tests, a restored backup), so a
kept rendering can never pass for another state's.

Raw SQL per engine. SQLite (one writer at a time, no deadlock possible) bumps clients.version as
each change is made; PostgreSQL bumps client_versions when the transaction commits (see
POSTGRES)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-08T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "clients.version, bumped by triggers on what the Users tab shows"

SQLITE_RANDOM = "abs(random() >> 1)"
POSTGRES_RANDOM = "floor(random() * 9.2e18)::bigint"
BUMP = f"UPDATE clients SET version = {SQLITE_RANDOM} WHERE id"
# The users' columns the Users tab shows (app.domain.access.services._ACCOUNT_PEOPLE_SQL).
USER_COLUMNS = (
    "first_name, last_name, email, email_verified_at, last_login_at, last_login_ip, "
    "last_login_hostname"
)

SQLITE = [
    # SQLite adds no column with a non-constant default: new accounts get theirs by a trigger.
    "ALTER TABLE clients ADD COLUMN version INTEGER NOT NULL DEFAULT 0",
    f"UPDATE clients SET version = {SQLITE_RANDOM}",
    f"CREATE TRIGGER clients_version_insert AFTER INSERT ON clients BEGIN {BUMP} = NEW.id; END",
    *(
        statement
        for table in ("grants", "invitations")
        for statement in (
            f"CREATE TRIGGER {table}_bump_insert AFTER INSERT ON {table} "
            f"BEGIN {BUMP} = NEW.client; END",
            f"CREATE TRIGGER {table}_bump_update AFTER UPDATE ON {table} "
            f"BEGIN {BUMP} IN (OLD.client, NEW.client); END",
            f"CREATE TRIGGER {table}_bump_delete AFTER DELETE ON {table} "
            f"BEGIN {BUMP} = OLD.client; END",
        )
    ),
    "CREATE TRIGGER outbound_emails_bump_insert AFTER INSERT ON outbound_emails "
    f"WHEN NEW.invitation IS NOT NULL BEGIN {BUMP} = "
    "(SELECT client FROM invitations WHERE id = NEW.invitation); END",
    "CREATE TRIGGER outbound_emails_bump_update AFTER UPDATE OF status, last_error, invitation "
    f"ON outbound_emails BEGIN {BUMP} IN (SELECT client FROM invitations "
    "WHERE id IN (OLD.invitation, NEW.invitation)); END",
    "CREATE TRIGGER outbound_emails_bump_delete AFTER DELETE ON outbound_emails "
    f"WHEN OLD.invitation IS NOT NULL BEGIN {BUMP} = "
    "(SELECT client FROM invitations WHERE id = OLD.invitation); END",
    f"CREATE TRIGGER users_bump_update AFTER UPDATE OF {USER_COLUMNS} ON users "
    f'BEGIN {BUMP} IN (SELECT client FROM grants WHERE "user" = NEW.id); END',
    # The account itself (name, status, owner...): any change but the bump's own.
    "CREATE TRIGGER clients_bump_update AFTER UPDATE ON clients "
    f"WHEN OLD.version = NEW.version BEGIN {BUMP} = NEW.id; END",
]

# PostgreSQL: a table of its own, bumped when the transaction commits (deferred constraint
# triggers). Bumping clients.version as the change is made, as on SQLite, deadlocked (make owner
# vs remove vs a login, in the soak run): services lock the account's row first and then its
# grants, while a login or the mail worker changes a grant or an email first, and the trigger
# then wanted the account's row. client_versions has no foreign key (whose check would take a
# lock on clients) and is only ever written at commit, by these triggers, in client order.
POSTGRES = [
    "CREATE TABLE IF NOT EXISTS client_versions "
    "(client INTEGER PRIMARY KEY, version BIGINT NOT NULL)",
    f"INSERT INTO client_versions (client, version) SELECT id, {POSTGRES_RANDOM} FROM clients "
    "ON CONFLICT (client) DO NOTHING",
    f"""CREATE OR REPLACE FUNCTION roster_bump(ids integer[]) RETURNS void LANGUAGE sql AS $$
INSERT INTO client_versions (client, version)
SELECT c, {POSTGRES_RANDOM}
FROM (SELECT DISTINCT c FROM unnest(ids) AS c WHERE c IS NOT NULL) AS wanted
ORDER BY c
ON CONFLICT (client) DO UPDATE SET version = EXCLUDED.version
$$""",
    """CREATE OR REPLACE FUNCTION roster_bump_by_client() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN PERFORM roster_bump(ARRAY[NEW.client]);
  ELSIF TG_OP = 'DELETE' THEN PERFORM roster_bump(ARRAY[OLD.client]);
  ELSE PERFORM roster_bump(ARRAY[OLD.client, NEW.client]);
  END IF;
  RETURN NULL;
END $$""",
    """CREATE OR REPLACE FUNCTION roster_bump_by_invitation() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  wanted integer[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    wanted := ARRAY[NEW.invitation];
  ELSIF TG_OP = 'DELETE' THEN
    wanted := ARRAY[OLD.invitation];
  ELSIF (OLD.status, OLD.last_error, OLD.invitation)
      IS DISTINCT FROM (NEW.status, NEW.last_error, NEW.invitation) THEN
    wanted := ARRAY[OLD.invitation, NEW.invitation];
  ELSE
    RETURN NULL;
  END IF;
  PERFORM roster_bump(ARRAY(SELECT client FROM invitations WHERE id = ANY(wanted)));
  RETURN NULL;
END $$""",
    """CREATE OR REPLACE FUNCTION roster_bump_by_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM roster_bump(ARRAY(SELECT client FROM grants WHERE "user" = NEW.id));
  RETURN NULL;
END $$""",
    """CREATE OR REPLACE FUNCTION roster_bump_client() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM roster_bump(ARRAY[NEW.id]);
  RETURN NULL;
END $$""",
    *(
        f"CREATE CONSTRAINT TRIGGER {table}_bump AFTER INSERT OR UPDATE OR DELETE ON {table} "
        f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {function}()"
        for table, function in (
            ("grants", "roster_bump_by_client"),
            ("invitations", "roster_bump_by_client"),
            ("outbound_emails", "roster_bump_by_invitation"),
        )
    ),
    f"CREATE CONSTRAINT TRIGGER users_bump AFTER UPDATE OF {USER_COLUMNS} ON users "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
    f"WHEN (({', '.join('OLD.' + c for c in USER_COLUMNS.split(', '))}) IS DISTINCT FROM "
    f"({', '.join('NEW.' + c for c in USER_COLUMNS.split(', '))})) "
    "EXECUTE FUNCTION roster_bump_by_user()",
    "CREATE CONSTRAINT TRIGGER clients_bump AFTER INSERT OR UPDATE ON clients "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION roster_bump_client()",
]

TRIGGERS = {
    "grants": ("grants_bump_insert", "grants_bump_update", "grants_bump_delete"),
    "invitations": (
        "invitations_bump_insert", "invitations_bump_update", "invitations_bump_delete"
    ),
    "outbound_emails": (
        "outbound_emails_bump_insert", "outbound_emails_bump_update",
        "outbound_emails_bump_delete",
    ),
    "users": ("users_bump_update",),
    "clients": ("clients_bump_update", "clients_version_insert"),
}  # fmt: skip
DROP_SQLITE = [
    *(f"DROP TRIGGER IF EXISTS {name}" for names in TRIGGERS.values() for name in names),
    "ALTER TABLE clients DROP COLUMN version",
]
DROP_POSTGRES = [
    *(
        f"DROP TRIGGER IF EXISTS {table}_bump ON {table}"
        for table in ("grants", "invitations", "outbound_emails", "users", "clients")
    ),
    *(
        f"DROP FUNCTION IF EXISTS {name}()"
        for name in (
            "roster_bump_by_client",
            "roster_bump_by_invitation",
            "roster_bump_by_user",
            "roster_bump_client",
        )
    ),  # fmt: skip
    "DROP FUNCTION IF EXISTS roster_bump(integer[])",
    "DROP TABLE IF EXISTS client_versions",
]


async def _run(sqlite_statements: list[str], postgres_statements: list[str]) -> None:
    from piccolo.engine.sqlite import SQLiteEngine

    from piccolo_conf import DB

    statements = sqlite_statements if isinstance(DB, SQLiteEngine) else postgres_statements
    for statement in statements:
        await DB.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="roster", description=DESCRIPTION)

    async def add_version():
        await _run(SQLITE, POSTGRES)

    async def drop_version():
        await _run(DROP_SQLITE, DROP_POSTGRES)

    manager.add_raw(add_version)
    manager.add_raw_backwards(drop_version)
    return manager
