from typing import TYPE_CHECKING

from piccolo.columns import ForeignKey, Integer, OnDelete, Serial, Text, Timestamptz
from piccolo.table import Table

from app.schema.clients import Client
from app.schema.users import User


class Grant(Table, tablename="grants"):
    """A user's access to one client account. Unique per (user, client): see the migration."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    user = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict)
    client = ForeignKey(references=Client, null=False, on_delete=OnDelete.cascade)
    permissions = Text(default="")  # comma-separated keys, see app.core.permissions
    created_at = Timestamptz()
    updated_at = Timestamptz()
    last_login_at = Timestamptz(null=True, default=None)
    # When the access ends by itself (None: never); the sweeper removes the grant then.
    access_until = Timestamptz(null=True, default=None)
    # The notice (seconds before access_until) of the last reminder sent for this end.
    access_notice_sent = Integer(null=True, default=None)
