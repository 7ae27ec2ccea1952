"""Delivery history of invitation emails (each try's SMTP outcome, recorded by the mail worker)
and the invitation link itself: its lifetime a staff setting, shown once after Send or Resend
for the sender to copy, the copy logged. Against a real SMTP server (aiosmtpd) that first
defers, then accepts."""

import hashlib
import logging
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller

from app.core import clock
from app.core.logging_setup import SHOWS_LINKS, RedactingFormatter
from app.domain.invitations import services as invitations
from app.domain.mail import worker
from app.domain.staff import services as admin
from app.schema.activity import ActivityEntry
from app.schema.invitations import Invitation
from app.schema.mail import EmailAttempt, OutboundEmail
from tests.factories import ADMIN, make_client, user_actor
from tests.integration.conftest import message_texts, page, text_of
from tests.integration.test_mail_outbox import free_port, settings_for

HX = {"HX-Request": "true", "HX-Request-Type": "partial"}


class DefersFirst:
    """An SMTP server that answers the first message 451 (try again later), then 250."""

    def __init__(self, refusals: list[str]):
        self.refusals = list(refusals)
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        if self.refusals:
            return self.refusals.pop(0)
        self.envelopes.append(envelope)
        return "250 2.0.0 Ok: queued as ABC123"


@pytest.fixture
def smtp_defers_first():
    handler = DefersFirst(["451 4.7.1 Greylisted, try again later"])
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


async def due_now():
    await OutboundEmail.update({OutboundEmail.next_attempt_at: clock.now()}).where(
        OutboundEmail.status == "queued"
    )


async def test_the_history_shows_a_deferred_then_accepted_email(
    http, admin_session, smtp_defers_first
):
    handler, port = smtp_defers_first
    client_id, _ = await make_client("Greylisted Ltd")
    invitation_id, _ = await invitations.invite(
        client_id, "grey@example.com", ["tickets"], actor=ADMIN
    )
    assert await worker.deliver_due(settings_for(port)) == 0  # deferred
    await due_now()
    assert await worker.deliver_due(settings_for(port)) == 1  # accepted
    assert len(handler.envelopes) == 1
    tries = await EmailAttempt.select().order_by(EmailAttempt.id)
    assert [(t["number"], t["outcome"]) for t in tries] == [(1, "deferred"), (2, "accepted")]
    assert tries[0]["reply"] == "451 4.7.1 Greylisted, try again later"
    assert tries[1]["reply"].startswith("250 ")

    url = f"/admin/clients/{client_id}/invites/{invitation_id}/delivery"
    response = await http.get(url, headers=HX)
    assert response.status_code == 200
    soup = page(response)
    said = text_of(response)
    assert "Delivery of the invite to grey@example.com" in said
    assert "Sent by Ada Admin" in said and "Pending. The current link expires" in said
    rows = [r.get_text(" ", strip=True) for r in soup.select(".delivery-tries tbody tr")]
    assert len(rows) == 2
    assert "Deferred" in rows[0] and "451 4.7.1 Greylisted, try again later" in rows[0]
    assert "Accepted" in rows[1] and "250" in rows[1]
    # Live: the open dialog fetches its body again on news of the account's invites or the outbox.
    body = soup.find(id="delivery-history")
    assert body["data-stale-edit"] == "invites mail"
    assert body["hx-get"] == f"{url}?part=history" and body["hx-trigger"] == "roster:stale-check"
    again = page(await http.get(f"{url}?part=history", headers=HX))
    assert again.find(id="delivery-history") and not again.find(class_="dialog-footer")

    # The Users tab offers it on the invite's row.
    tab = page(await http.get(f"/admin/clients/{client_id}/users"))
    button = tab.find(id=f"delivery-{invitation_id}")
    assert button["hx-get"] == f"/admin/clients/{client_id}/invites/{invitation_id}/delivery"
    assert button["data-dialog-load"] == "delivery-dialog" and tab.find(
        "dialog", id="delivery-dialog"
    )


async def test_a_resend_is_a_second_email_in_the_history_with_who_resent_it(http, admin_session):
    client_id, owner = await make_client("Twice Ltd", owner_email="twice-owner@example.com")
    invitation_id, _ = await invitations.invite(
        client_id, "twice@example.com", ["tickets"], actor=user_actor(owner)
    )
    await invitations.resend(client_id, invitation_id, actor=ADMIN)
    said = text_of(
        await http.get(f"/admin/clients/{client_id}/invites/{invitation_id}/delivery", headers=HX)
    )
    assert "Sent by Olivia Owner" in said and "Resent by Ada Admin" in said
    assert said.count("Not tried yet") == 2


async def test_a_permanent_refusal_fails_and_no_answer_defers():
    refused = worker.aiosmtplib.SMTPResponseException(550, "5.1.1 No such mailbox")
    assert worker.attempt_outcome(refused, last=False) == ("failed", "550 5.1.1 No such mailbox")
    busy = worker.aiosmtplib.SMTPResponseException(421, "4.3.2 Busy")
    assert worker.attempt_outcome(busy, last=False) == ("deferred", "421 4.3.2 Busy")
    assert worker.attempt_outcome(busy, last=True)[0] == "failed"
    unreachable = ConnectionRefusedError("refused")
    assert worker.attempt_outcome(unreachable, last=False) == (
        "deferred",
        "ConnectionRefusedError: refused",
    )


