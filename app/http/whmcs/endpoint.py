"""POST /includes/api.php: the WHMCS External API's endpoint, for the user-and-account actions.

Every answer is JSON with `Content-Type: application/json`, errors included: whmcspy reads the
body of every answer, whmcs-api-client decodes only JSON, node-whmcs needs the header."""

import logging
import re

import msgspec
from litestar import Request, Response, get, post
from litestar.exceptions import HTTPException

from app.core.config import get_settings
from app.core.dberrors import DATABASE_DOWN, RETRY_AFTER_DATABASE_DOWN, is_database_unavailable
from app.core.errors import DomainError, Throttled
from app.core.policy import Permission, role_allows
from app.domain.credentials.services import (
    AUTH_FAILED,
    UNKNOWN_IDENTIFIER,
    ApiAuthError,
    authenticate,
)
from app.http.plumbing.errors import HANDLERS as APP_HANDLERS
from app.http.plumbing.forms import client_ip
from app.http.whmcs.actions import ACTIONS, Call
from app.http.whmcs.logs import PATH, guard_access_log
from app.http.whmcs.params import ApiError, Params, parse_pairs

CSRF_EXCLUDE = "^" + re.escape(PATH) + "$"  # API callers hold a credential, not a cookie
SERVER_FAULT = "An unexpected error occurred. Nothing was changed; try again in a moment."

log = logging.getLogger("roster.whmcs")


def answer(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        msgspec.json.encode(body),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def error(message: str, status: int = 200, headers: dict | None = None) -> Response:
    return answer({"result": "error", "message": message}, status, headers)


async def read_params(request: Request) -> Params:
    query = parse_pairs(request.scope.get("query_string", b""))
    if request.content_type[0] == "multipart/form-data":  # PHP curl with an array body
        form = await request.form()
        body = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    else:
        body = parse_pairs(await request.body())
    return Params(body, query)


def credentials(params: Params) -> tuple[str, str, bool]:
    """(identifier, secret, whether they came as username/password). Empty fields are absent:
    node-whmcs sends all of them, the unset ones empty."""
    if params.has("identifier") or params.has("secret"):
        return params.text("identifier"), params.text("secret"), False
    return params.text("username"), params.text("password"), True


def fault(request: Request, exc: Exception) -> Response:
    """Anything unforeseen: a generic message, the details only in the log (never the
    parameters, which hold the secret and passwords)."""
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return error(exc.detail, exc.status_code)
    if is_database_unavailable(exc):
        log.error("Database unreachable in the WHMCS API: %s", type(exc).__name__)
        return error(DATABASE_DOWN, 503, {"Retry-After": str(RETRY_AFTER_DATABASE_DOWN)})
    log.error("Unhandled error in the WHMCS API: %s", type(exc).__name__, exc_info=exc)
    return error(SERVER_FAULT, 500)


# Every exception the app's handlers would answer with a page is answered here in JSON.
@post(
    PATH,
    status_code=200,
    exception_handlers=dict.fromkeys(APP_HANDLERS, fault),
    permission=Permission.PUBLIC,
)
async def whmcs_api(request: Request) -> Response:
    try:
        params = await read_params(request)
    except ApiError as exc:
        return error(exc.message)
    responsetype = params.text("responsetype").lower()
    if responsetype not in ("", "json"):
        return error("Unsupported response type: Roster answers json only")

    identifier, secret, as_username = credentials(params)
    try:
        caller = await authenticate(identifier, secret, client_ip(request))
    except ApiAuthError as exc:
        message = exc.message
        if as_username and message == UNKNOWN_IDENTIFIER:
            # An admin login name with an MD5 password (WHMCS's legacy form): Roster keeps
            # argon2id hashes only, so it cannot check one.
            message = AUTH_FAILED
        return error(message, 403)
    except Throttled as exc:
        return error(exc.message, 429, {"Retry-After": str(exc.retry_after)})

    name = params.text("action").lower()
    action = ACTIONS.get(name)
    if action is None:
        return error(f'Invalid API Action: "{name[:60]}" is not a valid API action')
    if not role_allows(caller.role, action.permission):
        return error(f'Invalid Permissions: API action "{name}" is not allowed', 403)
    try:
        return answer(await action.run(params, Call(caller, get_settings().base_url)))
    except ApiError as exc:
        return error(exc.message, exc.status)
    except Throttled as exc:
        return error(exc.message, 429, {"Retry-After": str(exc.retry_after)})
    except DomainError as exc:
        return error(exc.message)


@get(PATH, permission=Permission.PUBLIC)
async def whmcs_api_get() -> Response:
    """Callers that mistake the method still get JSON, as every client here expects."""
    return error("The API takes POST requests, form-encoded.", 405, {"Allow": "POST"})


# In every process that serves this route (each `roster serve --workers` process imports it).
guard_access_log()

ROUTES = [whmcs_api, whmcs_api_get]
