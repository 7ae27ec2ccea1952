"""Who may do what: the one map of named permissions and the staff roles that hold them.

Every web route, every /api/v1 operation and every WHMCS action names exactly one Permission
(web and API: `permission=` on the route decorator; WHMCS: its `Action`), and one check enforces
it (app.http.plumbing.guards.authorize, the API's and the WHMCS endpoint's). Doing the same thing
another way (a page, the JSON API, the WHMCS API) needs the same permission; tests hold both.

Two kinds:
- what a person in the client area is to the account they are in (signed in, a member of the
  current account, its owner, or holding one of the account's permission keys such as `profile`);
- what a staff member's role holds (the admin area, and the API credentials, which act for the
  staff member who made them)."""

from enum import StrEnum
from typing import NamedTuple

from app.core.i18n import N_


class Permission(StrEnum):
    PUBLIC = "public"  # anyone, signed in or not

    # The client area.
    SIGNED_IN = "signed_in"  # a signed-in user
    ACCOUNT_MEMBER = "account_member"  # ... with a current account they still reach
    ACCOUNT_OWNER = "account_owner"  # ... who owns it
    ACCOUNT_PROFILE = "account_profile"  # ... who holds its `profile` permission key

    # Staff, and API credentials (for the staff member who made them).
    STAFF = "staff"  # any staff member, whatever the role
    VIEW_ACCOUNT_USERS = "view_account_users"
    # The delivery history of invitation emails (every email, each try's SMTP outcome): staff
    # whose role holds it, on any account's Users tab and in the outbox. An account's owner sees
    # that of their own account's invitations only, by ACCOUNT_OWNER (User Management).
    VIEW_INVITE_DELIVERY = "view_invite_delivery"
    LIST_USERS = "list_users"
    MANAGE_USERS = "manage_users"
    DELETE_USERS = "delete_users"
    MANAGE_WEBHOOKS = "manage_webhooks"
    MANAGE_APPS = "manage_apps"


# The client-area permissions and the account permission key each one needs (None: none).
CLIENT_AREA: dict[Permission, str | None] = {
    Permission.SIGNED_IN: None,
    Permission.ACCOUNT_MEMBER: None,
    Permission.ACCOUNT_OWNER: None,
    Permission.ACCOUNT_PROFILE: "profile",
}

# What roles hold, as the admin screens name them (marked for the catalog: translated where shown).
STAFF_PERMISSIONS: dict[Permission, str] = {
    Permission.VIEW_ACCOUNT_USERS: N_("View Account Users"),
    Permission.VIEW_INVITE_DELIVERY: N_("View Invitation Delivery"),
    Permission.MANAGE_USERS: N_("Manage Users"),
    Permission.LIST_USERS: N_("List Users"),
    Permission.DELETE_USERS: N_("Delete Users"),
    Permission.MANAGE_WEBHOOKS: N_("Manage Webhooks"),
    Permission.MANAGE_APPS: N_("Manage Apps"),
}


class Role(NamedTuple):
    label: str
    permissions: frozenset[Permission]


ROLES: dict[str, Role] = {
    "full": Role(N_("Full Administrator"), frozenset(STAFF_PERMISSIONS)),
    "support": Role(
        N_("Support Operator"),
        frozenset(
            {Permission.VIEW_ACCOUNT_USERS, Permission.VIEW_INVITE_DELIVERY, Permission.LIST_USERS}
        ),
    ),
}


def role_permissions(role: str) -> frozenset[Permission]:
    """What a role holds; an unknown role holds nothing."""
    known = ROLES.get(role)
    return known.permissions if known else frozenset()


def role_allows(role: str, permission: Permission) -> bool:
    """Whether a staff member (or an API credential) with this role may do what `permission`
    guards. Every staff member may do what needs STAFF; no role holds a client-area one."""
    return permission is Permission.STAFF or permission in role_permissions(role)


def is_staff_permission(permission: Permission) -> bool:
    return permission is Permission.STAFF or permission in STAFF_PERMISSIONS