async def test_the_outbox_opens_the_history_of_the_emails_invitation(http, admin_session):
    client_id, _ = await make_client("Outboxed Ltd")
    invitation_id, _ = await invitations.invite(
        client_id, "boxed@example.com", ["tickets"], actor=ADMIN
    )
    await invitations.resend(client_id, invitation_id, actor=ADMIN)
    second = (
        await OutboundEmail.select(OutboundEmail.id)
        .order_by(OutboundEmail.id, ascending=False)
        .first()
    )
    outbox = page(await http.get("/admin/mail"))
    assert outbox.find(id=f"delivery-email-{second['id']}-open")
    assert outbox.find("dialog", id="delivery-dialog")
    said = text_of(await http.get(f"/admin/mail/{second['id']}/delivery", headers=HX))
    assert "Delivery of the invite to boxed@example.com" in said
    assert "Sent by Ada Admin" in said and "Resent by Ada Admin" in said
    assert (await http.get("/admin/mail/999999/delivery", headers=HX)).status_code == 404


async def test_support_operators_see_the_history_but_cannot_log_a_copy(http, support_session):
    client_id, _ = await make_client("Supported Ltd")
    invitation_id, _ = await invitations.invite(
        client_id, "sup@example.com", ["tickets"], actor=ADMIN
    )
    base = f"/admin/clients/{client_id}/invites/{invitation_id}"
    assert (await http.get(f"{base}/delivery", headers=HX)).status_code == 200
    assert (await http.post(f"{base}/link-copied", headers=HX)).status_code == 403
    assert not await ActivityEntry.exists().where(ActivityEntry.action == "invite.link_copied")


async def test_an_owner_sees_only_their_own_accounts_invitations(http):
    client_id, _ = await make_client("Mine Ltd", owner_email="mine-owner@example.com")
    other_id, _ = await make_client("Theirs Ltd", owner_email="theirs-owner@example.com")
    mine, _ = await invitations.invite(client_id, "m@example.com", ["tickets"], actor=ADMIN)
    theirs, _ = await invitations.invite(other_id, "t@example.com", ["tickets"], actor=ADMIN)
    await http.login("mine-owner@example.com")
    shown = await http.get(f"/account/invites/{mine}/delivery", headers=HX)
    assert shown.status_code == 200 and "m@example.com" in text_of(shown)
    refused = await http.get(f"/account/invites/{theirs}/delivery", headers=HX)
    assert refused.status_code == 404 and "t@example.com" not in refused.text
    copied = await http.post(f"/account/invites/{theirs}/link-copied", headers=HX)
    assert copied.status_code == 404
    users = page(await http.get("/account/users"))
    assert users.find(id=f"delivery-{mine}")["hx-get"] == f"/account/invites/{mine}/delivery"


def token_in(response) -> str:
    field = page(response).find(id="invite-link-field")
    assert field is not None and field.has_attr("readonly")
    return field["value"].rsplit("/invite/", 1)[1]


async def test_the_link_is_shown_once_after_send_and_resend_and_its_copy_is_logged(http, caplog):
    caplog.set_level(logging.DEBUG)
    client_id, _ = await make_client("Linked Ltd", owner_email="linked-owner@example.com")
    await http.login("linked-owner@example.com")
    sent = await http.post(
        "/account/users/invite", {"email": "linked@example.com", "scope": "all"}, headers=HX
    )
    assert sent.status_code == 200
    token = token_in(sent)
    row = await Invitation.select().where(Invitation.email == "linked@example.com").first()
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    button = page(sent).find(id="invite-link-copy")
    assert button.name == "button" and button["type"] == "button"
    assert button["hx-post"] == f"/account/invites/{row['id']}/link-copied"
    assert button["hx-trigger"] == "roster:copied"
    assert page(sent).find("script", src=lambda s: s and "js/behaviours/copy-link.js" in s)
    # Nowhere else: not on the page, not in the history, not in the database, not in a log line.
    later = await http.get("/account/users")
    assert token not in later.text and not page(later).find(id="invite-link-field")
    assert token not in (await http.get(f"/account/invites/{row['id']}/delivery", headers=HX)).text
    stored = [str(r) for r in await ActivityEntry.select()] + [
        str(r) for r in await Invitation.select()
    ]
    assert not any(token in text for text in stored)
    # A log line names it only where the development outbox shows links on purpose (no SMTP):
    # every other line goes through the redacting formatter.
    formatter = RedactingFormatter("%(message)s")
    assert not any(
        token in formatter.format(r) for r in caplog.records if not getattr(r, SHOWS_LINKS, False)
    )

    copied = await http.post(f"/account/invites/{row['id']}/link-copied", headers=HX)
    assert copied.status_code == 200
    [entry] = await ActivityEntry.select().where(ActivityEntry.action == "invite.link_copied")
    assert entry["description"] == (
        "Invitation link copied: the invite to linked@example.com for Linked Ltd"
    )
    assert entry["actor_name"] == "Olivia Owner"

    await Invitation.update({Invitation.last_sent_at: clock.now() - timedelta(hours=1)}).where(
        Invitation.id == row["id"]
    )
    resent = await http.post(f"/account/invites/{row['id']}/resend", headers=HX)
    new_token = token_in(resent)
    assert new_token != token
    again = await Invitation.select().where(Invitation.id == row["id"]).first()
    assert again["token_hash"] == hashlib.sha256(new_token.encode()).hexdigest()
    cancelled = await http.post(f"/account/invites/{row['id']}/cancel", headers=HX)
    assert not page(cancelled).find(id="invite-link-field")
    gone = await http.post(f"/account/invites/{row['id']}/link-copied", headers=HX)
    assert gone.status_code == 404


