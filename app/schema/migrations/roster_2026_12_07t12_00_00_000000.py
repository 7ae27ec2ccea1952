"""Known browsers and sign-in alert opt-outs: the browsers each person has signed in
from (only the SHA-256 of the browser's token), one row per person and browser by two partial
unique indexes, and who asked not to be emailed about sign-ins from a new browser. Both go with
their user or staff member (ON DELETE CASCADE).

Raw, because Piccolo cannot declare a partial unique index and runs a migration's raw steps
before its add_table steps: the tables are created here from frozen copies of their classes."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import ForeignKey, OnDelete, Serial, Timestamptz, Varchar
from piccolo.table import Table


class User(Table, tablename="users"):
    id = Serial(primary_key=True)


class Admin(Table, tablename="admins"):
    id = Serial(primary_key=True)


class KnownBrowser(Table, tablename="known_browsers"):
    token_hash = Varchar(length=64, index=True)
    user = ForeignKey(references=User, null=True, on_delete=OnDelete.cascade, index=True)
    admin = ForeignKey(references=Admin, null=True, on_delete=OnDelete.cascade, index=True)
    first_seen_at = Timestamptz()
    last_seen_at = Timestamptz()


class SignInAlertOptOut(Table, tablename="sign_in_alert_opt_outs"):
    user = ForeignKey(references=User, null=True, unique=True, on_delete=OnDelete.cascade)
    admin = ForeignKey(references=Admin, null=True, unique=True, on_delete=OnDelete.cascade)
    created_at = Timestamptz()


ID = "2026-12-07T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Known browsers and sign-in alert opt-outs"

PERSON_INDEXES = [
    f"CREATE UNIQUE INDEX known_browsers_{person}_token "
    f'ON known_browsers (token_hash, "{person}") WHERE "{person}" IS NOT NULL'
    for person in ("user", "admin")
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="roster", description=DESCRIPTION)

    async def create_tables():
        from piccolo_conf import DB

        await KnownBrowser.create_table()
        await SignInAlertOptOut.create_table()
        for statement in PERSON_INDEXES:
            await DB.run_ddl(statement)

    async def drop_tables():
        await SignInAlertOptOut.alter().drop_table()
        await KnownBrowser.alter().drop_table()

    manager.add_raw(create_tables)
    manager.add_raw_backwards(drop_tables)
    return manager
