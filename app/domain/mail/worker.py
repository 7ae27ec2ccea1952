"""Delivery of the outbox through SMTP, with retries and backoff.

Several workers may run at once on PostgreSQL: each claims one email at a time with FOR UPDATE
SKIP LOCKED and a lease (locked_until), so no email is sent twice: a lease (5 minutes) always
outlives the one send it covers (at most SEND_TIMEOUT), however slow the SMTP server is. A
worker that dies mid-send leaves a lease that expires and the email is claimed again.

A worker that is stopped finishes the email it is sending and stops before the next one; one that
is cancelled mid-send gives the email back at once (queued, no lease, attempts unchanged), so a
stopped process leaves no email leased."""

import asyncio
import logging
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from app.core import clock, db
from app.core.config import Settings
from app.core.passes import run_in_passes
from app.core.uninterrupted import uninterrupted
from app.domain.events.catalog import EmailDelivered, EmailFailed
from app.domain.events.stream import emit
from app.schema.invitations import Invitation
from app.schema.mail import EmailAttempt, OutboundEmail

log = logging.getLogger("roster.mail")

LEASE = timedelta(minutes=5)
SEND_TIMEOUT = 20  # seconds; must stay well under LEASE
BACKOFF = [
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
]
MAX_ATTEMPTS = 8
_wake = asyncio.Event()


def wake() -> None:
    """Tells a running worker that an email was queued, so it goes out promptly."""
    _wake.set()


