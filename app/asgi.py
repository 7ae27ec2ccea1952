"""The application factory: plugins, middleware, routes, lifespan."""

import asyncio
import contextlib
import logging

from litestar import Litestar, Request
from litestar.config.csrf import CSRFConfig
from litestar.exceptions import NotFoundException
from litestar.static_files import create_static_files_router

from app.core import db, lifecycle
from app.core.config import FRONTEND_DIR, Settings, get_settings
from app.core.policy import Permission
from app.core.validation import parse_id
from app.domain.access import transfers
from app.domain.access.services import end_expired_access
from app.domain.auth import services as auth_services
from app.domain.invitations.expiry import watch_expiry
from app.domain.invitations.services import forget_renewal_attempts
from app.domain.live.broker import BROKER
from app.domain.live.listener import listen
from app.domain.mail import worker
from app.domain.oauth.grants import forget_spent as forget_spent_oauth
from app.domain.webhooks import sender as webhook_sender
from app.http.admin import account_users as admin_controllers
from app.http.admin import apps as app_controllers
from app.http.admin import credentials as credential_controllers
from app.http.admin import screens as admin_screens
from app.http.admin import users as user_controllers
from app.http.admin import webhooks as webhook_controllers
from app.http.api.app import create_api_app, serving_api
from app.http.client import accounts as client_controllers
from app.http.client import transfer as transfer_controllers
from app.http.client import user_management as access_controllers
from app.http.live import streams as live_controllers
from app.http.metrics import routes as metrics_routes
from app.http.oauth import endpoints as oauth_endpoints
from app.http.oauth import flow as oauth_flow
from app.http.plumbing import metrics
from app.http.plumbing.delivery import (
    COMPRESSION,
    STATIC_PATH,
    app_script,
    fixed_static_url,
    static_caching,
    static_url,
)
from app.http.plumbing.errors import HANDLERS
from app.http.plumbing.guards import authorize
from app.http.plumbing.health import serving_health
from app.http.plumbing.middleware import (
    head_as_get,
    path_ids_in_ascii,
    security_headers,
    viewer_loader,
)
from app.http.plumbing.render import templates
from app.http.public import invite as invite_controllers
from app.http.public import language as language_controllers
from app.http.public import login as auth_controllers
from app.http.public import sso as sso_controllers
from app.http.public import strength
from app.http.public import transfer as public_transfer
from app.http.shared import security as security_page
from app.http.whmcs import endpoint as whmcs_endpoint

log = logging.getLogger("roster")


# The sweeps of domains above auth's sweeper (app.domain.auth.services.sweep).
SWEEPS = {
    "oauth_codes_and_tokens": forget_spent_oauth,
    "invite_renewal_attempts": forget_renewal_attempts,
    "ownership_transfers_expired": transfers.sweep,
    "expired_access": end_expired_access,
}


def render_for(settings: Settings) -> None:
    """Development picks up an edited template or static file at once; production never stats
    template files, and versions each static file once."""
    templates.auto_reload = not settings.production
    templates.globals["static_url"] = fixed_static_url if settings.production else static_url


def create_app(
    settings: Settings | None = None, *, run_workers: bool = True, manage_database: bool = True
) -> Litestar:
    settings = settings or get_settings()
    render_for(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Litestar):
        if manage_database:
            await db.start()
        stop = asyncio.Event()
        tasks = []
        if run_workers:
            tasks.append(asyncio.create_task(auth_services.run_sweeper(stop, also=SWEEPS)))
            if settings.smtp_url:
                tasks.append(asyncio.create_task(worker.run_worker(settings, stop)))
            tasks.append(asyncio.create_task(webhook_sender.run_sender(settings, stop)))
            # Live updates: news from other processes (PostgreSQL), and invites expiring.
            if not db.is_sqlite():
                tasks.append(asyncio.create_task(listen(settings.database_url, stop)))
            tasks.append(asyncio.create_task(watch_expiry(stop)))
        BROKER.open()
        lifecycle.when_draining(BROKER.close_all)
        try:
            yield
        finally:
            BROKER.close_all()
            stop.set()
            await asyncio.gather(*tasks)
            if manage_database:
                await db.stop()

    app = Litestar(
        route_handlers=[
            *auth_controllers.ROUTES,
            *client_controllers.ROUTES,
            *invite_controllers.ROUTES,
            *public_transfer.ROUTES,
            *sso_controllers.ROUTES,
            *admin_controllers.ROUTES,
            *admin_screens.ROUTES,
            *credential_controllers.ROUTES,
            *webhook_controllers.ROUTES,
            *app_controllers.ROUTES,
            *security_page.ROUTES,
            *access_controllers.ROUTES,
            *transfer_controllers.ROUTES,
            *live_controllers.ROUTES,
            *user_controllers.ROUTES,
            *strength.ROUTES,
            *language_controllers.ROUTES,
            *whmcs_endpoint.ROUTES,
            *metrics_routes.ROUTES,
            *oauth_endpoints.ROUTES,
            *oauth_flow.ROUTES,
            app_script,
            create_static_files_router(
                path="/static",
                directories=[FRONTEND_DIR / "static"],
                send_as_attachment=False,
                middleware=[static_caching],
                opt={"permission": Permission.PUBLIC},
            ),
        ],
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name="roster_csrf",
            header_name="x-csrftoken",
            cookie_secure=settings.production,
            cookie_samesite="lax",
            cookie_httponly=False,
            # Static files change nothing and set no cookie (shared caches may keep them).
            exclude=[f"^{STATIC_PATH}", whmcs_endpoint.CSRF_EXCLUDE, oauth_flow.CSRF_EXCLUDE],
        ),
        compression_config=COMPRESSION,
        guards=[authorize],  # every route names its permission (app.core.policy)
        openapi_config=None,  # the JSON API has its own (/api/v1/schema)
        middleware=[viewer_loader],
        before_request=reject_impossible_ids,
        before_send=[security_headers(production=settings.production)],
        exception_handlers=HANDLERS,
        lifespan=[lifespan],
        debug=False,
        logging_config=None,  # logging is app.core.logging_setup's: redacting, with request ids
    )
    api = create_api_app(production=settings.production)
    # Measured inside serving_health (the probes are not) and inside head_as_get, which hands
    # on a copy of the scope: measured must see the dict Litestar writes the route template to.
    app.asgi_handler = serving_health(
        head_as_get(metrics.measured(serving_api(api, app.asgi_handler)))
    )
    return app


async def reject_impossible_ids(request: Request) -> None:
    """An id outside the columns' range, or not written in ASCII decimal, names nothing: 404,
    before any query sees it. Async so that Litestar calls it in the event loop: a plain
    function would go to a thread, a hop per request (about a tenth of a Users tab's CPU)."""
    ids = [v for v in request.path_params.values() if isinstance(v, int)]
    if any(not db.valid_id(i) for i in ids) or not path_ids_in_ascii(request.scope):
        raise NotFoundException()
    # parse_id, not int(): int() refuses more than 4,300 digits (ValueError, a 500).
    if any(
        parse_id(v) is None
        for k, v in request.query_params.items()
        if k.endswith("_id") and v.isascii() and v.isdigit()
    ):
        raise NotFoundException()
