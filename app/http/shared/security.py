"""The Security page: /account/security for users, /admin/security for staff. Each section
(two-factor authentication, passkeys, the email address, the signed-in sessions, the connected apps)
lives in its own module beside this one, with its own routes; this page only puts them
together."""

from litestar import Request, Response, get

from app.core.policy import Permission
from app.http.plumbing.render import render
from app.http.shared import security_apps as apps
from app.http.shared import security_email as email
from app.http.shared import security_locale as locale
from app.http.shared import security_passkeys as passkeys
from app.http.shared import security_sessions as sessions
from app.http.shared import security_two_factor as two_factor

SECTIONS = (two_factor, passkeys, email, locale, sessions, apps)


async def _page(request: Request, area: str) -> Response:
    context = {"area": area}
    for section in SECTIONS:
        context.update(await section.page_context(request))
    return render(request, "security/page.html", context)


@get("/account/security", permission=Permission.SIGNED_IN)
async def user_security(request: Request) -> Response:
    return await _page(request, "client")


@get("/admin/security", permission=Permission.STAFF)
async def admin_security(request: Request) -> Response:
    return await _page(request, "admin")


async def admin_user_context(request: Request, user: dict) -> dict:
    """What the admin user page shows of a user's security, section by section."""
    context = {}
    for section in SECTIONS:
        context.update(await section.admin_user_context(request, user))
    return context


ROUTES = [user_security, admin_security, *(r for s in SECTIONS for r in s.ROUTES)]
