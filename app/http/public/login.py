"""Login and logout, for client users and for staff."""

import asyncio
import re
import secrets
import socket
from urllib.parse import urlsplit

from litestar import Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.params import FromPath, FromQuery

from app.core.config import get_settings
from app.core.errors import DomainError, Throttled
from app.core.i18n import N_, _
from app.core.policy import Permission
from app.core.validation import EMAIL_MAX
from app.domain.access import services as access
from app.domain.active_sessions import services as active_sessions
from app.domain.auth import services as auth
from app.domain.clients import services as clients
from app.domain.oauth import apps as oauth_apps
from app.domain.staff import services as admin_settings
from app.domain.two_factor import services as two_factor
from app.domain.users import registration
from app.domain.users import services as users
from app.http.plumbing.form_errors import FormErrors, refused
from app.http.plumbing.forms import client_ip, read_form, safe_next
from app.http.plumbing.middleware import SESSION_COOKIE, session_cookie_value, viewer_of
from app.http.plumbing.render import is_htmx, redirect, render

REVERSE_LOOKUP_TIMEOUT = 0.5  # seconds


async def reverse_lookup(ip: str) -> str | None:
    """The client's hostname, if its reverse DNS answers quickly; never blocks a login long."""
    if not ip:
        return None
    try:
        lookup = asyncio.get_running_loop().getnameinfo((ip, 0), socket.NI_NAMEREQD)
        host, _port = await asyncio.wait_for(lookup, REVERSE_LOOKUP_TIMEOUT)
    except (TimeoutError, OSError):
        return None
    return host


def _cookie(response: Response, name: str, value: str | None, max_age: int) -> Response:
    """HttpOnly, SameSite=Lax, Secure in production, for the whole site; None deletes it."""
    if value is None:
        response.delete_cookie(name, path="/")
    else:
        response.set_cookie(
            name,
            value,
            path="/",
            httponly=True,
            samesite="lax",
            secure=get_settings().production,
            max_age=max_age,
        )
    return response


def with_session_cookie(response: Response, session_id: str | None) -> Response:
    return _cookie(response, SESSION_COOKIE, session_id, int(auth.session_max().total_seconds()))


# The login waiting for its Authentication Code (app.domain.auth.services.begin_pending_sign_in).
PENDING_COOKIE = "roster_pending_sign_in"
BROWSER_COOKIE_MAX_AGE = 365 * 24 * 3600


def with_pending_cookie(response: Response, token: str | None) -> Response:
    max_age = int(auth.PENDING_SIGN_IN_VALID_FOR.total_seconds())
    return _cookie(response, PENDING_COOKIE, token, max_age)


# An invitation whose acceptance waits for the Authentication Code: its page comes back once
# the sign-in is complete. Kept in the browser only (the database holds invite tokens hashed).
RESUME_INVITE_COOKIE = "roster_resume_invite"
_INVITE_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,128}")


def with_invite_to_resume(response: Response, invite_token: str | None) -> Response:
    max_age = int(auth.PENDING_SIGN_IN_VALID_FOR.total_seconds())
    return _cookie(response, RESUME_INVITE_COOKIE, invite_token, max_age)


def invite_to_resume(request: Request) -> str | None:
    """The invitation page to return to after the code step, if a well-formed one waits."""
    token = request.cookies.get(RESUME_INVITE_COOKIE, "")
    return f"/invite/{token}" if _INVITE_TOKEN.fullmatch(token) else None


async def signed_in(
    request: Request, response: Response, *, user_id: int | None = None, admin_id=None
) -> Response:
    """A sign-in is complete (after the second factor, when there is one): the browser is
    noted (app.active_sessions: "new sign-in" emails) and keeps its token for a year."""
    browser = await active_sessions.note_sign_in(
        user_id=user_id,
        admin_id=admin_id,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent", ""),
        browser_token=request.cookies.get(active_sessions.BROWSER_COOKIE),
    )
    return _cookie(response, active_sessions.BROWSER_COOKIE, browser, BROWSER_COOKIE_MAX_AGE)