async def test_staff_see_the_link_after_associating_a_new_email(http, admin_session):
    client_id, _ = await make_client("Associated Ltd")
    sent = await http.post(
        f"/admin/clients/{client_id}/associate",
        {"user_id": "new", "new_email": "assoc@example.com", "scope": "all"},
        headers=HX,
    )
    assert sent.status_code == 200, sent.text
    token = token_in(sent)
    row = await Invitation.select().where(Invitation.email == "assoc@example.com").first()
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    copied = await http.post(
        f"/admin/clients/{client_id}/invites/{row['id']}/link-copied", headers=HX
    )
    assert copied.status_code == 200
    assert await ActivityEntry.exists().where(ActivityEntry.action == "invite.link_copied")


async def test_the_lifetime_is_a_setting_from_1_to_30_days_used_by_send_and_resend(
    http, admin_session
):
    assert await admin.invite_lifetime_days() == 7
    settings = page(await http.get("/admin/settings"))
    field = settings.find("input", {"name": "invite_lifetime_days"})
    assert field["value"] == "7" and field["min"] == "1" and field["max"] == "30"
    opened = settings.find("input", {"name": "opened"})["value"]
    for wrong in ("0", "31", "abc", "2.5", ""):
        refused = await http.post(
            "/admin/settings",
            {"company_name": "Roster", "invite_lifetime_days": wrong, "opened": opened},
            headers=HX,
        )
        assert refused.status_code == 422, wrong
        assert "a whole number from 1 to 30" in text_of(refused)
    saved = await http.post(
        "/admin/settings",
        {"company_name": "Roster", "invite_lifetime_days": "3", "opened": opened},
        headers=HX,
    )
    assert saved.status_code == 200
    assert await admin.invite_lifetime_days() == 3
    assert await ActivityEntry.exists().where(ActivityEntry.action == "settings.changed")

    client_id, _ = await make_client("Short Ltd")
    before = clock.now()
    invitation_id, _ = await invitations.invite(
        client_id, "short@example.com", ["tickets"], actor=ADMIN
    )
    row = await Invitation.select().where(Invitation.id == invitation_id).first()
    assert before + timedelta(days=3) <= row["expires_at"] <= clock.now() + timedelta(days=3)
    email = await OutboundEmail.select().where(OutboundEmail.invitation == invitation_id).first()
    assert "valid for 3 days" in email["text_body"]

    await admin.set_setting(admin.INVITE_LIFETIME_DAYS, "30", actor=ADMIN)
    await Invitation.update({Invitation.last_sent_at: clock.now() - timedelta(hours=1)}).where(
        Invitation.id == invitation_id
    )
    resent = await http.post(
        f"/admin/clients/{client_id}/invites/{invitation_id}/resend", headers=HX
    )
    assert message_texts(resent) == [
        "Invite sent again to short@example.com, with a new link valid for 30 days."
    ]
    row = await Invitation.select().where(Invitation.id == invitation_id).first()
    assert row["expires_at"] >= clock.now() + timedelta(days=30) - timedelta(minutes=1)


async def test_pages_name_the_links_lifetime_as_it_is(http, admin_session):
    """The bulk form's resend choice says the lifetime set now; an expired link's page says the
    lifetime its last email gave (not always 7 days)."""
    await admin.set_setting(admin.INVITE_LIFETIME_DAYS, "3", actor=ADMIN)
    client_id, _ = await make_client("Lifetime Ltd")
    bulk_page = text_of(await http.get(f"/admin/clients/{client_id}/users/bulk"))
    assert "a new link, valid 3 days again" in bulk_page
    _, token = await invitations.invite(client_id, "life@example.com", ["tickets"], actor=ADMIN)
    await admin.set_setting(admin.INVITE_LIFETIME_DAYS, "12", actor=ADMIN)
    sent = clock.now() - timedelta(days=4)
    await Invitation.update(
        {Invitation.last_sent_at: sent, Invitation.expires_at: sent + timedelta(days=3)}
    ).where(Invitation.email == "life@example.com")
    expired = await http.get(f"/invite/{token}")
    assert expired.status_code == 410
    assert "was valid for 3 days and that time has passed" in text_of(expired)
