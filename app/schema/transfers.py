from typing import TYPE_CHECKING

from piccolo.columns import ForeignKey, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from app.schema.clients import Client
from app.schema.users import User

# An open transfer waits for the chosen user (pending) or, when staff must approve, for staff
# (awaiting_approval); every other status is an end.
OPEN_TRANSFER_STATUSES = ("pending", "awaiting_approval")
TRANSFER_STATUSES = (
    *OPEN_TRANSFER_STATUSES,
    "completed",
    "cancelled",
    "rejected",
    "expired",
    "voided",
)


class OwnershipTransfer(Table, tablename="ownership_transfers"):
    """The owner handing their account to one of its users (`to_user`), who confirms with an
    emailed one-time link (only the SHA-256 of its token is stored) or in the account.
    `keep_permissions`: what the former owner keeps afterwards. At most one open transfer per
    account (the migration's partial unique index). `ended_reason`: why it ended, as the
    activity log says it."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    client = ForeignKey(references=Client, null=False, on_delete=OnDelete.cascade, index=True)
    from_user = ForeignKey(references=User, null=False, on_delete=OnDelete.cascade, index=True)
    to_user = ForeignKey(references=User, null=False, on_delete=OnDelete.cascade, index=True)
    keep_permissions = Text()
    token_hash = Varchar(length=64, unique=True)
    status = Varchar(length=20, default="pending")
    created_at = Timestamptz()
    expires_at = Timestamptz()
    accepted_at = Timestamptz(null=True, default=None)
    ended_at = Timestamptz(null=True, default=None)
    ended_reason = Varchar(length=200, default="")