async def log_in_user(
    request: Request,
    user: dict,
    *,
    client_id: int | None = None,
    next_url: str | None = None,
    second_factor_done: bool = False,
) -> Response:
    """After a correct password (or a reset, a registration, a passkey): a user with two-factor
    authentication (the app or a passkey) is sent to the code step first, unless the sign-in
    was two factors already (`second_factor_done`: a passkey that verified the person); anyone
    else is logged in at once."""
    if not second_factor_done and await two_factor.has_second_factor(
        two_factor.Person("user", user["id"])
    ):
        token = await auth.begin_pending_sign_in(
            user_id=user["id"], client_id=client_id, next_url=next_url or ""
        )
        return with_pending_cookie(redirect(request, "/login/code"), token)
    return await complete_user_login(request, user, client_id=client_id, next_url=next_url)


async def complete_user_login(
    request: Request, user: dict, *, client_id: int | None = None, next_url: str | None = None
) -> Response:
    """Starts a fresh session for `user` and sends them on: to `client_id` if given, to their only
    open account, or to Choose Account."""
    ip = client_ip(request)
    await users.record_login(user["id"], ip=ip, hostname=await reverse_lookup(ip))
    if client_id is None:
        open_accounts = [a for a in await access.user_accounts(user["id"]) if not a["closed"]]
        if len(open_accounts) == 1:
            client_id = open_accounts[0]["client_id"]
    if client_id is not None:
        await access.note_account_login(user["id"], client_id)
    session_id = await auth.start_session(
        user_id=user["id"],
        client_id=client_id,
        ip=ip,
        user_agent=request.headers.get("user-agent", ""),
        replacing=session_cookie_value(request.scope),
    )
    default = "/account" if client_id is not None else "/accounts"
    target = safe_next(next_url, default)
    if not is_htmx(request) and urlsplit(target).path == "/oauth/authorize":
        app = await oauth_apps.app_asking(target)
        onward = render(request, "auth/continue.html", {"url": target, "app": app})
    else:
        onward = redirect(request, target)
    response = with_session_cookie(onward, session_id)
    return await signed_in(request, response, user_id=user["id"])


def failure_status(exc: DomainError) -> int:
    """429 for an attempt refused by the limits, else 400."""
    return 429 if isinstance(exc, Throttled) else 400


LOGIN_FIELDS = ("email", "password")


def login_errors(problems=(), prefix: str = "f") -> FormErrors:
    return FormErrors(problems, prefix=prefix, order=LOGIN_FIELDS, fallback="password")


def login_problems(form: dict, prefix: str = "f") -> FormErrors:
    """Both fields filled in? An empty one is answered at once, as no attempt: it could never
    match a password, so it tells nothing and counts against no limit."""
    problems = {}
    if not (form.get("email") or "").strip():
        problems["email"] = _("Enter your email address.")
    if not form.get("password"):
        problems["password"] = _("Enter your password.")
    return login_errors(problems, prefix)


SESSION_ENDED = N_("Your session ended. Log in again to continue.")


@get("/login", permission=Permission.PUBLIC)
async def login_page(
    request: Request,
    next: FromQuery[str | None] = None,
    ended: FromQuery[str] = "",
    email: FromQuery[str] = "",
) -> Response:
    """`email` (from "This email already has a login: use Login") fills in the address."""
    if viewer_of(request).user:
        return redirect(request, "/account")
    notice = _(SESSION_ENDED) if ended else None
    context = {
        "next": next or "",
        "form": {"email": email[:EMAIL_MAX]},
        "notice": notice,
        "continuing_to": await oauth_apps.app_asking(next),
    }
    return render(request, "client/login.html", {**context, "errors": login_errors()})


