from typing import TYPE_CHECKING

from piccolo.columns import ForeignKey, OnDelete, Serial, Timestamptz, Varchar
from piccolo.table import Table

from app.schema.clients import Client
from app.schema.users import User


class SsoToken(Table, tablename="sso_tokens"):
    """A single sign-on link (WHMCS's CreateSsoToken): it signs `user` in once, within a minute,
    into `client` when one was named, and lands on `destination` (a path on this site; "" for
    the client area's home). Only the SHA-256 of its token is stored. `used_at` is set by the one
    redemption that wins; used and expired rows are deleted by the sweeper. `created_by` is the
    actor's name as the activity log shows it (the staff member and their API credential)."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    token_hash = Varchar(length=64, unique=True)
    user = ForeignKey(references=User, null=False, on_delete=OnDelete.cascade, index=True)
    client = ForeignKey(references=Client, null=True, on_delete=OnDelete.cascade, index=True)
    destination = Varchar(length=500, default="")
    created_at = Timestamptz()
    expires_at = Timestamptz(index=True)
    used_at = Timestamptz(null=True, default=None)
    created_by = Varchar(length=255, default="")
