"""The client-user permission keys, in display order."""

from typing import NamedTuple


class Permission(NamedTuple):
    key: str
    label: str
    description: str


PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        "profile",
        "Modify Master Account Profile",
        "Change the account's company name, contact name and email.",
    ),
    Permission("contacts", "View & Manage Contacts", "See and edit the account's contacts."),
    Permission("products", "View Products & Services", "See the account's products and services."),
    Permission(
        "manageproducts",
        "View & Modify Product Passwords",
        "Reveal and change passwords of products and services.",
    ),
    Permission(
        "productsso",
        "Perform Single Sign-On",
        "Sign in to product control panels without a password.",
    ),
    Permission("domains", "View Domains", "See the account's domains."),
    Permission(
        "managedomains",
        "Manage Domain Settings",
        "Change nameservers, locks, contacts and renewals.",
    ),
    Permission("invoices", "View & Pay Invoices", "See invoices and pay them."),
    Permission("quotes", "View & Accept Quotes", "See quotes and accept them."),
    Permission(
        "tickets", "View & Open Support Tickets", "Read the account's tickets and open new ones."
    ),
    Permission(
        "affiliates",
        "View & Manage Affiliate Account",
        "See referrals and commissions, request payouts.",
    ),
    Permission("emails", "View Emails", "Read the emails sent to the account."),
    Permission(
        "orders",
        "Place New Orders/Upgrades/Cancellations",
        "Order, upgrade and cancel products and services.",
    ),
)

ALL_KEYS: tuple[str, ...] = tuple(p.key for p in PERMISSIONS)
LABELS: dict[str, str] = {p.key: p.label for p in PERMISSIONS}
# One or two words each, for a one-line summary of a grant ("3 of 13: Domains, Invoices, …").
SHORT_LABELS: dict[str, str] = {
    "profile": "Profile",
    "contacts": "Contacts",
    "products": "Products",
    "manageproducts": "Product Passwords",
    "productsso": "Single Sign-On",
    "domains": "Domains",
    "managedomains": "Domain Settings",
    "invoices": "Invoices",
    "quotes": "Quotes",
    "tickets": "Tickets",
    "affiliates": "Affiliates",
    "emails": "Emails",
    "orders": "Orders",
}


def serialize(keys: "tuple[str, ...] | list[str] | frozenset[str]") -> str:
    """Keys as stored in a row: comma-separated in canonical order."""
    wanted = set(keys)
    return ",".join(k for k in ALL_KEYS if k in wanted)


def deserialize(stored: str) -> tuple[str, ...]:
    wanted = set(filter(None, stored.split(",")))
    return tuple(k for k in ALL_KEYS if k in wanted)


def granted(stored: str, *, is_owner: bool) -> tuple[str, ...]:
    """What a grant allows: every key for the account's owner (rule 1), else the stored ones."""
    return ALL_KEYS if is_owner else deserialize(stored)
