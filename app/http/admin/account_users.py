"""The admin area: client accounts, and the Users tab of a client's profile."""

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery

from app.core import i18n
from app.core.config import get_settings
from app.core.errors import DomainError
from app.core.i18n import N_, _
from app.core.names import display_name
from app.core.policy import Permission
from app.core.validation import clean_email, email_key, parse_id
from app.domain.access import transfers
from app.domain.auth import services as auth
from app.domain.clients import services as clients
from app.domain.invitations import services as invitations
from app.domain.users import services as users
from app.domain.users.services import association_candidates, full_name
from app.http.plumbing.forms import read_form
from app.http.plumbing.guards import admin_allows, role_allows
from app.http.plumbing.kept import answered_again, keep_answer, varying_headers
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import (
    flash,
    has_flashes,
    html_response,
    redirect,
    render,
    trigger,
    wants_fragment,
)
from app.http.shared import account_users as views
from app.http.shared import bulk_invite, several_invite
from app.http.shared.profile import profile_context, save_profile_form

PAGE_SIZE = 25


@get("/admin", permission=Permission.STAFF)
async def admin_home(request: Request) -> Response:
    return redirect(request, "/admin/clients")


@get("/admin/clients", permission=Permission.STAFF)
async def client_list(
    request: Request, q: FromQuery[str] = "", page: FromQuery[int] = 1
) -> Response:
    rows, shown = await clients.search_clients(q, page=page, per_page=PAGE_SIZE)
    context = {
        "clients": rows,
        "q": q,
        "shown": shown,
        "form": {},
        "errors": {},
        "can_create": admin_allows(request, Permission.MANAGE_USERS),
    }
    if wants_fragment(request):
        return render(request, "admin/clients/list.html", context, block="results")
    return render(request, "admin/clients/list.html", context)


@post("/admin/clients", permission=Permission.MANAGE_USERS)
async def create_client(request: Request) -> Response:
    form = await read_form(request)
    try:
        client_id = await clients.create_client(
            owner_email=form.get("owner_email", ""),
            owner_first=form.get("owner_first", ""),
            owner_last=form.get("owner_last", ""),
            company=form.get("company", ""),
            actor=viewer_of(request).actor,
        )
    except DomainError as exc:
        return render(
            request,
            "admin/clients/create_form.html",
            {"form": form, "errors": {exc.field or "form": exc.message}},
            status=422,
        )
    return redirect(request, f"/admin/clients/{client_id}/users")


def section_options(client_id: int) -> dict:
    return {"base": f"/admin/clients/{client_id}", "area": "admin"}


# Marked only: translated where shown (users_tab).
STATUS_NOTICES = {
    "closed": N_(
        "Account closed: its pending invites were cancelled and its users cannot enter it."
    ),
    "reopened": N_("Account reopened: its users can enter it again."),
    "transfer_completed": N_("Ownership transfer approved: the account has its new owner."),
    "transfer_rejected": N_("Ownership transfer rejected: the owner stays the same."),
    "transfer_expired": N_("This ownership transfer had expired: it was ended, nothing changed."),
    "transfer_owner_changed": N_("The account's owner changed meanwhile: the transfer is void."),
    "transfer_removed": N_("The chosen user no longer has access: the transfer is void."),
    "transfer_closed": N_("The account is closed: the transfer is void."),
    "transfer_gone": N_("This ownership transfer is no longer pending."),
}


def users_tab_key(scope) -> tuple | None:
    """What a Users tab's answer depends on besides its account's version (read with the session):
    the page asked for, the staff member (the admin bar), the request's cookies (the CSRF token it
    carries) and htmx and encoding headers. None (not kept, not answered again) without a staff
    session, a version, or the route's permission."""
    viewer = scope.get("state", {}).get("viewer")
    if (
        viewer is None
        or viewer.admin is None
        or viewer.user is not None
        or viewer.page_client_version is None
        or not role_allows(viewer.admin, Permission.VIEW_ACCOUNT_USERS)
    ):
        return None
    return (
        scope["path"],
        scope["query_string"],
        i18n.current().code,  # the language it is written in
        viewer.page_client_version,
        viewer.presets_version,  # the Associate User dialog offers the presets
        tuple(viewer.admin.items()),
        varying_headers(scope),
    )


