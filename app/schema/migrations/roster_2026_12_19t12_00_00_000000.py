"""Permission presets that staff make (the three shipped ones are defined in code, in
app.domain.presets): one row per preset, its name unique whatever the case (name_key).

Raw, like the migration of 2026-12-15: the table is created from a frozen copy of its class."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import Text, Timestamptz, Varchar
from piccolo.table import Table


class PermissionPreset(Table, tablename="permission_presets"):
    name = Varchar(length=60)
    name_key = Varchar(length=240, unique=True)
    permissions = Text()
    created_at = Timestamptz()
    updated_at = Timestamptz()


ID = "2026-12-19T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Permission presets"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="roster", description=DESCRIPTION)

    async def create_table():
        await PermissionPreset.create_table()

    async def drop_table():
        await PermissionPreset.alter().drop_table()

    manager.add_raw(create_table)
    manager.add_raw_backwards(drop_table)
    return manager
