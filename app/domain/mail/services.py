"""The outbox: emails are rendered and queued inside the transaction of the change causing them."""

import logging
import re

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from piccolo.query.functions.aggregate import Count

from app.core import clock, db, i18n
from app.core.config import FRONTEND_DIR, get_settings
from app.core.errors import DomainError, NotFound
from app.core.i18n import _
from app.core.logging_setup import SHOWS_LINKS
from app.core.paging import page_of
from app.core.validation import email_key
from app.domain.activity.services import Actor
from app.domain.events.catalog import EmailQueued, EmailRetried
from app.domain.events.stream import emit, emit_all
from app.schema.mail import EmailAttempt, OutboundEmail

log = logging.getLogger("roster.mail")

_templates = Environment(
    loader=FileSystemLoader(FRONTEND_DIR / "templates" / "emails"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
i18n.install(_templates)
_templates.globals["language"] = i18n.current
SUBJECT_MAX = 255
_LINK = re.compile(r"https?://\S+")


def render_email(template: str, context: dict) -> tuple[str, str, str]:
    """(subject, text body, HTML body) from emails/<template>.{subject.txt,txt,html}."""
    subject = _templates.get_template(f"{template}.subject.txt").render(context)
    text = _templates.get_template(f"{template}.txt").render(context)
    html = _templates.get_template(f"{template}.html").render(context)
    return " ".join(subject.split()), text, html


async def enqueue(
    *,
    to: str,
    template: str,
    context: dict,
    invitation_id: int | None = None,
    sent_by: str = "",
) -> int:
    """Queues an email. Call it inside the change's transaction: both are kept, or neither.
    `sent_by`: who caused it (an invitation's history names them)."""
    (email_id,) = await enqueue_many(
        [
            {
                "to": to,
                "template": template,
                "context": context,
                "invitation_id": invitation_id,
                "sent_by": sent_by,
            }
        ]
    )
    return email_id


async def recipients_languages(addresses: list[str]) -> dict[str, i18n.Language]:
    """The language each address reads its email in, by email key: a user's own, a staff
    member's own (when they chose one). An address of neither is left out: its email is
    written in the language of the request that sends it (an invitation: the inviter's)."""
    keys = sorted({email_key(address) for address in addresses})
    if not keys:
        return {}
    marks = ", ".join("{}" for key in keys)
    rows = await db.read(
        f"SELECT email_key, language, 1 AS staff FROM admins WHERE email_key IN ({marks}) "
        f"AND language IS NOT NULL UNION ALL "
        f"SELECT email_key, language, 0 AS staff FROM users WHERE email_key IN ({marks})",
        *keys,
        *keys,
    )
    found: dict[str, i18n.Language] = {}
    for row in sorted(rows, key=lambda row: row["staff"]):  # a user's own language wins
        found.setdefault(row["email_key"], i18n.language_named(row["language"]))
    return found


async def enqueue_many(messages: list[dict]) -> list[int]:
    """`enqueue` for many emails at once (each a dict of enqueue's keyword arguments), in few
    statements; their ids, in the order given."""
    now = clock.now()
    rows = []
    settings = get_settings()
    languages = await recipients_languages([message["to"] for message in messages])
    for message in messages:
        with i18n.using(languages.get(email_key(message["to"])) or i18n.current()):
            subject, text, html = render_email(message["template"], message["context"])
        if len(subject) > SUBJECT_MAX:
            subject = subject[: SUBJECT_MAX - 1] + "…"
        rows.append(
            OutboundEmail(
                to_address=message["to"],
                subject=subject,
                text_body=text,
                html_body=html,
                template=message["template"],
                invitation=message.get("invitation_id"),
                sent_by=message.get("sent_by", "")[:201],
                status="queued",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        if settings.smtp_url is None and not settings.production:
            log.info(
                "Queued %r for %s (no SMTP configured); links: %s",
                subject,
                message["to"],
                " ".join(_LINK.findall(text)) or "none",
                extra={SHOWS_LINKS: True},
            )
    ids: list[int] = []
    for start in range(0, len(rows), MANY_CHUNK):
        made = await OutboundEmail.insert(*rows[start : start + MANY_CHUNK]).returning(
            OutboundEmail.id
        )
        ids += sorted(row["id"] for row in made)  # given in the order inserted
    await emit_all(
        [
            (EmailQueued(email_id=email_id, template=message["template"]), "")
            for email_id, message in zip(ids, messages, strict=True)
        ]
    )
    from app.domain.mail import worker

    db.after_commit(worker.wake)
    return ids


MANY_CHUNK = 200  # rows per INSERT, far under the engines' parameter limits

STATUSES = ("queued", "sending", "sent", "failed")
_LIST_COLUMNS = (
    OutboundEmail.id,
    OutboundEmail.to_address,
    OutboundEmail.subject,
    OutboundEmail.template,
    OutboundEmail.status,
    OutboundEmail.attempts,
    OutboundEmail.next_attempt_at,
    OutboundEmail.last_error,
    OutboundEmail.created_at,
    OutboundEmail.sent_at,
)


async def status_counts() -> dict[str, int]:
    """How many emails are in each status (one query)."""
    counts = dict.fromkeys(STATUSES, 0)
    for row in await OutboundEmail.select(OutboundEmail.status, Count(alias="n")).group_by(
        OutboundEmail.status
    ):
        counts[row["status"]] = row["n"]
    return counts


async def outbox_page(*, status: str | None = None, page: int = 1, per_page: int = 50) -> dict:
    """One page of the outbox, newest first (without the bodies), optionally of one status;
    with the number of emails in each status. Two queries whatever the page length."""
    if status is not None and status not in STATUSES:
        raise DomainError(_("Unknown status %(status)s.") % {"status": repr(status)}, "status")
    counts = await status_counts()
    total = counts.get(status, 0) if status else sum(counts.values())
    shown = page_of(page, size=per_page, total=total)
    query = OutboundEmail.select(*_LIST_COLUMNS).order_by(OutboundEmail.id, ascending=False)
    if status:
        query = query.where(OutboundEmail.status == status)
    rows = await query.limit(shown.size).offset(shown.offset)
    return {"emails": rows, "counts": counts, "all": sum(counts.values()), "shown": shown}


async def get_email(email_id: int) -> dict:
    row = await OutboundEmail.select().where(OutboundEmail.id == email_id).first()
    if row is None:
        raise NotFound(_("No such email in the outbox."))
    return row


async def retry(email_id: int, *, actor: Actor) -> dict:
    """The admin's Retry: a failed email goes back in the queue, due now. Any other status is
    refused (a queued email is retried anyway; a sent one must not go twice)."""
    from app.domain.mail import worker

    async with db.transaction():
        row = await worker.retry_now(email_id)
        if row is None:
            status = (await get_email(email_id))["status"]
            raise DomainError(
                _("Only a failed email can be retried; this one is %(status)s.")
                % {"status": status}
            )
        await emit(
            EmailRetried(email_id=email_id),
            actor=actor,
            description=f"Email #{email_id} to {row['to_address']} ({row['subject']}): "
            "failed -> queued",
        )
    worker.wake()
    return row


async def invitation_emails(invitation_id: int, sent_with: int | None = None) -> list[dict]:
    """Every email of an invitation (and, for one sent for several accounts, the email it was
    sent with: that of `sent_with`), oldest first (without the bodies), each with its tries
    (`tries`, oldest first): two statements."""
    emails = (
        await OutboundEmail.select(*_LIST_COLUMNS, OutboundEmail.sent_by)
        .where(OutboundEmail.invitation.is_in([i for i in (invitation_id, sent_with) if i]))
        .order_by(OutboundEmail.id)
    )
    tries: dict[int, list[dict]] = {row["id"]: [] for row in emails}
    if tries:
        for row in (
            await EmailAttempt.select()
            .where(EmailAttempt.email.is_in(list(tries)))
            .order_by(EmailAttempt.id)
        ):
            tries[row["email"]].append(row)
    for row in emails:
        row["tries"] = tries[row["id"]]
    return emails


async def invitation_of_email(email_id: int) -> int | None:
    """The invitation an email of the outbox carried, if any (NotFound: no such email)."""
    row = (
        await OutboundEmail.select(OutboundEmail.invitation)
        .where(OutboundEmail.id == email_id)
        .first()
    )
    if row is None:
        raise NotFound(_("No such email in the outbox."))
    return row["invitation"]


async def email_tries(email_id: int) -> list[dict]:
    """An email's tries at the SMTP server, oldest first."""
    return (
        await EmailAttempt.select().where(EmailAttempt.email == email_id).order_by(EmailAttempt.id)
    )
