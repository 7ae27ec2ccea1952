"""Webhook endpoints and their deliveries, for the staff who manage them (the permission
`manage_webhooks`, which Full Administrators hold).

What is offered: every event of the catalog (app.domain.events.catalog) marked WEBHOOK (all but
the endpoints' own management), by its name; none carries a secret, a token or a password hash.
An endpoint takes all of them ("*", including kinds added later) or a list. Besides them,
`webhook.test` goes only to the endpoint it is sent to (Send test event).

An endpoint's signing secret is shown once, when it is made (create_endpoint, rotate_secret),
and never again: not in a listing, the activity log, an event or a log line. Rotating keeps the
previous secret signing too for 24 hours, so receivers can switch without losing a message."""

from datetime import UTC, datetime, timedelta
from typing import ClassVar

import msgspec
from piccolo.query.functions.aggregate import Count

from app.core import clock, db, i18n, stale
from app.core.config import get_settings
from app.core.errors import DomainError, NotFound
from app.core.i18n import N_, _, ngettext
from app.core.policy import Permission
from app.core.validation import has_control_characters
from app.domain.activity.services import Actor
from app.domain.events.catalog import (
    Event,
    WebhookEndpointCreated,
    WebhookEndpointDeleted,
    WebhookEndpointUpdated,
    WebhookMessagesRequeued,
    WebhookSecretRotated,
    all_events,
)
from app.domain.events.stream import emit
from app.domain.staff.services import require_staff_permission
from app.domain.webhook_queue.records import ALL_TYPES, queue_for_endpoint, wake
from app.domain.webhooks.addresses import check_url
from app.domain.webhooks.present import shown_url
from app.domain.webhooks.signing import ROTATION_OVERLAP_HOURS, new_secret
from app.schema.webhooks import WebhookDelivery, WebhookEndpoint

# What an endpoint can subscribe to: the catalog's events marked WEBHOOK, by name.
OFFERED: tuple[type[Event], ...] = tuple(
    sorted((kind for kind in all_events() if kind.WEBHOOK), key=lambda kind: kind.NAME)
)
EVENT_TYPES: tuple[str, ...] = tuple(kind.NAME for kind in OFFERED)
DESCRIPTION_MAX = 200
RECENT = 50
# What an edit can set: the version an API client's If-Match names.
EDITABLE = ("url", "description", "event_types", "enabled")


class TestMessage(msgspec.Struct, frozen=True, kw_only=True):
    """Sent only to the endpoint it was asked for (Send test event), to try a receiver."""

    NAME: ClassVar[str] = "webhook.test"
    VERSION: ClassVar[int] = 1
    endpoint_id: int


TEST_EVENT = TestMessage.NAME
# Every kind of message an endpoint can receive, by name: its body's `data` is the kind's fields.
MESSAGE_KINDS: tuple[type[Event] | type[TestMessage], ...] = (*OFFERED, TestMessage)

# What a listing shows of an endpoint: everything but the secrets.
_SHOWN = (
    WebhookEndpoint.id,
    WebhookEndpoint.url,
    WebhookEndpoint.description,
    WebhookEndpoint.event_types,
    WebhookEndpoint.enabled,
    WebhookEndpoint.previous_secret_until,
    WebhookEndpoint.created_at,
    WebhookEndpoint.failing_since,
    WebhookEndpoint.disabled_reason,
)


class NewSecret(msgspec.Struct, frozen=True):
    endpoint_id: int
    secret: str  # shown once


async def require_permission(actor: Actor) -> None:
    await require_staff_permission(
        actor, Permission.MANAGE_WEBHOOKS, _("Only a Full Administrator can manage webhooks.")
    )


def clean_event_types(event_types: list[str] | tuple[str, ...] | str | None) -> tuple[str, ...]:
    """("*",) for every type offered, else the chosen names in the catalog's order, each once."""
    if event_types is None or event_types == ALL_TYPES or list(event_types) == [ALL_TYPES]:
        return (ALL_TYPES,)
    chosen = {name.strip() for name in event_types if name.strip()}
    unknown = sorted(chosen - set(EVENT_TYPES))
    if unknown:
        raise DomainError(
            _("Unknown event type: %(types)s.") % {"types": ", ".join(unknown)[:200]},
            "event_types",
        )
    if not chosen:
        raise DomainError(_("Choose at least one event type, or all of them."), "event_types")
    return tuple(name for name in EVENT_TYPES if name in chosen)


