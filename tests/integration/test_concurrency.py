"""Rule 4: of many simultaneous accepts of one token, exactly one succeeds."""

import asyncio

from app.domain.invitations import services as invitations
from app.schema.grants import Grant
from app.schema.invitations import Invitation
from tests.factories import ADMIN, make_client, make_user, unique_email, user_actor

ATTEMPTS = 20


async def test_twenty_simultaneous_accepts_give_exactly_one_grant():
    client_id, _ = await make_client()
    _, token = await invitations.invite(client_id, unique_email(), ["tickets"], actor=ADMIN)
    people = [await make_user(email=unique_email("racer")) for _ in range(ATTEMPTS)]

    async def attempt(user):
        try:
            await invitations.accept(token, user["id"], actor=user_actor(user))
            return "won"
        except invitations.InviteUnavailable:
            return "lost"

    results = await asyncio.gather(*(attempt(u) for u in people))
    assert results.count("won") == 1 and results.count("lost") == ATTEMPTS - 1
    assert await Grant.count().where(Grant.client == client_id) == 2  # owner + the winner
    row = await Invitation.select().first()
    winner = people[results.index("won")]
    assert row["accepted_by"] == winner["id"]


async def test_accept_racing_resend_and_cancel_leaves_consistent_data():
    client_id, _ = await make_client()
    invitation_id, token = await invitations.invite(
        client_id, unique_email(), ["tickets"], actor=ADMIN
    )
    user = await make_user()
    outcomes = await asyncio.gather(
        invitations.accept(token, user["id"], actor=user_actor(user)),
        invitations.cancel(client_id, invitation_id, actor=ADMIN),
        return_exceptions=True,
    )
    row = await Invitation.select().where(Invitation.id == invitation_id).first()
    granted = await Grant.exists().where(Grant.user == user["id"])
    # Exactly one of the two took effect, and the data agrees with it.
    assert (row["accepted_at"] is not None) != (row["cancelled_at"] is not None)
    assert granted == (row["accepted_at"] is not None)
    assert sum(not isinstance(o, Exception) for o in outcomes) == 1


async def test_two_simultaneous_saves_from_one_opened_version_give_one_save_and_one_stale():
    """The compare-and-set of an edit form (app.core.stale) holds under concurrency: of two saves
    prepared on the same permissions, exactly one is written; the other is refused, nothing of
    the first lost."""
    from app.core.stale import Stale
    from app.domain.access import services as access

    client_id, _ = await make_client()
    user = await make_user(email=unique_email())
    await access.grant_access(client_id, user["id"], ["tickets"], actor=ADMIN)
    opened = {"permissions": ["tickets"]}
    wanted = (["tickets", "invoices"], ["tickets", "quotes"])
    outcomes = await asyncio.gather(
        *(
            access.update_permissions(client_id, user["id"], keys, actor=ADMIN, opened=opened)
            for keys in wanted
        ),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["Stale", "dict"]
    won = wanted[0] if isinstance(outcomes[1], Stale) else wanted[1]
    held = (await access.access_for(user["id"], client_id)).permissions
    assert sorted(held) == sorted(won)


async def test_two_simultaneous_settings_saves_from_one_opened_version_give_one_save():
    from app.core.stale import Stale
    from app.domain.staff import services as admin

    opened = await admin.all_settings()
    wanted = ({admin.COMPANY_NAME: "First Ltd"}, {admin.COMPANY_NAME: "Second Ltd"})
    outcomes = await asyncio.gather(
        *(admin.save_settings(values, actor=ADMIN, opened=opened) for values in wanted),
        return_exceptions=True,
    )
    assert sum(isinstance(o, Stale) for o in outcomes) == 1
    won = wanted[0] if isinstance(outcomes[1], Stale) else wanted[1]
    assert await admin.get_setting(admin.COMPANY_NAME) == won[admin.COMPANY_NAME]


async def test_two_simultaneous_user_edits_from_one_opened_version_give_one_save():
    from app.core.stale import Stale
    from app.domain.users import services as users

    user = await make_user("Jo", "Walker", email=unique_email())
    opened = {k: user[k] for k in users.USER_FIELDS}
    names = ("Joanna", "Josephine")
    outcomes = await asyncio.gather(
        *(
            users.update_user(
                user["id"],
                first_name=name,
                last_name="Walker",
                email=user["email"],
                language="english",
                actor=ADMIN,
                opened=opened,
            )
            for name in names
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(o, Stale) for o in outcomes) == 1
    won = names[0] if isinstance(outcomes[1], Stale) else names[1]
    assert (await users.get_user(user["id"]))["first_name"] == won
