"""Manage Users (admin): every user, and one user's details, accounts, password and deletion."""

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery

from app.core import i18n
from app.core.config import get_settings
from app.core.errors import DomainError
from app.core.i18n import N_, _
from app.core.policy import Permission
from app.core.stale import Stale
from app.core.validation import parse_id
from app.domain.access import services as access
from app.domain.auth import services as auth
from app.domain.clients import services as clients
from app.domain.users import services as users
from app.http.plumbing.forms import read_form
from app.http.plumbing.guards import admin_allows
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import flash, is_htmx, redirect, render, wants_fragment
from app.http.plumbing.stale import OPENED, conflict, opened_field, read_opened, told
from app.http.shared import security as security_page

PAGE_SIZE = 25
DETAIL = "admin/users/detail.html"
# The Profile card's fields (users.USER_FIELDS) as it names them.
PROFILE_LABELS = {
    "first_name": N_("First Name"),
    "last_name": N_("Last Name"),
    "email": N_("Email Address"),
    "language": N_("Language"),
}


@get("/admin/users", permission=Permission.LIST_USERS)
async def user_list(
    request: Request, q: FromQuery[str] = "", after: FromQuery[str] = ""
) -> Response:
    """Key-set pages in id order: `after` is the last id of the page before (none: the first
    page). Next, and back to the first page; no page numbers, no total."""
    after_id = parse_id(after) or 0
    rows, more = await users.search_users(q, after=after_id, per_page=PAGE_SIZE)
    context = {
        "users": rows,
        "q": q,
        "after": after_id,
        "next_after": rows[-1]["id"] if more else None,
        "deleted": request.query_params.get("deleted"),
    }
    if wants_fragment(request):
        return render(request, "admin/users/list.html", context, block="results")
    return render(request, "admin/users/list.html", context)


async def detail_context(request: Request, user_id: int, **extra) -> dict:
    user = await users.get_user(user_id)
    return {
        "user": user,
        "accounts": await access.user_accounts(user_id),
        "languages": [*i18n.LANGUAGES, *i18n.OTHER_LANGUAGES],
        "can_manage": admin_allows(request, Permission.MANAGE_USERS),
        "can_delete": admin_allows(request, Permission.DELETE_USERS),
        "form": {k: user[k] for k in users.USER_FIELDS},
        "opened": opened_field({k: user[k] for k in users.USER_FIELDS}),
        "errors": {},
        **await security_page.admin_user_context(request, user),
        **extra,
    }


@get("/admin/users/{user_id:int}", permission=Permission.LIST_USERS)
async def user_detail(request: Request, user_id: FromPath[int]) -> Response:
    return render(request, DETAIL, await detail_context(request, user_id))


async def answer(
    request: Request,
    user_id: int,
    block: str,
    *,
    message: str | None = None,
    error: DomainError | None = None,
    status: int | None = None,
    **extra,
) -> Response:
    """The changed card alone for htmx, with its confirmation in the live region; a plain
    form post goes back to the page. `status`: a refusal other than the error's 422."""
    refused = error is not None or status is not None
    if not is_htmx(request) and not refused:
        return redirect(request, f"/admin/users/{user_id}")
    context = await detail_context(request, user_id, **extra)
    if error is not None:
        context["errors"] = {error.field or "form": error.message}
    if message:
        flash(request, message)
    return render(
        request,
        DETAIL,
        context,
        block=block if is_htmx(request) else None,
        status=status or (422 if error else 200),
    )


@post("/admin/users/{user_id:int}", permission=Permission.MANAGE_USERS)
async def update_user(request: Request, user_id: FromPath[int]) -> Response:
    """Save Changes, a compare-and-set: saved only while the user's details are still those
    the card was opened on; else 409 with what changed, the card showing the other person's
    change with this one on top (what Apply my change on top then saves)."""
    form = await read_form(request)
    values = {k: form.get(k, "") for k in users.USER_FIELDS}
    try:
        opened = read_opened(form)
        await users.update_user(user_id, **values, actor=viewer_of(request).actor, opened=opened)
    except Stale as exc:
        found = conflict(opened, exc.current, values)
        return await answer(
            request,
            user_id,
            "profile",
            status=409,
            form=found.merged,
            opened=opened_field(exc.current),
            stale=told(
                found,
                PROFILE_LABELS,
                _("Someone changed this user's details while you were editing: %(changes)s."),
            ),
        )
    except DomainError as exc:
        still = form.get(OPENED) or ""  # still the version it was opened on
        return await answer(request, user_id, "profile", error=exc, form=values, opened=still)
    return await answer(request, user_id, "profile", message=_("User details saved."), oob=True)


@post("/admin/users/{user_id:int}/make-owner", permission=Permission.MANAGE_USERS)
async def make_owner(request: Request, user_id: FromPath[int]) -> Response:
    form = await read_form(request)
    client_id = parse_id(form.get("client_id"))
    try:
        if client_id is None:
            raise DomainError(_("Choose an account."))
        client = await clients.transfer_ownership(
            client_id, user_id, actor=viewer_of(request).actor
        )
    except DomainError as exc:
        return await answer(request, user_id, "accounts", error=exc)
    return await answer(
        request,
        user_id,
        "accounts",
        message=_("Now the owner of %(account)s.") % {"account": clients.display_name(client)},
    )


@post("/admin/users/{user_id:int}/password-reset", permission=Permission.MANAGE_USERS)
async def send_password_reset(request: Request, user_id: FromPath[int]) -> Response:
    try:
        user = await auth.send_password_reset(
            user_id, base_url=get_settings().base_url, actor=viewer_of(request).actor
        )
    except DomainError as exc:
        return await answer(request, user_id, "security", error=exc)
    return await answer(
        request,
        user_id,
        "security",
        message=_("Password reset email sent to %(email)s.") % {"email": user["email"]},
    )


@post("/admin/users/{user_id:int}/password", permission=Permission.MANAGE_USERS)
async def change_password(request: Request, user_id: FromPath[int]) -> Response:
    form = await read_form(request)
    try:
        await users.set_password(user_id, form.get("password", ""), actor=viewer_of(request).actor)
    except DomainError as exc:
        return await answer(request, user_id, "security", error=exc)
    return await answer(
        request,
        user_id,
        "security",
        message=_("Password changed; the user's sessions were ended."),
    )


@post("/admin/users/{user_id:int}/delete", permission=Permission.DELETE_USERS)
async def delete_user(request: Request, user_id: FromPath[int]) -> Response:
    try:
        await users.delete_user(user_id, actor=viewer_of(request).actor)
    except DomainError as exc:
        return await answer(request, user_id, "danger", error=exc)
    return redirect(request, f"/admin/users?deleted={user_id}")


ROUTES = [
    user_list,
    user_detail,
    update_user,
    make_owner,
    send_password_reset,
    change_password,
    delete_user,
]
