"""Edges at the service layer: the lock order, limits, closed accounts, the inviter's
authority, long names, email normalisation, reset links, the mail lease. Each race runs with real
concurrency on PostgreSQL (a pool of connections) and serialised on SQLite."""

import asyncio
from datetime import timedelta

import pytest

from app.core import clock
from app.core.errors import DomainError, Throttled
from app.core.security import token_hash
from app.domain.access import services as access
from app.domain.auth import services as auth
from app.domain.clients import services as clients
from app.domain.invitations import services as invitations
from app.domain.sso import services as sso
from app.domain.users import services as users
from app.schema import invariants
from app.schema.activity import ActivityEntry
from app.schema.grants import Grant
from app.schema.invitations import Invitation
from app.schema.mail import OutboundEmail
from app.schema.sessions import PasswordReset
from app.schema.sso import SsoToken
from tests.factories import ADMIN, PASSWORD, make_client, make_user, unique_email, user_actor


async def member_of(client_id: int, keys=("tickets",)) -> dict:
    user = await make_user(email=unique_email("member"))
    await access.grant_access(client_id, user["id"], list(keys), actor=ADMIN)
    return user


async def owner_of(client_id: int) -> int:
    return (await clients.get_client(client_id))["owner"]


async def test_make_owner_racing_remove_never_leaves_an_owner_without_access():
    for _ in range(10):
        client_id, _ = await make_client()
        member = await member_of(client_id)
        outcomes = await asyncio.gather(
            clients.transfer_ownership(client_id, member["id"], actor=ADMIN),
            access.revoke_access(client_id, member["id"], actor=ADMIN),
            return_exceptions=True,
        )
        assert sum(not isinstance(o, Exception) for o in outcomes) == 1, outcomes
        assert all(isinstance(o, DomainError) for o in outcomes if isinstance(o, Exception))
        owner = await owner_of(client_id)
        assert await Grant.exists().where((Grant.client == client_id) & (Grant.user == owner))
    assert await invariants.violations() == []


async def test_two_make_owners_at_once_log_the_real_previous_owner():
    client_id, first_owner = await make_client()
    a, b = await member_of(client_id), await member_of(client_id)
    await asyncio.gather(
        clients.transfer_ownership(client_id, a["id"], actor=ADMIN),
        clients.transfer_ownership(client_id, b["id"], actor=ADMIN),
    )
    entries = (
        await ActivityEntry.select(ActivityEntry.description)
        .where(ActivityEntry.action == "client.owner_changed")
        .order_by(ActivityEntry.id)
    )
    names = [e["description"].split(": ", 1)[1].split(" -> ") for e in entries]
    assert names[0][0] == users.full_name(first_owner)
    assert names[1][0] == names[0][1]  # the second transfer names the first one's new owner
    final = await owner_of(client_id)
    assert users.full_name(await users.get_user(final)) == names[1][1]
    assert await invariants.violations() == []


async def test_invariant_checker_finds_an_owner_without_access():
    client_id, owner = await make_client()
    assert await invariants.violations() == []
    await Grant.delete().where(Grant.user == owner["id"])
    found = await invariants.violations()
    assert len(found) == 1 and found[0].startswith("the owner holds access")


async def test_closing_an_account_cancels_its_invitations_and_refuses_new_ones():
    client_id, _ = await make_client()
    _, token = await invitations.invite(client_id, unique_email(), ["tickets"], actor=ADMIN)
    closed = await clients.set_status(client_id, "Closed", actor=ADMIN)
    assert closed["status"] == "Closed"
    with pytest.raises(invitations.InviteUnavailable):
        await invitations.pending_invite(token)
    user = await make_user()
    with pytest.raises(invitations.InviteUnavailable):
        await invitations.accept(token, user["id"], actor=user_actor(user))
    with pytest.raises(DomainError, match="closed"):
        await invitations.invite(client_id, unique_email(), ["tickets"], actor=ADMIN)
    with pytest.raises(DomainError, match="closed"):
        await access.grant_access(client_id, user["id"], ["tickets"], actor=ADMIN)
    assert await invariants.violations() == []
    await clients.set_status(client_id, "Active", actor=ADMIN)
    await invitations.invite(client_id, unique_email(), ["tickets"], actor=ADMIN)


