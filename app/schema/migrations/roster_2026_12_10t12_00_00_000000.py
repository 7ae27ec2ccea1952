"""Webhooks: the endpoints they go to (with the signing secret, kept to sign with) and the
outbox of deliveries, each going with its endpoint (ON DELETE CASCADE). A partial index holds
each endpoint's undelivered deliveries in order, which is what the sender asks for: the oldest
of an endpoint is the only one it may send.

Raw, like the migration of 2026-12-07: the tables are created from frozen copies of their
classes, then the partial index (which Piccolo cannot declare)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import (
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table


class WebhookEndpoint(Table, tablename="webhook_endpoints"):
    url = Varchar(length=2000)
    description = Varchar(length=200, default="")
    event_types = Text(default="*")
    enabled = Boolean(default=True)
    secret = Varchar(length=80)
    previous_secret = Varchar(length=80, null=True, default=None)
    previous_secret_until = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    failing_since = Timestamptz(null=True, default=None)
    disabled_reason = Text(default="")


class WebhookDelivery(Table, tablename="webhook_deliveries"):
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


ID = "2026-12-10T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Webhook endpoints and deliveries"

PENDING_INDEX = (
    "CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (endpoint, id) "
    "WHERE status IN ('queued', 'delivering')"
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="roster", description=DESCRIPTION)

    async def create_tables():
        from piccolo_conf import DB

        await WebhookEndpoint.create_table()
        await WebhookDelivery.create_table()
        await DB.run_ddl(PENDING_INDEX)

    async def drop_tables():
        await WebhookDelivery.alter().drop_table()
        await WebhookEndpoint.alter().drop_table()

    manager.add_raw(create_tables)
    manager.add_raw_backwards(drop_tables)
    return manager
