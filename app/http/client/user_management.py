"""User Management in the client area (/account/users): the owner's view of the same section
the admin Users tab shows, plus Invite New User."""

from typing import TypedDict

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery

from app.core.errors import DomainError
from app.core.i18n import _
from app.core.policy import Permission
from app.domain.access import services as access
from app.domain.invitations import services as invitations
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import flash, render
from app.http.shared import account_users as views
from app.http.shared import bulk_invite, several_invite


class _Section(TypedDict):
    base: str
    area: str


SECTION: _Section = {"base": "/account", "area": "client"}


def current_client_id(request: Request) -> int:
    return viewer_of(request).current_client["id"]


@get("/account/users", permission=Permission.ACCOUNT_OWNER)
async def user_management(
    request: Request,
    q: FromQuery[str] = "",
    after: FromQuery[int] = 0,
    invites_after: FromQuery[int] = 0,
    part: FromQuery[str] = "",
) -> Response:
    """The page; with `part` (people or invites), only that list: a search or a further page."""
    viewer = viewer_of(request)
    part = views.part_asked(request, part)
    section = await views.section_context(
        viewer.current_client["id"],
        can_manage=True,
        query=q,
        after=after,
        invites_after=invites_after,
        part=part,
        **SECTION,
    )
    await access.check_manager(
        viewer.actor, section["client"], turned_off=viewer.user_management_off
    )
    if part:
        return render(request, views.SECTION, section, block=part)
    context = {
        "invite_form": {},
        "invite_errors": {},
        "presets": await views.offered_presets(request),
        **section,
    }
    return render(request, "client/users.html", context)


@post("/account/users/invite", permission=Permission.ACCOUNT_OWNER)
async def invite_new_user(request: Request) -> Response:
    client_id = current_client_id(request)
    form, keys, refused = await views.invite_form_values(request)
    try:
        if refused is not None:
            raise refused
        invitation_id, token = await invitations.invite(
            client_id,
            form.get("email", ""),
            keys,
            actor=viewer_of(request).actor,
            access_until=form.get("access_until") or None,
        )
    except DomainError as exc:
        return render(
            request,
            "client/users.html",
            {
                "invite_form": {**form, "permissions": keys},
                "invite_errors": {exc.field or "form": exc.message},
                "presets": await views.offered_presets(request),
            },
            block="invite_form",
            status=422,
        )
    email = form.get("email", "").strip()
    flash(request, _("Invite sent to %(email)s.") % {"email": email})
    # A fresh, empty form; the section below is refreshed out of band, with the link to copy.
    context = {
        "invite_form": {},
        "invite_errors": {},
        "presets": await views.offered_presets(request),
        "oob": True,
        **await views.section_context(client_id, can_manage=True, **SECTION),
        "sent_link": await views.link_of(invitation_id, token, email),
    }
    return render(request, "client/users.html", context, block="invite_result")


@get("/account/users/{user_id:int}/permissions", permission=Permission.ACCOUNT_OWNER)
async def permissions_form(request: Request, user_id: FromPath[int]) -> Response:
    return await views.permissions_form(
        request, current_client_id(request), user_id, base=SECTION["base"]
    )


@get("/account/users/{user_id:int}/permissions/changes", permission=Permission.ACCOUNT_OWNER)
async def permission_changes(request: Request, user_id: FromPath[int]) -> Response:
    """Asked by an open Manage Permissions dialog on news of the account's people."""
    return await views.permission_changes(request, current_client_id(request), user_id)


@post("/account/users/{user_id:int}/permissions", permission=Permission.ACCOUNT_OWNER)
async def edit_permissions(request: Request, user_id: FromPath[int]) -> Response:
    return await views.edit_permissions(request, current_client_id(request), user_id, **SECTION)


@post("/account/users/{user_id:int}/remove", permission=Permission.ACCOUNT_OWNER)
async def remove_access(request: Request, user_id: FromPath[int]) -> Response:
    client_id = current_client_id(request)
    return await views.remove_access(request, client_id, user_id, **SECTION)


