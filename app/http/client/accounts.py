"""The client area's account pages: Choose Account and the account home."""

from litestar import Request, Response, get, post
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromPath, FromQuery

from app.core.i18n import N_, _
from app.core.policy import Permission
from app.core.validation import parse_id
from app.domain.access import services as access
from app.domain.access import transfers
from app.domain.auth import services as auth
from app.domain.clients import services as clients
from app.domain.invitations import services as invitations
from app.http.client.transfer import REFUSALS
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import redirect, render
from app.http.shared.profile import profile_context, save_profile_form


@get("/", permission=Permission.PUBLIC)
async def home(request: Request) -> Response:
    viewer = viewer_of(request)
    if viewer.admin and not viewer.user:
        return redirect(request, "/admin/clients")
    return redirect(request, "/account" if viewer.user else "/login")


@get("/accounts", permission=Permission.SIGNED_IN)
async def choose_account(request: Request, joined: FromQuery[str] = "") -> Response:
    """`joined`: after accepting an invitation to several accounts (the invitation its email
    was sent with), what it came to for each account, above the list."""
    viewer = viewer_of(request)
    user_id = viewer.signed_in_user["id"]
    accounts = await access.user_accounts(user_id)
    first = parse_id(joined)
    outcome = await invitations.outcome_of_several(first, user_id) if first else []
    return render(request, "client/accounts.html", {"accounts": accounts, "outcome": outcome})


@post("/accounts/{client_id:int}/select", permission=Permission.SIGNED_IN)
async def select_account(request: Request, client_id: FromPath[int]) -> Response:
    viewer = viewer_of(request)
    user = viewer.signed_in_user
    accounts = {a["client_id"]: a for a in await access.user_accounts(user["id"])}
    chosen = accounts.get(client_id)
    if chosen is None or chosen["closed"]:
        raise PermissionDeniedException(_("You do not have access to this account."))
    await auth.select_client(viewer.current_session_id, client_id)
    await access.note_account_login(user["id"], client_id)
    return redirect(request, "/account")


@get("/account", permission=Permission.ACCOUNT_MEMBER)
async def account_home(
    request: Request, transfer: FromQuery[str] = "", why: FromQuery[str] = ""
) -> Response:
    """The account's home; to the user chosen to own it, the banner of the transfer offered
    (Accept ownership, Decline). `transfer`/`why`: what the banner's last action came to."""
    viewer = viewer_of(request)
    offer = await transfers.pending_for(viewer.signed_in_user["id"], viewer.current_client["id"])
    said = TRANSFER_OUTCOMES.get(transfer)
    if said is not None:
        said = (said[0], _(said[1]))
    if transfer == "refused":
        said = ("error", _(REFUSALS.get(why, REFUSALS["other"])))
    return render(request, "client/account.html", {"transfer_offer": offer, "transfer_said": said})


# What the account's home says after Accept ownership or Decline (by name: no text in URLs).
TRANSFER_OUTCOMES = {
    "completed": ("success", N_("You are now the owner of this account.")),
    "awaiting_approval": (
        "success",
        N_(
            "You accepted the ownership of this account. Our staff must approve the transfer "
            "before it takes effect; you will be emailed."
        ),
    ),
    "declined": ("success", N_("You declined the ownership of this account.")),
}


def _client_profile(request: Request, profile: dict) -> dict:
    """Account Details around the form: only the owner changes whether two-factor
    authentication is required (clients.update_client holds it)."""
    return {**profile, "area": "client", "can_require": viewer_of(request).is_owner}


@get("/account/profile", permission=Permission.ACCOUNT_PROFILE)
async def profile_page(request: Request) -> Response:
    client = await clients.get_client(viewer_of(request).current_client["id"])
    return render(
        request, "client/profile.html", _client_profile(request, profile_context(client, {}))
    )


@post("/account/profile", permission=Permission.ACCOUNT_PROFILE)
async def save_profile(request: Request) -> Response:
    viewer = viewer_of(request)
    shown, status = await save_profile_form(
        request, viewer.current_client["id"], can_require=viewer.is_owner
    )
    if shown is not None:
        return render(
            request, "client/profile.html", _client_profile(request, shown), status=status
        )
    return redirect(request, "/account/profile?saved=1")


@get("/terms", permission=Permission.PUBLIC)
async def terms(request: Request) -> Response:
    return render(request, "client/terms.html")


ROUTES = [home, choose_account, select_account, account_home, profile_page, save_profile, terms]