def _stored(event_types: tuple[str, ...]) -> str:
    return " ".join(event_types)


def clean_description(description: str) -> str:
    description = " ".join((description or "").split())  # tabs and line breaks: spaces
    if has_control_characters(description):
        raise DomainError(_("Enter text without control characters."), "description")
    if len(description) > DESCRIPTION_MAX:
        raise DomainError(
            ngettext("At most %(num)d character.", "At most %(num)d characters.", DESCRIPTION_MAX)
            % {"num": DESCRIPTION_MAX},
            "description",
        )
    return description


async def _checked_url(url: str) -> str:
    settings = get_settings()
    return await check_url(
        url, production=settings.production, allow_private=settings.webhook_allow_private
    )


def _presented(row: dict) -> dict:
    row = dict(row)
    row["event_types"] = tuple(row["event_types"].split())
    return row


async def get_endpoint(endpoint_id: int, *, lock: bool = False) -> dict:
    """The endpoint, without its secrets (NotFound if there is none)."""
    query = WebhookEndpoint.select(*_SHOWN).where(WebhookEndpoint.id == endpoint_id)
    rows = await (db.locked(query) if lock else query)
    if not rows:
        raise NotFound(_("No such webhook endpoint."))
    return _presented(rows[0])


async def offered_kinds(*, actor: Actor) -> tuple[type[Event], ...]:
    """What an endpoint can subscribe to, in name order."""
    await require_permission(actor)
    return OFFERED


async def read_endpoint(endpoint_id: int, *, actor: Actor) -> dict:
    """The endpoint, without its secrets, for staff who manage webhooks."""
    await require_permission(actor)
    return await get_endpoint(endpoint_id)


async def list_endpoints(*, actor: Actor) -> list[dict]:
    """Every endpoint, oldest first, without its secrets."""
    await require_permission(actor)
    rows = await WebhookEndpoint.select(*_SHOWN).order_by(WebhookEndpoint.id)
    return [_presented(row) for row in rows]


async def endpoints_page(*, offset: int, limit: int, actor: Actor) -> tuple[int, list[dict]]:
    """How many endpoints there are, and `limit` of them from `offset`, oldest first."""
    await require_permission(actor)
    total = await WebhookEndpoint.count()
    rows = (
        await WebhookEndpoint.select(*_SHOWN)
        .order_by(WebhookEndpoint.id)
        .offset(offset)
        .limit(limit)
    )
    return total, [_presented(row) for row in rows]


async def create_endpoint(
    *,
    url: str,
    description: str = "",
    event_types: list[str] | tuple[str, ...] | str | None = None,
    enabled: bool = True,
    actor: Actor,
) -> NewSecret:
    """A new endpoint; its secret is in the answer and nowhere else it can be read."""
    await require_permission(actor)
    url = await _checked_url(url)
    description = clean_description(description)
    types = clean_event_types(event_types)
    secret = new_secret()
    async with db.transaction():
        rows = await WebhookEndpoint.insert(
            WebhookEndpoint(
                url=url,
                description=description,
                event_types=_stored(types),
                enabled=enabled,
                secret=secret,
                created_at=clock.now(),
            )
        ).returning(WebhookEndpoint.id)
        endpoint_id = rows[0]["id"]
        await emit(
            WebhookEndpointCreated(endpoint_id=endpoint_id, event_types=types, enabled=enabled),
            actor=actor,
            description=f"Added webhook endpoint #{endpoint_id} ({shown_url(url)})",
        )
    return NewSecret(endpoint_id=endpoint_id, secret=secret)


