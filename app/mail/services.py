"""The outbox: emails are rendered and queued inside the transaction of the change causing them."""

import logging
import re

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from app import clock
from app.config import FRONTEND_DIR, get_settings
from app.mail.tables import OutboundEmail

log = logging.getLogger("roster.mail")

_templates = Environment(
    loader=FileSystemLoader(FRONTEND_DIR / "templates" / "emails"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_LINK = re.compile(r"https?://\S+")


def render_email(template: str, context: dict) -> tuple[str, str, str]:
    """(subject, text body, HTML body) from emails/<template>.{subject.txt,txt,html}."""
    subject = _templates.get_template(f"{template}.subject.txt").render(context)
    text = _templates.get_template(f"{template}.txt").render(context)
    html = _templates.get_template(f"{template}.html").render(context)
    return " ".join(subject.split()), text, html


async def enqueue(*, to: str, template: str, context: dict,
                  invitation_id: int | None = None) -> int:
    """Queues an email. Call it inside the change's transaction: both are kept, or neither."""
    subject, text, html = render_email(template, context)
    now = clock.now()
    rows = await OutboundEmail.insert(OutboundEmail(
        to_address=to, subject=subject, text_body=text, html_body=html, template=template,
        invitation=invitation_id, status="queued", attempts=0, next_attempt_at=now,
        created_at=now,
    )).returning(OutboundEmail.id)
    settings = get_settings()
    if settings.smtp_url is None and not settings.production:
        # Development without SMTP: the links are logged so the developer can follow them.
        log.info("Queued %r for %s (no SMTP configured); links: %s", subject, to,
                 " ".join(_LINK.findall(text)) or "none")
    from app.mail import worker

    worker.wake()
    return rows[0]["id"]
