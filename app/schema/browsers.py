from typing import TYPE_CHECKING

from piccolo.columns import ForeignKey, OnDelete, Serial, Timestamptz, Varchar
from piccolo.table import Table

from app.schema.staff import Admin
from app.schema.users import User


class KnownBrowser(Table, tablename="known_browsers"):
    """A browser a person (a user or a staff member) has signed in from. The browser keeps a
    long-lived random token in a cookie; only its SHA-256 is stored. One row per person and
    browser: partial unique indexes on (token_hash, user) and (token_hash, admin), made by the
    migration of 2026-12-07 (Piccolo cannot declare them)."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    token_hash = Varchar(length=64, index=True)
    user = ForeignKey(references=User, null=True, on_delete=OnDelete.cascade, index=True)
    admin = ForeignKey(references=Admin, null=True, on_delete=OnDelete.cascade, index=True)
    first_seen_at = Timestamptz()
    last_seen_at = Timestamptz()


class SignInAlertOptOut(Table, tablename="sign_in_alert_opt_outs"):
    """A person who asked not to be emailed about sign-ins from new browsers. The emails are on
    by default: no row, emails."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    user = ForeignKey(references=User, null=True, unique=True, on_delete=OnDelete.cascade)
    admin = ForeignKey(references=Admin, null=True, unique=True, on_delete=OnDelete.cascade)
    created_at = Timestamptz()