async def test_closing_racing_an_acceptance_leaves_no_access_to_a_closed_account():
    for _ in range(5):
        client_id, _ = await make_client()
        _, token = await invitations.invite(client_id, unique_email(), ["tickets"], actor=ADMIN)
        user = await make_user()
        await asyncio.gather(
            clients.set_status(client_id, "Closed", actor=ADMIN),
            invitations.accept(token, user["id"], actor=user_actor(user)),
            return_exceptions=True,
        )
        assert await invariants.violations() == []


async def test_only_staff_change_an_accounts_status():
    client_id, owner = await make_client()
    with pytest.raises(DomainError):
        await clients.set_status(client_id, "Closed", actor=user_actor(owner))
    with pytest.raises(DomainError, match="Choose Active"):
        await clients.set_status(client_id, "Gone", actor=ADMIN)


async def test_an_invitation_from_an_owner_who_lost_the_ownership_is_void():
    client_id, owner = await make_client()
    member = await member_of(client_id)
    _, token = await invitations.invite(
        client_id, unique_email(), ["tickets"], actor=user_actor(owner)
    )
    _, staff_token = await invitations.invite(client_id, unique_email(), ["quotes"], actor=ADMIN)
    await clients.transfer_ownership(client_id, member["id"], actor=ADMIN)
    with pytest.raises(invitations.InviteUnavailable):
        await invitations.pending_invite(token)
    invitee = await make_user()
    with pytest.raises(invitations.InviteUnavailable):
        await invitations.accept(token, invitee["id"], actor=user_actor(invitee))
    await invitations.pending_invite(staff_token)  # staff invitations stay valid
    assert await invariants.violations() == []


async def test_an_inviter_demoted_without_the_cancel_is_still_refused_at_acceptance():
    """The check at acceptance holds on its own, whatever cancelled the invitation or not."""
    client_id, owner = await make_client()
    member = await member_of(client_id)
    _, token = await invitations.invite(
        client_id, unique_email(), ["tickets"], actor=user_actor(owner)
    )
    from app.schema.clients import Client

    await Client.update({Client.owner: member["id"]}).where(Client.id == client_id)
    invitee = await make_user()
    with pytest.raises(invitations.InviteUnavailable):
        await invitations.accept(token, invitee["id"], actor=user_actor(invitee))


async def test_a_long_account_and_invitee_name_can_still_accept():
    client_id, _ = await make_client("C" * 150)
    _, token = await invitations.invite(client_id, unique_email(), ["tickets"], actor=ADMIN)
    invitee = await make_user("F" * 100, "L" * 100)
    await invitations.accept(token, invitee["id"], actor=user_actor(invitee))
    subjects = [e["subject"] for e in await OutboundEmail.select(OutboundEmail.subject)]
    assert all(len(s) <= 255 for s in subjects) and any(s.endswith("…") for s in subjects)


async def test_resend_has_a_cooldown_so_a_double_click_sends_one_email(monkeypatch):
    monkeypatch.setattr(invitations, "resend_cooldown", lambda: timedelta(seconds=60))
    client_id, _ = await make_client()
    invitation_id, first_token = await invitations.invite(
        client_id, unique_email(), ["tickets"], actor=ADMIN
    )
    with pytest.raises(Throttled, match="You can send it again in 60 seconds"):
        await invitations.resend(client_id, invitation_id, actor=ADMIN)
    await invitations.pending_invite(first_token)  # the first link still works
    later = clock.now() + timedelta(seconds=61)
    monkeypatch.setattr(clock, "now", lambda: later)
    outcomes = await asyncio.gather(
        *(invitations.resend(client_id, invitation_id, actor=ADMIN) for _ in range(5)),
        return_exceptions=True,
    )
    assert sum(isinstance(o, invitations.Resent) for o in outcomes) == 1
    assert await OutboundEmail.count().where(OutboundEmail.invitation == invitation_id) == 2


