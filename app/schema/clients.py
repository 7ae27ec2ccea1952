from typing import TYPE_CHECKING

from piccolo.columns import Boolean, ForeignKey, OnDelete, Serial, Timestamptz, Varchar
from piccolo.table import Table

from app.schema.users import User

CLIENT_STATUSES = ("Active", "Inactive", "Closed")


class Client(Table, tablename="clients"):
    """A billable party: one client account, with exactly one owner."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    company_name = Varchar(length=150, default="")
    first_name = Varchar(length=100)
    last_name = Varchar(length=100)
    email = Varchar(length=254)
    status = Varchar(length=10, default="Active", choices=None)
    owner = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict)
    created_at = Timestamptz()
    # The contact details WHMCS keeps on the client (app.domain.clients.services.CONTACT_FIELDS);
    # the lengths are app.core.validation's CONTACT_LIMITS (a test holds them equal).
    address1 = Varchar(length=100, default="")
    address2 = Varchar(length=100, default="")
    city = Varchar(length=100, default="")
    state = Varchar(length=100, default="")
    postcode = Varchar(length=20, default="")
    country = Varchar(length=2, default="")  # ISO 3166-1 alpha-2, upper case; "" when unknown
    phone_number = Varchar(length=30, default="")
    tax_id = Varchar(length=50, default="")
    # Everyone with access must use two-factor authentication: a user without it who opens the
    # account is sent to enrol first (app.http.plumbing.guards).
    require_two_factor = Boolean(default=False)
