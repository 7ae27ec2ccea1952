"""The language menu (the page footer): a visitor's choice is kept in a cookie; a signed-in
person's is their own (users.language, or a staff member's admin-area language) and the
cookie too, so the page after Logout stays in it."""

from litestar import Request, Response, post

from app.core import i18n
from app.core.errors import DomainError
from app.core.i18n import _
from app.core.policy import Permission
from app.domain.staff import services as staff
from app.domain.users import services as users
from app.http.plumbing.forms import read_form, safe_next
from app.http.plumbing.middleware import LANGUAGE_COOKIE, viewer_of
from app.http.plumbing.render import redirect

YEAR = 365 * 24 * 3600


@post("/language", permission=Permission.PUBLIC)
async def choose_language(request: Request) -> Response:
    form = await read_form(request)
    name = form.get("language") or ""
    if name not in i18n.BY_NAME:
        raise DomainError(_("Choose a language from the list."), "language")
    back = safe_next(form.get("back"), "/")
    viewer = viewer_of(request)
    if back.startswith("/admin"):
        if viewer.admin is not None:
            await staff.set_language(viewer.admin["id"], name)
    elif viewer.user is not None:
        await users.set_language(viewer.user["id"], name, actor=viewer.actor)
    response = redirect(request, back)
    response.set_cookie(
        LANGUAGE_COOKIE,
        name,
        max_age=YEAR,
        path="/",
        samesite="lax",
        httponly=True,
        secure=request.url.scheme == "https",
    )
    return response


ROUTES = [choose_language]
