from typing import TYPE_CHECKING

from piccolo.columns import ForeignKey, Integer, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from app.schema.clients import Client
from app.schema.staff import Admin
from app.schema.users import User


class Invitation(Table, tablename="invitations"):
    """An emailed, one-time invitation. Only the SHA-256 of its token is stored.

    Status is derived: accepted (accepted_at), cancelled (cancelled_at), expired
    (expires_at passed), else pending. At most one open invite per (client, email_key):
    see the migration's partial unique index.
    """

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    client = ForeignKey(references=Client, null=False, on_delete=OnDelete.cascade)
    email = Varchar(length=254)
    email_key = Varchar(length=254)
    permissions = Text()
    token_hash = Varchar(length=64, unique=True)
    invited_by_admin = ForeignKey(references=Admin, null=True, on_delete=OnDelete.set_null)
    invited_by_user = ForeignKey(references=User, null=True, on_delete=OnDelete.set_null)
    sender_name = Varchar(length=201)
    created_at = Timestamptz()
    last_sent_at = Timestamptz()
    times_sent = Integer(default=1)
    expires_at = Timestamptz()
    accepted_at = Timestamptz(null=True, default=None)
    accepted_by = ForeignKey(references=User, null=True, on_delete=OnDelete.set_null)
    cancelled_at = Timestamptz(null=True, default=None)
    # When this expiry was told (invite.expired); a resend's new expiry is told again.
    expiry_announced_at = Timestamptz(null=True, default=None)
    # When the link's holder (expired or cancelled) asked for a new invitation; Resend clears it.
    renewal_requested_at = Timestamptz(null=True, default=None)
    # When the access this invitation gives ends (None: never); carried to the grant.
    access_until = Timestamptz(null=True, default=None)
    # One email for several accounts: the SHA-256 of the link it holds, shared by the invitations
    # sent with it (each keeps a token_hash of its own, never sent). A Resend clears it.
    group_token_hash = Varchar(length=64, null=True, default=None)
    # Of such an invitation but the first: the first, whose id the one email carries.
    sent_with = Integer(null=True, default=None)
