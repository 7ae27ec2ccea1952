"""RFC 9457 problem details: every error under /api/v1 is `application/problem+json`."""

import logging
from http import HTTPStatus

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi import ResponseSpec
from litestar.types import ExceptionHandlersMap

from app.core.dberrors import DATABASE_DOWN, RETRY_AFTER_DATABASE_DOWN, is_database_unavailable
from app.core.errors import DomainError, Forbidden, NotFound, Throttled
from app.core.i18n import _
from app.core.logging_setup import redact
from app.core.stale import Stale

log = logging.getLogger("roster.api")

PROBLEM_JSON = "application/problem+json"


class Problem(msgspec.Struct, omit_defaults=True):
    """An RFC 9457 problem. `errors` maps a request field to what is wrong with it."""

    type: str
    title: str
    status: int
    detail: str
    errors: dict[str, str] = {}


class ApiAuthenticationFailed(NotAuthorizedException):
    """No bearer credential, or one that does not authenticate."""


def problem(
    status: int,
    detail: str,
    *,
    errors: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    # "about:blank": the status code says it all (RFC 9457 §4.2.1); the title is its phrase.
    body = Problem("about:blank", HTTPStatus(status).phrase, status, detail, errors or {})
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _unauthorized(_request: Request, exc: NotAuthorizedException) -> Response:
    return problem(401, exc.detail, headers={"WWW-Authenticate": 'Bearer realm="roster"'})


def _forbidden(_request: Request, exc: PermissionDeniedException | Forbidden) -> Response:
    detail = exc.detail if isinstance(exc, PermissionDeniedException) else exc.message
    return problem(403, detail)


def _not_found(_request: Request, exc: Exception) -> Response:
    detail = exc.message if isinstance(exc, NotFound) else _("There is nothing at this address.")
    return problem(404, detail)


def _precondition_failed(_request: Request, _exc: Stale) -> Response:
    return problem(
        412,
        _(
            "The resource changed since the version named by If-Match: nothing was changed. Read "
            "it again (its ETag) and make the change on what it holds now."
        ),
    )


def _throttled(_request: Request, exc: Throttled) -> Response:
    return problem(429, exc.message, headers={"Retry-After": str(exc.retry_after)})


def _invalid(_request: Request, exc: ValidationException) -> Response:
    """Litestar's own validation (path, query, body shape): 400 for a body that is not JSON at
    all, else 422 with each field's error."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    errors = {
        str(item.get("key") or "body"): str(item["message"])
        if "message" in item
        else _("Invalid value.")
        for item in extra
        if isinstance(item, dict)
    }
    if not errors:
        return problem(400, exc.detail or _("The request body is not valid JSON."))
    return problem(422, _("The request is not valid."), errors=errors)


class InvalidInput(DomainError):
    """A value the API refused before any service saw it (see app.http.api.schemas.checked)."""


def _domain_error(_request: Request, exc: DomainError) -> Response:
    """The API checks its input first (InvalidInput: 422); a service's refusal is then about the
    state of things (already exists, already has access, closed account...): 409."""
    errors = {exc.field: exc.message} if exc.field else None
    status = 422 if isinstance(exc, InvalidInput) else 409
    return problem(status, exc.message, errors=errors)


def _http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code >= 500:
        return _server_error(request, exc)
    return problem(exc.status_code, exc.detail, headers=exc.headers)  # e.g. a 405's Allow


def _server_error(request: Request, exc: Exception) -> Response:
    if is_database_unavailable(exc):
        log.error("Database unreachable on %s %s: %s", request.method, request.url.path, exc)
        return problem(
            503, _(DATABASE_DOWN), headers={"Retry-After": str(RETRY_AFTER_DATABASE_DOWN)}
        )
    log.error(
        "Unhandled error on %s %s: %s",
        request.method,
        redact(request.url.path),
        redact(f"{type(exc).__name__}: {exc}"),
        exc_info=exc,
    )
    return problem(500, _("The server could not finish this request. Nothing was changed."))


HANDLERS: ExceptionHandlersMap = {
    NotAuthorizedException: _unauthorized,
    PermissionDeniedException: _forbidden,
    Forbidden: _forbidden,
    NotFound: _not_found,
    Throttled: _throttled,
    Stale: _precondition_failed,
    ValidationException: _invalid,
    DomainError: _domain_error,
    HTTPException: _http_error,
    Exception: _server_error,
}

_DESCRIPTIONS = {
    400: "The request body is not JSON.",
    401: "The bearer credential is missing or does not authenticate.",
    403: "The credential's staff role does not allow this.",
    404: "No such resource.",
    409: "The change conflicts with the current state (for example: already exists).",
    412: "If-Match named another version than the resource's now: nothing was changed.",
    422: "A parameter or body field is invalid; `errors` names each one.",
    429: "Too many attempts; Retry-After says when to try again.",
    500: "The server failed; nothing was changed.",
    503: "The database is unreachable; nothing was changed.",
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The problem responses of an operation, for the OpenAPI document. Every operation can
    answer 401, 422, 429 (authentication is throttled), 500 and 503."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_JSON,
            description=_DESCRIPTIONS[status],
            generate_examples=False,
        )
        for status in sorted({401, 422, 429, 500, 503, *statuses})
    }
