"""The rules as domain operations, against the real database (SQLite or PostgreSQL)."""

from datetime import timedelta

import pytest

from app.core import clock
from app.core.dberrors import is_unique_violation
from app.core.errors import DomainError, NotFound
from app.core.permissions import ALL_KEYS
from app.core.security import token_hash
from app.domain.access import services as access
from app.domain.activity.services import Actor
from app.domain.clients import services as clients
from app.domain.invitations import services as invitations
from app.domain.staff import services as admin_services
from app.domain.users import services as users
from app.schema.activity import ActivityEntry
from app.schema.clients import Client
from app.schema.grants import Grant
from app.schema.invitations import Invitation
from app.schema.mail import OutboundEmail
from app.schema.users import User
from tests.factories import ADMIN, make_client, make_user, unique_email, user_actor


async def counts() -> dict:
    return {
        t.__name__: await t.count()
        for t in (User, Client, Grant, Invitation, OutboundEmail, ActivityEntry)
    }


# Rule 1: exactly one owner, who has every permission.


async def test_creating_a_client_creates_its_owner_with_total_access():
    client_id, owner = await make_client("Acme Hosting")
    client = await clients.get_client(client_id)
    assert client["owner"] == owner["id"]
    found = await access.access_for(owner["id"], client_id)
    assert found.is_owner and found.permissions == ALL_KEYS


async def test_creating_a_client_reuses_the_owner_user_by_email_case_insensitively():
    _, owner = await make_client("First", owner_email="Same@Example.com")
    second, again = await make_client("Second", owner_email="same@example.COM")
    assert again["id"] == owner["id"]
    assert await User.count() == 1
    assert (await clients.get_client(second))["owner"] == owner["id"]


async def test_the_owner_cannot_be_removed_nor_have_permissions_edited():
    client_id, owner = await make_client()
    with pytest.raises(DomainError, match="owner"):
        await access.revoke_access(client_id, owner["id"], actor=ADMIN)
    with pytest.raises(DomainError, match="owner"):
        await access.update_permissions(client_id, owner["id"], ["profile"], actor=ADMIN)
    assert (await access.access_for(owner["id"], client_id)).permissions == ALL_KEYS


async def test_ownership_moves_only_by_an_admin_to_an_associated_user():
    client_id, owner = await make_client()
    stranger = await make_user()
    with pytest.raises(DomainError, match="already associated"):
        await clients.transfer_ownership(client_id, stranger["id"], actor=ADMIN)
    await access.grant_access(client_id, stranger["id"], ["tickets"], actor=ADMIN)
    with pytest.raises(DomainError, match="Only staff"):
        await clients.transfer_ownership(client_id, stranger["id"], actor=user_actor(owner))
    await clients.transfer_ownership(client_id, stranger["id"], actor=ADMIN)
    assert (await clients.get_client(client_id))["owner"] == stranger["id"]
    previous = await access.access_for(owner["id"], client_id)
    assert not previous.is_owner and previous.permissions == ALL_KEYS
    assert (await access.access_for(stranger["id"], client_id)).is_owner
    entry = (
        await ActivityEntry.select().where(ActivityEntry.action == "client.owner_changed").first()
    )
    assert "Olivia Owner -> Una User" in entry["description"]


# Grants, their activity entries, and bad input that writes nothing.


async def test_grant_update_revoke_write_activity_with_before_and_after():
    client_id, _ = await make_client()
    user = await make_user()
    await access.grant_access(client_id, user["id"], ["tickets", "profile"], actor=ADMIN)
    await access.update_permissions(client_id, user["id"], ["invoices"], actor=ADMIN)
    await access.revoke_access(client_id, user["id"], actor=ADMIN)
    rows = (
        await ActivityEntry.select()
        .where(ActivityEntry.user_id == user["id"])
        .order_by(ActivityEntry.id)
    )
    described = [(r["action"], r["description"]) for r in rows]
    assert (
        "access.granted",
        "Gave Una User access to Acme Hosting: none -> profile, tickets",
    ) in described
    assert any(
        a == "access.permissions_changed" and "profile, tickets -> invoices" in d
        for a, d in described
    )
    assert any(a == "access.revoked" and "invoices -> none" in d for a, d in described)
    assert all(r["actor_type"] == "admin" and r["actor_name"] == "Ada Admin" for r in rows)
    assert await users.get_user(user["id"])  # removing access never deletes the user