async def test_an_account_sends_at_most_so_many_invitations_a_day(monkeypatch):
    monkeypatch.setattr(invitations, "daily_invite_limit", lambda: 3)
    client_id, _ = await make_client()
    for _ in range(3):
        await invitations.invite(client_id, unique_email(), ["tickets"], actor=ADMIN)
    with pytest.raises(Throttled, match="3 invites in the last 24 hours"):
        await invitations.invite(client_id, unique_email(), ["tickets"], actor=ADMIN)
    assert await Invitation.count() == 3


async def test_password_reset_emails_are_limited_per_address():
    user = await make_user()
    for _ in range(6):
        await auth.request_password_reset(user["email"], base_url="http://x", ip="10.0.0.1")
    assert await PasswordReset.count().where(PasswordReset.user == user["id"]) == 3


async def test_using_a_reset_link_ends_every_other_link_of_that_user():
    user = await make_user()
    tokens = []
    for _ in range(2):
        await auth.request_password_reset(user["email"], base_url="http://x", ip="10.0.0.2")
    rows = await PasswordReset.select()
    assert len(rows) == 2
    # The tokens are only in the emails: read them back from the outbox.
    for email in await OutboundEmail.select(OutboundEmail.text_body):
        tokens += [w.rsplit("/", 1)[1] for w in email["text_body"].split() if "/reset/" in w]
    assert {token_hash(t) for t in tokens} == {r["token_hash"] for r in rows}
    await auth.complete_password_reset(tokens[0], "a-fresh-passphrase-42", ip="10.0.0.2")
    assert await auth.reset_target(tokens[1]) is None


async def test_a_password_changed_by_staff_ends_the_users_reset_links():
    user = await make_user()
    await auth.request_password_reset(user["email"], base_url="http://x", ip="10.0.0.3")
    email = (await OutboundEmail.select(OutboundEmail.text_body).first())["text_body"]
    token = next(w for w in email.split() if "/reset/" in w).rsplit("/", 1)[1]
    assert await auth.reset_target(token) is not None
    await users.set_password(user["id"], "staff-chosen-passphrase-9", actor=ADMIN)
    assert await auth.reset_target(token) is None


@pytest.mark.parametrize(
    "address", ["user@corp.local", "user@example.test", "ops@host.internal", "a@b.example"]
)
async def test_special_use_domains_are_accepted(address):
    user = await make_user(email=address)
    assert user["email"] == address


async def test_a_ligature_is_the_same_address_as_its_letters():
    await make_user(email="fiona@example.com")
    with pytest.raises(DomainError, match="already exists"):
        await make_user(email="\ufb01ona@example.com")  # "ﬁona"


async def test_an_idn_address_logs_in_with_any_spelling_of_it():
    await make_user(email="user@bücher.example")
    for spelling in ("user@bücher.example", "USER@BÜCHER.example", "user@xn--bcher-kva.example"):
        row = await auth.authenticate_user(spelling, PASSWORD, ip="10.0.0.4")
        assert row["email"] == "user@bücher.example"


async def test_deleting_a_user_racing_a_new_grant_is_a_clear_refusal():
    client_id, _ = await make_client()
    user = await make_user()
    outcomes = await asyncio.gather(
        users.delete_user(user["id"], actor=ADMIN),
        access.grant_access(client_id, user["id"], ["tickets"], actor=ADMIN),
        return_exceptions=True,
    )
    deleted, granted = outcomes
    refusals = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(refusals) == 1, outcomes  # exactly one side wins, the other is told why
    assert deleted is None or granted["id"] == user["id"], outcomes
    assert await invariants.violations() == []