@post("/account/users/{user_id:int}/restore", permission=Permission.ACCOUNT_OWNER)
async def restore_access(request: Request, user_id: FromPath[int]) -> Response:
    """Undo of Remove Access."""
    return await views.restore_access(request, current_client_id(request), user_id, **SECTION)


@post("/account/invites/{invitation_id:int}/resend", permission=Permission.ACCOUNT_OWNER)
async def resend_invite(request: Request, invitation_id: FromPath[int]) -> Response:
    client_id = current_client_id(request)
    return await views.resend_invite(request, client_id, invitation_id, **SECTION)


@post("/account/invites/{invitation_id:int}/link-copied", permission=Permission.ACCOUNT_OWNER)
async def link_copied(request: Request, invitation_id: FromPath[int]) -> Response:
    """The link shown after Send or Resend was copied: an activity entry."""
    return await views.link_copied(request, current_client_id(request), invitation_id)


@get("/account/invites/{invitation_id:int}/delivery", permission=Permission.ACCOUNT_OWNER)
async def invite_delivery(request: Request, invitation_id: FromPath[int]) -> Response:
    """The delivery history of one of the owner's account's invitations (a dialog); another
    account's invitation is not found."""
    src = f"/account/invites/{invitation_id}/delivery"
    return await views.delivery_history(
        request, invitation_id, src=src, client_id=current_client_id(request)
    )


@post("/account/invites/{invitation_id:int}/cancel", permission=Permission.ACCOUNT_OWNER)
async def cancel_invite(request: Request, invitation_id: FromPath[int]) -> Response:
    client_id = current_client_id(request)
    return await views.run_action(
        request,
        client_id,
        lambda actor: invitations.cancel(client_id, invitation_id, actor=actor),
        views.cancelled,
        **SECTION,
    )


@get("/account/users/bulk", permission=Permission.ACCOUNT_OWNER)
async def bulk_invite_page(request: Request) -> Response:
    """Bulk Invite: a list of addresses or a CSV file, previewed, then sent."""
    return await bulk_invite.page(request, current_client_id(request), **SECTION)


@post(
    "/account/users/bulk/preview",
    permission=Permission.ACCOUNT_OWNER,
    request_max_body_size=bulk_invite.BODY_LIMIT,
)
async def bulk_invite_preview(request: Request) -> Response:
    return await bulk_invite.run(request, current_client_id(request), **SECTION, send=False)


@post(
    "/account/users/bulk/send",
    permission=Permission.ACCOUNT_OWNER,
    request_max_body_size=bulk_invite.BODY_LIMIT,
)
async def bulk_invite_send(request: Request) -> Response:
    return await bulk_invite.run(request, current_client_id(request), **SECTION, send=True)


@get("/account/users/several", permission=Permission.ACCOUNT_OWNER)
async def several_invite_page(request: Request) -> Response:
    """Invite to several accounts: one address, the accounts the owner owns, one email."""
    return await several_invite.page(request, current_client_id(request), **SECTION)


@post("/account/users/several", permission=Permission.ACCOUNT_OWNER)
async def several_invite_send(request: Request) -> Response:
    return await several_invite.run(request, current_client_id(request), **SECTION)


@post("/account/invites/{invitation_id:int}/access-until", permission=Permission.ACCOUNT_OWNER)
async def change_invite_until(request: Request, invitation_id: FromPath[int]) -> Response:
    client_id = current_client_id(request)
    return await views.change_invite_until(request, client_id, invitation_id, **SECTION)


ROUTES = [
    user_management,
    invite_new_user,
    permissions_form,
    permission_changes,
    edit_permissions,
    remove_access,
    restore_access,
    resend_invite,
    link_copied,
    invite_delivery,
    cancel_invite,
    bulk_invite_page,
    bulk_invite_preview,
    bulk_invite_send,
    several_invite_page,
    several_invite_send,
    change_invite_until,
]