@get(
    "/admin/clients/{client_id:int}/users",
    permission=Permission.VIEW_ACCOUNT_USERS,
    middleware=[answered_again(users_tab_key)],
)
async def users_tab(
    request: Request,
    client_id: FromPath[int],
    notice: FromQuery[str] = "",
    q: FromQuery[str] = "",
    after: FromQuery[int] = 0,
    invites_after: FromQuery[int] = 0,
    part: FromQuery[str] = "",
) -> Response:
    """The Users tab; with `part` (people or invites), only that list: a search or a page.
    Its answer is kept as long as its section (the next request with the same key is answered
    before this handler)."""
    part = views.part_asked(request, part)
    can_manage = admin_allows(request, Permission.MANAGE_USERS)
    kept = await views.kept_section(
        client_id,
        viewer_of(request).page_client_version,
        can_manage=can_manage,
        query=q,
        after=after,
        invites_after=invites_after,
        part=part,
        **section_options(client_id),
    )
    if not has_flashes(request):
        keep_answer(request, kept.until)
    if part:
        return html_response(request, kept.body)
    context = {
        "client": kept.client,
        "client_name": kept.account_name,
        "can_manage": can_manage,
        "section_html": kept.html,
        "form": {},
        "errors": {},
        "matches": [],
        "new_email": None,
        "query": "",
        "status_notice": _(STATUS_NOTICES[notice]) if notice in STATUS_NOTICES else None,
        "presets": await views.offered_presets(request),
    }
    return render(request, "admin/clients/users.html", context)


@get("/admin/clients/{client_id:int}/transfer", permission=Permission.VIEW_ACCOUNT_USERS)
async def transfer_region(request: Request, client_id: FromPath[int]) -> Response:
    """The Users tab's pending ownership transfer, a region of its own (empty without one); for
    a plain request (no script: the tab's link), a page holding it."""
    client = await clients.get_client(client_id)
    context = {
        "client": client,
        "client_name": display_name(client),
        "can_manage": admin_allows(request, Permission.MANAGE_USERS),
        "transfer": await transfers.open_transfer(client_id),
    }
    if wants_fragment(request):
        return render(request, "admin/clients/_transfer.html", context)
    return render(request, "admin/clients/transfer_page.html", context)


@post(
    "/admin/clients/{client_id:int}/transfers/{transfer_id:int}/{decision:str}",
    permission=Permission.MANAGE_USERS,
)
async def decide_transfer(
    request: Request, client_id: FromPath[int], transfer_id: FromPath[int], decision: FromPath[str]
) -> Response:
    """Approve or Reject an ownership transfer awaiting staff (the setting asks for it)."""
    await read_form(request)
    current = await transfers.open_transfer(client_id)
    if decision not in ("approve", "reject") or current is None or current["id"] != transfer_id:
        return redirect(request, f"/admin/clients/{client_id}/users?notice=transfer_gone")
    try:
        outcome = await transfers.decide(
            transfer_id, decision == "approve", actor=viewer_of(request).actor
        )
    except DomainError:
        outcome = "gone"
    return redirect(request, f"/admin/clients/{client_id}/users?notice=transfer_{outcome}")


@post("/admin/clients/{client_id:int}/status", permission=Permission.MANAGE_USERS)
async def change_status(request: Request, client_id: FromPath[int]) -> Response:
    """Close Account / Reopen Account, from the Users tab's header."""
    form = await read_form(request)
    client = await clients.set_status(
        client_id, form.get("status") or "", actor=viewer_of(request).actor
    )
    notice = "closed" if client["status"] == "Closed" else "reopened"
    return redirect(request, f"/admin/clients/{client_id}/users?notice={notice}")


@get("/admin/clients/{client_id:int}/profile", permission=Permission.VIEW_ACCOUNT_USERS)
async def profile_tab(request: Request, client_id: FromPath[int]) -> Response:
    """The Profile tab: the account's names, email and contact details."""
    client = await clients.get_client(client_id)
    context = await admin_profile(request, client, profile_context(client, {}))
    return render(request, "admin/clients/profile.html", context)


@post("/admin/clients/{client_id:int}/profile", permission=Permission.MANAGE_USERS)
async def save_profile(request: Request, client_id: FromPath[int]) -> Response:
    shown, status = await save_profile_form(request, client_id, can_require=True)
    if shown is not None:
        client = await clients.get_client(client_id)
        context = await admin_profile(request, client, shown)
        return render(request, "admin/clients/profile.html", context, status=status)
    return redirect(request, f"/admin/clients/{client_id}/profile?saved=1")


async def admin_profile(request: Request, client: dict, profile: dict) -> dict:
    """The Profile tab around the form (`profile`: shared.profile.profile_context). Staff may
    require two-factor authentication whoever has it: the form says whether the owner does."""
    can_manage = admin_allows(request, Permission.MANAGE_USERS)
    owner = await users.get_user(client["owner"])
    return {
        **profile,
        "client": client,
        "client_name": display_name(client),
        "can_manage": can_manage,
        "area": "admin",
        "can_require": can_manage,
        "owner_two_factor": bool(owner["totp_enabled"]),
    }


