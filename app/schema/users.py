import unicodedata
from typing import TYPE_CHECKING

from piccolo.columns import Boolean, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table


class User(Table, tablename="users"):
    """One person, one login. `email_key` is the case-folded email: the unique, compared form.

    The `*_key` columns are what search compares (app.domain.users.search): `first_name_key` and
    `last_name_key` are the names folded (`name_key` below), `email_domain_key` is the
    part of `email_key` after its last '@'. The service layer writes them with the names and
    the email; they have btree indexes (migration 2026-12-01) that prefix search walks. On
    PostgreSQL they (and `email_key`) are COLLATE "C", so that their order is code-point
    order, the one a prefix range relies on, as it is for SQLite's BINARY collation."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    first_name = Varchar(length=100)
    last_name = Varchar(length=100)
    email = Varchar(length=254)
    email_key = Varchar(length=254, unique=True)
    first_name_key = Varchar(length=255)
    last_name_key = Varchar(length=255)
    email_domain_key = Varchar(length=254)
    password_hash = Text()
    language = Varchar(length=20, default="english")
    # The time zone of the dates they read, an IANA name; None: as their browser says.
    time_zone = Varchar(length=64, null=True, default=None)
    created_at = Timestamptz()
    last_login_at = Timestamptz(null=True, default=None)
    last_login_ip = Varchar(length=45, null=True, default=None)
    last_login_hostname = Varchar(length=255, null=True, default=None)
    disabled = Boolean(default=False)
    totp_enabled = Boolean(default=False)
    # When the current address was proved by a verification link; NULL until then, and again
    # after every change of address (app.domain.verification.services).
    email_verified_at = Timestamptz(null=True, default=None)


NAME_KEY_MAX = 255
KEY_COLUMNS = ("first_name_key", "last_name_key", "email_domain_key")


def name_key(value: str) -> str:
    """A name as search compares it: case-folded, compatibility forms and accents dropped."""
    value = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", value or "").casefold())
    return "".join(c for c in value if not unicodedata.combining(c))[:NAME_KEY_MAX]


def domain_key(key: str) -> str:
    """The part of an email key after its last '@'."""
    return key.rpartition("@")[2]


def user_keys(first_name: str, last_name: str, key: str) -> dict:
    """The search keys to store with a user's names and email key."""
    return {
        "first_name_key": name_key(first_name),
        "last_name_key": name_key(last_name),
        "email_domain_key": domain_key(key),
    }


def key_values(first_name: str, last_name: str, key: str) -> dict:
    """user_keys, as User columns (for insert and update)."""
    return {getattr(User, k): v for k, v in user_keys(first_name, last_name, key).items()}
