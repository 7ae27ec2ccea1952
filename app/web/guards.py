"""Guards: small pure functions over the viewer, checked on the server for every route.

They are coroutines although they never wait: Litestar runs a plain-function guard in a thread
pool, a thread hop per guard on every request."""

from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from app.admin.services import role_permissions
from app.web.middleware import viewer_of


class ChooseAccount(PermissionDeniedException):
    """The user is logged in but has no current account (or just lost it): go choose one."""


async def user_required(connection, _handler=None) -> None:
    if viewer_of(connection).user is None:
        raise NotAuthorizedException("Log in to continue.")


async def account_required(connection, _handler=None) -> None:
    """A logged-in user with a current account they still have access to (rule 8)."""
    await user_required(connection)
    if viewer_of(connection).client is None:
        raise ChooseAccount("Choose an account first.")


async def owner_required(connection, _handler=None) -> None:
    await account_required(connection)
    if not viewer_of(connection).is_owner:
        raise PermissionDeniedException("Only the account owner can manage its users.")


def permission_required(key: str):
    async def guard(connection, _handler=None) -> None:
        await account_required(connection)
        if not viewer_of(connection).allows(key):
            raise PermissionDeniedException("You do not have permission to view this page.")

    return guard


async def admin_required(connection, _handler=None) -> None:
    if viewer_of(connection).admin is None:
        raise NotAuthorizedException("Log in as staff to continue.")


def role_allows(admin: dict, key: str) -> bool:
    """Whether a staff member's role holds this admin permission (SPEC §5.6)."""
    return key in role_permissions(admin["role"])


def admin_allows(connection, key: str) -> bool:
    admin = viewer_of(connection).admin
    return admin is not None and role_allows(admin, key)


def admin_permission(key: str):
    async def guard(connection, _handler=None) -> None:
        await admin_required(connection)
        if not admin_allows(connection, key):
            raise PermissionDeniedException("Your admin role does not allow this.")

    return guard
