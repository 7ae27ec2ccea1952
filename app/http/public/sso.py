"""The single sign-on link (WHMCS's path, /oauth/singlesignon.php?access_token=...): made by
staff through the WHMCS API (CreateSsoToken) or /api/v1, it signs one user in, once, within a
minute, as a login does (the Authentication Code step included), then lands where it was made
for. The rules are app.domain.sso's."""

from litestar import Request, Response, get
from litestar.params import FromQuery

from app.core.policy import Permission
from app.domain.sso import services as sso
from app.http.plumbing.forms import client_ip
from app.http.plumbing.middleware import asked_head
from app.http.plumbing.render import render
from app.http.public.login import log_in_user

# The token is in the URL: kept out of Referer headers (the landing page's included: the
# redirect carries the policy on) and out of caches.
PRIVATE = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


@get(sso.REDEEM_PATH, permission=Permission.PUBLIC)
async def single_sign_on(request: Request, access_token: FromQuery[str] = "") -> Response:
    """Used on GET, as WHMCS does (callers send their users' browsers straight here). A HEAD
    (link previewers) uses nothing and says nothing of the link."""
    if asked_head(request.scope):
        return Response("", status_code=200, media_type="text/html", headers=PRIVATE)
    try:
        redeemed = await sso.redeem(access_token, ip=client_ip(request))
    except sso.LinkInvalid as exc:
        return render(
            request,
            "auth/sso_unavailable.html",
            {"message": exc.message},
            status=410,
            headers=PRIVATE,
        )
    response = await log_in_user(
        request,
        redeemed.user,
        client_id=redeemed.client_id,
        next_url=redeemed.destination or None,
    )
    response.headers.update(PRIVATE)
    return response


ROUTES = [single_sign_on]
