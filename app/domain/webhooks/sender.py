"""Sending the webhook outbox, with retries and backoff; in the background only, so a slow or
dead receiver never holds a request.

Like the mail worker: any number of senders, in any number of processes (and SENDERS in each,
so that an endpoint that is slow to answer holds up only its own deliveries), claiming with a
lease (locked_until; FOR UPDATE SKIP LOCKED on PostgreSQL, the write lock on SQLite), so a
delivery is attempted by one sender at a time. Only the oldest undelivered delivery of an
endpoint may be claimed, so an endpoint receives its messages in order: one that keeps failing
holds those after it until it is given up. A sender claims that oldest one together with the
due ones queued right behind it (a run, at most RUN), sends them one after another until one
fails, and settles the run in one transaction: two transactions a run rather than two a
delivery, which is what lets a sender keep up with a stream of changes. A lease always outlives
the run it covers (RUN attempts of at most SEND_TIMEOUT each).

An attempt is a POST of the stored body with the webhook-id (the same on every attempt),
webhook-timestamp and webhook-signature headers, to the address the URL's host resolved to and
was checked at that moment (app.domain.webhooks.addresses), following no redirect. A 2xx
answer delivers it; anything else (another status, a timeout, a refused address, no connection)
is retried after 5 s, 5 min, 30 min, 2 h, 5 h, then every 10 h (each ±20%). Once an endpoint
has failed for DISABLE_AFTER (3 days) with no success meanwhile, the delivery being tried is
given up (failed, after some 13 attempts), the endpoint is disabled and the staff who manage
webhooks are emailed; its later deliveries stay queued, to go in order if it is enabled again.
Since only an endpoint's oldest delivery is tried, its failing days are that delivery's."""

import asyncio
import functools
import logging
import random
import ssl
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from piccolo.columns import Column

from app.core import clock, db
from app.core.config import Settings, get_settings
from app.core.passes import run_in_passes
from app.core.policy import Permission, role_allows
from app.core.uninterrupted import uninterrupted
from app.domain.events.catalog import WebhookEndpointDisabled
from app.domain.events.stream import emit
from app.domain.mail.services import enqueue
from app.domain.webhook_queue.records import woken
from app.domain.webhooks.addresses import AddressRefused, target_of
from app.domain.webhooks.present import shown_url
from app.domain.webhooks.signing import headers_for
from app.schema.staff import Admin
from app.schema.webhooks import WebhookDelivery, WebhookEndpoint

log = logging.getLogger("roster.webhooks")

LEASE = timedelta(minutes=5)
SEND_TIMEOUT = 10.0  # seconds, the whole attempt: must stay well under LEASE
RESPONSE_KEPT = 2048  # bytes of the receiver's answer kept for the delivery log
BACKOFF = [
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
]
DISABLE_AFTER = timedelta(days=3)
USER_AGENT = "Roster-Webhooks/1"
RUN = 20  # deliveries of one endpoint claimed, sent and settled together
SENDERS = 4  # senders in each process, each sending one run at a time
KEPT_FOR = timedelta(days=30)  # a settled delivery's row: its log line, and what Replay can send
PASS_LIMIT = 1000  # attempts a sender makes before it looks at its stop and wake-up again
assert LEASE.total_seconds() > RUN * SEND_TIMEOUT


@functools.cache
def tls_context() -> ssl.SSLContext:
    """Made once: loading the certificate authorities takes some 40 ms of the event loop, which
    a client made with its own context would spend on every attempt."""
    return httpx.create_ssl_context()


# Each enabled endpoint's oldest undelivered delivery, when it is due: one walk of the pending
# index per endpoint, however long an endpoint's queue has grown (a dead receiver's does).
_ELIGIBLE = """
    SELECT d.id FROM webhook_endpoints e
    JOIN webhook_deliveries d ON d.id = (
        SELECT o.id FROM webhook_deliveries o
        WHERE o.endpoint = e.id AND o.status IN ('queued', 'delivering')
        ORDER BY o.id LIMIT 1)
    WHERE e.enabled
      AND ((d.status = 'queued' AND d.next_attempt_at <= {})
           OR (d.status = 'delivering' AND d.locked_until < {}))
    ORDER BY d.id LIMIT {}
"""
_CLAIM_POSTGRES = f"""
UPDATE webhook_deliveries SET status = 'delivering', locked_until = {{}}
WHERE id IN ({_ELIGIBLE} FOR UPDATE OF d SKIP LOCKED)
RETURNING *
"""


def _leased(now) -> dict[Column | str, Any]:
    return {WebhookDelivery.status: "delivering", WebhookDelivery.locked_until: now + LEASE}