async def test_sweep_deletes_expired_sessions_attempts_and_used_reset_links(monkeypatch):
    user, other = await make_user(), await make_user()
    await auth.start_session(user_id=other["id"], ip="10.0.0.5", user_agent="t")
    with pytest.raises(DomainError):
        await auth.authenticate_user(user["email"], "wrong-password", ip="10.0.0.5")
    await auth.request_password_reset(user["email"], base_url="http://x", ip="10.0.0.5")
    await users.set_password(user["id"], "another-passphrase-31", actor=ADMIN)  # link used
    # Single sign-on links: one used, one left to expire.
    used = await sso.create_link(user["id"], base_url="http://x", actor=ADMIN)
    await sso.create_link(user["id"], base_url="http://x", actor=ADMIN)
    await sso.redeem(used.token, ip="10.0.0.5")
    later = clock.now() + timedelta(days=31)
    monkeypatch.setattr(clock, "now", lambda: later)
    swept = await auth.sweep()
    assert swept == {
        "sessions": 1,
        "reset_links": 1,
        "sso_links": 2,
        "attempts": 2,
        "webhook_deliveries": 0,
        "passkey_challenges": 0,
    }
    assert set((await auth.sweep()).values()) == {0}
    assert not await SsoToken.exists()


async def test_direct_access_cancels_a_pending_invite_to_the_same_person():
    client_id, _ = await make_client()
    user = await make_user()
    await invitations.invite(client_id, user["email"], ["tickets"], actor=ADMIN)
    await access.grant_access(client_id, user["id"], ["quotes"], actor=ADMIN)
    assert await invitations.pending_for_client(client_id) == []
    assert await invariants.violations() == []


async def test_accepting_any_invite_cancels_one_sent_to_the_acceptors_own_address():
    client_id, _ = await make_client()
    user = await make_user()
    _, token = await invitations.invite(client_id, unique_email(), ["tickets"], actor=ADMIN)
    await invitations.invite(client_id, user["email"], ["quotes"], actor=ADMIN)
    await invitations.accept(token, user["id"], actor=user_actor(user))
    assert await invitations.pending_for_client(client_id) == []
    assert await invariants.violations() == []


async def test_changing_an_email_to_an_invited_address_cancels_that_invite_where_moot():
    client_id, _ = await make_client()
    user = await member_of(client_id)
    elsewhere, _ = await make_client("Elsewhere")
    await invitations.invite(client_id, "new.address@example.com", ["tickets"], actor=ADMIN)
    await invitations.invite(elsewhere, "new.address@example.com", ["tickets"], actor=ADMIN)
    await users.update_user(
        user["id"],
        first_name=user["first_name"],
        last_name=user["last_name"],
        email="New.Address@example.com",
        language="english",
        actor=ADMIN,
    )
    assert await invitations.pending_for_client(client_id) == []
    assert len(await invitations.pending_for_client(elsewhere)) == 1  # still needed there
    assert await invariants.violations() == []


async def test_undo_twice_at_once_restores_one_grant_and_never_into_a_closed_account():
    from app.domain.access.undo import removal_token

    client_id, _ = await make_client()
    member = await make_user()
    await access.grant_access(client_id, member["id"], ["tickets", "quotes"], actor=ADMIN)
    removed = await access.revoke_access(client_id, member["id"], actor=ADMIN)
    token = removal_token(client_id, member["id"], removed["keys"], actor=ADMIN)
    outcomes = await asyncio.gather(
        *(access.restore_access(client_id, token, actor=ADMIN) for _ in range(4)),
        return_exceptions=True,
    )
    assert sum(isinstance(o, dict) for o in outcomes) == 1
    assert all(isinstance(o, (dict, DomainError)) for o in outcomes), outcomes
    assert await Grant.count().where(Grant.user == member["id"]) == 1
    assert (await access.access_for(member["id"], client_id)).permissions == ("quotes", "tickets")
    assert await invariants.violations() == []

    removed = await access.revoke_access(client_id, member["id"], actor=ADMIN)
    token = removal_token(client_id, member["id"], removed["keys"], actor=ADMIN)
    await clients.set_status(client_id, "Closed", actor=ADMIN)
    with pytest.raises(DomainError):
        await access.restore_access(client_id, token, actor=ADMIN)
    assert await access.access_for(member["id"], client_id) is None
