"""The invitation page (/invite/{token}): accept as the current user, or log in first."""

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery

from app.core.errors import DomainError, Throttled
from app.core.i18n import _
from app.core.policy import Permission
from app.core.validation import EMAIL_MAX, email_key
from app.domain.activity.services import Actor
from app.domain.auth import services as auth
from app.domain.clients import services as clients
from app.domain.invitations import services as invitations
from app.domain.staff import services as admin_settings
from app.domain.two_factor import services as two_factor
from app.domain.users import registration
from app.http.plumbing.form_errors import FormErrors, refused
from app.http.plumbing.forms import client_ip, read_form
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import redirect, render, wants_fragment
from app.http.public.login import (
    check_passkey,
    failure_status,
    log_in_user,
    login_errors,
    login_problems,
    with_invite_to_resume,
)

# The token is in the URL: keep it out of Referer headers and caches.
PRIVATE = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def private(request: Request) -> dict:
    """PRIVATE, and for the answer to a form (boosted by htmx) the address bar left at the
    invite page: the form's own URL answers only POST."""
    return PRIVATE if request.method == "GET" else {**PRIVATE, "HX-Push-Url": "false"}


# The page's two forms: Login (inputs l-*) and Register (inputs r-*).
REGISTER_FIELDS = ("first_name", "last_name", "email", "password", "accept_tos")


def register_errors(problems=()) -> FormErrors:
    return FormErrors(problems, prefix="r", order=REGISTER_FIELDS, fallback="summary")


def unavailable(request: Request) -> Response:
    return render(
        request,
        "invite/unavailable.html",
        {"message": _(invitations.NO_PENDING_INVITE)},
        status=404,
        headers=private(request),
    )


async def standing(request: Request, invitation: dict) -> str | None:
    """What Accept Invite would meet for the logged-in user, so that the page offers what
    works instead (invitations.accept still decides): "member" when they already have access
    (go to the account), "other_email" when the settings require the invited address and theirs
    differs (use another user); None when Accept Invite is the way."""
    user = viewer_of(request).user
    if user is None:
        return None
    # Of an invitation to several accounts: each of those still pending.
    pending = [a["client"] for a in invitation["accounts"] if a["link"] == "pending"]
    reached = [await clients.access_for(user["id"], i) for i in pending or [invitation["client"]]]
    if None not in reached:
        return "member"
    if (
        await admin_settings.flag(admin_settings.REQUIRE_INVITED_EMAIL)
        and email_key(user["email"]) != invitation["email_key"]
    ):
        return "other_email"
    return None


async def page_context(request: Request, token: str, invitation: dict) -> dict:
    return {
        "token": token,
        "invitation": invitation,
        "standing": await standing(request, invitation),
        "login_form": {},
        "login_errors": login_errors(prefix="l"),
        "register_form": {},
        "register_errors": register_errors(),
        "has_login": False,
    }


async def invite_page(
    request: Request,
    token: str,
    invitation: dict,
    *,
    status: int = 200,
    block: str | None = None,
    **context,
) -> Response:
    return render(
        request,
        "invite/page.html",
        {**await page_context(request, token, invitation), **context},
        status=status,
        block=block,
        headers=private(request),
    )


def link_state_page(
    request: Request,
    token: str,
    link: invitations.LinkState,
    *,
    status: int = 410,
    headers: dict | None = None,
    **context,
) -> Response:
    """A link that can no longer be accepted, as what it is (accepted, account closed, expired,
    cancelled); one that matches no invitation gets the page it always got."""
    if link.state in (invitations.LINK_UNKNOWN, invitations.LINK_PENDING):  # pending: a race
        return unavailable(request)
    return render(
        request,
        "invite/link_state.html",
        {"token": token, "link": link, **context},
        status=status,
        headers={**private(request), **(headers or {})},
    )


async def dead_link(request: Request, token: str) -> Response:
    return link_state_page(request, token, await invitations.link_state(token))


async def invite_or_unavailable(request: Request, token: str, **context) -> Response:
    try:
        invitation = await invitations.pending_invite(token)
    except invitations.InviteUnavailable:
        return await dead_link(request, token)
    return await invite_page(request, token, invitation, **context)


@post("/invite/{token:str}/renew", permission=Permission.PUBLIC)
async def ask_for_new_invitation(request: Request, token: FromPath[str]) -> Response:
    """Ask for a new invitation, from the page of an expired or cancelled link: its sender (or
    the owner) is emailed once; any other link gets its own page, changed by nothing."""
    try:
        link = await invitations.request_renewal(token, ip=client_ip(request))
    except invitations.AlreadyAsked as exc:
        link = await invitations.link_state(token)
        return link_state_page(request, token, link._replace(asked_at=exc.asked_at), status=409)
    except Throttled as exc:
        link = await invitations.link_state(token)
        return link_state_page(
            request,
            token,
            link,
            status=429,
            headers={"Retry-After": str(exc.retry_after)},
            error=exc.message,
        )
    if link.state == invitations.LINK_PENDING:
        return redirect(request, f"/invite/{token}")
    return link_state_page(request, token, link, asked_now=link.state in invitations.RENEWABLE)


@get("/invite/{token:str}", permission=Permission.PUBLIC)
async def show_invite(
    request: Request, token: FromPath[str], email: FromQuery[str] = ""
) -> Response:
    """`email` (from "This email already has a login: use Login") fills in the Login form; an
    htmx request for part of the page (that link) gets the Login section alone."""
    return await invite_or_unavailable(
        request,
        token,
        login_form={"email": email[:EMAIL_MAX]},
        block="invite_login" if wants_fragment(request) else None,
    )


