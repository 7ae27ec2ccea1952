from typing import TYPE_CHECKING

from piccolo.columns import Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table


class ActivityEntry(Table, tablename="activity_entries"):
    """One change: who did it, to which account and user, what it was (before -> after).

    Ids are plain integers, not foreign keys: the log outlives the rows it names.
    """

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    created_at = Timestamptz(index=True)
    actor_type = Varchar(length=10)  # admin | user | system
    actor_id = Integer(null=True, default=None)
    actor_name = Varchar(length=201, default="")
    client_id = Integer(null=True, default=None, index=True)
    user_id = Integer(null=True, default=None, index=True)
    action = Varchar(length=60)
    description = Text()
    ip = Varchar(length=45, default="")
