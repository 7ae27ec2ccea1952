from typing import TYPE_CHECKING

from piccolo.columns import ForeignKey, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from app.schema.staff import Admin


class ApiCredential(Table, tablename="api_credentials"):
    """A staff member's key to the APIs. Only the SHA-256 of the secret is stored; the
    credential goes with its staff member (ON DELETE CASCADE)."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    identifier = Varchar(length=32, unique=True)
    secret_hash = Varchar(length=64)
    description = Varchar(length=200, default="")
    allowed_ips = Text(default="")  # comma-separated IPs and CIDR networks; empty: any address
    admin = ForeignKey(references=Admin, null=False, on_delete=OnDelete.cascade, index=True)
    created_at = Timestamptz()
    last_used_at = Timestamptz(null=True, default=None)
    last_used_ip = Varchar(length=45, default="")
    revoked_at = Timestamptz(null=True, default=None)
