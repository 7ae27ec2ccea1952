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
