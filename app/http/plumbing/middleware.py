"""ASGI middleware: security headers on every response; the viewer loaded from the session;
ids in paths written in ASCII decimal or not found."""

import functools
import re
from urllib.parse import unquote

from litestar import Request
from litestar._parsers import parse_cookie_string
from litestar.exceptions import NotFoundException

from app.core import db, i18n
from app.domain.auth.services import Viewer, load_viewer

SESSION_COOKIE = "roster_session"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)

SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


HSTS = "max-age=63072000; includeSubDomains"

_SECURITY_LINES = tuple((name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items())
_NO_STORE = (b"cache-control", b"no-store")
_HSTS_LINE = (b"strict-transport-security", HSTS.encode())


def security_headers(*, production: bool):
    """A `before_send` hook: it sees every response, including the router's own 404s. Pages
    shown to someone logged in are never stored (Back after Logout shows nothing private);
    production adds HSTS. (Plain lists of byte pairs: the header classes cost 16 µs an answer.)"""

    async def add_security_headers(message, scope) -> None:
        if message["type"] != "http.response.start":
            return
        viewer = scope.get("state", {}).get("viewer")
        logged_in = viewer is not None and viewer.session_id is not None
        replaced = {b"cache-control"} if logged_in else set()
        if production:
            replaced.add(_HSTS_LINE[0])
        headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in replaced]
        present = {name.lower() for name, _ in headers}
        # A route may set a stricter one (the invite page).
        headers += [line for line in _SECURITY_LINES if line[0] not in present]
        if logged_in:
            headers.append(_NO_STORE)
        if production:
            headers.append(_HSTS_LINE)
        message["headers"] = headers

    return add_security_headers


# Set in the scope of a HEAD answered as a GET (see head_as_get).
ASKED_HEAD = "roster.asked_head"


def asked_head(scope) -> bool:
    """Whether the request was a HEAD: a GET that acts (a single sign-on link) must not act for
    one (link previewers send HEAD)."""
    return bool(scope.get(ASKED_HEAD))