@pytest.mark.parametrize(
    "keys,message",
    [
        (["profile", "sudo"], "Unknown permission: sudo"),
        ([], "at least one permission"),
    ],
)
async def test_bad_permissions_are_refused_and_write_nothing(keys, message):
    client_id, _ = await make_client()
    user = await make_user()
    before = await counts()
    with pytest.raises(DomainError, match=message):
        await access.grant_access(client_id, user["id"], keys, actor=ADMIN)
    with pytest.raises(DomainError, match=message):
        await invitations.invite(client_id, unique_email(), keys, actor=ADMIN)
    assert await counts() == before


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"email": "not an email"}, "email"),
        ({"first_name": "x" * 101}, "first_name"),
        ({"last_name": ""}, "last_name"),
        ({"password": "abc"}, "password"),
    ],
)
async def test_invalid_users_are_refused_and_write_nothing(kwargs, field):
    before = await counts()
    values = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": unique_email(),
        "password": "violet-anchor-tundra-42",
        **kwargs,
    }
    with pytest.raises(DomainError) as err:
        await users.create_user(**values, actor=ADMIN)
    assert err.value.field == field
    assert await counts() == before


async def test_emails_are_unique_whatever_their_case():
    await make_user(email="jo@example.com")
    with pytest.raises(DomainError, match="already exists"):
        await make_user(email="JO@example.com")


async def test_the_database_refuses_a_second_grant_for_the_same_user_and_account():
    client_id, owner = await make_client()
    now = clock.now()
    with pytest.raises(Exception) as err:  # noqa: B017 (each engine has its own class)
        await Grant.insert(
            Grant(
                user=owner["id"],
                client=client_id,
                permissions="profile",
                created_at=now,
                updated_at=now,
            )
        )
    assert is_unique_violation(err.value)
    with pytest.raises(DomainError, match="already has access"):
        await access.grant_access(client_id, owner["id"], ["profile"], actor=ADMIN)


# Rule 7: a user is deleted only without grants.


async def test_a_user_is_deleted_only_once_no_grants_remain():
    client_id, _ = await make_client()
    user = await make_user()
    await access.grant_access(client_id, user["id"], ["tickets"], actor=ADMIN)
    with pytest.raises(DomainError, match="Remove that access first"):
        await users.delete_user(user["id"], actor=ADMIN)
    await access.revoke_access(client_id, user["id"], actor=ADMIN)
    await users.delete_user(user["id"], actor=ADMIN)
    with pytest.raises(NotFound):
        await users.get_user(user["id"])


# Rules 3 and 5: invitations.


async def test_an_invite_stores_only_the_token_hash_and_queues_its_email_atomically():
    client_id, owner = await make_client("Client Test")
    invitation_id, token = await invitations.invite(
        client_id, "Guest@Example.com", ["invoices", "tickets"], actor=user_actor(owner)
    )
    row = await Invitation.select().where(Invitation.id == invitation_id).first()
    assert row["token_hash"] == token_hash(token)
    assert token not in str(row)
    assert row["expires_at"] - row["last_sent_at"] == timedelta(days=7)
    assert row["sender_name"] == "Olivia Owner" and row["invited_by_user"] == owner["id"]
    email = await OutboundEmail.select().where(OutboundEmail.invitation == invitation_id).first()
    assert email["to_address"] == "Guest@example.com"
    assert email["subject"] == "Olivia Owner has invited you to their account"
    assert f"/invite/{token}" in email["text_body"]
    assert "valid for 7 days" in email["text_body"]
    assert invitations.status(row) == "pending"


async def test_an_invite_sent_by_staff_names_the_company_in_the_subject():
    client_id, _ = await make_client()
    invitation_id, _ = await invitations.invite(client_id, unique_email(), ["tickets"], actor=ADMIN)
    email = await OutboundEmail.select().where(OutboundEmail.invitation == invitation_id).first()
    assert email["subject"] == "An agent of Roster has sent you an invite"


async def test_a_second_pending_invite_for_the_same_email_is_refused():
    client_id, _ = await make_client()
    await invitations.invite(client_id, "dup@example.com", ["tickets"], actor=ADMIN)
    before = await counts()
    with pytest.raises(DomainError, match="already pending.*Resend"):
        await invitations.invite(client_id, "DUP@example.com", ["profile"], actor=ADMIN)
    assert await counts() == before


async def test_inviting_an_associated_user_is_refused():
    client_id, owner = await make_client()
    with pytest.raises(DomainError, match="already has access"):
        await invitations.invite(client_id, owner["email"].upper(), ["tickets"], actor=ADMIN)


