from piccolo.columns import Boolean, Text, Timestamptz, Varchar
from piccolo.table import Table


class User(Table, tablename="users"):
    """One person, one login. `email_key` is the lowercased email: the unique, compared form."""

    first_name = Varchar(length=100)
    last_name = Varchar(length=100)
    email = Varchar(length=254)
    email_key = Varchar(length=254, unique=True, index=True)
    password_hash = Text()
    language = Varchar(length=20, default="english")
    created_at = Timestamptz()
    last_login_at = Timestamptz(null=True, default=None)
    last_login_ip = Varchar(length=45, null=True, default=None)
    last_login_hostname = Varchar(length=255, null=True, default=None)
    disabled = Boolean(default=False)
    totp_enabled = Boolean(default=False)
