"""Bearer authentication: `Authorization: Bearer IDENTIFIER:SECRET`, an API credential made on
/admin/api. Reads are open to every credential; writes need a role that manages users."""

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException

from app.credentials.services import ApiAuthError, ApiCaller, authenticate
from app.web.forms import client_ip

from .problems import ApiAuthenticationFailed

CALLER = "api_caller"
BAD_CREDENTIALS = "The bearer credential is missing or invalid."


def bearer_token(connection: ASGIConnection) -> tuple[str, str] | None:
    """(identifier, secret) from the Authorization header, or None when there is none."""
    scheme, _, token = connection.headers.get("authorization", "").strip().partition(" ")
    identifier, colon, secret = token.strip().partition(":")
    if scheme.lower() != "bearer" or not colon or not identifier or not secret:
        return None
    return identifier, secret


async def authenticated(connection: ASGIConnection, _handler=None) -> None:
    """A guard: the request's credential, kept in the scope for the handler. Every failure
    reads the same (which of identifier or secret was wrong is nobody's business), except an
    address outside the credential's allow-list, which its owner needs to know."""
    token = bearer_token(connection)
    if token is None:
        raise ApiAuthenticationFailed(BAD_CREDENTIALS)
    try:
        caller = await authenticate(*token, client_ip(connection))
    except ApiAuthError as exc:
        detail = exc.message if exc.message.startswith("Invalid IP") else BAD_CREDENTIALS
        raise ApiAuthenticationFailed(detail) from None
    connection.scope["state"][CALLER] = caller


async def writer_required(connection: ASGIConnection, _handler=None) -> None:
    if not caller_of(connection).can_write:
        raise PermissionDeniedException(
            "This credential's staff role can read only: it cannot make changes."
        )


def caller_of(connection: ASGIConnection) -> ApiCaller:
    return connection.scope["state"][CALLER]