async def _claim_heads(now, limit: int) -> list[dict]:
    if not db.is_sqlite():
        rows = await WebhookDelivery.raw(_CLAIM_POSTGRES, now + LEASE, now, now, limit)
        return sorted(rows, key=lambda r: r["id"])
    ids = [row["id"] for row in await WebhookDelivery.raw(_ELIGIBLE, now, now, limit)]
    if not ids:
        return []
    await WebhookDelivery.update(_leased(now)).where(WebhookDelivery.id.is_in(ids))
    return await WebhookDelivery.select().where(WebhookDelivery.id.is_in(ids))


async def _nothing_due(now) -> bool:
    """On SQLite, looked at first outside a transaction: an idle sender must not take the write
    lock at every poll (PostgreSQL's claim takes no lock when it finds nothing)."""
    return db.is_sqlite() and not await WebhookDelivery.raw(_ELIGIBLE, now, now, 1)


async def claim_due(limit: int = 1) -> list[dict]:
    """Marks up to `limit` due deliveries (each the oldest undelivered of its endpoint) as being
    attempted by this sender, and returns them."""
    now = clock.now()
    if await _nothing_due(now):
        return []
    async with db.transaction():  # on SQLite IMMEDIATE: one claimer at a time
        return await _claim_heads(now, limit)


@dataclass
class Run:
    """An endpoint and its deliveries claimed together, oldest first."""

    endpoint: dict
    deliveries: list[dict]


# The undelivered right behind an endpoint's oldest. Only the oldest is ever attempted on its
# own, so these are queued and due, unless a sender stopped mid-run and their lease ran out.
_BEHIND = """
SELECT * FROM webhook_deliveries
WHERE endpoint = {} AND id > {} AND status IN ('queued', 'delivering')
ORDER BY id LIMIT {}
"""


def _is_due(delivery: dict, now) -> bool:
    if delivery["status"] == "queued":
        return delivery["next_attempt_at"] <= now
    return delivery["locked_until"] is not None and delivery["locked_until"] < now


async def claim_run(length: int = RUN) -> Run | None:
    """Claims an endpoint's oldest due delivery, the due ones behind it (`length` in all at
    most) and reads the endpoint, in one transaction. Others cannot claim those behind: the
    oldest, locked by this claim, comes first."""
    now = clock.now()
    if await _nothing_due(now):
        return None
    async with db.transaction():
        heads = await _claim_heads(now, 1)
        if not heads:
            return None
        head = heads[0]
        behind = []
        for row in await WebhookDelivery.raw(_BEHIND, head["endpoint"], head["id"], length - 1):
            if not _is_due(row, now):
                break
            behind.append(row)
        if behind:
            claimed = await (
                WebhookDelivery.update(_leased(now))
                .where(
                    WebhookDelivery.id.is_in([row["id"] for row in behind])
                    & WebhookDelivery.status.is_in(["queued", "delivering"])
                )
                .returning(WebhookDelivery.id)
            )
            kept = {row["id"] for row in claimed}
            behind = [row for row in behind if row["id"] in kept]
        endpoint = (
            await WebhookEndpoint.select().where(WebhookEndpoint.id == head["endpoint"]).first()
        )
        if endpoint is None:  # deleted meanwhile (its deliveries go with it)
            await _release([head, *behind])
            return None
    return Run(endpoint, [head, *behind])


@dataclass
class Outcome:
    """What one attempt came to: the receiver's status and the start of its answer, or (no
    status) why there was none."""

    status_code: int | None
    response: str
    duration_ms: int = 0

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signing_secrets(endpoint: dict) -> list[str]:
    """The endpoint's secret, and its previous one while a rotation's overlap lasts."""
    found = [endpoint["secret"]]
    until = endpoint["previous_secret_until"]
    if endpoint["previous_secret"] and until is not None and until > clock.now():
        found.append(endpoint["previous_secret"])
    return found


class Clients:
    """The HTTP clients of one pass, one per endpoint and checked address: an endpoint's
    deliveries in a row go over one kept-alive connection. Never shared between endpoints: a
    pooled connection to the same address could carry another host's TLS session."""

    def __init__(self) -> None:
        self._open: dict[tuple, httpx.AsyncClient] = {}

    def for_target(self, endpoint: dict, target) -> httpx.AsyncClient:
        key = (endpoint["id"], target.url, target.server_name)
        if key not in self._open:
            # No proxy from the environment: it would choose the address.
            self._open[key] = httpx.AsyncClient(
                verify=tls_context(), trust_env=False, follow_redirects=False, timeout=SEND_TIMEOUT
            )
        return self._open[key]

    async def close(self) -> None:
        for client in self._open.values():
            await client.aclose()
        self._open.clear()