@get("/admin/clients/{client_id:int}/user-search", permission=Permission.MANAGE_USERS)
async def user_search(
    request: Request, client_id: FromPath[int], q: FromQuery[str] = ""
) -> Response:
    """Select User, as you type: matching users, or Create new user for a new email."""
    query = q.strip()
    matches = await association_candidates(client_id, query)
    new_email = None
    try:
        address, key = clean_email(query)
        if not any(email_key(m["email"]) == key for m in matches):
            new_email = address
    except DomainError:
        pass
    return render(
        request,
        "admin/clients/user_search_results.html",
        {"matches": matches, "new_email": new_email, "query": query, "form": {}},
    )


@post("/admin/clients/{client_id:int}/associate", permission=Permission.MANAGE_USERS)
async def associate_user(request: Request, client_id: FromPath[int]) -> Response:
    form, keys, refused = await views.invite_form_values(request)
    choice = form.get("user_id") or ""
    try:
        if refused is not None:
            raise refused
        if not choice:
            raise DomainError(
                _("Select a user, or type an email and choose Create new user."), "user"
            )
        outcome = await invitations.associate(
            client_id,
            actor=viewer_of(request).actor,
            keys=keys,
            send_invite=form.get("send_invite") != "no",
            user_id=parse_id(choice),
            email=form.get("new_email") if choice == "new" else None,
            access_until=form.get("access_until") or None,
        )
    except DomainError as exc:
        client = await clients.get_client(client_id)
        matches = await association_candidates(client_id, form.get("q", ""))
        field = exc.field if exc.field in ("user", "permissions", "access_until") else "form"
        return render(
            request,
            "admin/clients/associate_form.html",
            {
                "client": client,
                "form": {**form, "permissions": keys},
                "errors": {field: exc.message},
                "matches": matches,
                "new_email": form.get("new_email"),
                "query": form.get("q", ""),
                "chosen": chosen_label(choice, form.get("new_email"), matches),
                "presets": await views.offered_presets(request),
            },
            status=422,
            headers={"HX-Retarget": "#associate-form", "HX-Reswap": "outerHTML"},
        )
    flash(request, associated(outcome))
    trigger(request, "roster:associated")
    link = await views.link_of(outcome.invitation_id, outcome.token, outcome.email)
    return await views.render_section(
        request, client_id, sent_link=link, **section_options(client_id)
    )


def chosen_label(choice: str, new_email: str | None, matches: list[dict]) -> str:
    """What Select User shows as picked when the form comes back with an error."""
    if choice == "new" and new_email:
        return _("Create new user: %(email)s") % {"email": new_email}
    picked = next((m for m in matches if str(m["id"]) == choice), None)
    return f"{full_name(picked)} ({picked['email']})" if picked else ""


def associated(outcome) -> str:
    """The confirmation of Associate User, naming whom."""
    if outcome.invited:
        return _("Invite sent to %(email)s.") % {"email": outcome.email}
    return _("%(name)s can now reach this account.") % {"name": outcome.name}


@get(
    "/admin/clients/{client_id:int}/users/{user_id:int}/permissions",
    permission=Permission.MANAGE_USERS,
)
async def permissions_form(
    request: Request, client_id: FromPath[int], user_id: FromPath[int]
) -> Response:
    base = section_options(client_id)["base"]
    return await views.permissions_form(request, client_id, user_id, base=base)


@get(
    "/admin/clients/{client_id:int}/users/{user_id:int}/permissions/changes",
    permission=Permission.MANAGE_USERS,
)
async def permission_changes(
    request: Request, client_id: FromPath[int], user_id: FromPath[int]
) -> Response:
    """Asked by an open Manage Permissions dialog on news of the account's people."""
    return await views.permission_changes(request, client_id, user_id)


@post(
    "/admin/clients/{client_id:int}/users/{user_id:int}/permissions",
    permission=Permission.MANAGE_USERS,
)
async def edit_permissions(
    request: Request, client_id: FromPath[int], user_id: FromPath[int]
) -> Response:
    return await views.edit_permissions(request, client_id, user_id, **section_options(client_id))


@post(
    "/admin/clients/{client_id:int}/users/{user_id:int}/remove",
    permission=Permission.MANAGE_USERS,
)
async def remove_user(
    request: Request, client_id: FromPath[int], user_id: FromPath[int]
) -> Response:
    return await views.remove_access(request, client_id, user_id, **section_options(client_id))


@post(
    "/admin/clients/{client_id:int}/users/{user_id:int}/restore",
    permission=Permission.MANAGE_USERS,
)
async def restore_user(
    request: Request, client_id: FromPath[int], user_id: FromPath[int]
) -> Response:
    """Undo of Remove."""
    return await views.restore_access(request, client_id, user_id, **section_options(client_id))


