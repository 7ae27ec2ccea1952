"""The OpenID Connect endpoints a browser or an app calls: authorize (through Roster's own
login and a consent page), token, userinfo, revoke and logout (app.domain.oauth.server)."""

import re
from datetime import timedelta
from urllib.parse import quote, urlencode, urlsplit

from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from litestar import Request, Response, get, post, route

from app.core import clock
from app.core.i18n import _
from app.core.policy import Permission
from app.domain.activity.services import Actor
from app.domain.auth import services as auth
from app.domain.oauth import grants
from app.domain.oauth.server import SERVER, Snapshot, call
from app.http.plumbing.forms import client_ip
from app.http.plumbing.middleware import (
    CONTENT_SECURITY_POLICY,
    SESSION_COOKIE,
    session_cookie_value,
    viewer_of,
)
from app.http.plumbing.render import is_htmx, render

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# What an app sends to the token, userinfo and revocation endpoints: no browser, no cookie.
CSRF_EXCLUDE = r"^/oauth/(token|userinfo|revoke)$"
# The authorization request's own parameters, carried through the consent form.
_NOT_PARAMS = ("_csrf_token", "decision")


async def snapshot(request: Request, *, form: dict | None = None) -> Snapshot:
    """What Authlib reads of the request: its query, and its form when one was posted."""
    if form is None and request.method == "POST":
        raw = await request.form()
        form = {key: raw.get(key) for key in raw if isinstance(raw.get(key), str)}
        repeated = {key: len(raw.getall(key)) for key in raw}
    else:
        repeated = {}
    args = dict(request.query_params)
    for key in request.query_params:
        repeated[key] = repeated.get(key, 0) + len(request.query_params.getall(key))
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Snapshot(
        method=request.method,
        path=path,
        headers=dict(request.headers),
        args=args,
        form=form or {},
        repeated=repeated,
    )


def answer(request: Request, result: tuple) -> Response:
    """Authlib's (status, body, headers) as a response; a redirect to the app made a full
    navigation for htmx."""
    status, body, headers = result
    headers = dict(headers)
    location = headers.get("Location")
    if location and is_htmx(request):
        return Response("", status_code=200, headers={"HX-Redirect": location})
    if location:
        return Response("", status_code=302, headers={"Location": location, **NO_STORE})
    return Response(body, status_code=status, headers={**headers, **NO_STORE})


def _error_page(request: Request, error: OAuth2Error) -> Response:
    """Never a redirect when the app or its redirect URI is not known to be the app's."""
    if error.error == "invalid_client":
        message = _("This app is not registered with Roster, or it is disabled.")
    else:
        message = _("The address this app asked to return to is not one registered for it.")
    if error.error not in ("invalid_client",) and error.description and error.redirect_uri:
        message = error.description
    return render(request, "oauth/error.html", {"message": message}, status=400, headers=NO_STORE)


_HOST = re.compile(r"^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$")


def consent_policy(redirect_uri: str) -> str:
    """The consent page's CSP: its form may also go to the app's redirect URI (the browser
    checks form-action on the redirect Allow and Deny answer with, and Roster's own policy
    allows only 'self'). The URI is one registered for the app, matched exactly."""
    parts = urlsplit(redirect_uri)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.scheme not in ("http", "https") or not _HOST.match(host):
        return CONTENT_SECURITY_POLICY
    origin = f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"
    return CONTENT_SECURITY_POLICY.replace("form-action 'self'", f"form-action 'self' {origin}")


async def _end_user(request: Request) -> dict | None:
    viewer = viewer_of(request)
    if viewer.user is None or viewer.session_id is None:
        return None
    started = await grants.session_started(viewer.session_id)
    return {**viewer.user, "auth_time": started}


@get("/oauth/authorize", permission=Permission.PUBLIC)
async def authorize(request: Request) -> Response:
    if is_htmx(request):
        # Reached from an htmx answer (the login form's HX-Location): made a whole-page
        # navigation, so that the consent page is a document with its own CSP (its form may go
        # to the app) and a redirect to the app is a navigation, never a cross-origin fetch.
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Response("", status_code=200, headers={"HX-Redirect": here, **NO_STORE})
    return await _decide(request, await snapshot(request), await _end_user(request), decision=None)


def _to_login(request: Request, snap: Snapshot, *, again: bool) -> Response:
    """Through Roster's login and back to this request, asked without `prompt` and `max_age`
    (met by the login itself). `again`: someone is signed in, but the app asks for a fresh
    login (prompt=login, or a sign-in older than max_age): that session ends first."""
    args = {k: v for k, v in snap.args.items() if k not in ("prompt", "max_age")}
    here = f"/oauth/authorize?{urlencode(args)}"
    response = Response("", status_code=303, headers={"Location": f"/login?next={quote(here)}"})
    if again:
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _login_too_old(snap: Snapshot, user: dict) -> bool:
    """max_age (OpenID Connect Core 3.1.2.1): the sign-in must be at most that many seconds old."""
    max_age = snap.args.get("max_age", "")
    if not max_age.isdigit() or len(max_age) > 9 or user.get("auth_time") is None:
        return False
    return clock.now() - user["auth_time"] > timedelta(seconds=int(max_age))


