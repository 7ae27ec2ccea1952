from piccolo.columns import Boolean, Text, Timestamptz, Varchar
from piccolo.table import Table


class User(Table, tablename="users"):
    """One person, one login. `email_key` is the case-folded email: the unique, compared form.

    The `*_key` columns are what search compares (app/users/search.py): `first_name_key` and
    `last_name_key` are the names folded (app.users.search.name_key), `email_domain_key` is the
    part of `email_key` after its last '@'. The service layer writes them with the names and
    the email; they have btree indexes (migration 2026-12-01) that prefix search walks. On
    PostgreSQL they (and `email_key`) are COLLATE "C", so that their order is code-point
    order, the one a prefix range relies on, as it is for SQLite's BINARY collation."""

    first_name = Varchar(length=100)
    last_name = Varchar(length=100)
    email = Varchar(length=254)
    email_key = Varchar(length=254, unique=True)
    first_name_key = Varchar(length=255)
    last_name_key = Varchar(length=255)
    email_domain_key = Varchar(length=254)
    password_hash = Text()
    language = Varchar(length=20, default="english")
    created_at = Timestamptz()
    last_login_at = Timestamptz(null=True, default=None)
    last_login_ip = Varchar(length=45, null=True, default=None)
    last_login_hostname = Varchar(length=255, null=True, default=None)
    disabled = Boolean(default=False)
    totp_enabled = Boolean(default=False)
    # When the current address was proved by a verification link; NULL until then, and again
    # after every change of address (app.verification.services).
    email_verified_at = Timestamptz(null=True, default=None)
