"""Exception handlers: people get a page (or, for htmx, a fragment) that says what happened."""

import logging
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)

from app.errors import DomainError, Forbidden, NotFound
from app.web.guards import ChooseAccount
from app.web.render import redirect, render

log = logging.getLogger("roster.web")


def not_authorized(request: Request, _exc: Exception) -> Response:
    if request.url.path.startswith("/admin"):
        return redirect(request, "/admin/login")
    return redirect(request, f"/login?next={quote(request.url.path)}")


def choose_account(request: Request, _exc: Exception) -> Response:
    return redirect(request, "/accounts")


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    return render(request, "errors/error.html", {"title": title, "message": message}, status=status)


def forbidden(request: Request, exc: PermissionDeniedException) -> Response:
    message = (
        exc.detail
        if exc.detail and exc.detail != "Forbidden"
        else "You do not have permission to do this."
    )
    if "CSRF" in message:
        message = "Your form expired. Reload the page and try again."
    return error_page(request, 403, "Access denied", message)


def not_found(request: Request, exc: Exception) -> Response:
    message = exc.message if isinstance(exc, NotFound) else "There is nothing at this address."
    return error_page(request, 404, "Not found", message)


def forbidden_by_rule(request: Request, exc: Forbidden) -> Response:
    return error_page(request, 403, "Access denied", exc.message)


def domain_error(request: Request, exc: DomainError) -> Response:
    return error_page(request, 400, "That did not work", exc.message)


def http_error(request: Request, exc: HTTPException) -> Response:
    return error_page(request, exc.status_code, "Something went wrong", exc.detail)


def server_error(request: Request, exc: Exception) -> Response:
    log.exception("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_page(
        request,
        500,
        "Something went wrong",
        "The server could not finish this request. Nothing was changed; try again in a moment.",
    )


HANDLERS = {
    NotAuthorizedException: not_authorized,
    ChooseAccount: choose_account,
    PermissionDeniedException: forbidden,
    NotFoundException: not_found,
    NotFound: not_found,
    Forbidden: forbidden_by_rule,
    DomainError: domain_error,
    HTTPException: http_error,
    Exception: server_error,
}
