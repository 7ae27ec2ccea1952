"""The Security page's section on signed-in sessions: what it shows on /account/security and
/admin/security (page_context), on the admin user page (admin_user_context), and its routes.

Each action answers htmx with the section alone and its confirmation; a plain form post is sent
back to its page with `?done=<what>`, which the page turns into the same confirmation."""

from litestar import Request, Response, post
from litestar.params import FromPath

from app.core.i18n import N_, _
from app.core.policy import Permission
from app.domain.active_sessions import services as active
from app.domain.users import services as users
from app.http.plumbing.forms import read_form
from app.http.plumbing.guards import admin_allows
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import flash, is_htmx, redirect, render

SECTION = "security/_sessions.html"
ADMIN_SECTION = "admin/users/_sessions.html"
USER_BASE, STAFF_BASE = "/account/security", "/admin/security"

# What a plain form post's `?done=` may name, and what the page then says.
DONE = {
    "signed-out": N_("Signed out that session."),
    "signed-out-others": N_("Signed out all other sessions."),
    "alerts-on": N_("You will be emailed when your login is used from a new browser."),
    "alerts-off": N_("You will no longer be emailed about sign-ins from new browsers."),
    "ended-all": N_("Ended all of this user's sessions."),
}


def _person(request: Request) -> dict:
    """The viewer as the person whose sessions these are: {"admin_id": ..} or {"user_id": ..}."""
    viewer = viewer_of(request)
    if viewer.admin is not None:
        return {"admin_id": viewer.admin["id"]}
    return {"user_id": viewer.signed_in_user["id"]}


def _flash_done(request: Request) -> None:
    done = request.query_params.get("done")
    if done in DONE:
        flash(request, _(DONE[done]))


async def page_context(request: Request) -> dict:
    _flash_done(request)
    viewer = viewer_of(request)
    person = _person(request)
    return {
        "sessions": await active.list_sessions(**person, current_id=viewer.session_id),
        "sessions_base": STAFF_BASE if viewer.admin is not None else USER_BASE,
        "sign_in_alerts": await active.sign_in_alerts_on(**person),
    }


async def admin_user_context(request: Request, user: dict) -> dict:
    _flash_done(request)
    return {
        "user_sessions": await active.list_sessions(user_id=user["id"]),
        "can_end_sessions": admin_allows(request, Permission.MANAGE_USERS),
    }


async def _answer(request: Request, done: str) -> Response:
    """The section, with DONE[done] as its confirmation, for htmx; else back to the page."""
    base = STAFF_BASE if viewer_of(request).admin is not None else USER_BASE
    if not is_htmx(request):
        return redirect(request, f"{base}?done={done}")
    flash(request, _(DONE[done]))
    return render(request, SECTION, await page_context(request))


def _section_routes(base: str, permission: Permission) -> list:
    """The section's actions under `base`, for the people who hold `permission`."""

    @post(f"{base}/sessions/{{session_id:int}}/sign-out", permission=permission)
    async def sign_out_session(request: Request, session_id: FromPath[int]) -> Response:
        viewer = viewer_of(request)
        await active.end_session(
            session_id, current_id=viewer.session_id, actor=viewer.actor, **_person(request)
        )
        return await _answer(request, "signed-out")

    @post(f"{base}/sessions/sign-out-others", permission=permission)
    async def sign_out_other_sessions(request: Request) -> Response:
        viewer = viewer_of(request)
        await active.end_other_sessions(
            current_id=viewer.current_session_id, actor=viewer.actor, **_person(request)
        )
        return await _answer(request, "signed-out-others")

    @post(f"{base}/sign-in-alerts", permission=permission)
    async def set_sign_in_alerts(request: Request) -> Response:
        form = await read_form(request)
        on = form.get("sign_in_alerts") == "on"
        await active.set_sign_in_alerts(on, actor=viewer_of(request).actor, **_person(request))
        return await _answer(request, "alerts-on" if on else "alerts-off")

    return [sign_out_session, sign_out_other_sessions, set_sign_in_alerts]


@post("/admin/users/{user_id:int}/sessions/end", permission=Permission.MANAGE_USERS)
async def end_all_user_sessions(request: Request, user_id: FromPath[int]) -> Response:
    user = await users.get_user(user_id)
    await active.end_all_sessions(user_id, actor=viewer_of(request).actor)
    if not is_htmx(request):
        return redirect(request, f"/admin/users/{user_id}?done=ended-all")
    flash(request, _(DONE["ended-all"]))
    return render(request, ADMIN_SECTION, {"user": user, **await admin_user_context(request, user)})


ROUTES: list = [
    *_section_routes(USER_BASE, Permission.SIGNED_IN),
    *_section_routes(STAFF_BASE, Permission.STAFF),
    end_all_user_sessions,
]
