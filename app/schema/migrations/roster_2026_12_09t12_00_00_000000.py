"""A used recovery code is kept, marked with when it was used, so that typing it again is told
"already used" rather than "not right"; only unused ones count as left."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Timestamptz
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-09T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "two_factor_recovery_codes.used_at"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="roster", description=DESCRIPTION)
    manager.add_column(
        table_class_name="RecoveryCode",
        tablename="two_factor_recovery_codes",
        column_name="used_at",
        db_column_name="used_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )
    return manager
