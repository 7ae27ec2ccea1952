"""The Security page's section on connected apps (users only; staff do not sign in to apps):
the apps the user allowed to sign them in with Roster, what each may see, when it was allowed
and last got tokens, and Revoke, which forgets the consent and ends the app's tokens for them.

Revoke answers htmx with the section alone and its confirmation; a plain form post is sent back
to the page with `?done=revoked`, which the page turns into the same confirmation."""

from litestar import Request, Response, post
from litestar.params import FromPath

from app.core.i18n import N_, _
from app.core.policy import Permission
from app.domain.oauth import grants
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import flash, is_htmx, redirect, render
from app.http.plumbing.stale import listed

SECTION = "security/_connected_apps.html"
BASE = "/account/security"
# What each scope lets an app see, in the words of the consent page.
SCOPE_WORDS = {
    "openid": N_("who you are at Roster"),
    "profile": N_("your name"),
    "email": N_("your email address"),
    "roster.accounts": N_("the accounts you can reach and your permissions in each"),
}
REVOKED = N_("%(name)s can no longer sign you in or read your details.")
DONE_REVOKED = N_("Access revoked: that app can no longer sign you in or read your details.")


def in_words(scopes: list[str]) -> str:
    """ "Who you are at Roster, your name and …": what the scopes let the app see."""
    words = [_(SCOPE_WORDS[scope]) if scope in SCOPE_WORDS else scope for scope in scopes]
    said = listed(words or [_(SCOPE_WORDS["openid"])])
    return said[:1].upper() + said[1:]


async def page_context(request: Request) -> dict:
    viewer = viewer_of(request)
    if viewer.user is None or request.url.path.startswith("/admin"):
        return {"connected_apps": None}
    if request.query_params.get("done") == "revoked":
        flash(request, _(DONE_REVOKED))
    found = await grants.connected_apps(viewer.user["id"])
    return {"connected_apps": [{**row, "sees": in_words(row["scopes"])} for row in found]}


async def admin_user_context(request: Request, user: dict) -> dict:
    return {}


@post(f"{BASE}/apps/{{consent_id:int}}/revoke", permission=Permission.SIGNED_IN)
async def revoke_app(request: Request, consent_id: FromPath[int]) -> Response:
    viewer = viewer_of(request)
    name = await grants.revoke_consent(viewer.signed_in_user["id"], consent_id, actor=viewer.actor)
    if not is_htmx(request):
        return redirect(request, f"{BASE}?done=revoked")
    flash(request, _(REVOKED) % {"name": name})
    return render(request, SECTION, await page_context(request))


ROUTES: list = [revoke_app]