@post("/oauth/authorize", permission=Permission.SIGNED_IN)
async def authorize_decision(request: Request) -> Response:
    user = await _end_user(request)
    if user is None:
        return Response("", status_code=303, headers={"Location": "/login"})
    raw = await request.form()
    params = {key: raw.get(key) for key in raw if key not in _NOT_PARAMS}
    decision = raw.get("decision")
    # The request as the app made it: its parameters were carried through the form.
    snap = Snapshot(
        method="GET",
        path="/oauth/authorize",
        headers=dict(request.headers),
        args={k: v for k, v in params.items() if isinstance(v, str)},
        form={},
        repeated={},
    )
    return await _decide(request, snap, user, decision="allow" if decision == "allow" else "deny")


async def _decide(
    request: Request, snap: Snapshot, user: dict | None, *, decision: str | None
) -> Response:
    """The app and its redirect URI are checked first (an unknown one gets the error page,
    signed in or not); then `prompt` (none: never a page of ours, the app hears why;
    login: a fresh login) and max_age; then consent."""
    try:
        grant = await call(SERVER.get_consent_grant, snap, user)
    except OAuth2Error as error:
        if error.redirect_uri is None:
            return _error_page(request, error)
        return answer(request, SERVER.handle_error_response(None, error))
    silent = snap.args.get("prompt") == "none"
    if user is not None and decision is None and _login_too_old(snap, user):
        if silent:
            return _refused(grant, LoginRequiredError)
        await auth.end_session(session_cookie_value(request.scope))
        return _to_login(request, snap, again=True)
    if user is None or (decision is None and grant.prompt == "login"):
        if user is not None:
            await auth.end_session(session_cookie_value(request.scope))
        return _to_login(request, snap, again=user is not None)
    app = grant.client.app
    scope = grant.request.scope or ""
    name = f"{user['first_name']} {user['last_name']}"
    actor = Actor("user", user["id"], name, client_ip(request))
    if decision == "deny":
        return answer(request, await call(SERVER.create_authorization_response, snap, None, grant))
    if decision == "allow":
        await grants.give_consent(user["id"], app["id"], scope, actor=actor)
    elif not (app["first_party"] or await grants.consent_covers(user["id"], app["id"], scope)):
        if silent:
            return _refused(grant, ConsentRequiredError)
        claims = await grants.claims(user["id"], "profile email roster.accounts")
        return render(
            request,
            "oauth/consent.html",
            {
                "app_name": app["name"],
                "scopes": scope.split(),
                "user_id": user["id"],
                "name": claims.get("name", ""),
                "email": claims.get("email", ""),
                "email_verified": claims.get("email_verified", False),
                "accounts": claims.get("roster.accounts", []),
                "params": sorted(snap.args.items()),
            },
            headers={
                **NO_STORE,
                "Content-Security-Policy": consent_policy(grant.redirect_uri or ""),
            },
        )
    return answer(request, await call(SERVER.create_authorization_response, snap, user, grant))


def _refused(grant, error_class) -> Response:
    """prompt=none that cannot be met: the app hears why, at its redirect URI."""
    error = error_class(redirect_uri=grant.redirect_uri, state=grant.request.payload.state)
    status, body, headers = SERVER.handle_error_response(None, error)
    return Response("", status_code=302, headers={**dict(headers), **NO_STORE})


@post("/oauth/token", permission=Permission.PUBLIC)
async def token(request: Request) -> Response:
    return answer(request, await call(SERVER.create_token_response, await snapshot(request)))


@route("/oauth/userinfo", http_method=["GET", "POST"], permission=Permission.PUBLIC)
async def userinfo(request: Request) -> Response:
    return answer(request, await call(SERVER.userinfo, await snapshot(request)))


@post("/oauth/revoke", permission=Permission.PUBLIC)
async def revoke(request: Request) -> Response:
    snap = await snapshot(request)
    return answer(request, await call(SERVER.create_endpoint_response, "revocation", snap))


@get("/oauth/logout", permission=Permission.PUBLIC)
async def logout(request: Request) -> Response:
    """RP-initiated logout. With an ID token Roster signed (id_token_hint), the Roster session
    ends and the browser goes to the app's post_logout_redirect_uri when it is one registered
    for the app (with its state); anything else goes nowhere but the page that says so."""
    snap = await snapshot(request)
    try:
        ending = await call(SERVER.validate_endpoint_request, "end_session", snap)
    except OAuth2Error as error:
        return render(
            request,
            "oauth/error.html",
            {"message": error.description or _("This logout request is not valid.")},
            status=400,
            headers=NO_STORE,
        )
    if ending.needs_confirmation:
        # No proof the app asked (no valid id_token_hint): the person decides, on /logout.
        return render(request, "oauth/logout.html", {}, headers=NO_STORE)
    result = await call(SERVER.create_endpoint_response, "end_session", ending)
    await auth.end_session(session_cookie_value(request.scope))
    response = (
        Response("", status_code=302, headers={"Location": dict(result[2])["Location"], **NO_STORE})
        if result
        else render(request, "oauth/logout.html", {"done": True}, headers=NO_STORE)
    )
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


ROUTES = [authorize, authorize_decision, token, userinfo, revoke, logout]
