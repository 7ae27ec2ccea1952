"""The invitation link's states: each its own page and only its own controls; Ask for a new
invitation from an expired or cancelled link (the inviter, else the owner, emailed once,
throttled, CSRF), the request shown beside the invite in both lists and cleared by Resend;
nothing on these pages beyond what the invitation email said."""

from datetime import timedelta

import pytest

from app.core import clock
from app.domain.access import services as access
from app.domain.activity.services import Actor
from app.domain.clients import services as clients
from app.domain.invitations import services as invitations
from app.domain.staff.services import create_admin
from app.schema.activity import ActivityEntry
from app.schema.invitations import Invitation
from app.schema.mail import OutboundEmail
from app.schema.staff import Admin
from tests.factories import ADMIN, make_client, make_user, user_actor
from tests.integration.conftest import log_in_as_staff, page, text_of

NO_PENDING = "No pending invite matches this link. Ask the account owner for a new one."
ASK = "Ask for a new invitation"
RENEWAL = "invite_renewal_requested"
HX = {"HX-Request": "true", "HX-Request-Type": "partial"}


async def expire(invitation_id: int) -> None:
    await Invitation.update({Invitation.expires_at: clock.now() - timedelta(minutes=1)}).where(
        Invitation.id == invitation_id
    )


async def renewal_emails() -> list[dict]:
    return await OutboundEmail.select().where(OutboundEmail.template == RENEWAL)


def buttons(response) -> list[str]:
    return [b.get_text(" ", strip=True) for b in page(response).find("main").find_all("button")]


def links(response) -> list[str]:
    return [a.get_text(" ", strip=True) for a in page(response).find("main").find_all("a")]


@pytest.fixture
async def account():
    """An account whose owner (Fiona) invited guest@example.com, with another member (Jo)."""
    client_id, owner = await make_client("Client Test", owner_email="fiona@example.com")
    member = await make_user("Jo", "Walker", email="jo.walker@example.com")
    await access.grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    invitation_id, token = await invitations.invite(
        client_id, "guest@example.com", ["invoices"], actor=user_actor(owner)
    )
    return client_id, owner, member, invitation_id, token


async def test_each_state_of_a_link_shows_its_own_message_and_only_its_controls(http, account):
    client_id, owner, _, invitation_id, token = account
    pending = await http.get(f"/invite/{token}")
    assert pending.status_code == 200 and ASK not in buttons(pending)
    assert "You have been invited to Client Test" in text_of(pending)
    asked_early = await http.post(f"/invite/{token}/renew")  # a pending link: back to its page
    assert asked_early.status_code == 303
    assert asked_early.headers["location"] == f"/invite/{token}"
    assert await renewal_emails() == []

    await expire(invitation_id)
    expired = await http.get(f"/invite/{token}")
    assert expired.status_code == 410
    assert "This invitation has expired" in text_of(expired)
    assert buttons(expired) == [ASK] and "Login" not in links(expired)

    _, cancelled_token = await invitations.invite(
        client_id, "other@example.com", ["tickets"], actor=user_actor(owner)
    )
    cancelled_id = (await Invitation.select().where(Invitation.email == "other@example.com"))[0]
    await invitations.cancel(client_id, cancelled_id["id"], actor=ADMIN)
    cancelled = await http.get(f"/invite/{cancelled_token}")
    assert cancelled.status_code == 410
    assert "This invitation is no longer valid" in text_of(cancelled)
    assert buttons(cancelled) == [ASK]

    _, used_token = await invitations.invite(
        client_id, "used@example.com", ["tickets"], actor=user_actor(owner)
    )
    joiner = await make_user("Uma", "Used", email="used@example.com")
    await invitations.accept(used_token, joiner["id"], actor=user_actor(joiner))
    used = await http.get(f"/invite/{used_token}")
    assert used.status_code == 410
    assert "This invitation was accepted" in text_of(used)
    assert buttons(used) == [] and links(used) == ["Login"]
    assert (await http.post(f"/invite/{used_token}/renew")).status_code == 410
    assert await renewal_emails() == []

    _, open_token = await invitations.invite(
        client_id, "late@example.com", ["tickets"], actor=user_actor(owner)
    )
    await clients.set_status(client_id, "Closed", actor=ADMIN)
    for closed_token in (open_token, token):
        closed = await http.get(f"/invite/{closed_token}")
        assert closed.status_code == 410
        assert "This account is closed" in text_of(closed)
        assert buttons(closed) == [] and ASK not in text_of(closed)
        assert (await http.post(f"/invite/{closed_token}/renew")).status_code == 410
    assert await renewal_emails() == []

    for garbage in ("unknown-token", "x" * 5000, "a%00b", "%E2%80%AE" * 10):
        for answer in (
            await http.get(f"/invite/{garbage}"),
            await http.post(f"/invite/{garbage}/renew"),
        ):
            assert answer.status_code == 404, garbage
            assert NO_PENDING in text_of(answer)
            assert ASK not in text_of(answer)


