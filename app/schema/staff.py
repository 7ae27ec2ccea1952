from typing import TYPE_CHECKING

from piccolo.columns import Boolean, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table


class Admin(Table, tablename="admins"):
    """A staff member. `role` is a key of app.core.policy.ROLES."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    name = Varchar(length=150)
    email = Varchar(length=254)
    email_key = Varchar(length=254, unique=True)
    password_hash = Text()
    role = Varchar(length=20, default="full")
    created_at = Timestamptz()
    last_login_at = Timestamptz(null=True, default=None)
    disabled = Boolean(default=False)
    # Their admin area's language, a WHMCS name (app.core.i18n); None: as their browser asks.
    language = Varchar(length=20, null=True, default=None)
    # The time zone of the dates they read, an IANA name; None: as their browser says.
    time_zone = Varchar(length=64, null=True, default=None)


class Setting(Table, tablename="settings"):
    """Admin settings as key/value rows (values are 'true' / 'false' or text)."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    key = Varchar(length=60, unique=True)
    value = Text()