@post("/login", permission=Permission.PUBLIC)
async def login(request: Request) -> Response:
    form = await read_form(request)
    errors, status = login_problems(form), 400
    if not errors:
        try:
            user = await auth.authenticate_user(
                form.get("email", ""), form.get("password", ""), client_ip(request)
            )
        except DomainError as exc:
            errors, status = login_errors({"form": exc.message}), failure_status(exc)
        else:
            return await log_in_user(request, user, next_url=form.get("next"))
    return refused(
        request,
        "client/login.html",
        {
            "next": form.get("next", ""),
            "form": {"email": form.get("email", "")},
            "errors": errors,
            "continuing_to": await oauth_apps.app_asking(form.get("next")),
        },
        block="login_errors",
        status=status,
    )


@post("/logout", permission=Permission.PUBLIC)
async def logout(request: Request) -> Response:
    form = await read_form(request)
    await auth.end_session(session_cookie_value(request.scope))
    return with_session_cookie(redirect(request, safe_next(form.get("next"), "/login")), None)


@get("/admin/login", permission=Permission.PUBLIC)
async def admin_login_page(request: Request, ended: FromQuery[str] = "") -> Response:
    if viewer_of(request).admin:
        return redirect(request, "/admin/clients")
    notice = _(SESSION_ENDED) if ended else None
    return render(
        request, "admin/login.html", {"form": {}, "notice": notice, "errors": login_errors()}
    )


@post("/admin/login", permission=Permission.PUBLIC)
async def admin_login(request: Request) -> Response:
    form = await read_form(request)
    errors, status = login_problems(form), 400
    if not errors:
        try:
            admin = await auth.authenticate_admin(
                form.get("email", ""), form.get("password", ""), client_ip(request)
            )
        except DomainError as exc:
            errors, status = login_errors({"form": exc.message}), failure_status(exc)
    if errors:
        return refused(
            request,
            "admin/login.html",
            {"form": {"email": form.get("email", "")}, "errors": errors},
            block="login_errors",
            status=status,
        )
    return await log_in_admin(request, admin)


async def log_in_admin(request: Request, admin: dict, *, second_factor_done: bool = False):
    """As log_in_user, for staff."""
    if not second_factor_done and await two_factor.has_second_factor(
        two_factor.Person("admin", admin["id"])
    ):
        token = await auth.begin_pending_sign_in(admin_id=admin["id"])
        return with_pending_cookie(redirect(request, "/admin/login/code"), token)
    return await complete_admin_login(request, admin)


async def complete_admin_login(
    request: Request, admin: dict, *, target: str | None = None
) -> Response:
    """A staff session, then on to `target` or the clients list; staff who must enrol in
    two-factor authentication first (the setting is on and they have none) go to the Security
    page, the one place they can reach."""
    session_id = await auth.start_session(
        admin_id=admin["id"],
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent", ""),
        replacing=session_cookie_value(request.scope),
    )
    must_enrol = await admin_settings.flag(
        admin_settings.REQUIRE_STAFF_TWO_FACTOR
    ) and not await two_factor.has_second_factor(two_factor.Person("admin", admin["id"]))
    target = "/admin/security" if must_enrol else target or "/admin/clients"
    response = with_session_cookie(redirect(request, target), session_id)
    return await signed_in(request, response, admin_id=admin["id"])


CODE_FIELDS = ("code",)
RECOVERED = "signed_in_with=recovery-code"


def code_errors(problems=()) -> FormErrors:
    return FormErrors(problems, prefix="f", order=CODE_FIELDS, fallback="code")


CODE_STEPS = {  # area: (the code step's path, its template, the login page)
    "user": ("/login/code", "auth/login_code.html", "/login"),
    "admin": ("/admin/login/code", "auth/login_code.html", "/admin/login"),
}


async def _code_context(pending: dict, kind: str, path: str, errors: FormErrors) -> dict:
    """The code step offers what the person has: the code from their app, their passkeys."""
    person = two_factor.Person(kind, pending[kind])
    return {
        "action": path,
        "errors": errors,
        "has_code": await two_factor.is_enabled(person),
        "has_passkey": await two_factor.has_passkey(person),
    }


