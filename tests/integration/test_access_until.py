"""Access until: a grant or an invitation that ends by itself, its reminders and its sweeper."""

import asyncio
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from app.core import clock
from app.core.config import get_settings, load_settings, reminder_days
from app.core.errors import DomainError
from app.domain.access import services as access
from app.domain.invitations import services as invitations
from app.schema.activity import ActivityEntry
from app.schema.grants import Grant
from app.schema.mail import OutboundEmail
from tests.factories import ADMIN, make_client, make_user, unique_email, user_actor


async def member_of(client_id: int, until=None, first: str = "Mia") -> dict:
    user = await make_user(first=first, email=unique_email(first.lower()))
    await access.grant_access(client_id, user["id"], ["tickets"], actor=ADMIN, access_until=until)
    return user


async def grant_of(client_id: int, user_id: int) -> dict | None:
    return await Grant.select().where((Grant.client == client_id) & (Grant.user == user_id)).first()


async def sent(template: str) -> list[dict]:
    return await OutboundEmail.select().where(OutboundEmail.template == template)


async def test_a_grant_carries_its_end_which_can_be_changed_and_cleared():
    client_id, owner = await make_client()
    until = clock.now() + timedelta(days=30)
    user = await member_of(client_id, until)
    assert (await grant_of(client_id, user["id"]))["access_until"] == until

    later = until + timedelta(days=5)
    await access.set_access_until(client_id, user["id"], later, actor=user_actor(owner))
    assert (await grant_of(client_id, user["id"]))["access_until"] == later
    await access.update_permissions(
        client_id, user["id"], ["tickets"], actor=ADMIN, access_until="2099-12-14"
    )
    assert (await grant_of(client_id, user["id"]))["access_until"] == datetime(
        2099, 12, 14, 23, 59, 59, tzinfo=UTC
    )
    await access.update_permissions(client_id, user["id"], ["tickets"], actor=ADMIN)  # kept
    assert (await grant_of(client_id, user["id"]))["access_until"] is not None
    await access.set_access_until(client_id, user["id"], "", actor=ADMIN)
    assert (await grant_of(client_id, user["id"]))["access_until"] is None
    actions = [r["action"] for r in await ActivityEntry.select(ActivityEntry.action)]
    assert actions.count("access.until_changed") == 4


@pytest.mark.parametrize(
    "bad", ["yesterday", "2020-01-01", "2026-13-40", "1999-01-01T00:00:00Z", 12]
)
async def test_a_past_or_unparsable_end_is_refused_and_changes_nothing(bad):
    client_id, _owner = await make_client()
    until = clock.now() + timedelta(days=30)
    user = await member_of(client_id, until)
    with pytest.raises(DomainError) as refused:
        await access.set_access_until(client_id, user["id"], bad, actor=ADMIN)
    assert refused.value.field == "access_until"
    assert "Access until" in str(refused.value)
    with pytest.raises(DomainError):
        await access.update_permissions(
            client_id, user["id"], ["invoices"], actor=ADMIN, access_until=bad
        )
    grant = await grant_of(client_id, user["id"])
    assert grant["access_until"] == until and grant["permissions"] == "tickets"
    with pytest.raises(DomainError):
        await invitations.invite(
            client_id, unique_email(), ["tickets"], actor=ADMIN, access_until=bad
        )
    assert await invitations.open_invites(client_id) == []


async def test_the_owners_access_never_ends_and_make_owner_clears_an_end():
    from app.domain.clients.services import transfer_ownership

    client_id, owner = await make_client()
    with pytest.raises(DomainError):
        await access.set_access_until(
            client_id, owner["id"], clock.now() + timedelta(days=3), actor=ADMIN
        )
    user = await member_of(client_id, clock.now() + timedelta(days=3))
    await transfer_ownership(client_id, user["id"], actor=ADMIN)
    assert (await grant_of(client_id, user["id"]))["access_until"] is None
    # Said as any other cleared end is: the event (webhooks, live pages) and its log line.
    said = (
        await ActivityEntry.select()
        .where(ActivityEntry.action == "access.until_changed")
        .order_by(ActivityEntry.id)
    )
    assert [e["description"].endswith("-> no end (now the owner)") for e in said] == [False, True]


