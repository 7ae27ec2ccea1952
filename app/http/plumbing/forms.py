"""Reading HTML forms: checkboxes arrive as repeated fields (or not at all), never as JSON."""

import re

from litestar import Request
from litestar.connection import ASGIConnection

from app.core.errors import DomainError
from app.core.i18n import _

# A local path: printable ASCII without spaces (anything else arrives percent-encoded).
_LOCAL_PATH = re.compile(r"/(?![/\\])[!-~]*")


def _text_only(form) -> None:
    """Roster's forms hold text only: a file where text was expected is refused."""
    for key, value in form.multi_items():
        if not isinstance(value, str):
            raise DomainError(
                _("The field %(field)s must be text, not a file.") % {"field": repr(key[:40])}, key
            )


async def read_form(request: Request) -> dict:
    form = await request.form()
    _text_only(form)
    return {key: form.get(key) for key in form}


async def read_list(request: Request, key: str) -> list[str]:
    form = await request.form()
    _text_only(form)
    return form.getall(key) if key in form else []


def client_ip(connection: ASGIConnection) -> str:
    """The caller's address, as throttles, allow-lists and the activity log see it."""
    return connection.client.host if connection.client else ""


def safe_next(url: str | None, default: str) -> str:
    """Only a path on this site: never an absolute URL, a scheme-relative one, a backslash, a
    space or a control character (any of which a browser or a header could read otherwise)."""
    if url and _LOCAL_PATH.fullmatch(url) and "\\" not in url:
        return url
    return default


def bearer_token(connection: ASGIConnection) -> tuple[str, str] | None:
    """(identifier, secret) from the Authorization header, or None when there is none."""
    scheme, _space, token = connection.headers.get("authorization", "").strip().partition(" ")
    identifier, colon, secret = token.strip().partition(":")
    if scheme.lower() != "bearer" or not colon or not identifier or not secret:
        return None
    return identifier, secret
