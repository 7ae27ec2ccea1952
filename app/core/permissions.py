"""The client-user permission keys, in display order, with their labels and descriptions (marked
for the catalog: N_; translated where they are shown, `_(LABELS[key])`)."""

from typing import NamedTuple

from app.core.i18n import N_


class Permission(NamedTuple):
    key: str
    label: str
    description: str


PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        "profile",
        N_("Modify Master Account Profile"),
        N_("Change the account's company name, contact name and email."),
    ),
    Permission(
        "contacts", N_("View & Manage Contacts"), N_("See and edit the account's contacts.")
    ),
    Permission(
        "products", N_("View Products & Services"), N_("See the account's products and services.")
    ),
    Permission(
        "manageproducts",
        N_("View & Modify Product Passwords"),
        N_("Reveal and change passwords of products and services."),
    ),
    Permission(
        "productsso",
        N_("Perform Single Sign-On"),
        N_("Sign in to product control panels without a password."),
    ),
    Permission("domains", N_("View Domains"), N_("See the account's domains.")),
    Permission(
        "managedomains",
        N_("Manage Domain Settings"),
        N_("Change nameservers, locks, contacts and renewals."),
    ),
    Permission("invoices", N_("View & Pay Invoices"), N_("See invoices and pay them.")),
    Permission("quotes", N_("View & Accept Quotes"), N_("See quotes and accept them.")),
    Permission(
        "tickets",
        N_("View & Open Support Tickets"),
        N_("Read the account's tickets and open new ones."),
    ),
    Permission(
        "affiliates",
        N_("View & Manage Affiliate Account"),
        N_("See referrals and commissions, request payouts."),
    ),
    Permission("emails", N_("View Emails"), N_("Read the emails sent to the account.")),
    Permission(
        "orders",
        N_("Place New Orders/Upgrades/Cancellations"),
        N_("Order, upgrade and cancel products and services."),
    ),
)

ALL_KEYS: tuple[str, ...] = tuple(p.key for p in PERMISSIONS)
LABELS: dict[str, str] = {p.key: p.label for p in PERMISSIONS}
# One or two words each, for a one-line summary of a grant ("3 of 13: Domains, Invoices, …").
SHORT_LABELS: dict[str, str] = {
    "profile": N_("Profile"),
    "contacts": N_("Contacts"),
    "products": N_("Products"),
    "manageproducts": N_("Product Passwords"),
    "productsso": N_("Single Sign-On"),
    "domains": N_("Domains"),
    "managedomains": N_("Domain Settings"),
    "invoices": N_("Invoices"),
    "quotes": N_("Quotes"),
    "tickets": N_("Tickets"),
    "affiliates": N_("Affiliates"),
    "emails": N_("Emails"),
    "orders": N_("Orders"),
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
