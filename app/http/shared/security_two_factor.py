"""The Security page's section on two-factor authentication: what it shows on /account/security and
/admin/security (page_context), on the admin user page (admin_user_context), and its routes.

The section has three states: its status (with Enable, or with new recovery codes and Disable),
the enrolment step (QR code, manual key, Authentication Code) and the recovery codes shown once.
Each form posts to a route below: htmx swaps the section; without script, the answer is a page
holding the section alone."""

from litestar import Request, Response, post
from litestar.params import FromPath

from app.core.errors import DomainError
from app.core.i18n import _
from app.core.policy import Permission
from app.domain.access import services as access
from app.domain.two_factor import services as two_factor
from app.domain.users import services as users
from app.http.plumbing.forms import read_form, safe_next
from app.http.plumbing.guards import admin_allows
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import flash, is_htmx, redirect, render
from app.http.shared.security_common import is_staff, person_of, refusal_status, section_answer

SECTION = "security/_two_factor.html"
SECTION_PAGE = "security/two_factor_page.html"
ADMIN_SECTION = "admin/users/_two_factor.html"
USER_BASE = "/account/security/two-factor"
STAFF_BASE = "/admin/security/two-factor"


def _asked_by(request: Request) -> str | None:
    """The account that sent the user here to enrol (it requires two-factor authentication of
    everyone with access: app.http.plumbing.guards), by name; None for anyone else."""
    viewer = viewer_of(request)
    if is_staff(request) or not viewer.must_enrol_for_account or viewer.client is None:
        return None
    return viewer.client["display_name"]


def _next(value: str | None) -> str:
    """Where an enrolment asked by an account goes back to: a page of this site, else ""."""
    return safe_next(value, "")


async def _section(request: Request, **state) -> dict:
    """The section's context: the person's status, where its forms post, and `state` (the step
    shown, errors, the recovery codes to show once; `next`, the page an account that requires
    two-factor authentication was opened on)."""
    person = person_of(request)
    viewer = viewer_of(request)
    asked_by = _asked_by(request)
    status = await two_factor.status(person)
    # The user's accounts that require it: turning it off sends them to enrol again there.
    requiring = []
    if person.kind == "user" and status["enabled"]:
        accounts = await access.user_accounts(person.id)
        requiring = [a["name"] for a in accounts if a["require_two_factor"] and not a["closed"]]
    return {
        "two_factor": {
            **status,
            "required_by": requiring,
            "email": (viewer.signed_in_admin if person.kind == "admin" else viewer.signed_in_user)[
                "email"
            ],
            "base": STAFF_BASE if person.kind == "admin" else USER_BASE,
            "required": viewer_of(request).must_enrol_two_factor,
            "asked_by": asked_by,
            "next": "",
            "step": "status",
            "errors": {},
            **state,
        }
    }


async def page_context(request: Request) -> dict:
    # After a sign-in with a recovery code (app.http.public.login): how many are left is said.
    recovered = request.query_params.get("signed_in_with") == "recovery-code"
    back = _next(request.query_params.get("next")) if _asked_by(request) else ""
    return await _section(request, recovered=recovered, next=back)


async def _enrolment(request: Request, secret: str, **state) -> dict:
    viewer = viewer_of(request)
    person = viewer.signed_in_admin if is_staff(request) else viewer.signed_in_user
    account = person["email"]
    uri = two_factor.provisioning_uri(secret, account)
    return await _section(
        request,
        step="enrol",
        qr_svg=two_factor.qr_svg(uri),
        manual_key=two_factor.grouped(secret),
        **state,
    )


def _answer(request: Request, context: dict, *, status: int = 200) -> Response:
    return section_answer(request, SECTION, SECTION_PAGE, context, status=status)


async def enable(request: Request) -> Response:
    back = _next((await read_form(request)).get("next"))
    try:
        secret = await two_factor.begin_enrolment(person_of(request))
    except DomainError as exc:
        context = await _section(request, errors={"form": exc.message}, next=back)
        return _answer(request, context, status=400)
    return _answer(request, await _enrolment(request, secret, next=back))