async def _accept_as(
    request: Request, token: str, user: dict, *, fresh_login: bool, second_factor_done=False
) -> Response:
    viewer = viewer_of(request)
    actor = Actor(
        "user", user["id"], f"{user['first_name']} {user['last_name']}", client_ip(request)
    )
    try:
        client_id = await invitations.accept(token, user["id"], actor=actor)
    except invitations.InviteUnavailable:
        return await dead_link(request, token)
    except DomainError as exc:
        try:
            invitation = await invitations.pending_invite(token)
        except invitations.InviteUnavailable:
            return await dead_link(request, token)
        return await invite_page(request, token, invitation, status=409, error=exc.message)
    next_url = await welcome_url(token)
    if fresh_login:
        return await log_in_user(
            request,
            user,
            client_id=client_id,
            next_url=next_url,
            second_factor_done=second_factor_done,
        )
    await auth.select_client(viewer.current_session_id, client_id)
    return redirect(request, next_url)


async def welcome_url(token: str) -> str:
    """Where an accepted invitation leads: the account it gave access to, or, for one to
    several accounts, Choose Account with what it came to for each (skipped ones said)."""
    first = await invitations.sent_for_several(token)
    return f"/accounts?joined={first}" if first else "/account?welcome=1"


@post("/invite/{token:str}/accept", permission=Permission.PUBLIC)
async def accept_invite(request: Request, token: FromPath[str]) -> Response:
    viewer = viewer_of(request)
    if viewer.user is None:  # logged out meanwhile: log in or register on the page itself
        return await invite_or_unavailable(request, token)
    return await _accept_as(request, token, viewer.user, fresh_login=False)


@post("/invite/{token:str}/login", permission=Permission.PUBLIC)
async def login_and_accept(request: Request, token: FromPath[str]) -> Response:
    form = await read_form(request)
    try:
        invitation = await invitations.pending_invite(token)
    except invitations.InviteUnavailable:
        return await dead_link(request, token)
    errors, status = login_problems(form, prefix="l"), 400
    if not errors:
        try:
            user = await auth.authenticate_user(
                form.get("email", ""), form.get("password", ""), client_ip(request)
            )
        except DomainError as exc:
            errors, status = login_errors({"form": exc.message}, prefix="l"), failure_status(exc)
        else:
            if await two_factor.has_second_factor(two_factor.Person("user", user["id"])):
                # Only a complete sign-in accepts: after the code, the invitation again.
                return with_invite_to_resume(await log_in_user(request, user), token)
            return await _accept_as(request, token, user, fresh_login=True)
    return await refused_on_page(
        request,
        token,
        invitation,
        block="login_errors",
        status=status,
        login_errors=errors,
        login_form={"email": form.get("email", "")},
    )


@post("/invite/{token:str}/passkey", permission=Permission.PUBLIC)
async def passkey_and_accept(request: Request, token: FromPath[str]) -> Response:
    """The invitation page's Sign in with a passkey (its options: /login/passkey/options): as
    its Login, with a passkey that verified the person counting as both factors."""
    form = await read_form(request)
    try:
        invitation = await invitations.pending_invite(token)
    except invitations.InviteUnavailable:
        return await dead_link(request, token)
    try:
        user, verified = await check_passkey(request, "user", form)
    except DomainError as exc:
        return await refused_on_page(
            request,
            token,
            invitation,
            block="login_errors",
            status=failure_status(exc),
            login_errors=login_errors({"form": exc.message}, prefix="l"),
            login_form={},
        )
    if not verified and await two_factor.has_second_factor(two_factor.Person("user", user["id"])):
        return with_invite_to_resume(await log_in_user(request, user), token)
    return await _accept_as(request, token, user, fresh_login=True, second_factor_done=verified)


@post("/invite/{token:str}/register", permission=Permission.PUBLIC)
async def register_and_accept(request: Request, token: FromPath[str]) -> Response:
    """Every field is checked first and all problems answered at once (an email that already
    has a login offers Login instead); then the user is created and accepts, both or neither."""
    form = await read_form(request)
    try:
        invitation = await invitations.pending_invite(token)
    except invitations.InviteUnavailable:
        return await dead_link(request, token)

    async def register_and_accept(**values):
        return await invitations.register_and_accept(token, **values, ip=client_ip(request))

    try:
        tried = await registration.attempt(
            form,
            ("first_name", "last_name", "email"),
            register_and_accept,
            passes=(invitations.InviteUnavailable,),
        )
    except invitations.InviteUnavailable:
        return await dead_link(request, token)
    if tried.result:
        user, client_id = tried.result
        next_url = await welcome_url(token) if client_id else "/account?welcome=1"
        return await log_in_user(request, user, client_id=client_id, next_url=next_url)
    return await refused_on_page(
        request,
        token,
        invitation,
        block="register_errors",
        status=tried.status,
        register_errors=register_errors(tried.problems),
        register_form=tried.shown,
        has_login=tried.problems.get("email")
        in (registration.EMAIL_HAS_LOGIN, _(registration.EMAIL_HAS_LOGIN)),
    )


async def refused_on_page(
    request: Request, token: str, invitation: dict, *, block: str, status: int, **context
) -> Response:
    """A refused Login or Register: its errors alone for htmx, else the whole page (see
    app.http.plumbing.form_errors)."""
    context = {**await page_context(request, token, invitation), **context}
    return refused(
        request, "invite/page.html", context, block=block, status=status, headers=PRIVATE
    )


ROUTES = [
    show_invite,
    accept_invite,
    login_and_accept,
    passkey_and_accept,
    register_and_accept,
    ask_for_new_invitation,
]
