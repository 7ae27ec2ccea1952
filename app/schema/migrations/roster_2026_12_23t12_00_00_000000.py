"""Passkeys (WebAuthn credentials) of users and staff, and the challenges of their ceremonies.
Both go with their user or staff member (ON DELETE CASCADE).

Raw, as roster_2026_12_07…: the tables are created here from frozen copies of their classes,
with a CHECK that a passkey belongs to exactly one person."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import BigInt, ForeignKey, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table


class User(Table, tablename="users"):
    id = Serial(primary_key=True)


class Admin(Table, tablename="admins"):
    id = Serial(primary_key=True)


class Passkey(Table, tablename="passkeys"):
    user = ForeignKey(references=User, null=True, on_delete=OnDelete.cascade, index=True)
    admin = ForeignKey(references=Admin, null=True, on_delete=OnDelete.cascade, index=True)
    credential_id = Varchar(length=700, unique=True)
    public_key = Text()
    sign_count = BigInt(default=0)
    name = Varchar(length=60)
    transports = Varchar(length=200, default="")
    created_at = Timestamptz()
    last_used_at = Timestamptz(null=True, default=None)


class PasskeyChallenge(Table, tablename="passkey_challenges"):
    challenge_hash = Varchar(length=64, unique=True)
    binding_hash = Varchar(length=64, index=True)
    purpose = Varchar(length=20)
    user = ForeignKey(references=User, null=True, on_delete=OnDelete.cascade)
    admin = ForeignKey(references=Admin, null=True, on_delete=OnDelete.cascade)
    created_at = Timestamptz()
    expires_at = Timestamptz()


ID = "2026-12-23T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Passkeys and their challenges"

# SQLite cannot add a CHECK to an existing table: a trigger refuses the same rows there.
ONE_PERSON_POSTGRES = (
    "ALTER TABLE passkeys ADD CONSTRAINT passkeys_one_person "
    'CHECK (("user" IS NULL) <> (admin IS NULL))'
)
ONE_PERSON_SQLITE = [
    f"CREATE TRIGGER passkeys_one_person_{when} BEFORE {when} ON passkeys "
    'WHEN (NEW."user" IS NULL) = (NEW.admin IS NULL) '
    "BEGIN SELECT RAISE(ABORT, 'a passkey belongs to exactly one person'); END"
    for when in ("INSERT", "UPDATE")
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="roster", description=DESCRIPTION)

    async def create_tables():
        from piccolo.engine.sqlite import SQLiteEngine

        from piccolo_conf import DB

        await Passkey.create_table()
        await PasskeyChallenge.create_table()
        if isinstance(DB, SQLiteEngine):
            for statement in ONE_PERSON_SQLITE:
                await DB.run_ddl(statement)
        else:
            await DB.run_ddl(ONE_PERSON_POSTGRES)

    async def drop_tables():
        await PasskeyChallenge.alter().drop_table()
        await Passkey.alter().drop_table()

    manager.add_raw(create_tables)
    manager.add_raw_backwards(drop_tables)
    return manager
