"""The invitation page (/invite/{token}): accept as the current user, or log in first."""

from litestar import Request, Response, get, post
from litestar.params import FromPath

from app.activity.services import Actor
from app.auth import services as auth
from app.auth.controllers import failure_status, log_in_user
from app.errors import DomainError
from app.invitations import services as invitations
from app.web.forms import client_ip, read_form
from app.web.middleware import viewer_of
from app.web.render import redirect, render

# The token is in the URL: keep it out of Referer headers and caches.
PRIVATE = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def unavailable(request: Request) -> Response:
    return render(
        request,
        "invite/unavailable.html",
        {"message": invitations.NO_PENDING_INVITE},
        status=404,
        headers=PRIVATE,
    )


def invite_page(
    request: Request, token: str, invitation: dict, *, status: int = 200, **context
) -> Response:
    return render(
        request,
        "invite/page.html",
        {
            "token": token,
            "invitation": invitation,
            "login_form": {},
            "register_form": {},
            "register_errors": {},
            **context,
        },
        status=status,
        headers=PRIVATE,
    )


async def invite_or_unavailable(request: Request, token: str) -> Response:
    try:
        invitation = await invitations.pending_invite(token)
    except invitations.InviteUnavailable:
        return unavailable(request)
    return invite_page(request, token, invitation)


@get("/invite/{token:str}")
async def show_invite(request: Request, token: FromPath[str]) -> Response:
    return await invite_or_unavailable(request, token)


async def _accept_as(request: Request, token: str, user: dict, *, fresh_login: bool) -> Response:
    viewer = viewer_of(request)
    actor = Actor(
        "user", user["id"], f"{user['first_name']} {user['last_name']}", client_ip(request)
    )
    try:
        client_id = await invitations.accept(token, user["id"], actor=actor)
    except invitations.InviteUnavailable:
        return unavailable(request)
    except DomainError as exc:
        try:
            invitation = await invitations.pending_invite(token)
        except invitations.InviteUnavailable:
            return unavailable(request)
        return invite_page(request, token, invitation, status=409, error=exc.message)
    if fresh_login:
        return await log_in_user(request, user, client_id=client_id, next_url="/account?welcome=1")
    await auth.select_client(viewer.session_id, client_id)
    return redirect(request, "/account?welcome=1")


@post("/invite/{token:str}/accept")
async def accept_invite(request: Request, token: FromPath[str]) -> Response:
    viewer = viewer_of(request)
    if viewer.user is None:  # logged out meanwhile: log in or register on the page itself
        return await invite_or_unavailable(request, token)
    return await _accept_as(request, token, viewer.user, fresh_login=False)


@post("/invite/{token:str}/login")
async def login_and_accept(request: Request, token: FromPath[str]) -> Response:
    form = await read_form(request)
    try:
        invitation = await invitations.pending_invite(token)
    except invitations.InviteUnavailable:
        return unavailable(request)
    try:
        user = await auth.authenticate_user(
            form.get("email", ""), form.get("password", ""), client_ip(request)
        )
    except DomainError as exc:
        return invite_page(
            request,
            token,
            invitation,
            status=failure_status(exc),
            login_error=exc.message,
            login_form={"email": form.get("email", "")},
        )
    return await _accept_as(request, token, user, fresh_login=True)


@post("/invite/{token:str}/register")
async def register_and_accept(request: Request, token: FromPath[str]) -> Response:
    form = await read_form(request)
    try:
        invitation = await invitations.pending_invite(token)
    except invitations.InviteUnavailable:
        return unavailable(request)
    kept = {k: form.get(k, "") for k in ("first_name", "last_name", "email")}
    if form.get("accept_tos") != "on":
        return invite_page(
            request,
            token,
            invitation,
            status=400,
            register_form=kept,
            register_errors={"accept_tos": "Agree to the Terms of Service to register."},
        )
    try:
        user, client_id = await invitations.register_and_accept(
            token,
            first_name=kept["first_name"],
            last_name=kept["last_name"],
            email=kept["email"],
            password=form.get("password", ""),
            ip=client_ip(request),
        )
    except invitations.InviteUnavailable:
        return unavailable(request)
    except DomainError as exc:
        return invite_page(
            request,
            token,
            invitation,
            status=failure_status(exc),
            register_form=kept,
            register_errors={exc.field or "form": exc.message},
        )
    return await log_in_user(request, user, client_id=client_id, next_url="/account?welcome=1")


ROUTES = [show_invite, accept_invite, login_and_accept, register_and_accept]