async def test_an_expired_invite_makes_way_for_a_new_one(monkeypatch):
    client_id, _ = await make_client()
    first_id, _ = await invitations.invite(client_id, "late@example.com", ["tickets"], actor=ADMIN)
    later = clock.now() + timedelta(days=8)
    monkeypatch.setattr(clock, "now", lambda: later)
    second_id, _ = await invitations.invite(client_id, "late@example.com", ["tickets"], actor=ADMIN)
    assert second_id != first_id
    pending = await invitations.pending_for_client(client_id)
    assert [p["id"] for p in pending] == [second_id]


async def test_resend_issues_a_fresh_token_and_restarts_the_seven_days(monkeypatch):
    client_id, _ = await make_client()
    invitation_id, old = await invitations.invite(
        client_id, "guest@example.com", ["tickets"], actor=ADMIN
    )
    later = clock.now() + timedelta(days=5)
    monkeypatch.setattr(clock, "now", lambda: later)
    new = (await invitations.resend(client_id, invitation_id, actor=ADMIN)).token
    assert new != old
    row = await Invitation.select().where(Invitation.id == invitation_id).first()
    assert row["expires_at"] == later + timedelta(days=7)
    assert row["times_sent"] == 2
    with pytest.raises(invitations.InviteUnavailable):
        await invitations.pending_invite(old)
    assert (await invitations.pending_invite(new))["id"] == invitation_id
    assert await OutboundEmail.count().where(OutboundEmail.invitation == invitation_id) == 2


async def test_cancel_kills_the_link_and_resend_or_cancel_of_another_account_is_refused():
    client_id, _ = await make_client()
    other_id, _ = await make_client("Other")
    invitation_id, token = await invitations.invite(
        client_id, "guest@example.com", ["tickets"], actor=ADMIN
    )
    with pytest.raises(NotFound):
        await invitations.cancel(other_id, invitation_id, actor=ADMIN)
    with pytest.raises(NotFound):
        await invitations.resend(other_id, invitation_id, actor=ADMIN)
    emails_before = await OutboundEmail.count()
    await invitations.cancel(client_id, invitation_id, actor=ADMIN)
    assert await OutboundEmail.count() == emails_before  # the invitee is not notified
    with pytest.raises(invitations.InviteUnavailable):
        await invitations.pending_invite(token)
    user = await make_user()
    with pytest.raises(invitations.InviteUnavailable):
        await invitations.accept(token, user["id"], actor=user_actor(user))
    with pytest.raises(NotFound):
        await invitations.resend(client_id, invitation_id, actor=ADMIN)


# Rule 4: accepting.


async def test_accepting_grants_the_invited_permissions_with_any_email():
    client_id, owner = await make_client("Client Test")
    _, token = await invitations.invite(
        client_id, "invited@example.com", ["invoices", "quotes"], actor=user_actor(owner)
    )
    someone = await make_user("Sam", "Else", email="different@example.com")
    assert await invitations.accept(token, someone["id"], actor=user_actor(someone)) == client_id
    granted = await access.access_for(someone["id"], client_id)
    assert granted.permissions == ("invoices", "quotes") and not granted.is_owner
    notice = await OutboundEmail.select().where(OutboundEmail.template == "invite_accepted").first()
    assert notice["to_address"] == owner["email"]
    with pytest.raises(invitations.InviteUnavailable):
        await invitations.accept(token, someone["id"], actor=user_actor(someone))


async def test_an_already_associated_user_gets_a_clear_message_and_no_duplicate():
    client_id, owner = await make_client()
    member = await make_user()
    await access.grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    _, token = await invitations.invite(client_id, unique_email(), ["profile"], actor=ADMIN)
    with pytest.raises(invitations.AlreadyAssociated, match="already have access"):
        await invitations.accept(token, member["id"], actor=user_actor(member))
    assert await Grant.count().where(Grant.user == member["id"]) == 1
    assert await invitations.pending_invite(token)  # still pending for someone else


