"""Ownership transfers started by the owner: one row per transfer, only the SHA-256 of its token
(unique), at most one open transfer per account (a partial unique index), and the account's
version bumped by every change to one (User Management and the Users tab show the open one),
by the same triggers as grants and invitations (see the migration of 2026-12-08).

Raw, like the migrations of 2026-12-12 and 2026-12-13: the table is created from a frozen copy
of its class (and of the two it points at)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import ForeignKey, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table


class User(Table, tablename="users"):
    id = Serial(primary_key=True)


class Client(Table, tablename="clients"):
    id = Serial(primary_key=True)


class OwnershipTransfer(Table, tablename="ownership_transfers"):
    client = ForeignKey(references=Client, null=False, on_delete=OnDelete.cascade, index=True)
    from_user = ForeignKey(references=User, null=False, on_delete=OnDelete.cascade, index=True)
    to_user = ForeignKey(references=User, null=False, on_delete=OnDelete.cascade, index=True)
    keep_permissions = Text()
    token_hash = Varchar(length=64, unique=True)
    status = Varchar(length=20, default="pending")
    created_at = Timestamptz()
    expires_at = Timestamptz()
    accepted_at = Timestamptz(null=True, default=None)
    ended_at = Timestamptz(null=True, default=None)
    ended_reason = Varchar(length=200, default="")


ID = "2026-12-15T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Ownership transfers"

ONE_OPEN = (
    "CREATE UNIQUE INDEX ownership_transfers_one_open ON ownership_transfers (client) "
    "WHERE status IN ('pending', 'awaiting_approval')"
)
BUMP = "UPDATE clients SET version = abs(random() >> 1) WHERE id"
SQLITE = [
    f"CREATE TRIGGER ownership_transfers_bump_insert AFTER INSERT ON ownership_transfers "
    f"BEGIN {BUMP} = NEW.client; END",
    f"CREATE TRIGGER ownership_transfers_bump_update AFTER UPDATE ON ownership_transfers "
    f"BEGIN {BUMP} IN (OLD.client, NEW.client); END",
    f"CREATE TRIGGER ownership_transfers_bump_delete AFTER DELETE ON ownership_transfers "
    f"BEGIN {BUMP} = OLD.client; END",
]
POSTGRES = [
    "CREATE CONSTRAINT TRIGGER ownership_transfers_bump "
    "AFTER INSERT OR UPDATE OR DELETE ON ownership_transfers "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION roster_bump_by_client()"
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="roster", description=DESCRIPTION)

    async def create_table():
        from piccolo.engine.sqlite import SQLiteEngine

        from piccolo_conf import DB

        await OwnershipTransfer.create_table()
        await DB.run_ddl(ONE_OPEN)
        for statement in SQLITE if isinstance(DB, SQLiteEngine) else POSTGRES:
            await DB.run_ddl(statement)

    async def drop_table():
        await OwnershipTransfer.alter().drop_table()

    manager.add_raw(create_table)
    manager.add_raw_backwards(drop_table)
    return manager
