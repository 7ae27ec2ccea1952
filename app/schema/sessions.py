from typing import TYPE_CHECKING

from piccolo.columns import ForeignKey, OnDelete, Serial, Timestamptz, Varchar
from piccolo.table import Table

from app.schema.clients import Client
from app.schema.staff import Admin
from app.schema.users import User


class Session(Table, tablename="sessions"):
    """A server-side session. The cookie holds a random id; only its SHA-256 is stored."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    id_hash = Varchar(length=64, unique=True)
    user = ForeignKey(references=User, null=True, on_delete=OnDelete.cascade)
    admin = ForeignKey(references=Admin, null=True, on_delete=OnDelete.cascade)
    client = ForeignKey(references=Client, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()
    last_seen_at = Timestamptz()
    expires_at = Timestamptz(index=True)
    ip = Varchar(length=45, default="")
    user_agent = Varchar(length=255, default="")


class LoginFailure(Table, tablename="login_failures"):
    """A failed login, kept for throttling per account and per IP."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    area = Varchar(length=10)  # client | admin
    email_key = Varchar(length=254, index=True)
    ip = Varchar(length=45, index=True)
    created_at = Timestamptz(index=True)


class PasswordReset(Table, tablename="password_resets"):
    """A single-use password reset link; only the SHA-256 of its token is stored."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    user = ForeignKey(references=User, null=False, on_delete=OnDelete.cascade)
    token_hash = Varchar(length=64, unique=True)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)


class PendingSignIn(Table, tablename="pending_sign_ins"):
    """A login half done: the password was right and the Authentication Code is still to come.
    The browser holds a random token (its own cookie, not the session's); only its SHA-256 is
    stored. It reaches no page but the code step, and expires within minutes. `client` and
    `next_url` are where the completed login goes."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    token_hash = Varchar(length=64, unique=True)
    user = ForeignKey(references=User, null=True, on_delete=OnDelete.cascade)
    admin = ForeignKey(references=Admin, null=True, on_delete=OnDelete.cascade)
    client = ForeignKey(references=Client, null=True, on_delete=OnDelete.set_null)
    next_url = Varchar(length=500, default="")
    created_at = Timestamptz()
    expires_at = Timestamptz(index=True)
