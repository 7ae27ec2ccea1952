"""The webhook outbox's writing side: when a change is recorded (app.domain.events.stream.emit),
a delivery row for every enabled endpoint subscribed to its type, in the change's own
transaction, so a change that rolls back sends nothing and one that commits is never lost.

Below the stream of changes so that it can call this; it knows no event class, only a name, a
version and the payload. Managing endpoints and sending are app.domain.webhooks's."""

import asyncio
import secrets
from datetime import UTC, datetime

import msgspec

from app.core import clock, db
from app.schema.webhooks import WebhookDelivery

ALL_TYPES = "*"  # an endpoint's event_types when it takes every type offered
_queued = asyncio.Event()


def wake() -> None:
    """Tells a running sender that deliveries were queued."""
    _queued.set()


def woken() -> asyncio.Event:
    """What a sender waits on between passes (set by `wake`)."""
    return _queued


def message_id() -> str:
    """A new webhook-id: kept by the delivery for every attempt, and by a resend."""
    return f"msg_{secrets.token_urlsafe(18)}"


def body_of(event_type: str, version: int, data: dict, at: datetime) -> str:
    """The JSON every receiver gets: {"type", "version", "timestamp" (ISO 8601, UTC), "data"}."""
    timestamp = at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    document = {"type": event_type, "version": version, "timestamp": timestamp, "data": data}
    return msgspec.json.encode(document).decode()


_CONTAINS = {
    "sqlite": "instr(' ' || event_types || ' ', {})",
    "postgres": "strpos(' ' || event_types || ' ', {})",
}


# One statement for up to CHUNK events of one type, whatever the number of endpoints: the
# subscribed ones are chosen by the database. The types are stored space-separated, so " name "
# inside " types " is a whole-name match.
_QUEUE_MANY = """
INSERT INTO webhook_deliveries
    (endpoint, message_id, event_type, event_version, body, created_at, status, attempts,
     next_attempt_at, last_response)
SELECT e.id, v.column1, {}, {}, v.column2, {}, 'queued', 0, {}, ''
FROM webhook_endpoints e, (VALUES VALUES_HERE) AS v
WHERE e.enabled AND (e.event_types = '*' OR CONTAINS > 0)
RETURNING id
"""
CHUNK = 200


async def queue_many_for_subscribers(event_type: str, version: int, datas: list[dict]) -> int:
    """Queues each event (its data) for every enabled endpoint that takes `event_type`, in the
    current transaction (call it inside the change's); the sender is woken once it commits.
    Returns how many deliveries were queued."""
    now = clock.now()
    contains = _CONTAINS["sqlite" if db.is_sqlite() else "postgres"].replace(
        "event_types", "e.event_types"
    )
    queued = 0
    for start in range(0, len(datas), CHUNK):
        chunk = datas[start : start + CHUNK]
        values = ", ".join(["({}, {})"] * len(chunk))
        sql = _QUEUE_MANY.replace("VALUES_HERE", values).replace("CONTAINS", contains)
        args: list = []
        for data in chunk:
            args += [message_id(), body_of(event_type, version, data, now)]
        rows = await WebhookDelivery.raw(
            sql, event_type, version, now, now, *args, f" {event_type} "
        )
        queued += len(rows)
    if queued:
        db.after_commit(wake)
    return queued


async def queue_for_endpoint(
    endpoint_id: int, event_type: str, version: int, data: dict, *, message: str | None = None
) -> int:
    """Queues one message for one endpoint (a test event, a resend); returns the delivery's id."""
    now = clock.now()
    rows = await WebhookDelivery.insert(
        WebhookDelivery(
            endpoint=endpoint_id,
            message_id=message or message_id(),
            event_type=event_type,
            event_version=version,
            body=body_of(event_type, version, data, now),
            created_at=now,
            status="queued",
            attempts=0,
            next_attempt_at=now,
        )
    ).returning(WebhookDelivery.id)
    db.after_commit(wake)
    return rows[0]["id"]