async def test_asking_emails_the_owner_who_invited_once_and_marks_the_invite(http, account):
    client_id, owner, member, invitation_id, token = account
    await expire(invitation_id)
    asked = await http.post(f"/invite/{token}/renew")
    assert asked.status_code == 410
    assert "You have already asked for a new invitation: we have let them know" in text_of(asked)
    assert ASK not in buttons(asked)
    [email] = await renewal_emails()
    assert email["to_address"] == "fiona@example.com"
    assert email["subject"] == "guest@example.com asked for a new invitation to Client Test"
    assert "invitation you sent" in email["text_body"]
    assert "/account/users" in email["text_body"] and "Resend Invite" in email["text_body"]
    row = await Invitation.select().where(Invitation.id == invitation_id).first()
    assert row["renewal_requested_at"] is not None
    entry = await ActivityEntry.select().where(ActivityEntry.action == "invite.renewal_requested")
    assert len(entry) == 1 and entry[0]["client_id"] == client_id

    again = await http.post(f"/invite/{token}/renew")
    assert again.status_code == 409
    assert "You have already asked for a new invitation on" in text_of(again)
    assert len(await renewal_emails()) == 1
    shown = await http.get(f"/invite/{token}")
    assert "You have already asked" in text_of(shown) and ASK not in buttons(shown)

    # Nothing more than the invitation email said: not the account's people, not the owner's
    # address, not whether the invited address has a login.
    for answer in (asked, again, shown):
        body = answer.text
        for secret in ("fiona@example.com", "jo.walker@example.com", "Jo Walker", "Walker"):
            assert secret not in body
        assert member["email"] not in body and owner["email"] not in body


async def test_simultaneous_asks_send_one_email(account):
    import asyncio

    client_id, _, _, invitation_id, token = account
    await expire(invitation_id)
    outcomes = await asyncio.gather(
        *(invitations.request_renewal(token, ip=f"198.51.100.{n}") for n in range(3)),
        return_exceptions=True,
    )
    asked = [o for o in outcomes if isinstance(o, invitations.LinkState)]
    refused = [o for o in outcomes if isinstance(o, invitations.AlreadyAsked)]
    assert len(asked) == 1 and len(refused) == 2, outcomes
    assert len(await renewal_emails()) == 1
    logged = ActivityEntry.action == "invite.renewal_requested"
    assert await ActivityEntry.count().where(logged & (ActivityEntry.client_id == client_id)) == 1


async def test_a_staff_inviter_is_told_while_they_can_invite_else_the_owner(http):
    client_id, _ = await make_client("Client Test", owner_email="fiona@example.com")
    staff_id = await create_admin(
        email="sam@example.com",
        password="admin-passphrase-77",
        name="Sam Staff",
        role="full",
        actor=ADMIN,
    )
    sam = Actor("admin", staff_id, "Sam Staff", "127.0.0.1")
    first, first_token = await invitations.invite(
        client_id, "a@example.com", ["tickets"], actor=sam
    )
    second, second_token = await invitations.invite(
        client_id, "b@example.com", ["tickets"], actor=sam
    )
    await expire(first)
    await expire(second)
    await http.post(f"/invite/{first_token}/renew")
    await Admin.update({Admin.disabled: True}).where(Admin.id == staff_id)
    await http.post(f"/invite/{second_token}/renew")
    emails = sorted(await renewal_emails(), key=lambda e: e["id"])
    assert [e["to_address"] for e in emails] == ["sam@example.com", "fiona@example.com"]
    assert f"/admin/clients/{client_id}/users" in emails[0]["text_body"]
    assert "/account/users" in emails[1]["text_body"]
    shown = await http.get(f"/invite/{first_token}")
    assert "The invitation Sam Staff sent you" in text_of(shown)  # as the email named them
    assert "sam@example.com" not in (await http.get(f"/invite/{first_token}")).text


async def test_an_owner_who_lost_the_account_is_not_told_the_new_owner_is(http, account):
    client_id, owner, member, invitation_id, token = account
    await clients.transfer_ownership(client_id, member["id"], actor=ADMIN)  # voids Fiona's invites
    shown = await http.get(f"/invite/{token}")
    assert "This invitation is no longer valid" in text_of(shown)
    await http.post(f"/invite/{token}/renew")
    [email] = await renewal_emails()
    assert email["to_address"] == "jo.walker@example.com"
    assert "invitation you sent" not in email["text_body"]
    assert "Invite New User" in email["text_body"]


