"""The Security page's section on passkeys: the person's passkeys (name, created, last used),
**Add a passkey** (a **Name**, then the browser's own dialog) and **Remove** (after the password
or a current code); on the admin user page, a user's passkeys, which staff with Manage Users
can remove.

The browser's part is js/behaviours/passkeys.js, loaded only by the templates that need it: it
asks `{base}/options` for the ceremony's options (JSON), runs navigator.credentials.create(),
and puts the answer in the form's `credential` field before the form is sent."""

from litestar import Request, Response, post
from litestar.params import FromPath

from app.core.errors import DomainError
from app.core.i18n import _
from app.core.policy import Permission
from app.domain.passkeys import services as passkeys
from app.domain.two_factor import services as two_factor
from app.domain.users import services as users
from app.http.plumbing.forms import read_form
from app.http.plumbing.guards import admin_allows
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import flash, is_htmx, redirect, render
from app.http.shared.security_common import is_staff, person_of, refusal_status, section_answer

SECTION = "security/_passkeys.html"
SECTION_PAGE = "security/passkeys_page.html"
ADMIN_SECTION = "admin/users/_passkeys.html"
USER_BASE = "/account/security/passkeys"
STAFF_BASE = "/admin/security/passkeys"
NO_STORE = {"Cache-Control": "no-store"}


def _binding(request: Request) -> str:
    """A registration's challenge is bound to the session that asked for it."""
    return f"session:{viewer_of(request).current_session_id}"


async def _section(request: Request, **state) -> dict:
    person = person_of(request)
    return {
        "passkeys": {
            "list": await passkeys.passkeys_of(person),
            "base": STAFF_BASE if person.kind == "admin" else USER_BASE,
            "max": passkeys.MAX_PASSKEYS,
            "has_code": await two_factor.is_enabled(person),
            "errors": {},
            "name": "",
            **state,
        }
    }


async def page_context(request: Request) -> dict:
    return await _section(request)


def _answer(request: Request, context: dict, *, status: int = 200) -> Response:
    return section_answer(request, SECTION, SECTION_PAGE, context, status=status)


def json_answer(body: str | dict, status: int = 200) -> Response:
    """The options of a ceremony (JSON text), or {"error": ...}; never stored."""
    content = body if isinstance(body, str) else None
    return Response(
        content=content if content is not None else body,
        status_code=status,
        media_type="application/json",
        headers=NO_STORE,
    )


async def options(request: Request) -> Response:
    try:
        body = await passkeys.registration_options(person_of(request), _binding(request))
    except DomainError as exc:
        return json_answer({"error": exc.message}, status=400)
    return json_answer(body)


async def add(request: Request) -> Response:
    form = await read_form(request)
    name = passkeys.clean_name(form.get("name"))
    try:
        await passkeys.register(
            person_of(request),
            _binding(request),
            form.get("credential", ""),
            name,
            actor=viewer_of(request).actor,
        )
    except DomainError as exc:
        context = await _section(request, errors={exc.field or "form": exc.message}, name=name)
        return _answer(request, context, status=refusal_status(exc))
    _opened(request)
    flash(request, _("Passkey “%(name)s” added. You can sign in with it now.") % {"name": name})
    return _answer(request, await _section(request))


def _opened(request: Request) -> None:
    """A passkey is a second factor: staff who had to enrol, and a user sent here by an account
    that requires it, may go on."""
    viewer = viewer_of(request)
    if is_staff(request):
        viewer.must_enrol_two_factor = False
    else:
        viewer.must_enrol_for_account = False


async def remove(request: Request, passkey_id: FromPath[int]) -> Response:
    form = await read_form(request)
    try:
        name = await passkeys.remove(
            person_of(request), passkey_id, form.get("proof", ""), actor=viewer_of(request).actor
        )
    except DomainError as exc:
        context = await _section(request, errors={f"remove-{passkey_id}": exc.message})
        return _answer(request, context, status=refusal_status(exc))
    flash(request, _("Passkey “%(name)s” removed.") % {"name": name})
    return _answer(request, await _section(request))


def _routes(base: str, permission: Permission) -> list:
    return [
        post(f"{base}/options", permission=permission, name=f"{base}/options")(options),
        post(base, permission=permission, name=f"{base}/add")(add),
        post(f"{base}/{{passkey_id:int}}/remove", permission=permission, name=f"{base}/remove")(
            remove
        ),
    ]


# --- the admin user page -----------------------------------------------------------------------


async def admin_user_context(request: Request, user: dict) -> dict:
    return {
        "user_passkeys": {
            "list": await passkeys.passkeys_of(two_factor.Person("user", user["id"])),
            "can_manage": admin_allows(request, Permission.MANAGE_USERS),
            "error": None,
        }
    }


@post(
    "/admin/users/{user_id:int}/passkeys/{passkey_id:int}/remove",
    permission=Permission.MANAGE_USERS,
)
async def staff_remove(
    request: Request, user_id: FromPath[int], passkey_id: FromPath[int]
) -> Response:
    """Staff removing one of a user's passkeys (the user is emailed, the log says who)."""
    error: str | None = None
    try:
        name = await passkeys.staff_remove(user_id, passkey_id, actor=viewer_of(request).actor)
    except DomainError as exc:
        if not is_htmx(request):
            raise
        error = exc.message
    else:
        if not is_htmx(request):
            return redirect(request, f"/admin/users/{user_id}")
        flash(request, _("Passkey “%(name)s” removed; the user was emailed.") % {"name": name})
    user = await users.get_user(user_id)
    context = {"user": user, **await admin_user_context(request, user)}
    context["user_passkeys"]["error"] = error
    return render(request, ADMIN_SECTION, context, status=400 if error else 200)


ROUTES: list = [
    *_routes(USER_BASE, Permission.SIGNED_IN),
    *_routes(STAFF_BASE, Permission.STAFF),
    staff_remove,
]
