"""The Security page's section on language and time zone: the person's own language (a user's
pages and emails; a staff member's admin area) and the time zone of the dates they read (their
browser's unless they choose one). A plain form, not boosted: a new language is a whole page."""

from urllib.parse import unquote

from litestar import Request, Response, post

from app.core import i18n
from app.core.i18n import N_, _
from app.core.policy import Permission
from app.domain.staff import services as staff
from app.domain.users import services as users
from app.http.plumbing.forms import read_form
from app.http.plumbing.middleware import ZONE_COOKIE, viewer_of
from app.http.plumbing.render import flash, redirect
from app.http.shared.security_common import is_staff

SAVED = N_("Language and time zone saved.")


async def page_context(request: Request) -> dict:
    viewer = viewer_of(request)
    person = viewer.admin if is_staff(request) else viewer.user
    if person is None:
        return {"locale_section": None}
    if request.query_params.get("done") == "locale":
        flash(request, _(SAVED))
    return {
        "locale_section": {
            "language": i18n.current().name,
            "time_zone": person.get("time_zone") or "",
            "browser_zone": unquote(request.cookies.get(ZONE_COOKIE) or ""),
            "zones": i18n.known_zones(),
        }
    }


async def admin_user_context(request: Request, user: dict) -> dict:
    return {}


async def _save(request: Request) -> Response:
    viewer = viewer_of(request)
    form = await read_form(request)
    language, zone = form.get("language") or "", form.get("time_zone") or ""
    if is_staff(request):
        await staff.set_language(viewer.signed_in_admin["id"], language, zone)
    else:
        await users.set_language(
            viewer.signed_in_user["id"], language, actor=viewer.actor, time_zone=zone
        )
    base = "/admin/security" if is_staff(request) else "/account/security"
    return redirect(request, f"{base}?done=locale")


@post("/account/security/locale", permission=Permission.SIGNED_IN)
async def save_user_locale(request: Request) -> Response:
    return await _save(request)


@post("/admin/security/locale", permission=Permission.STAFF)
async def save_staff_locale(request: Request) -> Response:
    return await _save(request)


ROUTES: list = [save_user_locale, save_staff_locale]