async def _post(delivery: dict, endpoint: dict, settings: Settings, clients: Clients) -> Outcome:
    target = await target_of(
        endpoint["url"],
        production=settings.production,
        allow_private=settings.webhook_allow_private,
    )
    headers = {
        **headers_for(
            delivery["message_id"], clock.now(), delivery["body"], signing_secrets(endpoint)
        ),
        "host": target.host_header,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    extensions = {"sni_hostname": target.server_name} if target.server_name else {}
    async with clients.for_target(endpoint, target).stream(
        "POST",
        target.url,
        content=delivery["body"].encode(),
        headers=headers,
        extensions=extensions,
    ) as response:
        kept = b""
        async for chunk in response.aiter_bytes():
            kept += chunk
            if len(kept) >= RESPONSE_KEPT:
                break
        return Outcome(response.status_code, kept[:RESPONSE_KEPT].decode(errors="replace"))


async def attempt(
    delivery: dict, endpoint: dict, settings: Settings, clients: Clients | None = None
) -> Outcome:
    """One POST of the delivery (never raises: a failure is an outcome). `clients`: the pass's,
    else a client of its own."""
    started = time.monotonic()
    own = clients is None
    clients = Clients() if clients is None else clients
    try:
        async with asyncio.timeout(SEND_TIMEOUT):
            outcome = await _post(delivery, endpoint, settings, clients)
    except AddressRefused as exc:
        outcome = Outcome(None, f"Refused: {exc.message}")
    except TimeoutError:
        outcome = Outcome(None, f"No answer within {SEND_TIMEOUT:g} s.")
    except httpx.HTTPError as exc:
        outcome = Outcome(None, f"{type(exc).__name__}: {exc}"[:RESPONSE_KEPT])
    finally:
        if own:
            await clients.close()
    outcome.duration_ms = round((time.monotonic() - started) * 1000)
    return outcome


def retry_delay(attempts: int) -> timedelta:
    """How long after its `attempts`-th failed attempt a delivery is tried again."""
    return BACKOFF[min(attempts - 1, len(BACKOFF) - 1)] * random.uniform(0.8, 1.2)


async def _settle(run: Run, outcomes: list[Outcome]) -> None:
    """Writes what each attempt of a run came to, in one transaction, and gives back the
    deliveries after the last attempt (not sent: a failure or a stop came first)."""
    now = clock.now()
    async with db.transaction():
        if any(outcome.delivered for outcome in outcomes):
            await WebhookEndpoint.update({WebhookEndpoint.failing_since: None}).where(
                (WebhookEndpoint.id == run.endpoint["id"])
                & WebhookEndpoint.failing_since.is_not_null()
            )
        for delivery, outcome in zip(run.deliveries, outcomes, strict=False):
            attempts = delivery["attempts"] + 1
            values: dict[Column | str, Any] = {
                WebhookDelivery.attempts: attempts,
                WebhookDelivery.locked_until: None,
                WebhookDelivery.last_status_code: outcome.status_code,
                WebhookDelivery.last_response: outcome.response,
                WebhookDelivery.last_duration_ms: outcome.duration_ms,
            }
            if outcome.delivered:
                values |= {WebhookDelivery.status: "delivered", WebhookDelivery.delivered_at: now}
            else:
                gave_up = await _count_failure(run.endpoint["id"], now)
                values |= {
                    WebhookDelivery.status: "failed" if gave_up else "queued",
                    WebhookDelivery.next_attempt_at: now + retry_delay(attempts),
                }
            await WebhookDelivery.update(values).where(WebhookDelivery.id == delivery["id"])
        await _release(run.deliveries[len(outcomes) :])


async def _count_failure(endpoint_id: int, now) -> bool:
    """Marks the endpoint failing (since now, unless it already was) and disables it once it
    has been failing for DISABLE_AFTER; whether it did so now."""
    rows = await db.locked(
        WebhookEndpoint.select(
            WebhookEndpoint.id,
            WebhookEndpoint.url,
            WebhookEndpoint.enabled,
            WebhookEndpoint.failing_since,
        ).where(WebhookEndpoint.id == endpoint_id)
    )
    if not rows:
        return False
    endpoint = rows[0]
    since = endpoint["failing_since"] or now
    if endpoint["failing_since"] is None:
        await WebhookEndpoint.update({WebhookEndpoint.failing_since: now}).where(
            WebhookEndpoint.id == endpoint_id
        )
    if endpoint["enabled"] and now - since >= DISABLE_AFTER:
        await disable_failing(endpoint, since)
        return True
    return False


async def disable_failing(endpoint: dict, since) -> None:
    """Stops sending to an endpoint that has failed since `since`, says so in the activity log,
    and emails every staff member who manages webhooks. Its queued deliveries stay, sent in
    order if it is enabled again."""
    reason = (
        f"Every delivery failed for {(clock.now() - since).days} days "
        f"(since {since:%d %b %Y %H:%M} UTC)."
    )
    await WebhookEndpoint.update(
        {WebhookEndpoint.enabled: False, WebhookEndpoint.disabled_reason: reason}
    ).where(WebhookEndpoint.id == endpoint["id"])
    url = shown_url(endpoint["url"])
    await emit(
        WebhookEndpointDisabled(endpoint_id=endpoint["id"], reason=reason),
        description=f"Webhook endpoint #{endpoint['id']} ({url}) disabled: {reason}",
    )
    staff = await Admin.select(Admin.name, Admin.email, Admin.role).where(Admin.disabled.eq(False))
    context = {
        "url": url,
        "reason": reason,
        "webhooks_url": f"{get_settings().base_url}/admin/webhooks",
    }
    for member in staff:
        if role_allows(member["role"], Permission.MANAGE_WEBHOOKS):
            await enqueue(
                to=member["email"],
                template="webhook_disabled",
                context={**context, "name": member["name"]},
            )


async def forget_settled(now=None) -> int:
    """Deletes the deliveries settled (delivered or given up) more than KEPT_FOR ago, created
    that long ago too; returns how many."""
    before = (now or clock.now()) - KEPT_FOR
    rows = (
        await WebhookDelivery.delete()
        .where(
            WebhookDelivery.status.is_in(["delivered", "failed"])
            & (WebhookDelivery.created_at < before)
        )
        .returning(WebhookDelivery.id)
    )
    return len(rows)


async def _release(deliveries: list[dict]) -> None:
    """Gives back claimed deliveries not attempted, or whose attempt was interrupted: due
    again at once, for any sender, and nothing counted."""
    if deliveries:
        await WebhookDelivery.update(
            {WebhookDelivery.status: "queued", WebhookDelivery.locked_until: None}
        ).where(
            WebhookDelivery.id.is_in([delivery["id"] for delivery in deliveries])
            & (WebhookDelivery.status == "delivering")
        )


async def deliver_due(
    settings: Settings, limit: int = 20, stop: asyncio.Event | None = None
) -> int:
    """Sends due deliveries, a run at a time, until none is due, about `limit` were attempted
    or `stop` is set (looked at between attempts); returns how many were delivered. Cancelled
    mid-attempt, it settles the run (the interrupted one given back, uncounted) first."""
    clients = Clients()
    attempted = delivered = 0
    try:
        while attempted < limit and not (stop is not None and stop.is_set()):
            run, cancelled = await uninterrupted(claim_run(min(RUN, limit - attempted)))
            if run is not None and cancelled:
                await uninterrupted(_release(run.deliveries))
            if cancelled:
                raise asyncio.CancelledError
            if run is None:
                break
            outcomes = await _send_run(run, settings, clients, stop)
            attempted += len(outcomes)
            delivered += sum(outcome.delivered for outcome in outcomes)
    finally:
        await clients.close()
    return delivered


async def _send_run(
    run: Run, settings: Settings, clients: Clients, stop: asyncio.Event | None
) -> list[Outcome]:
    """The run's deliveries in order, until one fails; then settled."""
    outcomes: list[Outcome] = []
    try:
        for delivery in run.deliveries:
            if outcomes and stop is not None and stop.is_set():
                break
            outcome = await attempt(delivery, run.endpoint, settings, clients)
            outcomes.append(outcome)
            if not outcome.delivered:
                log.warning(
                    "Webhook %s to endpoint %s failed: %s",
                    delivery["message_id"],
                    run.endpoint["id"],
                    outcome.status_code or outcome.response,
                )
                break
    except asyncio.CancelledError:
        log.info("Webhooks to endpoint %s interrupted; queued again", run.endpoint["id"])
        await uninterrupted(_settle(run, outcomes))
        raise
    _, cancelled = await uninterrupted(_settle(run, outcomes))
    if cancelled:
        raise asyncio.CancelledError
    return outcomes


async def run_sender(
    settings: Settings, stop: asyncio.Event, interval: float | None = None
) -> None:
    """SENDERS senders until `stop` is set (looked at between attempts: the one under way is
    finished); each wakes early when a delivery is queued in this process."""
    await asyncio.gather(
        *(
            run_in_passes(
                f"Webhook sender {number}",
                lambda: deliver_due(settings, limit=PASS_LIMIT, stop=stop),
                wake=woken(),
                stop=stop,
                interval=settings.webhook_poll_seconds if interval is None else interval,
                log=log,
            )
            for number in range(1, SENDERS + 1)
        )
    )
