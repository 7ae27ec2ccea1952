"""The /api/v1 application: its own Litestar app, so that the JSON API has its own errors
(problem+json), its own OpenAPI document, and nothing of the web pages' sessions, CSRF
cookies or HTML. `serving_api` puts it in front of the main app."""

from typing import Any

from litestar import Litestar, Request, Router
from litestar.exceptions import SerializationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Tag

from app.core.i18n import _
from app.http.plumbing.delivery import COMPRESSION
from app.http.plumbing.middleware import language_chooser, reject_ids_not_in_ascii, security_headers

from .auth import authenticated, authorized
from .oauth_apps import Apps
from .problems import HANDLERS
from .resources import CONTROLLERS
from .webhook_messages import webhooks

PREFIX = "/api/v1"
SCHEMA_PATH = f"{PREFIX}/schema"
SCALAR_VERSION = "1.76.0"  # pinned: the page loads it from the CDN
CDN = "https://cdn.jsdelivr.net"

# The reference page (Scalar) runs a script and styles from the CDN and its own inline styles:
# this one page gets a policy that allows them; every other answer keeps the app's strict one.
DOCS_POLICY = (
    f"default-src 'none'; script-src {CDN}; style-src 'unsafe-inline' {CDN}; "
    f"font-src {CDN} https://fonts.scalar.com data:; img-src 'self' data: https:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

DESCRIPTION = """The JSON API of Roster: client accounts, users, each account's users (grants)
and invitations, on the same rules as the web pages.

Authenticate with an API credential made by staff on **/admin/api**:
`Authorization: Bearer IDENTIFIER:SECRET`. A credential acts for the staff member who made it,
with what their role holds: each operation names the permission it needs. Every change is in
the activity log under the credential's name.

Lists take `offset` and `limit` (1 to 100, default 25) and answer
`{"items": [...], "total": N, "offset": O, "limit": L}`. Errors are RFC 9457
`application/problem+json`, with `errors` naming each invalid field."""


class ApiRequest(Request):
    """A JSON body nested deeper than the decoder goes (msgspec raises RecursionError, past about
    a thousand levels) is malformed like any other: Litestar answers SerializationException
    with a 400 (the problem handlers' own)."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError as exc:
            raise SerializationException(_("JSON is malformed: nested too deeply")) from exc


def create_api_app(*, production: bool) -> Litestar:
    add_security_headers = security_headers(production=production)

    async def headers(message, scope) -> None:
        if message["type"] == "http.response.start" and scope["path"] == SCHEMA_PATH:
            message["headers"] = [
                *message.get("headers", []),
                (b"content-security-policy", DOCS_POLICY.encode()),
            ]
        await add_security_headers(message, scope)

    return Litestar(
        route_handlers=[
            Router(PREFIX, route_handlers=[*CONTROLLERS, Apps], guards=[authenticated, authorized])
        ],
        openapi_config=OpenAPIConfig(
            title="Roster API",
            version="1.0.0",
            description=DESCRIPTION,
            path=SCHEMA_PATH,
            render_plugins=[
                ScalarRenderPlugin(version=SCALAR_VERSION, path="/", css_url=None),
            ],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        bearer_format="IDENTIFIER:SECRET",
                        description="An API credential from /admin/api.",
                    )
                }
            ),
            security=[{"bearer": []}],
            tags=[
                Tag(name="Clients", description="Client accounts."),
                Tag(name="Users", description="Users: one person, one login."),
                Tag(name="Account users", description="Who reaches an account, with what."),
                Tag(name="Invitations", description="Emailed one-time links to an account."),
                Tag(name="Permissions", description="The permission keys."),
                Tag(
                    name="Apps",
                    description="Apps that sign people in with Roster (OpenID Connect): "
                    "their redirect URIs, scopes and Client Secret.",
                ),
                Tag(
                    name="Webhooks",
                    description="Endpoints Roster sends its events to, signed (Standard "
                    "Webhooks), and their deliveries. What each event's body holds is in "
                    "`webhooks`.",
                ),
            ],
            webhooks=dict(webhooks()),
            use_handler_docstrings=False,
        ),
        exception_handlers=HANDLERS,
        before_request=reject_ids_not_in_ascii,
        middleware=[language_chooser],
        request_class=ApiRequest,
        compression_config=COMPRESSION,
        before_send=[headers],
        debug=False,
        logging_config=None,  # logging is app.core.logging_setup's: redacting, with request ids
    )


def serving_api(api: Litestar, main_handler):
    """An ASGI handler: /api/v1 to the API app, everything else to `main_handler`."""

    async def handler(scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == PREFIX or path.startswith(PREFIX + "/")):
            await api(scope, receive, send)
            return
        await main_handler(scope, receive, send)

    return handler
