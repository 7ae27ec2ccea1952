"""The page an ownership transfer's emailed link opens (/transfer/{token}): Accept ownership
(or Decline) for the chosen user once logged in. The rules are app.domain.access.transfers'."""

from litestar import Request, Response, get, post
from litestar.params import FromPath

from app.core.errors import DomainError
from app.core.i18n import _
from app.core.policy import Permission
from app.domain.access import services as access
from app.domain.access import transfers
from app.domain.activity.services import Actor
from app.domain.auth import services as auth
from app.domain.users.services import full_name
from app.http.plumbing.forms import read_form
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import redirect, render
from app.http.public.invite import private

PAGE = "transfer/page.html"


def unavailable(request: Request, message: str | None = None) -> Response:
    return render(
        request,
        "transfer/unavailable.html",
        {"message": message if message is not None else _(transfers.UNAVAILABLE)},
        status=404,
        headers=private(request),
    )


async def _page(request: Request, token: str, *, error: str = "", status: int = 200) -> Response:
    try:
        transfer = await transfers.by_token(token)
    except transfers.TransferUnavailable:
        return unavailable(request)
    user = viewer_of(request).user
    context = {
        "token": token,
        "transfer": transfer,
        "standing": None
        if user is None
        else ("chosen" if user["id"] == transfer["to_user"] else "other"),
        "error": error,
    }
    return render(request, PAGE, context, status=status, headers=private(request))


@get("/transfer/{token:str}", permission=Permission.PUBLIC)
async def show_transfer(request: Request, token: FromPath[str]) -> Response:
    return await _page(request, token)


async def _act(request: Request, token: str, accept: bool) -> Response:
    viewer = viewer_of(request)
    await read_form(request)
    if viewer.user is None:  # logged out meanwhile: the page says to log in
        return await _page(request, token)
    try:
        transfer = await transfers.by_token(token)
    except transfers.TransferUnavailable:
        return unavailable(request)
    user = viewer.user
    actor = Actor("user", user["id"], full_name(user), viewer.ip)
    try:
        if accept:
            outcome = await transfers.accept(transfer["id"], actor=actor)
        else:
            await transfers.cancel(transfer["id"], actor=actor)
            outcome = "declined"
    except transfers.TransferUnavailable as exc:
        return unavailable(request, exc.message)
    except DomainError as exc:
        return await _page(request, token, error=exc.message, status=403)
    if viewer.session_id is not None:  # they land in the account the transfer is about
        await auth.select_client(viewer.session_id, transfer["client"])
        await access.note_account_login(user["id"], transfer["client"])
    return redirect(request, f"/account?transfer={outcome}")


@post("/transfer/{token:str}/accept", permission=Permission.PUBLIC)
async def accept_transfer(request: Request, token: FromPath[str]) -> Response:
    return await _act(request, token, accept=True)


@post("/transfer/{token:str}/decline", permission=Permission.PUBLIC)
async def decline_transfer(request: Request, token: FromPath[str]) -> Response:
    return await _act(request, token, accept=False)


ROUTES = [show_transfer, accept_transfer, decline_transfer]
