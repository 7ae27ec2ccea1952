"""GET /metrics: the Prometheus text format, for staff and API credentials."""

import asyncio

from litestar import Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST

from app.core.errors import Throttled
from app.core.i18n import N_, _
from app.core.policy import Permission
from app.domain.credentials.services import ApiAuthError, authenticate
from app.domain.mail import services as mail
from app.domain.webhooks import services as webhooks
from app.http.plumbing.forms import bearer_token, client_ip
from app.http.plumbing.metrics import (
    METRICS_PATH,
    OUTBOX,
    WEBHOOK_DELIVERIES,
    WEBHOOK_OLDEST_WAITING,
    exposition,
)
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import redirect


async def refresh_outbox() -> None:
    """roster_outbox_emails from one GROUP BY query; every known status, 0 when it has none."""
    for status, n in (await mail.status_counts()).items():
        OUTBOX.labels(status).set(n)


async def refresh_webhooks() -> None:
    """roster_webhook_deliveries by status and the oldest undelivered one's wait: two queries."""
    counts, waited = await webhooks.delivery_counts()
    for status, n in counts.items():
        WEBHOOK_DELIVERIES.labels(status).set(n)
    WEBHOOK_OLDEST_WAITING.set(waited)


# Marked only: translated where answered (`_plain` ends each with a line break).
AUTHENTICATE = N_(
    "Sign in as staff, or send an API credential: Authorization: Bearer IDENTIFIER:SECRET."
)
BAD_CREDENTIALS = N_("The bearer credential is missing or invalid.")
STAFF_ONLY = N_("Metrics are for staff and API credentials only.")
ENROL_FIRST = N_("Enable two-factor authentication (/admin/security) to reach the admin area.")


def _plain(status: int, text: str, headers: dict | None = None) -> Response:
    return Response(
        f"{text}\n",
        status_code=status,
        media_type="text/plain",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _wants_page(request: Request) -> bool:
    """A browser (it asks for HTML); Prometheus asks for text/plain or OpenMetrics."""
    return "text/html" in request.headers.get("accept", "")


async def refusal(request: Request) -> Response | None:
    """None when the caller may read the metrics, else the answer: staff sessions (any role:
    it changes nothing) and API credentials (any role: every credential reads) may."""
    viewer = viewer_of(request)
    if viewer.admin is not None:
        if viewer.must_enrol_two_factor:  # kept from the admin area until enrolled
            if _wants_page(request):
                return redirect(request, "/admin/security")
            return _plain(403, _(ENROL_FIRST))
        return None
    challenge = {"WWW-Authenticate": 'Bearer realm="roster"'}
    if "authorization" in request.headers:
        token = bearer_token(request)
        if token is None:
            return _plain(401, _(BAD_CREDENTIALS), challenge)
        try:  # the native API's own check: the same credentials, counting and throttle
            await authenticate(*token, client_ip(request))
        except ApiAuthError as exc:
            detail = exc.message if exc.message.startswith("Invalid IP") else _(BAD_CREDENTIALS)
            return _plain(401, detail, challenge)
        except Throttled as exc:
            return _plain(429, exc.message, {"Retry-After": str(exc.retry_after)})
        return None
    if viewer.user is not None:
        return _plain(403, _(STAFF_ONLY))
    if _wants_page(request):
        return redirect(request, "/admin/login")  # as the admin area does
    return _plain(401, _(AUTHENTICATE), challenge)


@get(METRICS_PATH, include_in_schema=False, name="metrics", permission=Permission.PUBLIC)
async def metrics_page(request: Request) -> Response:
    refused = await refusal(request)
    if refused is not None:
        return refused
    await refresh_outbox()
    await refresh_webhooks()
    body = await asyncio.to_thread(exposition)  # multiprocess: reads every worker's files
    return Response(
        body,
        media_type=CONTENT_TYPE_LATEST,
        headers={"Cache-Control": "no-store"},
    )


ROUTES = [metrics_page]