async def _code_page(request: Request, kind: str) -> Response:
    path, template, login_path = CODE_STEPS[kind]
    pending = await auth.pending_sign_in(request.cookies.get(PENDING_COOKIE), kind)
    if pending is None:
        return with_pending_cookie(redirect(request, f"{login_path}?ended=1"), None)
    context = await _code_context(pending, kind, path, code_errors())
    return render(request, template, context, headers=NO_STORE)


async def _submit_code(request: Request, kind: str, *, passkey: bool = False) -> Response:
    """The code step's answer: an Authentication Code or recovery code, or (`passkey`) a
    passkey's answer to the challenge of this pending sign-in."""
    path, template, login_path = CODE_STEPS[kind]
    form = await read_form(request)
    token = request.cookies.get(PENDING_COOKIE)
    try:
        if passkey:
            pending = await auth.complete_pending_sign_in_with_passkey(
                token, kind, form.get("credential", ""), client_ip(request)
            )
        else:
            pending = await auth.complete_pending_sign_in(
                token, kind, form.get("code", ""), client_ip(request)
            )
    except DomainError as exc:
        if exc.message in (auth.SIGN_IN_EXPIRED, _(auth.SIGN_IN_EXPIRED)):
            return with_pending_cookie(redirect(request, f"{login_path}?ended=1"), None)
        problems = {exc.field or "form": exc.message}
        still = await auth.pending_sign_in(token, kind)
        if still is None:
            return with_pending_cookie(redirect(request, f"{login_path}?ended=1"), None)
        context = await _code_context(still, kind, path, code_errors(problems))
        if passkey:  # sent by a plain form post: the whole page, with the message
            return render(request, template, context, status=failure_status(exc), headers=NO_STORE)
        return refused(
            request,
            template,
            context,
            block="code_errors",
            status=failure_status(exc),
            headers=NO_STORE,
        )
    # Signed in with a recovery code: on to the Security page, which says how many are left.
    recovered = pending["code_used"].recovery
    if kind == "admin":
        target = f"/admin/security?{RECOVERED}" if recovered else None
        response = await complete_admin_login(request, pending["person"], target=target)
    else:
        resume = invite_to_resume(request)
        after_recovery = f"/account/security?{RECOVERED}" if recovered else None
        response = await complete_user_login(
            request,
            pending["person"],
            client_id=pending["client"],
            next_url=resume or after_recovery or pending["next_url"] or None,
        )
        if resume:
            response = with_invite_to_resume(response, None)
    return with_pending_cookie(response, None)


NO_STORE = {"Cache-Control": "no-store"}


@get("/login/code", permission=Permission.PUBLIC)
async def login_code_page(request: Request) -> Response:
    return await _code_page(request, "user")


@post("/login/code", permission=Permission.PUBLIC)
async def login_code(request: Request) -> Response:
    return await _submit_code(request, "user")


@post("/login/code/passkey/options", permission=Permission.PUBLIC)
async def login_code_passkey_options(request: Request) -> Response:
    return await _second_factor_options(request, "user")


@post("/login/code/passkey", permission=Permission.PUBLIC)
async def login_code_passkey(request: Request) -> Response:
    return await _submit_code(request, "user", passkey=True)


@post("/admin/login/code/passkey/options", permission=Permission.PUBLIC)
async def admin_login_code_passkey_options(request: Request) -> Response:
    return await _second_factor_options(request, "admin")


@post("/admin/login/code/passkey", permission=Permission.PUBLIC)
async def admin_login_code_passkey(request: Request) -> Response:
    return await _submit_code(request, "admin", passkey=True)


async def _second_factor_options(request: Request, kind: str) -> Response:
    try:
        body = await auth.passkey_second_factor_options(request.cookies.get(PENDING_COOKIE), kind)
    except DomainError as exc:
        return json_answer({"error": exc.message}, status=400)
    return json_answer(body)


# --- signing in with a passkey ----------------------------------------------------------------

# The login page's own token, which the challenge of a passkey sign-in is bound to (the browser
# has no session yet); only the challenge's row knows it, hashed.
PASSKEY_COOKIE = "roster_passkey_sign_in"
_PASSKEY_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
PASSKEY_PATHS = {"user": "/login/passkey", "admin": "/admin/login/passkey"}