async def update_endpoint(
    endpoint_id: int,
    *,
    url=stale.UNCHANGED,
    description=stale.UNCHANGED,
    event_types=stale.UNCHANGED,
    enabled=stale.UNCHANGED,
    actor: Actor,
    opened: stale.Opened | None = None,
) -> dict:
    """Changes what is given of the URL, description, event types and whether it is enabled.
    Enabling it again starts its count of failing days afresh and sends what it kept queued.
    `opened`: the EDITABLE values the change was prepared on (or their app.core.stale.version);
    Stale if they have changed since."""
    await require_permission(actor)
    wanted: dict = {}
    if url is not stale.UNCHANGED:
        wanted["url"] = await _checked_url(url)
    if description is not stale.UNCHANGED:
        wanted["description"] = clean_description(description)
    if event_types is not stale.UNCHANGED:
        wanted["event_types"] = clean_event_types(event_types)
    if enabled is not stale.UNCHANGED:
        wanted["enabled"] = bool(enabled)
    async with db.transaction():
        before = await get_endpoint(endpoint_id, lock=True)
        stale.check(opened, {name: before[name] for name in EDITABLE}, wanted)
        changed = {name: value for name, value in wanted.items() if before[name] != value}
        if not changed:
            return await get_endpoint(endpoint_id)
        values = {
            getattr(WebhookEndpoint, name): _stored(value) if name == "event_types" else value
            for name, value in changed.items()
        }
        if changed.get("enabled"):
            values |= {WebhookEndpoint.failing_since: None, WebhookEndpoint.disabled_reason: ""}
        await WebhookEndpoint.update(values).where(WebhookEndpoint.id == endpoint_id)
        await emit(
            WebhookEndpointUpdated(endpoint_id=endpoint_id, fields=tuple(changed)),
            actor=actor,
            description=f"Changed webhook endpoint #{endpoint_id} "
            f"({shown_url(wanted.get('url', before['url']))}): {', '.join(changed)}",
        )
    if changed.get("enabled"):
        wake()
    return await get_endpoint(endpoint_id)


async def rotate_secret(endpoint_id: int, *, actor: Actor) -> NewSecret:
    """A new secret (in the answer only); the current one keeps signing for 24 hours too."""
    await require_permission(actor)
    secret = new_secret()
    until = clock.now() + timedelta(hours=ROTATION_OVERLAP_HOURS)
    async with db.transaction():
        endpoint = await get_endpoint(endpoint_id, lock=True)
        current = (
            await WebhookEndpoint.select(WebhookEndpoint.secret)
            .where(WebhookEndpoint.id == endpoint_id)
            .first()
        )
        assert current is not None  # locked above
        await WebhookEndpoint.update(
            {
                WebhookEndpoint.secret: secret,
                WebhookEndpoint.previous_secret: current["secret"],
                WebhookEndpoint.previous_secret_until: until,
            }
        ).where(WebhookEndpoint.id == endpoint_id)
        await emit(
            WebhookSecretRotated(endpoint_id=endpoint_id, previous_valid_until=until),
            actor=actor,
            description=f"Rotated the signing secret of webhook endpoint #{endpoint_id} "
            f"({shown_url(endpoint['url'])}); the previous one signs until "
            f"{until:%d %b %Y %H:%M} UTC",
        )
    return NewSecret(endpoint_id=endpoint_id, secret=secret)


async def delete_endpoint(endpoint_id: int, *, actor: Actor) -> None:
    """Deletes the endpoint with its deliveries, sent or not."""
    await require_permission(actor)
    async with db.transaction():
        endpoint = await get_endpoint(endpoint_id, lock=True)
        await WebhookEndpoint.delete().where(WebhookEndpoint.id == endpoint_id)
        await emit(
            WebhookEndpointDeleted(endpoint_id=endpoint_id),
            actor=actor,
            description=f"Deleted webhook endpoint #{endpoint_id} ({shown_url(endpoint['url'])})",
        )


