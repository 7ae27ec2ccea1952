"""Bearer authentication: `Authorization: Bearer IDENTIFIER:SECRET`, an API credential made on
/admin/api, acting for the staff member who made it: what it may do is what their role holds."""

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException

from app.core.i18n import N_, _
from app.core.policy import role_allows
from app.domain.credentials.services import ApiAuthError, ApiCaller, authenticate
from app.http.plumbing.forms import bearer_token, client_ip
from app.http.plumbing.guards import permission_of

from .problems import ApiAuthenticationFailed

CALLER = "api_caller"
BAD_CREDENTIALS = N_("The bearer credential is missing or invalid.")


async def authenticated(connection: ASGIConnection, _handler=None) -> None:
    """A guard: the request's credential, kept in the scope for the handler. Every failure
    reads the same (which of identifier or secret was wrong is nobody's business), except an
    address outside the credential's allow-list, which its owner needs to know."""
    token = bearer_token(connection)
    if token is None:
        raise ApiAuthenticationFailed(_(BAD_CREDENTIALS))
    try:
        caller = await authenticate(*token, client_ip(connection))
    except ApiAuthError as exc:
        detail = exc.message if exc.message.startswith("Invalid IP") else _(BAD_CREDENTIALS)
        raise ApiAuthenticationFailed(detail) from None
    connection.scope["state"][CALLER] = caller


async def authorized(connection: ASGIConnection, handler) -> None:
    """A guard after `authenticated`: the credential's staff role holds the permission the
    operation names (`permission=`, from app.core.policy); an operation naming none is refused."""
    permission = permission_of(handler)
    if permission is None or not role_allows(caller_of(connection).role, permission):
        if permission is None:
            raise PermissionDeniedException(
                _("This credential's staff role does not allow this (no permission).")
            )
        raise PermissionDeniedException(
            _("This credential's staff role does not allow this (%(permission)s).")
            % {"permission": permission}
        )


def caller_of(connection: ASGIConnection) -> ApiCaller:
    return connection.scope["state"][CALLER]
