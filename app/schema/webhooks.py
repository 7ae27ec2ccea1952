from typing import TYPE_CHECKING

from piccolo.columns import (
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table


class WebhookEndpoint(Table, tablename="webhook_endpoints"):
    """Where webhooks go. `event_types`: "*" (every type offered) or the names, space-separated.
    The signing secret (`whsec_` and the base64 of 32 random bytes) is kept to sign with, and is
    shown only when made; after a rotation the previous one signs too, until
    previous_secret_until. `failing_since`: the first failed attempt since the last success."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    url = Varchar(length=2000)
    description = Varchar(length=200, default="")
    event_types = Text(default="*")
    enabled = Boolean(default=True)
    secret = Varchar(length=80, secret=True)
    previous_secret = Varchar(length=80, null=True, default=None, secret=True)
    previous_secret_until = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    failing_since = Timestamptz(null=True, default=None)
    disabled_reason = Text(default="")


class WebhookDelivery(Table, tablename="webhook_deliveries"):
    """One message for one endpoint. Status: queued -> delivering -> delivered, or back to queued
    with a later next_attempt_at, and `failed` once its retries run out. `message_id` (the
    webhook-id header) is the same on every attempt and on a resend."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    endpoint = ForeignKey(references=WebhookEndpoint, on_delete=OnDelete.cascade, index=True)
    message_id = Varchar(length=40)
    event_type = Varchar(length=60)
    event_version = Integer(default=1)
    body = Text()
    created_at = Timestamptz()
    status = Varchar(length=10, default="queued", index=True)
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz()
    locked_until = Timestamptz(null=True, default=None)
    last_status_code = Integer(null=True, default=None)
    last_response = Text(default="")
    last_duration_ms = Integer(null=True, default=None)
    delivered_at = Timestamptz(null=True, default=None)
