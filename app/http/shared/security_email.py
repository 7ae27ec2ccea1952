"""The Security page's section on email address verification: what it shows on /account/security and
/admin/security (page_context), on the admin user page (admin_user_context), and its routes: the
verification link, Resend (from the banner, the section, or staff), Change Email Address.

Staff logins are not part of verification: their area shows no section and no banner."""

from litestar import Request, Response, get, post
from litestar.params import FromPath

from app.core.errors import DomainError, Throttled
from app.core.i18n import N_, _
from app.core.policy import Permission
from app.domain.auth import services as auth
from app.domain.staff import services as admin_settings
from app.domain.users import services as users
from app.domain.verification import services as verification
from app.http.plumbing.forms import client_ip, read_form
from app.http.plumbing.guards import admin_allows
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import flash, flash_refusal, is_htmx, render

SECTION = "security/_email.html"
BANNER = "security/_banner.html"
ADMIN_PART = "admin/users/_email.html"
# Without htmx (no script), a form's answer is its part alone in a page of its own.
STANDALONE = "security/email_page.html"
# The link's token is in the address: no other site may see it, no cache may keep the page.
PRIVATE = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
WRONG_PASSWORD = N_("The current password is incorrect.")


async def page_context(request: Request, **extra) -> dict:
    viewer = viewer_of(request)
    if viewer.user is None:
        return {"email_section": None}
    user = await users.get_user(viewer.user["id"])
    return {
        "email_section": {
            "email": user["email"],
            "verified_at": user["email_verified_at"],
            "form": {},
            "errors": {},
            **extra,
        }
    }


async def admin_user_context(request: Request, user: dict) -> dict:
    return {"email_can_resend": admin_allows(request, Permission.MANAGE_USERS), "email_error": None}


def _status(exc: DomainError) -> int:
    return 429 if isinstance(exc, Throttled) else 422


async def _section(request: Request, *, status: int = 200, **extra) -> Response:
    """The section alone for htmx; a plain form post gets the whole Security page."""
    context = {**await page_context(request, **extra), "area": "client"}
    template = SECTION if is_htmx(request) else STANDALONE
    return render(request, template, {**context, "part": SECTION}, status=status)


def _link_page(request: Request, outcome: verification.Outcome, **context) -> Response:
    """The verification link's page: its Verify button while the link works, else what became of
    the link (verified just now, expired, or no longer usable)."""
    context = {
        "outcome": outcome.value,
        "valid_hours": int(verification.VALID_FOR.total_seconds() // 3600),
        # No "Please verify" banner on the page that verifies (after Verify, the viewer read
        # before it would still show one).
        "banner": None,
        **context,
    }
    works = outcome in (verification.Outcome.PENDING, verification.Outcome.VERIFIED)
    status = 200 if works else 410
    return render(request, "security/verify_result.html", context, status=status, headers=PRIVATE)


@get("/verify-email/{token:str}", permission=Permission.PUBLIC)
async def open_link(request: Request, token: FromPath[str]) -> Response:
    """The link from the verification email: a page whose button verifies. Opening it changes
    nothing, so that a mail scanner fetching it (or a HEAD) does not use it up."""
    outcome, email = await verification.link_state(token)
    return _link_page(request, outcome, token=token, email=email)


@post("/verify-email/{token:str}", permission=Permission.PUBLIC)
async def follow_link(request: Request, token: FromPath[str]) -> Response:
    """The page's Verify Email Address button; works logged in or out (the token authorises)."""
    outcome, user = await verification.verify(token, ip=client_ip(request))
    invites_need_it = await admin_settings.flag(admin_settings.REQUIRE_VERIFIED_EMAIL)
    return _link_page(request, outcome, user=user, invites_need_it=invites_need_it)


async def _banner(request: Request, **outcome) -> Response:
    """The banner alone, saying what Resend did."""
    return render(
        request, BANNER, {"banner": outcome}, status=429 if outcome.get("throttled") else 200
    )


@post("/account/email/resend", permission=Permission.SIGNED_IN)
async def resend(request: Request) -> Response:
    """Resend, from the banner (answered with the banner) or the section (with the section)."""
    viewer = viewer_of(request)
    user_id = viewer.signed_in_user["id"]
    from_banner = (await read_form(request)).get("shown_in") == "banner"
    try:
        user = await verification.resend(user_id, actor=viewer.actor, ip=viewer.ip)
    except verification.AlreadyVerified as exc:
        if from_banner and is_htmx(request):
            return Response("", status_code=200)  # the banner goes
        flash(request, exc.message, "error")
        return await _section(request, status=_status(exc))
    except DomainError as exc:
        if from_banner and is_htmx(request):
            return await _banner(request, error=exc.message, throttled=True)
        flash_refusal(request, exc)
        return await _section(request, status=_status(exc))
    sent = _("Verification email sent to %(email)s. Open the link in it to verify.") % {
        "email": user["email"]
    }
    if from_banner and is_htmx(request):
        return await _banner(request, sent=sent)
    flash(request, sent)
    return await _section(request)


@post("/account/email/change", permission=Permission.SIGNED_IN)
async def change_email(request: Request) -> Response:
    """Change Email Address: the current password (counted like a login attempt) and the new
    address; the new one gets a verification email, the old one a notice."""
    viewer = viewer_of(request)
    signed_in = viewer.signed_in_user
    form = await read_form(request)
    new_email = (form.get("new_email") or "").strip()
    shown = {"new_email": new_email}
    try:
        try:
            await auth.authenticate_user(
                signed_in["email"], form.get("current_password") or "", viewer.ip
            )
        except Throttled:
            raise
        except DomainError as exc:
            raise DomainError(_(WRONG_PASSWORD), "current_password") from exc
        try:
            user = await users.change_email(signed_in["id"], new_email, actor=viewer.actor)
        except DomainError as exc:
            raise DomainError(exc.message, "new_email") from exc
    except DomainError as exc:
        field = exc.field or "current_password"
        return await _section(request, status=_status(exc), form=shown, errors={field: exc.message})
    flash(
        request,
        _(
            "Your email address is now %(email)s. We sent a verification link there, "
            "and told your previous address about the change."
        )
        % {"email": user["email"]},
    )
    return await _section(request)


@post("/admin/users/{user_id:int}/verification-email", permission=Permission.MANAGE_USERS)
async def staff_resend(request: Request, user_id: FromPath[int]) -> Response:
    """Staff's Resend Verification Email, answered with the admin page's section."""
    viewer = viewer_of(request)
    error = None
    try:
        user = await verification.resend(user_id, actor=viewer.actor, ip=viewer.ip)
        flash(request, _("Verification email sent to %(email)s.") % {"email": user["email"]})
    except DomainError as exc:
        error = exc
    user = await users.get_user(user_id)
    context = {**await admin_user_context(request, user), "user": user}
    if error is not None:
        context["email_error"] = error.message
    status = _status(error) if error else 200
    template = ADMIN_PART if is_htmx(request) else STANDALONE
    return render(request, template, {**context, "part": ADMIN_PART}, status=status)


ROUTES: list = [open_link, follow_link, resend, change_email, staff_resend]