_DELIVERY_COLUMNS = (
    WebhookDelivery.id,
    WebhookDelivery.endpoint,
    WebhookDelivery.message_id,
    WebhookDelivery.event_type,
    WebhookDelivery.event_version,
    WebhookDelivery.created_at,
    WebhookDelivery.status,
    WebhookDelivery.attempts,
    WebhookDelivery.next_attempt_at,
    WebhookDelivery.last_status_code,
    WebhookDelivery.last_response,
    WebhookDelivery.last_duration_ms,
    WebhookDelivery.delivered_at,
)


async def recent_deliveries(endpoint_id: int, *, limit: int = RECENT, actor: Actor) -> list[dict]:
    """The endpoint's latest deliveries, newest first (without their bodies)."""
    _total, rows = await deliveries_page(endpoint_id, offset=0, limit=limit, actor=actor)
    return rows


async def deliveries_page(
    endpoint_id: int, *, offset: int, limit: int, actor: Actor
) -> tuple[int, list[dict]]:
    """How many deliveries the endpoint has, and `limit` of them from `offset`, newest first
    (without their bodies)."""
    await require_permission(actor)
    await get_endpoint(endpoint_id)
    mine = WebhookDelivery.endpoint == endpoint_id
    total = await WebhookDelivery.count().where(mine)
    rows = (
        await WebhookDelivery.select(*_DELIVERY_COLUMNS)
        .where(mine)
        .order_by(WebhookDelivery.id, ascending=False)
        .offset(offset)
        .limit(limit)
    )
    return total, rows


DELIVERY_STATUSES = ("queued", "delivering", "delivered", "failed")


async def delivery_counts() -> tuple[dict[str, int], float]:
    """How many deliveries are in each status, and how long the oldest one not delivered yet
    (queued or being attempted) has waited, in seconds (0 when none waits). For the metrics."""
    counts = dict.fromkeys(DELIVERY_STATUSES, 0)
    for row in await WebhookDelivery.select(WebhookDelivery.status, Count(alias="n")).group_by(
        WebhookDelivery.status
    ):
        counts[row["status"]] = row["n"]
    oldest = (
        await WebhookDelivery.select(WebhookDelivery.created_at)
        .where(WebhookDelivery.status.is_in(["queued", "delivering"]))
        .order_by(WebhookDelivery.id)
        .first()
    )
    waited = (clock.now() - oldest["created_at"]).total_seconds() if oldest else 0.0
    return counts, max(waited, 0.0)


async def send_test_event(endpoint_id: int, *, actor: Actor) -> int:
    """Queues a `webhook.test` message for this endpoint only; returns its delivery's id."""
    await require_permission(actor)
    async with db.transaction():
        endpoint = await get_endpoint(endpoint_id, lock=True)
        message = TestMessage(endpoint_id=endpoint_id)
        delivery_id = await queue_for_endpoint(
            endpoint_id, message.NAME, message.VERSION, msgspec.to_builtins(message)
        )
        await emit(
            WebhookMessagesRequeued(endpoint_id=endpoint_id, why="test", count=1),
            actor=actor,
            description=f"Sent a test event to webhook endpoint #{endpoint_id} "
            f"({shown_url(endpoint['url'])})",
        )
    return delivery_id


async def _requeue(endpoint: dict, originals: list[dict]) -> list[int]:
    """Queues each message again for its endpoint, as it was (the same webhook-id and body),
    after everything queued before."""
    now = clock.now()
    ids = []
    for original in originals:
        rows = await WebhookDelivery.insert(
            WebhookDelivery(
                endpoint=endpoint["id"],
                message_id=original["message_id"],
                event_type=original["event_type"],
                event_version=original["event_version"],
                body=original["body"],
                created_at=now,
                status="queued",
                attempts=0,
                next_attempt_at=now,
            )
        ).returning(WebhookDelivery.id)
        ids.append(rows[0]["id"])
    if ids:
        db.after_commit(wake)
    return ids


