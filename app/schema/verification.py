from typing import TYPE_CHECKING

from piccolo.columns import ForeignKey, OnDelete, Serial, Timestamptz, Varchar
from piccolo.table import Table

from app.schema.users import User


class EmailVerification(Table, tablename="email_verifications"):
    """A one-time email verification link; only the SHA-256 of its token is stored. `email_key`
    is the address it was sent to: it verifies only while that is still the user's address.
    Issuing a new link deletes the user's older ones, so a user has at most one row."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    user = ForeignKey(references=User, null=False, on_delete=OnDelete.cascade, index=True)
    email_key = Varchar(length=254)
    token_hash = Varchar(length=64, unique=True)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
