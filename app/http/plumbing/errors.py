"""Exception handlers: people get a page that says what happened; an htmx request that swaps a
fragment gets no swap at all, only the message (a whole page never lands inside a fragment)."""

import json
import logging
from urllib.parse import urlencode, urlsplit

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.types import ExceptionHandlersMap
from markupsafe import escape

from app.core.dberrors import DATABASE_DOWN, RETRY_AFTER_DATABASE_DOWN, is_database_unavailable
from app.core.errors import (
    DomainError,
    Forbidden,
    NoCurrentAccount,
    NotFound,
    NotSignedIn,
    Throttled,
)
from app.core.i18n import _
from app.core.logging_setup import redact
from app.http.plumbing.forms import safe_next
from app.http.plumbing.guards import ChooseAccount, EnrolTwoFactor
from app.http.plumbing.metrics import LIVE_PREFIX
from app.http.plumbing.middleware import session_cookie_value, viewer_of
from app.http.plumbing.render import is_htmx, redirect, render, wants_fragment

log = logging.getLogger("roster.web")


def not_authorized(request: Request, _exc: Exception) -> Response:
    """To the login page, and back afterwards to the page the person was on (never to the URL
    of an action, which a GET after login could not reach). Saying so when a session ended."""
    login = "/admin/login" if request.url.path.startswith("/admin") else "/login"
    params = {}
    if session_cookie_value(request.scope) and viewer_of(request).session_id is None:
        params["ended"] = "1"  # a cookie, but its session expired or was ended
    back = page_shown(request)
    if back and login == "/login":
        params["next"] = back
    return redirect(request, login + (f"?{urlencode(params)}" if params else ""))


def page_shown(request: Request) -> str | None:
    """The local path of the page the request came from: the page itself for a plain GET, the
    page an htmx request was made on (HX-Current-URL), else nothing."""
    if is_htmx(request):
        shown = urlsplit(request.headers.get("hx-current-url", ""))
        if shown.netloc and shown.netloc != request.url.netloc:
            return None
        path = shown.path + (f"?{shown.query}" if shown.query else "")
        return safe_next(path, "") or None
    if request.method in ("GET", "HEAD"):
        return request.url.path
    return None


def choose_account(request: Request, _exc: Exception) -> Response:
    return redirect(request, "/accounts")


# Where a user is sent to set up two-factor authentication for an account that requires it.
ENROLMENT_PAGE = "/account/security"


def enrol_two_factor(request: Request, exc: EnrolTwoFactor) -> Response:
    """An account that requires two-factor authentication, opened by a user without it: a page
    (a plain or boosted navigation) goes to the Security page's enrolment, which names the
    account and comes back here once enrolled; a fragment gets a 403 and the message only (a
    whole page never lands inside one)."""
    if wants_fragment(request):
        return forbidden(request, exc)
    # A page asked for (a plain, boosted or HX-Location GET) is the page to come back to; a
    # form posted, the page it was on.
    asked = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    shown = safe_next(asked, "") if request.method in ("GET", "HEAD") else page_shown(request)
    back = shown or "/account"
    return redirect(request, f"{ENROLMENT_PAGE}?{urlencode({'next': back})}")


def error_page(
    request: Request, status: int, title: str, message: str, headers: dict | None = None
) -> Response:
    if wants_fragment(request):
        # A server fault may pass: the message offers Retry. A refusal (4xx) would only repeat.
        note = {"kind": "error", "text": message, **({"retry": True} if status >= 500 else {})}
        flash = {"roster:flash": {"messages": [note]}}
        return Response(
            f'<p class="flash flash-error">{escape(message)}</p>',
            status_code=status,
            media_type="text/html",
            headers={"HX-Reswap": "none", "HX-Trigger": json.dumps(flash), **(headers or {})},
        )
    return render(
        request,
        "errors/error.html",
        {"title": title, "message": message},
        status=status,
        headers=headers,
    )


def forbidden(request: Request, exc: PermissionDeniedException) -> Response:
    message = (
        exc.detail
        if exc.detail and exc.detail != "Forbidden"
        else _("You do not have permission to do this.")
    )
    if "CSRF" in message:
        message = _("Your form expired. Reload the page and try again.")
    return error_page(request, 403, _("Access denied"), message)


def not_found(request: Request, exc: Exception) -> Response:
    message = exc.message if isinstance(exc, NotFound) else _("There is nothing at this address.")
    return error_page(request, 404, _("Not found"), message)


def forbidden_by_rule(request: Request, exc: Forbidden) -> Response:
    return error_page(request, 403, _("Access denied"), exc.message)


def throttled(request: Request, exc: Throttled) -> Response:
    return error_page(
        request, 429, _("Please wait"), exc.message, headers={"Retry-After": str(exc.retry_after)}
    )


def domain_error(request: Request, exc: DomainError) -> Response:
    return error_page(request, 400, _("That did not work"), exc.message)


def http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code >= 500:
        return server_error(request, exc)
    return error_page(request, exc.status_code, _("Something went wrong"), exc.detail)


def server_error(request: Request, exc: Exception) -> Response:
    if is_database_unavailable(exc):
        log.error("Database unreachable on %s %s: %s", request.method, path_of(request), exc)
        return database_unavailable(request)
    # The path may hold an invitation or reset token: it is redacted, and so is the trace.
    log.error(
        "Unhandled error on %s %s: %s",
        request.method,
        path_of(request),
        redact(f"{type(exc).__name__}: {exc}"),
        exc_info=exc,
    )
    return error_page(
        request,
        500,
        _("Something went wrong"),
        _("The server could not finish this request. Nothing was changed; try again in a moment."),
    )


def database_unavailable(request: Request) -> Response:
    return error_page(
        request,
        503,
        _("Database unavailable"),
        _(DATABASE_DOWN),
        headers={"Retry-After": str(RETRY_AFTER_DATABASE_DOWN)},
    )


def path_of(request: Request) -> str:
    return redact(request.url.path)


def streams_refused_quietly(handler):
    """A live stream the viewer may not open answers 204, which tells EventSource to stop
    asking; a login page, a redirect or a 403 would only make it try again."""

    def answer(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(LIVE_PREFIX):
            return Response(content=b"", status_code=204)
        return handler(request, exc)

    return answer


HANDLERS: ExceptionHandlersMap = {
    NotAuthorizedException: streams_refused_quietly(not_authorized),
    ChooseAccount: streams_refused_quietly(choose_account),
    EnrolTwoFactor: streams_refused_quietly(enrol_two_factor),
    NotSignedIn: streams_refused_quietly(not_authorized),
    NoCurrentAccount: streams_refused_quietly(choose_account),
    PermissionDeniedException: streams_refused_quietly(forbidden),
    NotFoundException: not_found,
    NotFound: not_found,
    Forbidden: forbidden_by_rule,
    Throttled: throttled,
    DomainError: domain_error,
    HTTPException: http_error,
    Exception: server_error,
}