def head_as_get(app):
    """HEAD works wherever GET does: answered as a GET whose body is not sent (the scope says it
    was a HEAD: asked_head)."""

    async def handler(scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await app(scope, receive, send)

        async def send_headers_only(message):
            if message["type"] == "http.response.body":
                if message.get("more_body"):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await app({**scope, "method": "GET", ASKED_HEAD: True}, receive, send_headers_only)

    return handler


def session_cookie_value(scope) -> str | None:
    """The session cookie, read as Litestar reads cookies (`request.cookies`: the CSRF
    middleware's), with its parser's cache of recent Cookie headers."""
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            return parse_cookie_string(value.decode("latin-1")).get(SESSION_COOKIE) or None
    return None


# What staff who must enrol in two-factor authentication can reach of the admin area.
ENROLMENT_PATHS = ("/admin/security", "/admin/logout", "/admin/login")


def kept_from_admin_area(viewer: Viewer, path: str) -> bool:
    """Staff without two-factor authentication while it is required see only the Security
    page (and its two-factor routes) until they enrol."""
    return (
        viewer.admin is not None
        and viewer.must_enrol_two_factor
        and path.startswith("/admin")
        and not any(path == p or path.startswith(p + "/") for p in ENROLMENT_PATHS)
    )


async def send_to_enrolment(scope, send) -> None:
    """A 303 to /admin/security; for htmx, HX-Location (htmx follows no redirect into a swap)."""
    htmx = any(name == b"hx-request" and value == b"true" for name, value in scope["headers"])
    target = [(b"hx-location", b"/admin/security")] if htmx else [(b"location", b"/admin/security")]
    headers = [*target, (b"content-length", b"0"), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": 200 if htmx else 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


# The account an admin page is about: its version is read with the session (kept_section).
_PAGE_CLIENT = re.compile(r"/admin/clients/([1-9][0-9]{0,9})/users\Z")


def page_client_id(path: str) -> int | None:
    match = _PAGE_CLIENT.match(path)
    if match is None:
        return None
    client_id = int(match.group(1))
    return client_id if db.valid_id(client_id) else None


_ASCII_DIGITS = re.compile(r"[0-9]+")


@functools.lru_cache(maxsize=256)
def _param_positions(template: str) -> dict[str, int]:
    """Where each {name} of a matched route's template (as the scope gives it: without the
    type) is among its non-empty segments."""
    segments = [s for s in template.split("/") if s]
    return {s[1:-1]: i for i, s in enumerate(segments) if s[:1] == "{" and s[-1:] == "}"}


def path_ids_in_ascii(scope) -> bool:
    """Whether every id in the matched route's path is written in ASCII decimal. Litestar reads
    an `{id:int}` with int(), which takes ١, １ or १ for 1 (and " 1", "+1", "1_0"): ids are ASCII
    decimal, anything else names nothing. The path's segments line up with the template's, as
    Litestar's router matched them (empty ones skipped)."""
    ids = [name for name, value in scope["path_params"].items() if isinstance(value, int)]
    if not ids:
        return True
    positions = _param_positions(scope.get("path_template") or "")
    segments = [s for s in scope["path"].split("/") if s]
    return all(
        name in positions
        and positions[name] < len(segments)
        and _ASCII_DIGITS.fullmatch(segments[positions[name]])
        for name in ids
    )


async def reject_ids_not_in_ascii(request: Request) -> None:
    """A `before_request` hook: 404 for an id not written in ASCII decimal (async: in the
    event loop, not a thread)."""
    if not path_ids_in_ascii(request.scope):
        raise NotFoundException()


def viewer_loader(app):
    """Loads the viewer once per request (static files excepted) into scope state."""

    async def middleware(scope, receive, send):
        if scope["type"] == "http" and not scope["path"].startswith("/static/"):
            viewer = await load_viewer(session_cookie_value(scope), page_client_id(scope["path"]))
            viewer.ip = scope["client"][0] if scope.get("client") else ""
            scope.setdefault("state", {})["viewer"] = viewer
            i18n.set_current(language_for(viewer, scope))
            i18n.set_zone(zone_for(viewer, scope))
            if kept_from_admin_area(viewer, scope["path"]):
                return await send_to_enrolment(scope, send)
        await app(scope, receive, send)

    return middleware


WHMCS_PATH = "/includes/api.php"  # app.http.whmcs's endpoint: its messages stay WHMCS's own
# The browser's time zone (an IANA name), set by app.js: dates are shown in it.
ZONE_COOKIE = "roster_tz"
# A visitor's choice in the language menu (a WHMCS name); a signed-in person's is their own.
LANGUAGE_COOKIE = "roster_language"


def _header(scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return ""


def language_for(viewer: Viewer, scope) -> i18n.Language:
    """The language a request is answered in: English for the WHMCS-compatible API (clients
    compare its messages); in the admin area the staff member's own; a signed-in user's own;
    else the language menu's choice, else the best match of Accept-Language."""
    path = scope["path"]
    if path == WHMCS_PATH:
        return i18n.ENGLISH
    if path.startswith("/admin"):
        if viewer.admin and viewer.admin["language"]:
            return i18n.language_named(viewer.admin["language"])
    elif viewer.user:
        return i18n.language_named(viewer.user["language"])
    chosen = parse_cookie_string(_header(scope, b"cookie")).get(LANGUAGE_COOKIE)
    if chosen in i18n.BY_NAME:
        return i18n.BY_NAME[chosen]
    return i18n.accepted(_header(scope, b"accept-language"))


def zone_for(viewer: Viewer, scope) -> str | None:
    """The time zone dates are written in: the person's own choice (staff's in the admin area),
    else their browser's (app.js's cookie), else UTC."""
    person = viewer.admin if scope["path"].startswith("/admin") else viewer.user
    if person and person.get("time_zone"):
        return person["time_zone"]
    return unquote(parse_cookie_string(_header(scope, b"cookie")).get(ZONE_COOKIE, "")) or None


def language_chooser(app):
    """For the JSON API: its problem details in the Accept-Language's best match."""

    async def middleware(scope, receive, send):
        if scope["type"] == "http":
            i18n.set_current(i18n.accepted(_header(scope, b"accept-language")))
        await app(scope, receive, send)

    return middleware


def viewer_of(connection) -> Viewer:
    return connection.scope.get("state", {}).get("viewer") or Viewer()