async def resend_delivery(delivery_id: int, *, endpoint_id: int | None = None, actor: Actor) -> int:
    """Queues a delivery's message again (the same webhook-id, so a receiver that already has it
    can tell); returns the new delivery's id. `endpoint_id`: the endpoint it must belong to."""
    await require_permission(actor)
    async with db.transaction():
        original = await WebhookDelivery.select().where(WebhookDelivery.id == delivery_id).first()
        if original is None or endpoint_id not in (None, original["endpoint"]):
            raise NotFound(_("No such webhook delivery."))
        endpoint = await get_endpoint(original["endpoint"], lock=True)
        (new_id,) = await _requeue(endpoint, [original])
        await emit(
            WebhookMessagesRequeued(endpoint_id=endpoint["id"], why="resend", count=1),
            actor=actor,
            description=f"Resent {original['event_type']} {original['message_id']} to webhook "
            f"endpoint #{endpoint['id']} ({shown_url(endpoint['url'])})",
        )
    return new_id


# Marked for the catalog, translated where it is raised.
REPLAY_SINCE_FORMAT = N_("Enter a date and time (UTC), e.g. 2026-12-07 09:00.")


def earliest_replay(endpoint: dict) -> datetime:
    """The earliest time a person may replay an endpoint's messages from: the minute it was
    added (a form's time has no seconds)."""
    return endpoint["created_at"].replace(second=0, microsecond=0)


def typed_time(given: str) -> datetime | None:
    """A date and time as a person types it (ISO 8601, as a datetime-local field sends it), in
    UTC unless it names its offset; None when it is not one, or not one that UTC can hold."""
    try:
        typed = datetime.fromisoformat(given.strip())
        return typed.replace(tzinfo=UTC) if typed.tzinfo is None else typed.astimezone(UTC)
    except (ValueError, OverflowError):  # not a time (a NUL byte included); past year 9999
        return None


async def replay_typed(endpoint_id: int, given: str, *, actor: Actor) -> tuple[datetime, int]:
    """replay_since from a time a person typed (the screen's Since): refused (a DomainError on
    `since`, nothing queued) unless it is a date and time from the minute the endpoint was added
    to now. A slip of the keyboard is said, not acted on: year 0001 would send the receiver
    everything again, year 9999 nothing. Returns the time and how many were queued. (The API
    gives replay_since an exact instant, any instant: before the endpoint was added means all.)"""
    await require_permission(actor)
    since = typed_time(given)
    if since is None:
        raise DomainError(_(REPLAY_SINCE_FORMAT), "since")
    earliest = earliest_replay(await get_endpoint(endpoint_id))
    if not earliest <= since <= clock.now():
        raise DomainError(
            _("Enter a time from %(earliest)s UTC, when this endpoint was added, to now.")
            % {"earliest": i18n.format_datetime(earliest, "UTC")},
            "since",
        )
    return since, await replay_since(endpoint_id, since, actor=actor)


async def replay_since(endpoint_id: int, since: datetime, *, actor: Actor) -> int:
    """Queues again, in their order, the messages this endpoint was first given at `since` or
    later (each once, whatever became of it; a resend is not a new message); returns how many."""
    await require_permission(actor)
    async with db.transaction():
        endpoint = await get_endpoint(endpoint_id, lock=True)
        rows = (
            await WebhookDelivery.select()
            .where(
                (WebhookDelivery.endpoint == endpoint_id) & (WebhookDelivery.created_at >= since)
            )
            .order_by(WebhookDelivery.id)
        )
        earlier = {
            row["message_id"]
            for row in await WebhookDelivery.select(WebhookDelivery.message_id).where(
                (WebhookDelivery.endpoint == endpoint_id)
                & (WebhookDelivery.created_at < since)
                & WebhookDelivery.message_id.is_in([row["message_id"] for row in rows] or [""])
            )
        }
        originals = []
        for row in rows:
            if row["message_id"] not in earlier:
                earlier.add(row["message_id"])
                originals.append(row)
        ids = await _requeue(endpoint, originals)
        if ids:
            await emit(
                WebhookMessagesRequeued(endpoint_id=endpoint_id, why="replay", count=len(ids)),
                actor=actor,
                description=f"Replayed {len(ids)} messages since {since:%d %b %Y %H:%M} UTC to "
                f"webhook endpoint #{endpoint_id} ({shown_url(endpoint['url'])})",
            )
    return len(ids)
