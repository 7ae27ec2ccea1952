"""Single sign-on links (WHMCS's CreateSsoToken): one row per link, only the SHA-256 of its
token (unique), the user it signs in and the account it opens (both ON DELETE CASCADE: a link
goes with its user or account), where it lands, when it expires and when it was used.

Raw, like the migrations of 2026-12-07 and 2026-12-10: the table is created from a frozen copy
of its class (and of the two it points at)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import ForeignKey, OnDelete, Serial, Timestamptz, Varchar
from piccolo.table import Table


class User(Table, tablename="users"):
    id = Serial(primary_key=True)


class Client(Table, tablename="clients"):
    id = Serial(primary_key=True)


class SsoToken(Table, tablename="sso_tokens"):
    token_hash = Varchar(length=64, unique=True)
    user = ForeignKey(references=User, null=False, on_delete=OnDelete.cascade, index=True)
    client = ForeignKey(references=Client, null=True, on_delete=OnDelete.cascade, index=True)
    destination = Varchar(length=500, default="")
    created_at = Timestamptz()
    expires_at = Timestamptz(index=True)
    used_at = Timestamptz(null=True, default=None)
    created_by = Varchar(length=255, default="")


ID = "2026-12-12T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Single sign-on links"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="roster", description=DESCRIPTION)

    async def create_table():
        await SsoToken.create_table()

    async def drop_table():
        await SsoToken.alter().drop_table()

    manager.add_raw(create_table)
    manager.add_raw_backwards(drop_table)
    return manager