async def test_an_invitations_end_carries_over_to_the_grant_it_creates():
    client_id, owner = await make_client()
    until = clock.now() + timedelta(days=10)
    _id, token = await invitations.invite(
        client_id, unique_email("guest"), ["tickets"], actor=user_actor(owner), access_until=until
    )
    [row] = await invitations.open_invites(client_id)
    assert row["access_until"] == until and row["until_label"] == access.until_label(until)
    [email] = await sent("invitation")
    assert f"This access ends by itself on {access.describe_until(until)}." in email["text_body"]
    guest = await make_user(first="Gus")
    await invitations.accept(token, guest["id"], actor=user_actor(guest))
    grant = await grant_of(client_id, guest["id"])
    assert grant["access_until"] == until
    # 10 days: the 7-day and the 1-day reminders are both ahead.
    assert grant["access_notice_sent"] is None


async def test_associate_user_sets_the_end_both_ways():
    client_id, _owner = await make_client()
    existing = await make_user(first="Eve")
    until = clock.now() + timedelta(days=20)
    await invitations.associate(
        client_id, actor=ADMIN, keys=["tickets"], send_invite=False, user_id=existing["id"],
        access_until=until,
    )  # fmt: skip
    assert (await grant_of(client_id, existing["id"]))["access_until"] == until
    await invitations.associate(
        client_id, actor=ADMIN, keys=["tickets"], send_invite=True, email=unique_email("new"),
        access_until=until,
    )  # fmt: skip
    [row] = await invitations.open_invites(client_id)
    assert row["access_until"] == until


async def test_an_ended_grant_is_removed_once_by_two_sweepers_at_the_same_moment():
    client_id, owner = await make_client(company="Ends")
    user = await member_of(client_id, clock.now() + timedelta(hours=2))
    keeps = await member_of(client_id, clock.now() + timedelta(days=9), first="Kim")
    later = clock.now() + timedelta(hours=3)
    removed = await asyncio.gather(*(access.end_expired_access(later) for _ in range(2)))
    assert sorted(removed) == [0, 1]
    assert await grant_of(client_id, user["id"]) is None
    assert await grant_of(client_id, keeps["id"]) is not None
    assert await grant_of(client_id, owner["id"]) is not None
    entries = await ActivityEntry.select().where(ActivityEntry.action == "access.expired")
    assert len(entries) == 1 and entries[0]["user_id"] == user["id"]
    assert "Access expired" in entries[0]["description"]
    [email] = await sent("access_expired")
    assert email["to_address"] == user["email"] and "Ends" in email["subject"]
    assert await access.end_expired_access(later) == 0


async def test_reminders_go_once_each_to_the_person_and_the_owner():
    client_id, owner = await make_client(company="Reminded")
    start = clock.now()
    user = await member_of(client_id, start + timedelta(days=10))
    assert await access.send_access_reminders(start) == 0
    week_before = start + timedelta(days=3, hours=1)
    both = await asyncio.gather(*(access.send_access_reminders(week_before) for _ in range(2)))
    assert sorted(both) == [0, 1]
    assert await access.send_access_reminders(week_before + timedelta(hours=1)) == 0
    emails = await sent("access_ending")
    assert sorted(e["to_address"] for e in emails) == sorted([user["email"], owner["email"]])
    day_before = start + timedelta(days=9, hours=1)
    assert await access.send_access_reminders(day_before) == 1
    assert await access.send_access_reminders(day_before) == 0
    assert len(await sent("access_ending")) == 4
    # A new end starts the reminders again.
    await access.set_access_until(client_id, user["id"], start + timedelta(days=30), actor=ADMIN)
    assert await access.send_access_reminders(start + timedelta(days=23, hours=1)) == 1


async def test_no_reminder_for_access_shorter_than_its_notice():
    client_id, _owner = await make_client()
    start = clock.now()
    short = await member_of(client_id, start + timedelta(days=3))
    shorter = await member_of(client_id, start + timedelta(hours=12), first="Sam")
    assert await access.send_access_reminders(start + timedelta(hours=1)) == 0
    # The 1-day reminder still goes for the 3-day access; none for the 12 hours.
    assert await access.send_access_reminders(start + timedelta(days=2, hours=1)) == 1
    assert [e["to_address"] for e in await sent("access_ending")].count(short["email"]) == 1
    assert shorter["email"] not in [e["to_address"] for e in await sent("access_ending")]


