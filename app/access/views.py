"""The account-users section shared by the admin Users tab and the client User Management page:
users with their permissions, pending invites, and the in-place actions on them."""

from litestar import Request, Response

from app.access import services as access
from app.access.permissions import ALL_KEYS
from app.clients.services import get_client
from app.errors import DomainError, NotFound, Throttled
from app.invitations import services as invitations
from app.web.forms import read_form, read_list
from app.web.middleware import viewer_of
from app.web.render import flash, render

SECTION = "shared/account_users.html"


async def section_context(client_id: int, *, base: str, area: str, can_manage: bool) -> dict:
    return {
        "users": await access.account_users(client_id),
        "invites": await invitations.pending_for_client(client_id),
        "base": base,
        "area": area,
        "can_manage": can_manage,
    }


async def render_section(
    request: Request,
    client_id: int,
    *,
    base: str,
    area: str,
    can_manage: bool = True,
    status: int = 200,
) -> Response:
    context = await section_context(client_id, base=base, area=area, can_manage=can_manage)
    return render(request, SECTION, context, block="section", status=status)


async def run_action(
    request: Request, client_id: int, action, success: str, *, base: str, area: str
) -> Response:
    """Runs one service call and answers with the refreshed section and a confirmation
    (or the error) in place."""
    try:
        await action(viewer_of(request).actor)
    except DomainError as exc:
        flash(request, exc.message, "error")
        status = 429 if isinstance(exc, Throttled) else 409
        return await render_section(request, client_id, base=base, area=area, status=status)
    flash(request, success)
    return await render_section(request, client_id, base=base, area=area)


async def account_user(client_id: int, user_id: int) -> dict:
    rows = await access.account_users(client_id, user_id=user_id)
    if not rows:
        raise NotFound("This user no longer has access to this account.")
    return rows[0]


async def permissions_form(
    request: Request, client_id: int, user_id: int, *, base: str
) -> Response:
    """The Manage Permissions form of one user, loaded into the section's dialog on opening."""
    await access.check_manager(viewer_of(request).actor, await get_client(client_id))
    user = await account_user(client_id, user_id)
    if user["is_owner"]:
        raise DomainError("The owner always has every permission: theirs cannot be edited.")
    return render(request, SECTION, {"u": user, "base": base}, block="permissions_form")


async def edit_permissions(
    request: Request, client_id: int, user_id: int, *, base: str, area: str
) -> Response:
    keys = await read_list(request, "permissions")
    try:
        await access.update_permissions(client_id, user_id, keys, actor=viewer_of(request).actor)
    except DomainError as exc:
        user = await account_user(client_id, user_id)
        return render(
            request,
            SECTION,
            {"u": {**user, "permission_keys": tuple(keys)}, "base": base, "error": exc.message},
            block="permissions_form",
            status=422,
            headers={"HX-Retarget": "#perm-form", "HX-Reswap": "outerHTML"},
        )
    flash(request, "Permissions saved.")
    return await render_section(request, client_id, base=base, area=area)


async def invite_form_values(request: Request) -> tuple[dict, list[str]]:
    form = await read_form(request)
    keys = await read_list(request, "permissions")
    if form.get("scope") == "all":
        keys = list(ALL_KEYS)
    return form, keys