def json_answer(body: str | dict, status: int = 200) -> Response:
    """A ceremony's options (JSON text), or {"error": ...}; never stored."""
    return Response(
        content=body, status_code=status, media_type="application/json", headers=NO_STORE
    )


def passkey_token(request: Request) -> str | None:
    token = request.cookies.get(PASSKEY_COOKIE, "")
    return token if _PASSKEY_TOKEN.fullmatch(token) else None


async def passkey_options(request: Request, kind: str) -> Response:
    """The options of a passkey sign-in on the login page of "user" or "admin", its challenge
    bound to this browser's login token (set here when it has none)."""
    token = passkey_token(request) or secrets.token_urlsafe(32)
    body = await auth.passkey_sign_in_options(kind, token)
    max_age = int(auth.PENDING_SIGN_IN_VALID_FOR.total_seconds())
    return _cookie(json_answer(body), PASSKEY_COOKIE, token, max_age)


async def check_passkey(request: Request, kind: str, form: dict) -> tuple[dict, bool]:
    """The person whose passkey answered this browser's sign-in challenge, and whether it
    verified them; DomainError (Throttled) otherwise."""
    token = passkey_token(request)
    if token is None:
        raise DomainError(_(auth.SIGN_IN_EXPIRED))
    return await auth.authenticate_with_passkey(
        kind, token, form.get("credential", ""), client_ip(request)
    )


@post("/login/passkey/options", permission=Permission.PUBLIC)
async def login_passkey_options(request: Request) -> Response:
    return await passkey_options(request, "user")


@post("/login/passkey", permission=Permission.PUBLIC)
async def login_passkey(request: Request) -> Response:
    """Sign in with a passkey: with user verification it is both factors; without, it is the
    first and the code step follows (for a person who has a second factor)."""
    form = await read_form(request)
    try:
        user, verified = await check_passkey(request, "user", form)
    except DomainError as exc:
        context = {
            "next": form.get("next", ""),
            "form": {},
            "errors": login_errors({"form": exc.message}),
            "continuing_to": await oauth_apps.app_asking(form.get("next")),
        }
        return render(request, "client/login.html", context, status=failure_status(exc))
    response = await log_in_user(
        request, user, next_url=form.get("next"), second_factor_done=verified
    )
    return _cookie(response, PASSKEY_COOKIE, None, 0)


@post("/admin/login/passkey/options", permission=Permission.PUBLIC)
async def admin_login_passkey_options(request: Request) -> Response:
    return await passkey_options(request, "admin")


@post("/admin/login/passkey", permission=Permission.PUBLIC)
async def admin_login_passkey(request: Request) -> Response:
    form = await read_form(request)
    try:
        admin, verified = await check_passkey(request, "admin", form)
    except DomainError as exc:
        context = {"form": {}, "errors": login_errors({"form": exc.message})}
        return render(request, "admin/login.html", context, status=failure_status(exc))
    response = await log_in_admin(request, admin, second_factor_done=verified)
    return _cookie(response, PASSKEY_COOKIE, None, 0)


@get("/admin/login/code", permission=Permission.PUBLIC)
async def admin_login_code_page(request: Request) -> Response:
    return await _code_page(request, "admin")


@post("/admin/login/code", permission=Permission.PUBLIC)
async def admin_login_code(request: Request) -> Response:
    return await _submit_code(request, "admin")


@post("/admin/logout", permission=Permission.PUBLIC)
async def admin_logout(request: Request) -> Response:
    await auth.end_session(session_cookie_value(request.scope))
    return with_session_cookie(redirect(request, "/admin/login"), None)


REGISTER_FIELDS = ("first_name", "last_name", "email", "company", "password", "accept_tos")


def register_errors(problems=(), prefix: str = "f") -> FormErrors:
    return FormErrors(problems, prefix=prefix, order=REGISTER_FIELDS, fallback="summary")


