"""ASGI middleware: security headers on every response; the viewer loaded from the session."""

from http.cookies import SimpleCookie

from litestar.datastructures import MutableScopeHeaders

from app.auth.services import Viewer, load_viewer

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


def security_headers(*, production: bool):
    """A `before_send` hook: it sees every response, including the router's own 404s. Pages
    shown to someone logged in are never stored (Back after Logout shows nothing private);
    production adds HSTS."""

    async def add_security_headers(message, scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        for name, value in SECURITY_HEADERS.items():
            if name not in headers:  # a route may set a stricter one (the invite page)
                headers[name] = value
        viewer = scope.get("state", {}).get("viewer")
        if viewer is not None and viewer.session_id is not None:
            headers["cache-control"] = "no-store"
        if production:
            headers["strict-transport-security"] = HSTS

    return add_security_headers


def head_as_get(app):
    """HEAD works wherever GET does: answered as a GET whose body is not sent."""

    async def handler(scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await app(scope, receive, send)

        async def send_headers_only(message):
            if message["type"] == "http.response.body":
                if message.get("more_body"):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await app({**scope, "method": "GET"}, receive, send_headers_only)

    return handler


def session_cookie_value(scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            cookie = SimpleCookie()
            try:
                cookie.load(value.decode("latin-1"))
            except Exception:
                return None
            if SESSION_COOKIE in cookie:
                return cookie[SESSION_COOKIE].value
    return None


def viewer_loader(app):
    """Loads the viewer once per request (static files excepted) into scope state."""

    async def middleware(scope, receive, send):
        if scope["type"] == "http" and not scope["path"].startswith("/static/"):
            viewer = await load_viewer(session_cookie_value(scope))
            viewer.ip = scope["client"][0] if scope.get("client") else ""
            scope.setdefault("state", {})["viewer"] = viewer
        await app(scope, receive, send)

    return middleware


def viewer_of(connection) -> Viewer:
    return connection.scope.get("state", {}).get("viewer") or Viewer()