def parse_smtp_url(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("ROSTER_SMTP_URL must start with smtp:// or smtps://")
    implicit_tls = parts.scheme == "smtps"
    query = parse_qs(parts.query)
    return {
        "hostname": parts.hostname or "localhost",
        "port": parts.port or (465 if implicit_tls else 25),
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "use_tls": implicit_tls,
        "start_tls": query.get("starttls", ["0"])[0] in ("1", "true", "yes"),
    }


_CLAIM_POSTGRES = """
UPDATE outbound_emails SET status = 'sending', locked_until = {}
WHERE id IN (
    SELECT id FROM outbound_emails
    WHERE (status = 'queued' AND next_attempt_at <= {})
       OR (status = 'sending' AND locked_until < {})
    ORDER BY id LIMIT {} FOR UPDATE SKIP LOCKED)
RETURNING *
"""


def _due():
    now = clock.now()
    return ((OutboundEmail.status == "queued") & (OutboundEmail.next_attempt_at <= now)) | (
        (OutboundEmail.status == "sending") & (OutboundEmail.locked_until < now)
    )


async def claim_due(limit: int = 20) -> list[dict]:
    """Marks up to `limit` due emails as being sent by this worker, and returns them."""
    now = clock.now()
    if not db.is_sqlite():
        rows = await OutboundEmail.raw(_CLAIM_POSTGRES, now + LEASE, now, now, limit)
        return sorted(rows, key=lambda r: r["id"])
    async with db.transaction():  # IMMEDIATE: one claimer at a time
        rows = await OutboundEmail.select().where(_due()).order_by(OutboundEmail.id).limit(limit)
        if rows:
            await OutboundEmail.update(
                {OutboundEmail.status: "sending", OutboundEmail.locked_until: now + LEASE}
            ).where(OutboundEmail.id.is_in([r["id"] for r in rows]))
    return rows


def build_message(row: dict, mail_from: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = row["to_address"]
    message["Subject"] = row["subject"]
    # Unique to each try, and naming the outbox row it came from (outbox-ID), so that what a
    # mail server received can be traced to its email after its content is gone (_mark_sent).
    message["Message-ID"] = make_msgid(idstring=f"outbox-{row['id']}", domain="roster.local")
    message.set_content(row["text_body"])
    message.add_alternative(row["html_body"], subtype="html")
    return message


ACCEPTED = "accepted"
DEFERRED = "deferred"
FAILED = "failed"
REPLY_MAX = 500


def _smtp_answer(exc: BaseException) -> tuple[int | None, str]:
    """The SMTP server's answer carried by a failure (its code and text), or (None, the error)
    when there was none (no connection, a timeout)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code, f"{exc.code} {exc.message}".strip()
    return None, f"{type(exc).__name__}: {exc}"


def attempt_outcome(exc: BaseException, *, last: bool) -> tuple[str, str]:
    """(outcome, reply) of a failed try: failed when the server refused for good (5xx) or no
    try is left; else deferred (a temporary refusal, 4xx, or no answer), tried again later."""
    code, reply = _smtp_answer(exc)
    permanent = code is not None and code >= 500
    return (FAILED if permanent or last else DEFERRED), reply[:REPLY_MAX]


def _accepted_reply(result) -> str:
    """What the server answered to the message (aiosmtplib.send: (refused, its reply))."""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str):
        return f"250 {result[1]}".strip()[:REPLY_MAX]
    return "250"


async def _record_attempt(row: dict, number: int, outcome: str, reply: str) -> None:
    await EmailAttempt.insert(
        EmailAttempt(
            email=row["id"],
            number=number,
            attempted_at=clock.now(),
            outcome=outcome,
            reply=reply,
        )
    )


async def _mark_sent(row: dict, reply: str = "250") -> None:
    """The email's new status and its try (the delivery history) in one transaction. Its content
    goes: the links it carries hold tokens (an invitation's, a password reset's), which the
    database otherwise keeps only as hashes, and nothing reads a sent message again."""
    async with db.transaction():
        await OutboundEmail.update(
            {
                OutboundEmail.status: "sent",
                OutboundEmail.sent_at: clock.now(),
                OutboundEmail.attempts: row["attempts"] + 1,
                OutboundEmail.last_error: "",
                OutboundEmail.locked_until: None,
                OutboundEmail.text_body: "",
                OutboundEmail.html_body: "",
            }
        ).where(OutboundEmail.id == row["id"])
        await _record_attempt(row, row["attempts"] + 1, ACCEPTED, reply)
        await _tell_live_pages(row, error=None)


async def _mark_failed(row: dict, exc: BaseException) -> None:
    attempts = row["attempts"] + 1
    gave_up = attempts >= MAX_ATTEMPTS
    delay = BACKOFF[min(attempts - 1, len(BACKOFF) - 1)]
    outcome, reply = attempt_outcome(exc, last=gave_up)
    error = f"{type(exc).__name__}: {exc}"
    async with db.transaction():
        await OutboundEmail.update(
            {
                OutboundEmail.status: "failed" if gave_up else "queued",
                OutboundEmail.attempts: attempts,
                OutboundEmail.last_error: error[:500],
                OutboundEmail.next_attempt_at: clock.now() + delay,
                OutboundEmail.locked_until: None,
            }
        ).where(OutboundEmail.id == row["id"])
        await _record_attempt(row, attempts, outcome, reply)
        await _tell_live_pages(row, error=error, retrying=not gave_up)


async def _tell_live_pages(row: dict, *, error: str | None, retrying: bool = False) -> None:
    """The outbox shows every outcome; an account's pending invites show that an invitation's
    delivery is failing (and, once it went, no longer), and their delivery history every try."""
    client_id = None
    if row["invitation"] is not None:
        invitation = (
            await Invitation.select(Invitation.client)
            .where(Invitation.id == row["invitation"])
            .first()
        )
        if invitation is not None:
            client_id = invitation["client"]
    if error is None:
        await emit(EmailDelivered(email_id=row["id"], client_id=client_id))
    else:
        await emit(EmailFailed(email_id=row["id"], retrying=retrying, client_id=client_id))


async def _release(row: dict) -> None:
    """Gives back an email whose send was interrupted: due again at once, for any worker, and
    the interrupted try not counted."""
    await OutboundEmail.update(
        {OutboundEmail.status: "queued", OutboundEmail.locked_until: None}
    ).where((OutboundEmail.id == row["id"]) & (OutboundEmail.status == "sending"))


async def deliver_due(
    settings: Settings, limit: int = 20, stop: asyncio.Event | None = None
) -> int:
    """Sends up to `limit` due emails, claiming each just before it is sent; returns how many
    were sent. Stops before the next email once `stop` is set. Does nothing without an SMTP URL.
    Cancelled while an email is being sent, it releases that email before the cancellation goes
    on; a claim or an outcome being written is finished first."""
    if not settings.smtp_url:
        return 0
    smtp = parse_smtp_url(settings.smtp_url)
    sent = 0
    for _ in range(limit):
        if stop is not None and stop.is_set():
            break
        claimed, cancelled = await uninterrupted(claim_due(1))
        if not claimed:
            if cancelled:
                raise asyncio.CancelledError
            break
        row = claimed[0]
        if cancelled:
            await uninterrupted(_release(row))
            raise asyncio.CancelledError
        try:
            result = await aiosmtplib.send(
                build_message(row, settings.mail_from), timeout=SEND_TIMEOUT, **smtp
            )
        except asyncio.CancelledError:
            log.info("Delivery of email %s interrupted; it is queued again", row["id"])
            await uninterrupted(_release(row))
            raise
        except Exception as exc:  # any failure: keep the email, retry later
            log.warning("Delivery of email %s to %s failed: %s", row["id"], row["to_address"], exc)
            _, cancelled = await uninterrupted(_mark_failed(row, exc))
        else:
            _, cancelled = await uninterrupted(_mark_sent(row, _accepted_reply(result)))
            sent += 1
        if cancelled:
            raise asyncio.CancelledError
    return sent


async def run_worker(settings: Settings, stop: asyncio.Event, interval: float = 2.0) -> None:
    """Delivers until `stop` is set (checked between emails: the one being sent is finished);
    wakes early when an email is queued. Cancelled mid-send, it gives that email back first."""
    await run_in_passes(
        "Mail worker",
        lambda: deliver_due(settings, stop=stop),
        wake=_wake,
        stop=stop,
        interval=interval,
        log=log,
    )


async def retry_now(email_id: int) -> dict | None:
    """Puts a failed email back in the queue, due now (the admin's Retry): one conditional
    update, so of two retries at once only one happens. The email as it is now, or None when it
    had not failed."""
    rows = (
        await OutboundEmail.update(
            {OutboundEmail.status: "queued", OutboundEmail.next_attempt_at: clock.now()}
        )
        .where((OutboundEmail.id == email_id) & (OutboundEmail.status == "failed"))
        .returning(*OutboundEmail.all_columns())
    )
    return rows[0] if rows else None