@get("/register", permission=Permission.PUBLIC)
async def register_page(request: Request) -> Response:
    return render(request, "client/register.html", {"form": {}, "errors": register_errors()})


@post("/register", permission=Permission.PUBLIC)
async def register(request: Request) -> Response:
    """Every field is checked first and all problems answered at once; then register_owner,
    within the registration limit (refused forms never count against it)."""
    form = await read_form(request)

    async def register_owner(**values):
        return await clients.register_owner(**values, ip=client_ip(request))

    tried = await registration.attempt(
        form, ("first_name", "last_name", "email", "company"), register_owner
    )
    if tried.result:
        user, client_id = tried.result
        return await log_in_user(
            request, user, client_id=client_id, next_url="/account?welcome=new"
        )
    return refused(
        request,
        "client/register.html",
        {
            "form": tried.shown,
            "errors": register_errors(tried.problems),
            "has_login": tried.problems.get("email")
            in (registration.EMAIL_HAS_LOGIN, _(registration.EMAIL_HAS_LOGIN)),
        },
        block="register_errors",
        status=tried.status,
    )


# Password reset: the token is in the URL, so these pages leak it to no one.
PRIVATE = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


@get("/password/reset", permission=Permission.PUBLIC)
async def reset_request_page(request: Request) -> Response:
    return render(request, "client/reset_request.html", {"form": {}, "sent": False})


@post("/password/reset", permission=Permission.PUBLIC)
async def reset_request(request: Request) -> Response:
    form = await read_form(request)
    # The same answer, in the same time, whether or not the address belongs to a user: the
    # look-up and the email are done after the answer has gone.
    response = render(
        request,
        "client/reset_request.html",
        {"form": {"email": form.get("email", "")}, "sent": True},
    )
    response.background = BackgroundTask(
        auth.request_password_reset,
        form.get("email", ""),
        base_url=get_settings().base_url,
        ip=client_ip(request),
    )
    return response


@get("/password/reset/{token:str}", permission=Permission.PUBLIC)
async def reset_page(request: Request, token: FromPath[str]) -> Response:
    valid = await auth.reset_target(token) is not None
    return render(
        request,
        "client/reset_complete.html",
        {"token": token, "valid": valid},
        status=200 if valid else 404,
        headers=PRIVATE,
    )


@post("/password/reset/{token:str}", permission=Permission.PUBLIC)
async def reset_complete(request: Request, token: FromPath[str]) -> Response:
    form = await read_form(request)
    try:
        user_id = await auth.complete_password_reset(
            token, form.get("password", ""), ip=client_ip(request)
        )
    except DomainError as exc:
        valid = await auth.reset_target(token) is not None
        return render(
            request,
            "client/reset_complete.html",
            {"token": token, "valid": valid, "error": exc.message},
            status=400,
            headers=PRIVATE,
        )
    user = await users.get_user(user_id)
    # Logged in at once with the new password, and told so before going on.
    return await log_in_user(request, user, next_url=PASSWORD_CHANGED)


PASSWORD_CHANGED = "/password/changed"


@get(PASSWORD_CHANGED, permission=Permission.PUBLIC)
async def password_changed(request: Request) -> Response:
    """The confirmation after a password reset, then on to the account (or Choose Account)."""
    viewer = viewer_of(request)
    if viewer.user is None:
        return redirect(request, "/login")
    return render(
        request,
        "client/reset_complete.html",
        {"changed": True, "continue_url": "/account" if viewer.client else "/accounts"},
        headers={"Cache-Control": "no-store"},
    )


ROUTES = [
    login_page,
    login,
    logout,
    admin_login_page,
    admin_login,
    admin_logout,
    login_code_page,
    login_code,
    admin_login_code_page,
    admin_login_code,
    login_code_passkey_options,
    login_code_passkey,
    admin_login_code_passkey_options,
    admin_login_code_passkey,
    login_passkey_options,
    login_passkey,
    admin_login_passkey_options,
    admin_login_passkey,
    register_page,
    register,
    reset_request_page,
    reset_request,
    reset_page,
    reset_complete,
    password_changed,
]