async def confirm(request: Request) -> Response:
    form = await read_form(request)
    back = _next(form.get("next"))
    person = person_of(request)
    try:
        codes = await two_factor.confirm_enrolment(
            person, form.get("code", ""), actor=viewer_of(request).actor
        )
    except DomainError as exc:
        secret = await two_factor.pending_secret(person)
        if secret is None:
            errors = {"form": exc.message}
            return _answer(request, await _section(request, errors=errors, next=back), status=400)
        errors = {exc.field or "form": exc.message}
        context = await _enrolment(request, secret, errors=errors, next=back)
        return _answer(request, context, status=refusal_status(exc))
    flash(request, _("Two-factor authentication is on."))
    viewer = viewer_of(request)
    if is_staff(request) and viewer.must_enrol_two_factor:
        viewer.must_enrol_two_factor = False  # enrolled: the admin area is open
    # Enrolled for the account that asked: once the codes are saved, back into it.
    asked_by = _asked_by(request)
    if asked_by is not None:  # they can enter it now: the entry is recorded
        await access.note_account_login(person.id, viewer.current_client["id"])
    viewer.must_enrol_for_account = False
    continue_to = {"url": back or "/account", "name": asked_by} if asked_by else None
    context = await _section(request, step="codes", codes=codes, continue_to=continue_to)
    return _answer(request, context)


async def regenerate(request: Request) -> Response:
    form = await read_form(request)
    try:
        codes = await two_factor.regenerate_recovery_codes(
            person_of(request), form.get("proof", ""), actor=viewer_of(request).actor
        )
    except DomainError as exc:
        context = await _section(request, errors={"regenerate": exc.message})
        return _answer(request, context, status=refusal_status(exc))
    flash(request, _("New recovery codes generated; the old ones no longer work."))
    return _answer(request, await _section(request, step="codes", codes=codes))


async def disable(request: Request) -> Response:
    form = await read_form(request)
    try:
        await two_factor.disable(
            person_of(request), form.get("proof", ""), actor=viewer_of(request).actor
        )
    except DomainError as exc:
        context = await _section(request, errors={"disable": exc.message})
        return _answer(request, context, status=refusal_status(exc))
    flash(request, _("Two-factor authentication is off."))
    return _answer(request, await _section(request))


def _routes(base: str, permission: Permission, handlers) -> list:
    return [
        post(f"{base}/{name}", permission=permission, name=f"{base}/{name}")(handler)
        for name, handler in handlers
    ]


_HANDLERS = (
    ("enable", enable),
    ("confirm", confirm),
    ("recovery-codes", regenerate),
    ("disable", disable),
)


# --- the admin user page -----------------------------------------------------------------------


async def admin_user_context(request: Request, user: dict) -> dict:
    return {
        "user_two_factor": {
            **await two_factor.status(two_factor.Person("user", user["id"])),
            "can_manage": admin_allows(request, Permission.MANAGE_USERS),
        }
    }


@post("/admin/users/{user_id:int}/two-factor/disable", permission=Permission.MANAGE_USERS)
async def staff_disable(request: Request, user_id: FromPath[int]) -> Response:
    """Staff turning a user's two-factor authentication off (the user is emailed). For htmx the
    section is swapped, and the page heading's 2FA badge with it (out of band)."""
    error: str | None
    try:
        await two_factor.staff_disable(user_id, actor=viewer_of(request).actor)
    except DomainError as exc:
        if not is_htmx(request):
            raise
        error = exc.message
    else:
        if not is_htmx(request):
            return redirect(request, f"/admin/users/{user_id}")
        error = None
        flash(request, _("Two-factor authentication disabled; the user was emailed."))
    user = await users.get_user(user_id)
    context = {"user": user, **await admin_user_context(request, user)}
    context["user_two_factor"]["error"] = error
    section = render(request, ADMIN_SECTION, context, status=400 if error else 200)
    heading = render(request, "admin/users/detail.html", {**context, "oob": True}, block="heading")
    section.content += heading.content
    return section


ROUTES: list = [
    *_routes(USER_BASE, Permission.SIGNED_IN, _HANDLERS),
    *_routes(STAFF_BASE, Permission.STAFF, _HANDLERS),
    staff_disable,
]
