"""Delivery history of the outbox: email_attempts, one row per try at handing an email to the
SMTP server (its outcome and the server's reply), written by the mail worker in the transaction
that records the email's new status, and going with its email (ON DELETE CASCADE); and
outbound_emails.sent_by, who caused the email to be sent (an invitation's Send or Resend).

Raw, like the migrations of 2026-12-12 and 2026-12-15: the table is created from a frozen copy
of its class (and of the one it points at)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import ForeignKey, Integer, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

ID = "2026-12-20T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "email_attempts, outbound_emails.sent_by"


class OutboundEmail(Table, tablename="outbound_emails"):
    id = Serial(primary_key=True)


class EmailAttempt(Table, tablename="email_attempts"):
    email = ForeignKey(references=OutboundEmail, null=False, on_delete=OnDelete.cascade, index=True)
    number = Integer()
    attempted_at = Timestamptz()
    outcome = Varchar(length=10)
    reply = Text(default="")


ADD = "ALTER TABLE outbound_emails ADD COLUMN sent_by VARCHAR(201) NOT NULL DEFAULT ''"
DROP = "ALTER TABLE outbound_emails DROP COLUMN sent_by"


async def _run(statement: str) -> None:
    from piccolo_conf import DB

    await DB.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="roster", description=DESCRIPTION)

    async def create():
        await _run(ADD)
        await EmailAttempt.create_table()

    async def drop():
        await EmailAttempt.alter().drop_table()
        await _run(DROP)

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