async def test_asking_is_throttled_per_link_and_per_address(http, account, monkeypatch):
    client_id, owner, _, invitation_id, token = account
    await expire(invitation_id)
    answers = [(await http.post(f"/invite/{token}/renew")).status_code for _ in range(5)]
    assert answers == [410, 409, 409, 429, 429]
    assert len(await renewal_emails()) == 1

    monkeypatch.setattr(invitations.RENEWAL_LIMIT, "per_ip", 2)
    tokens = []
    for n in range(3):
        other_id, other_token = await invitations.invite(
            client_id, f"g{n}@example.com", ["tickets"], actor=user_actor(owner)
        )
        await expire(other_id)
        tokens.append(other_token)
    # The five asks above count against this address too: already over.
    third = await http.post(f"/invite/{tokens[0]}/renew")
    assert third.status_code == 429 and third.headers["retry-after"] == "3600"
    assert "Too many requests for a new invitation" in text_of(third)
    assert buttons(third) == [ASK]
    assert len(await renewal_emails()) == 1


async def test_asking_needs_the_csrf_token(http, account):
    _, _, _, invitation_id, token = account
    await expire(invitation_id)
    refused = await http.post(f"/invite/{token}/renew", csrf=False)
    assert refused.status_code == 403
    assert await renewal_emails() == []
    row = await Invitation.select().where(Invitation.id == invitation_id).first()
    assert row["renewal_requested_at"] is None


async def test_the_request_shows_in_both_lists_and_resend_clears_it(http, account):
    client_id, _, _, invitation_id, token = account
    await expire(invitation_id)
    await http.post(f"/invite/{token}/renew")
    today = clock.now().strftime("%-d %b")
    mark = f"asked for a new invitation on {today}"

    await http.login("fiona@example.com")
    owner_list = await http.get("/account/users")
    row = page(owner_list).find(id=f"invite-{invitation_id}")
    assert mark in row.get_text(" ", strip=True)
    assert row.find("button", string="Resend Invite") is not None

    staff = http.__class__(http.client)
    staff.client.cookies.clear()
    await log_in_as_staff(staff, "ada@example.com", "admin-passphrase-77", "Ada", "full")
    tab = await staff.get(f"/admin/clients/{client_id}/users")
    assert mark in page(tab).find(id=f"invite-{invitation_id}").get_text(" ", strip=True)
    resent = await staff.post(
        f"/admin/clients/{client_id}/invites/{invitation_id}/resend", headers=HX
    )
    assert resent.status_code == 200
    assert mark not in resent.text
    row = await Invitation.select().where(Invitation.id == invitation_id).first()
    assert row["renewal_requested_at"] is None
    tab = await staff.get(f"/admin/clients/{client_id}/users")
    assert "asked for a new invitation" not in text_of(tab)


async def test_with_client_user_management_off_the_owner_is_not_emailed(http, account):
    """The owner cannot resend while staff have turned off client user management: a request
    through the owner's invite emails nobody; staff see it on the invite in the Users tab (a
    staff member's own invite still emails them)."""
    from app.domain.staff.services import DISABLE_CLIENT_USER_MANAGEMENT, set_setting

    client_id, _, _, invitation_id, token = account
    await set_setting(DISABLE_CLIENT_USER_MANAGEMENT, "true", actor=ADMIN)
    await expire(invitation_id)
    asked = await http.post(f"/invite/{token}/renew")
    assert asked.status_code == 410
    assert "You have already asked for a new invitation" in text_of(asked)
    assert await renewal_emails() == []
    [entry] = await ActivityEntry.select().where(ActivityEntry.action == "invite.renewal_requested")
    assert "shown to staff on the Users tab" in entry["description"]
    await log_in_as_staff(http, "ada@example.com", "admin-passphrase-77", "Ada", "full")
    tab = await http.get(f"/admin/clients/{client_id}/users")
    row = page(tab).find(id=f"invite-{invitation_id}").get_text(" ", strip=True)
    assert "asked for a new invitation on" in row

    staff_id = await create_admin(
        email="sam@example.com",
        password="admin-passphrase-77",
        name="Sam Staff",
        role="full",
        actor=ADMIN,
    )
    sam = Actor("admin", staff_id, "Sam Staff", "127.0.0.1")
    theirs, their_token = await invitations.invite(
        client_id, "c@example.com", ["tickets"], actor=sam
    )
    await expire(theirs)
    await invitations.request_renewal(their_token, ip="198.51.100.7")
    assert [e["to_address"] for e in await renewal_emails()] == ["sam@example.com"]
