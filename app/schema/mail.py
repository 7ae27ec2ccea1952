from typing import TYPE_CHECKING

from piccolo.columns import ForeignKey, Integer, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from app.schema.invitations import Invitation


class OutboundEmail(Table, tablename="outbound_emails"):
    """An email in the outbox. Status: queued -> sending -> sent, or back to queued with
    last_error and a later next_attempt_at, and `failed` once attempts run out."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    to_address = Varchar(length=254)
    subject = Varchar(length=255)
    text_body = Text()
    html_body = Text()
    template = Varchar(length=60)
    invitation = ForeignKey(references=Invitation, null=True, on_delete=OnDelete.set_null)
    status = Varchar(length=10, default="queued", index=True)
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz()
    locked_until = Timestamptz(null=True, default=None)
    last_error = Text(default="")
    created_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)
    # Who caused it to be sent, as the history of an invitation's emails names them ("" unknown).
    sent_by = Varchar(length=201, default="")


class EmailAttempt(Table, tablename="email_attempts"):
    """One try at handing an email to the SMTP server, written by the mail worker with the
    email's new status: `outcome` accepted (2xx), deferred (a temporary refusal, 4xx, or no
    answer: tried again later) or failed (a permanent refusal, 5xx, or the last try); `reply`
    the server's answer (or the error met). Goes with its email."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    email = ForeignKey(references=OutboundEmail, null=False, on_delete=OnDelete.cascade, index=True)
    number = Integer()
    attempted_at = Timestamptz()
    outcome = Varchar(length=10)
    reply = Text(default="")