@post(
    "/admin/clients/{client_id:int}/users/{user_id:int}/password-reset",
    permission=Permission.MANAGE_USERS,
)
async def send_password_reset(
    request: Request, client_id: FromPath[int], user_id: FromPath[int]
) -> Response:
    return await views.run_action(
        request,
        client_id,
        lambda actor: auth.send_password_reset(
            user_id, base_url=get_settings().base_url, actor=actor
        ),
        lambda user: _("Password reset email sent to %(email)s.") % {"email": user["email"]},
        **section_options(client_id),
    )


@post(
    "/admin/clients/{client_id:int}/invites/{invitation_id:int}/resend",
    permission=Permission.MANAGE_USERS,
)
async def resend_invite(
    request: Request, client_id: FromPath[int], invitation_id: FromPath[int]
) -> Response:
    return await views.resend_invite(
        request, client_id, invitation_id, **section_options(client_id)
    )


@post(
    "/admin/clients/{client_id:int}/invites/{invitation_id:int}/link-copied",
    permission=Permission.MANAGE_USERS,
)
async def link_copied(
    request: Request, client_id: FromPath[int], invitation_id: FromPath[int]
) -> Response:
    """The link shown after Send or Resend was copied: an activity entry."""
    return await views.link_copied(request, client_id, invitation_id)


@get(
    "/admin/clients/{client_id:int}/invites/{invitation_id:int}/delivery",
    permission=Permission.VIEW_INVITE_DELIVERY,
)
async def invite_delivery(
    request: Request, client_id: FromPath[int], invitation_id: FromPath[int]
) -> Response:
    """The delivery history of one of the account's invitations (a dialog)."""
    src = f"/admin/clients/{client_id}/invites/{invitation_id}/delivery"
    return await views.delivery_history(request, invitation_id, src=src, client_id=client_id)


@post(
    "/admin/clients/{client_id:int}/invites/{invitation_id:int}/cancel",
    permission=Permission.MANAGE_USERS,
)
async def cancel_invite(
    request: Request, client_id: FromPath[int], invitation_id: FromPath[int]
) -> Response:
    return await views.run_action(
        request,
        client_id,
        lambda actor: invitations.cancel(client_id, invitation_id, actor=actor),
        views.cancelled,
        **section_options(client_id),
    )


@get("/admin/clients/{client_id:int}/users/bulk", permission=Permission.MANAGE_USERS)
async def bulk_invite_page(request: Request, client_id: FromPath[int]) -> Response:
    """Bulk Invite: a list of addresses or a CSV file, previewed, then sent."""
    return await bulk_invite.page(request, client_id, **section_options(client_id))


@post(
    "/admin/clients/{client_id:int}/users/bulk/preview",
    permission=Permission.MANAGE_USERS,
    request_max_body_size=bulk_invite.BODY_LIMIT,
)
async def bulk_invite_preview(request: Request, client_id: FromPath[int]) -> Response:
    return await bulk_invite.run(request, client_id, **section_options(client_id), send=False)


@post(
    "/admin/clients/{client_id:int}/users/bulk/send",
    permission=Permission.MANAGE_USERS,
    request_max_body_size=bulk_invite.BODY_LIMIT,
)
async def bulk_invite_send(request: Request, client_id: FromPath[int]) -> Response:
    return await bulk_invite.run(request, client_id, **section_options(client_id), send=True)


@get("/admin/clients/{client_id:int}/users/several", permission=Permission.MANAGE_USERS)
async def several_invite_page(request: Request, client_id: FromPath[int]) -> Response:
    """Invite to several accounts: this one and others added by number, one email."""
    return await several_invite.page(request, client_id, **section_options(client_id))


@post("/admin/clients/{client_id:int}/users/several", permission=Permission.MANAGE_USERS)
async def several_invite_send(request: Request, client_id: FromPath[int]) -> Response:
    return await several_invite.run(request, client_id, **section_options(client_id))


@post(
    "/admin/clients/{client_id:int}/invites/{invitation_id:int}/access-until",
    permission=Permission.MANAGE_USERS,
)
async def change_invite_until(
    request: Request, client_id: FromPath[int], invitation_id: FromPath[int]
) -> Response:
    return await views.change_invite_until(
        request, client_id, invitation_id, **section_options(client_id)
    )


ROUTES = [
    admin_home,
    client_list,
    create_client,
    users_tab,
    profile_tab,
    save_profile,
    change_status,
    decide_transfer,
    transfer_region,
    user_search,
    permissions_form,
    permission_changes,
    associate_user,
    edit_permissions,
    remove_user,
    restore_user,
    send_password_reset,
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
