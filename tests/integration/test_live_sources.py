"""Where live news comes from, in-process: invites that expire with no change in the database,
and the PostgreSQL listener telling everyone after its connection was lost."""

import asyncio
import os
from datetime import timedelta

import pytest

from app.core import clock
from app.domain.live import broker as live
from app.domain.live.broker import Broker
from tests.factories import ADMIN, make_client, unique_email


async def test_an_invite_expiring_tells_its_account_and_no_other(monkeypatch):
    from app.domain.invitations import services as invitations
    from app.domain.invitations.expiry import watch_expiry

    expiring, _ = await make_client(company="Expiring")
    quiet, _ = await make_client(company="Quiet")
    await invitations.invite(expiring, unique_email("late"), ["tickets"], actor=ADMIN)
    await invitations.invite(quiet, unique_email("fine"), ["tickets"], actor=ADMIN)

    real_now = clock.now()
    shift = {"by": timedelta(0)}
    monkeypatch.setattr(clock, "now", lambda: real_now + shift["by"])
    from app.schema.invitations import Invitation

    # The first account's invite expires a little after the watcher starts; the other's later.
    await Invitation.update({Invitation.expires_at: real_now + timedelta(seconds=30)}).where(
        Invitation.client == expiring
    )

    broker, stop = Broker(), asyncio.Event()
    with (
        broker.subscribe(live.account(expiring)) as watched,
        broker.subscribe(live.account(quiet)) as other,
    ):
        watcher = asyncio.create_task(watch_expiry(stop, broker, every=0.05))
        await asyncio.sleep(0.15)
        assert await watched.wait(0.01) is None  # nothing expired yet
        shift["by"] = timedelta(minutes=1)
        assert await watched.wait(2) == {live.INVITES}
        assert await other.wait(0.2) is None
        stop.set()
        await watcher


@pytest.mark.skipif(
    os.environ.get("ROSTER_TEST_ENGINE", "sqlite") != "postgres",
    reason="the listener is PostgreSQL's",
)
async def test_the_listener_hears_notify_and_tells_everyone_after_a_lost_connection():
    import asyncpg

    from app.domain.live.listener import APPLICATION_NAME, listen
    from app.domain.live.news import CHANNEL

    url = os.environ["ROSTER_DATABASE_URL"]
    broker, stop = Broker(), asyncio.Event()
    with broker.subscribe(live.account(41)) as watched, broker.subscribe(live.MAIL) as mail:
        listener = asyncio.create_task(listen(url, stop, broker))
        talker = await asyncpg.connect(url)
        try:
            for _ in range(50):  # until the listener is listening
                await talker.execute("SELECT pg_notify($1, $2)", CHANNEL, "account:41#people")
                if await watched.wait(0.1) == {live.PEOPLE}:
                    break
            else:
                pytest.fail("the listener never heard NOTIFY")
            assert await mail.wait(0.1) is None
            # Its connection is cut: when it is back, everyone re-fetches what they show.
            await talker.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = $1 AND datname = current_database()",
                APPLICATION_NAME,
            )
            assert await mail.wait(15) == {live.EVERYTHING}
        finally:
            await talker.close()
            stop.set()
            await listener


async def test_a_rename_tells_every_account_the_user_reaches_and_the_clients_list(monkeypatch):
    from app.domain.access.services import grant_access
    from app.domain.events import stream
    from app.domain.users import services as users

    first, owner = await make_client(company="Renamed Owner's")
    second, _ = await make_client(company="Where They Also Work")
    await grant_access(second, owner["id"], ["tickets"], actor=ADMIN)
    told: list[str] = []

    async def record_news(*news):
        told.extend(" ".join(news).split())

    monkeypatch.setattr(stream, "changed", record_news)

    async def rename_to_renata() -> None:
        await users.update_user(
            owner["id"],
            first_name="Renata",
            last_name=owner["last_name"],
            email=owner["email"],
            language=owner["language"],
            actor=ADMIN,
        )

    await rename_to_renata()
    assert sorted(told) == sorted(
        [live.account(first, live.PEOPLE), live.account(second, live.PEOPLE), live.CLIENTS]
    )
    told.clear()
    await rename_to_renata()  # nothing changes: nobody is told
    assert told == []
