"""Ownership transfer in the client area: the owner's Transfer ownership section of User
Management, and the chosen user's Accept ownership / Decline in the account (the banner on the
account's home). The rules are app.domain.access.transfers'."""

from litestar import Request, Response, get, post
from litestar.params import FromPath

from app.core.errors import DomainError
from app.core.i18n import N_, _
from app.core.policy import Permission
from app.core.validation import EMAIL_MAX
from app.domain.access import transfers
from app.domain.clients import services as clients
from app.domain.users.services import find_by_email
from app.http.plumbing.forms import read_form
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import flash, redirect, render, wants_fragment
from app.http.shared import account_users as views

PAGE = "client/users.html"


# How many of the account's users the New owner field suggests (any other is typed in full).
SUGGESTED = 50


async def transfer_context(client_id: int, owner_id: int, **extra) -> dict:
    """What the Transfer ownership section shows: the open transfer, or the form, suggesting the
    first users who may be chosen (everyone with access but the owner)."""
    people = await clients.client_users(client_id, limit=SUGGESTED + 1)
    return {
        "transfer_loaded": True,
        "transfer": await transfers.open_transfer(client_id),
        "transfer_candidates": [u for u in people if u["id"] != owner_id][:SUGGESTED],
        "transfer_form": {},
        "transfer_errors": {},
        **extra,
    }


def _section(request: Request, context: dict, *, status: int = 200) -> Response:
    """The section alone for htmx (User Management loads it, its forms swap it); else, without
    script, a page holding it (the placeholder's link, its forms posted plainly)."""
    if wants_fragment(request):
        return render(request, PAGE, context, block="transfer", status=status)
    return render(request, "client/transfer_page.html", context, status=status)


@get("/account/users/transfer", permission=Permission.ACCOUNT_OWNER)
async def transfer_section(request: Request) -> Response:
    """The section alone (User Management loads it, its live updates ask for it again), or
    without script a page holding it."""
    viewer = viewer_of(request)
    client_id = viewer.current_client["id"]
    return _section(request, await transfer_context(client_id, viewer.signed_in_user["id"]))


@post("/account/users/transfer", permission=Permission.ACCOUNT_OWNER)
async def start_transfer(request: Request) -> Response:
    viewer = viewer_of(request)
    client_id = viewer.current_client["id"]
    form, keys, refused = await views.invite_form_values(request)
    email = (form.get("email") or "").strip()
    try:
        if refused is not None:
            raise refused
        if not email:
            raise DomainError(_("Enter the email address of the user who will own it."), "user_id")
        chosen = await find_by_email(email[:EMAIL_MAX])
        if chosen is None:
            raise DomainError(_("Choose a user of this account."), "user_id")
        await transfers.start(client_id, chosen["id"], keys, actor=viewer.actor)
    except DomainError as exc:
        context = await transfer_context(
            client_id,
            viewer.signed_in_user["id"],
            transfer_form={**form, "permissions": keys},
            transfer_errors={exc.field or "form": exc.message},
        )
        return _section(request, context, status=422)
    context = await transfer_context(client_id, viewer.signed_in_user["id"])
    flash(
        request,
        _("Ownership transfer started: %(name)s was emailed.")
        % {"name": context["transfer"]["to_name"]},
    )
    return _section(request, context)


@post("/account/users/transfer/{transfer_id:int}/cancel", permission=Permission.ACCOUNT_OWNER)
async def cancel_transfer(request: Request, transfer_id: FromPath[int]) -> Response:
    viewer = viewer_of(request)
    client_id = viewer.current_client["id"]
    await read_form(request)
    kind, message = "success", _("Ownership transfer cancelled.")
    try:
        await _check_current(client_id, transfer_id)
        await transfers.cancel(transfer_id, actor=viewer.actor)
    except DomainError as exc:
        kind, message = "error", exc.message
    flash(request, message, kind)
    return _section(request, await transfer_context(client_id, viewer.signed_in_user["id"]))


async def _check_current(client_id: int, transfer_id: int) -> None:
    """The transfer acted on is the current account's open one (a page left open may show an
    older one)."""
    current = await transfers.open_transfer(client_id)
    if current is None or current["id"] != transfer_id:
        raise transfers.TransferUnavailable(_("This ownership transfer is no longer pending."))


@post("/account/transfer/{transfer_id:int}/accept", permission=Permission.ACCOUNT_MEMBER)
async def accept_transfer(request: Request, transfer_id: FromPath[int]) -> Response:
    """The banner's Accept ownership."""
    viewer = viewer_of(request)
    await read_form(request)
    try:
        await _check_current(viewer.current_client["id"], transfer_id)
        outcome = await transfers.accept(transfer_id, actor=viewer.actor)
    except DomainError as exc:
        return redirect(request, f"/account?transfer=refused&why={_why(exc)}")
    return redirect(request, f"/account?transfer={outcome}")


@post("/account/transfer/{transfer_id:int}/decline", permission=Permission.ACCOUNT_MEMBER)
async def decline_transfer(request: Request, transfer_id: FromPath[int]) -> Response:
    """The banner's Decline: the chosen user cancels the transfer."""
    viewer = viewer_of(request)
    await read_form(request)
    try:
        await _check_current(viewer.current_client["id"], transfer_id)
        await transfers.cancel(transfer_id, actor=viewer.actor)
    except DomainError as exc:
        return redirect(request, f"/account?transfer=refused&why={_why(exc)}")
    return redirect(request, "/account?transfer=declined")


# What the account's home says after a refused Accept or Decline (by name: no text in the URL).
REFUSALS = {
    "gone": N_("This ownership transfer is no longer pending."),
    "expired": N_("This ownership transfer has expired."),
    "void": N_("This ownership transfer is void: what it was made for changed meanwhile."),
    "other": N_("You cannot do this."),
}


def _why(exc: DomainError) -> str:
    """A refusal by name (REFUSALS): the transfer's own reason, else "other" (the service
    tells why; its message is not read for it)."""
    return exc.why if isinstance(exc, transfers.TransferUnavailable) else "other"


ROUTES = [transfer_section, start_transfer, cancel_transfer, accept_transfer, decline_transfer]