async def test_an_expired_invite_cannot_be_accepted(monkeypatch):
    client_id, _ = await make_client()
    _, token = await invitations.invite(client_id, unique_email(), ["tickets"], actor=ADMIN)
    user = await make_user()
    later = clock.now() + timedelta(days=7, seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    with pytest.raises(invitations.InviteUnavailable) as err:
        await invitations.accept(token, user["id"], actor=user_actor(user))
    assert err.value.message == invitations.NO_PENDING_INVITE
    assert await Grant.count().where(Grant.user == user["id"]) == 0


async def test_unknown_accepted_cancelled_and_expired_tokens_look_the_same(monkeypatch):
    client_id, _ = await make_client()
    messages = set()
    for case in ("unknown", "accepted", "cancelled", "expired"):
        invitation_id, token = await invitations.invite(
            client_id, unique_email(), ["tickets"], actor=ADMIN
        )
        if case == "unknown":
            token = token[::-1]
        elif case == "accepted":
            user = await make_user()
            await invitations.accept(token, user["id"], actor=user_actor(user))
        elif case == "cancelled":
            await invitations.cancel(client_id, invitation_id, actor=ADMIN)
        else:
            await Invitation.update(
                {Invitation.expires_at: clock.now() - timedelta(seconds=1)}
            ).where(Invitation.id == invitation_id)
        with pytest.raises(invitations.InviteUnavailable) as err:
            await invitations.pending_invite(token)
        messages.add((type(err.value), err.value.message))
    assert len(messages) == 1


async def test_the_admin_setting_can_require_the_invited_email():
    client_id, _ = await make_client()
    await admin_services.set_setting(admin_services.REQUIRE_INVITED_EMAIL, "true", actor=ADMIN)
    _, token = await invitations.invite(client_id, "right@example.com", ["tickets"], actor=ADMIN)
    wrong = await make_user(email="wrong@example.com")
    with pytest.raises(DomainError, match="different email"):
        await invitations.accept(token, wrong["id"], actor=user_actor(wrong))
    right = await make_user(email="Right@example.com")
    await invitations.accept(token, right["id"], actor=user_actor(right))


# Rule 6: Associate User.


async def test_associate_existing_user_without_invite_grants_at_once():
    client_id, _ = await make_client()
    user = await make_user()
    result = await invitations.associate(
        client_id, actor=ADMIN, keys=["tickets"], send_invite=False, user_id=user["id"]
    )
    assert not result.invited and result.name == f"{user['first_name']} {user['last_name']}"
    assert (await access.access_for(user["id"], client_id)).permissions == ("tickets",)
    assert await Invitation.count() == 0


async def test_associate_with_invite_or_a_new_email_always_invites():
    client_id, _ = await make_client()
    user = await make_user()
    assert (
        await invitations.associate(
            client_id, actor=ADMIN, keys=["tickets"], send_invite=True, user_id=user["id"]
        )
    ).invited
    assert await access.access_for(user["id"], client_id) is None
    assert (
        await invitations.associate(
            client_id, actor=ADMIN, keys=["tickets"], send_invite=False, email="new@example.com"
        )
    )[:3] == (True, "new@example.com", "")
    assert await User.exists().where(User.email_key == "new@example.com") is False
    assert await Invitation.count() == 2


async def test_activity_names_actor_ip_account_and_user():
    client_id, owner = await make_client()
    actor = Actor("user", owner["id"], "Olivia Owner", "10.0.0.9")
    await invitations.invite(client_id, "x@example.com", ["tickets"], actor=actor)
    entry = await ActivityEntry.select().where(ActivityEntry.action == "invite.sent").first()
    assert (entry["actor_type"], entry["actor_id"], entry["ip"], entry["client_id"]) == (
        "user",
        owner["id"],
        "10.0.0.9",
        client_id,
    )
    assert "Invited x@example.com to Acme Hosting with tickets" in entry["description"]


# Rule 2: in the client area only the owner manages users, while staff allow it.


async def test_only_the_owner_manages_users_in_the_client_area():
    client_id, owner = await make_client()
    member = await make_user()
    await access.grant_access(client_id, member["id"], ["profile"], actor=ADMIN)
    other = await make_user()
    from app.core.errors import Forbidden

    as_member = user_actor(member)
    for attempt in (
        access.grant_access(client_id, other["id"], ["tickets"], actor=as_member),
        access.update_permissions(client_id, member["id"], ["tickets"], actor=as_member),
        access.revoke_access(client_id, member["id"], actor=as_member),
        invitations.invite(client_id, unique_email(), ["tickets"], actor=as_member),
    ):
        with pytest.raises(Forbidden, match="Only the account owner"):
            await attempt
    await invitations.invite(client_id, unique_email(), ["tickets"], actor=user_actor(owner))


async def test_disabling_client_user_management_stops_owners_but_not_staff():
    client_id, owner = await make_client()
    from app.core.errors import Forbidden

    await admin_services.set_setting(
        admin_services.DISABLE_CLIENT_USER_MANAGEMENT, "true", actor=ADMIN
    )
    with pytest.raises(Forbidden, match="turned off"):
        await invitations.invite(client_id, unique_email(), ["tickets"], actor=user_actor(owner))
    invitation_id, _ = await invitations.invite(client_id, unique_email(), ["tickets"], actor=ADMIN)
    with pytest.raises(Forbidden):
        await invitations.cancel(client_id, invitation_id, actor=user_actor(owner))
    await invitations.cancel(client_id, invitation_id, actor=ADMIN)
