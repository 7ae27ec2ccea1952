"""The check of every route: the permission its decorator names (`permission=` in the route's
options), from the one map in app.core.policy. A route that names none is refused.

Pure functions of the viewer, tested with fakes. They are coroutines although they never wait:
Litestar runs a plain-function guard in a thread pool, a thread hop on every request."""

from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from app.core.i18n import _
from app.core.policy import CLIENT_AREA, Permission, is_staff_permission
from app.core.policy import role_allows as role_holds
from app.http.plumbing.middleware import viewer_of


class ChooseAccount(PermissionDeniedException):
    """The user is logged in but has no current account (or just lost it): go choose one."""


class EnrolTwoFactor(PermissionDeniedException):
    """The current account requires two-factor authentication of everyone with access, and the
    user has none: go set it up (a page), or be told so (a fragment, a stream). `account`: the
    account's name."""

    def __init__(self, account: str) -> None:
        super().__init__(
            _(
                "%(account)s requires everyone with access to use two-factor authentication. "
                "Set it up on your Security page to continue."
            )
            % {"account": account}
        )
        self.account = account


def permission_of(handler) -> Permission | None:
    return handler.opt.get("permission") if handler is not None else None


async def authorize(connection, handler) -> None:
    """The app's one guard. OPTIONS (Litestar's own answers: the allowed methods) pass."""
    if connection.scope.get("method") == "OPTIONS":
        return
    permission = permission_of(handler)
    if permission is None:
        raise PermissionDeniedException(_("This route names no permission."))
    await check(connection, permission)


async def check(connection, permission: Permission) -> None:
    """Raises NotAuthorizedException (log in first), ChooseAccount (choose an account first) or
    PermissionDeniedException (403) unless the viewer holds `permission`."""
    if permission is Permission.PUBLIC:
        return
    viewer = viewer_of(connection)
    if is_staff_permission(permission):
        if viewer.admin is None:
            raise NotAuthorizedException(_("Log in as staff to continue."))
        if not role_holds(viewer.admin["role"], permission):
            raise PermissionDeniedException(_("Your admin role does not allow this."))
        return
    if viewer.user is None:
        raise NotAuthorizedException(_("Log in to continue."))
    if permission is Permission.SIGNED_IN:
        return
    if viewer.client is None:
        raise ChooseAccount(_("Choose an account first."))
    # Every route that acts on the current account passes here (ACCOUNT_MEMBER and what it
    # implies), so an account that requires two-factor authentication is refused, in one place,
    # to a user without it; their other accounts (another current account) are not.
    if viewer.must_enrol_for_account:
        raise EnrolTwoFactor(viewer.client["display_name"])
    if permission is Permission.ACCOUNT_OWNER and not viewer.is_owner:
        raise PermissionDeniedException(_("Only the account owner can manage its users."))
    key = CLIENT_AREA[permission]
    if key is not None and not viewer.allows(key):
        raise PermissionDeniedException(_("You do not have permission to view this page."))


def role_allows(admin: dict, permission: Permission) -> bool:
    """Whether a staff member's role holds this permission."""
    return role_holds(admin["role"], permission)


def admin_allows(connection, permission: Permission) -> bool:
    """For what a page offers (a button): whether the staff member viewing it may use it."""
    admin = viewer_of(connection).admin
    return admin is not None and role_allows(admin, permission)
