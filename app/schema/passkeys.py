from typing import TYPE_CHECKING

from piccolo.columns import (
    BigInt,
    ForeignKey,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from app.schema.staff import Admin
from app.schema.users import User


class Passkey(Table, tablename="passkeys"):
    """A WebAuthn credential (a passkey) of a user's or a staff member's (exactly one of the two).

    `credential_id` is the authenticator's id for it, base64url: unique across Roster (so a
    discoverable sign-in names one person), and so unique per person. `public_key` is the COSE
    key, base64url; `sign_count` the last signature counter seen (0: the authenticator keeps
    none); `transports` the ways the browser said it can reach it, comma-separated."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    user = ForeignKey(references=User, null=True, on_delete=OnDelete.cascade, index=True)
    admin = ForeignKey(references=Admin, null=True, on_delete=OnDelete.cascade, index=True)
    credential_id = Varchar(length=700, unique=True)
    public_key = Text()
    sign_count = BigInt(default=0)
    name = Varchar(length=60)
    transports = Varchar(length=200, default="")
    created_at = Timestamptz()
    last_used_at = Timestamptz(null=True, default=None)


class PasskeyChallenge(Table, tablename="passkey_challenges"):
    """A challenge handed to the browser for one WebAuthn ceremony: single use (deleted when it
    is answered), bound to what asked for it (`binding_hash`: the SHA-256 of the session, the
    pending sign-in or the login page's own token), expiring 5 minutes after it was made.
    `purpose`: "register", "sign_in" or "second_factor"; `user` / `admin`: whose it is, when
    the ceremony is for a known person."""

    if TYPE_CHECKING:
        id: Serial

    challenge_hash = Varchar(length=64, unique=True)
    binding_hash = Varchar(length=64, index=True)
    purpose = Varchar(length=20)
    user = ForeignKey(references=User, null=True, on_delete=OnDelete.cascade)
    admin = ForeignKey(references=Admin, null=True, on_delete=OnDelete.cascade)
    created_at = Timestamptz()
    expires_at = Timestamptz()
