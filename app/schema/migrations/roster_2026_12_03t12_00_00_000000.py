"""Contact details on client accounts: the address, country, phone number and tax
id that WHMCS keeps on the client, each NOT NULL DEFAULT '' so that existing accounts need no
backfill. The lengths are app.core.validation's (see app/clients/tables.py)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Contact details on client accounts"

COLUMNS = [
    ("address1", 100),
    ("address2", 100),
    ("city", 100),
    ("state", 100),
    ("postcode", 20),
    ("country", 2),
    ("phone_number", 30),
    ("tax_id", 50),
]

# PostgreSQL adds them in one statement; SQLite's ALTER TABLE adds one column at a time.
POSTGRES = [
    "ALTER TABLE clients "
    + ", ".join(
        f"ADD COLUMN IF NOT EXISTS {name} VARCHAR({length}) NOT NULL DEFAULT ''"
        for name, length in COLUMNS
    )
]
SQLITE = [
    f"ALTER TABLE clients ADD COLUMN {name} VARCHAR({length}) NOT NULL DEFAULT ''"
    for name, length in COLUMNS
]
DROP_POSTGRES = ["ALTER TABLE clients " + ", ".join(f"DROP COLUMN {n}" for n, _ in COLUMNS)]
DROP_SQLITE = [f"ALTER TABLE clients DROP COLUMN {name}" for name, _ in COLUMNS]


async def _run(sqlite_statements: list[str], postgres_statements: list[str]) -> None:
    from piccolo.engine.sqlite import SQLiteEngine

    from piccolo_conf import DB

    statements = sqlite_statements if isinstance(DB, SQLiteEngine) else postgres_statements
    for statement in statements:
        await DB.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="roster", description=DESCRIPTION)

    async def add_contact_columns():
        await _run(SQLITE, POSTGRES)

    async def drop_contact_columns():
        await _run(DROP_SQLITE, DROP_POSTGRES)

    manager.add_raw(add_contact_columns)
    manager.add_raw_backwards(drop_contact_columns)
    return manager
