from typing import TYPE_CHECKING

from piccolo.columns import Serial, Text, Timestamptz, Varchar
from piccolo.table import Table


class PermissionPreset(Table, tablename="permission_presets"):
    """A named set of permission keys that staff made (app.domain.presets); the three shipped
    ones are defined in code. `name_key`: the name folded to lower case, unique, so two
    presets never differ only by case. `permissions`: comma-separated keys, in canonical order
    (app.core.permissions.serialize). A grant made from a preset copies its keys: nothing
    refers to this row."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    name = Varchar(length=60)
    name_key = Varchar(length=240, unique=True)
    permissions = Text()
    created_at = Timestamptz()
    updated_at = Timestamptz()
