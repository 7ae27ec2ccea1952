from piccolo.columns import ForeignKey, OnDelete, Timestamptz, Varchar
from piccolo.table import Table

from app.users.tables import User

CLIENT_STATUSES = ("Active", "Inactive", "Closed")


class Client(Table, tablename="clients"):
    """A billable party: one client account, with exactly one owner."""

    company_name = Varchar(length=150, default="")
    first_name = Varchar(length=100)
    last_name = Varchar(length=100)
    email = Varchar(length=254)
    status = Varchar(length=10, default="Active", choices=None)
    owner = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict)
    created_at = Timestamptz()
