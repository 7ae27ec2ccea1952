"""clients.require_two_factor: everyone with access to the account must use two-factor
authentication (a user without it who opens the account is sent to enrol first).

The account's Users tab now shows who has not set it up, so a user turning two-factor
authentication on or off changes what the tab shows: the account version is bumped for that too
(as roster_2026_12_08… does for the other users' columns the tab shows), on both engines."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-16T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "clients.require_two_factor"

ADD = "ALTER TABLE clients ADD COLUMN require_two_factor BOOLEAN NOT NULL DEFAULT FALSE"
SQLITE_BUMP = (
    "CREATE TRIGGER users_two_factor_bump_update AFTER UPDATE OF totp_enabled ON users "
    "WHEN OLD.totp_enabled IS NOT NEW.totp_enabled "
    "BEGIN UPDATE clients SET version = abs(random() >> 1) "
    'WHERE id IN (SELECT client FROM grants WHERE "user" = NEW.id); END'
)
# roster_bump_by_user: the function of roster_2026_12_08…, bumped when the transaction commits.
POSTGRES_BUMP = (
    "CREATE CONSTRAINT TRIGGER users_two_factor_bump AFTER UPDATE OF totp_enabled ON users "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
    "WHEN (OLD.totp_enabled IS DISTINCT FROM NEW.totp_enabled) "
    "EXECUTE FUNCTION roster_bump_by_user()"
)
DROP = {
    "sqlite": ["DROP TRIGGER IF EXISTS users_two_factor_bump_update"],
    "postgres": ["DROP TRIGGER IF EXISTS users_two_factor_bump ON users"],
}


async def _run(statements: dict[str, list[str]]) -> None:
    from piccolo.engine.sqlite import SQLiteEngine

    from piccolo_conf import DB

    engine = "sqlite" if isinstance(DB, SQLiteEngine) else "postgres"
    for statement in statements[engine]:
        await DB.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="roster", description=DESCRIPTION)

    async def add():
        await _run({"sqlite": [ADD, SQLITE_BUMP], "postgres": [ADD, POSTGRES_BUMP]})

    async def drop():
        await _run(
            {
                "sqlite": [*DROP["sqlite"], "ALTER TABLE clients DROP COLUMN require_two_factor"],
                "postgres": [
                    *DROP["postgres"],
                    "ALTER TABLE clients DROP COLUMN require_two_factor",
                ],
            }
        )

    manager.add_raw(add)
    manager.add_raw_backwards(drop)
    return manager