async def test_a_reminder_missed_for_days_goes_once_at_the_nearest_notice():
    client_id, _owner = await make_client()
    start = clock.now()
    await member_of(client_id, start + timedelta(days=10))
    assert await access.send_access_reminders(start + timedelta(days=9, hours=12)) == 1
    assert await access.send_access_reminders(start + timedelta(days=9, hours=13)) == 0
    assert len(await sent("access_ending")) == 2  # the person and the owner, once


async def test_the_reminder_lifetimes_are_settings(monkeypatch):
    assert get_settings().access_reminder_days == (7, 1)
    assert reminder_days({"ROSTER_ACCESS_REMINDER_DAYS": "1, 14,0.5"}) == (14, 1, 0.5)
    assert reminder_days({"ROSTER_ACCESS_REMINDER_DAYS": "none"}) == ()
    with pytest.raises(ValueError, match="ROSTER_ACCESS_REMINDER_DAYS"):
        load_settings({"ROSTER_ACCESS_REMINDER_DAYS": "soon", "ROSTER_SECRET_KEY": "x"})
    monkeypatch.setattr(
        access, "get_settings",
        lambda: msgspec.structs.replace(get_settings(), access_reminder_days=(2,)),
    )  # fmt: skip
    client_id, _owner = await make_client()
    start = clock.now()
    await member_of(client_id, start + timedelta(days=10))
    assert await access.send_access_reminders(start + timedelta(days=6, hours=1)) == 0
    assert await access.send_access_reminders(start + timedelta(days=8, hours=1)) == 1


async def test_lists_show_the_end_with_a_warning_in_its_last_week():
    client_id, _owner = await make_client()
    far = datetime(2099, 12, 14, 12, tzinfo=UTC)
    await member_of(client_id, far, first="Far")
    await member_of(client_id, clock.now() + timedelta(days=3), first="Near")
    people = (await access.account_people(client_id)).users
    by_name = {p["first_name"]: p for p in people}
    assert by_name["Far"]["until_label"] == "until 14 Dec 2099"
    assert not by_name["Far"]["until_soon"]
    assert by_name["Near"]["until_soon"]
    assert [p["until_label"] for p in people if p["is_owner"]] == [""]


async def test_two_processes_sweeping_at_the_same_moment_remove_an_ended_grant_once():
    """Two `roster sweep-access` processes started together on the run's database (on
    PostgreSQL, two connections racing for the same row; on SQLite, two writers): the ended
    grant is removed once, and the reminder due goes once (to the person and the owner)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    client_id, owner = await make_client(company="Raced")
    user = await member_of(client_id, clock.now() + timedelta(days=3))
    # Time passes: the end is moved into the past.
    await Grant.update({Grant.access_until: clock.now() - timedelta(seconds=1)}).where(
        Grant.user == user["id"]
    )
    # And another's end, given 10 days ahead, is now 3 days away: its 7-day reminder is due.
    reminded = await member_of(client_id, clock.now() + timedelta(days=10), first="Rita")
    await Grant.update({Grant.access_until: clock.now() + timedelta(days=3)}).where(
        Grant.user == reminded["id"]
    )
    roster = str(Path(sys.executable).parent / "roster")
    runs = [
        await asyncio.create_subprocess_exec(
            roster, "sweep-access", stdout=subprocess.PIPE, env=dict(os.environ)
        )
        for _ in range(2)
    ]
    outputs = [(await run.communicate())[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    expired = sorted(json.loads(out)["expired"] for out in outputs)
    assert expired == [0, 1]
    assert sorted(json.loads(out)["reminded"] for out in outputs) == [0, 1]
    reminders = sorted(e["to_address"] for e in await sent("access_ending"))
    assert reminders == sorted([reminded["email"], owner["email"]])
    assert await grant_of(client_id, user["id"]) is None
    assert await ActivityEntry.count().where(ActivityEntry.action == "access.expired") == 1
    assert len(await sent("access_expired")) == 1
