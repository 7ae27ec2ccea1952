"""The one stream of changes (app.domain.events): every kind has a stable name, a version and
a payload; listeners hear an event only once its transaction commits; the activity log writes
what the event says; and every kind of change a page shows reaches that page's live news and
replaces the account's version (the kept Users tab's freshness), one kind at a time."""

import re
from datetime import timedelta

import msgspec
import pytest

from app.core import clock, db
from app.domain.activity.services import entries
from app.domain.events import catalog, stream
from app.domain.events.catalog import Event
from app.domain.live import broker as live
from tests.event_doers import DOERS, World
from tests.factories import ADMIN, make_client, make_user, unique_email, user_actor

ALL = catalog.all_events()


def test_every_kind_has_a_stable_name_a_version_and_a_payload_schema():
    names = [kind.NAME for kind in ALL]
    assert len(names) == len(set(names)) and len(names) >= 30
    for kind in ALL:
        assert re.fullmatch(r"[a-z_]+\.[a-z_]+", kind.NAME), kind
        assert isinstance(kind.VERSION, int) and kind.VERSION >= 1
        schema = msgspec.json.schema(kind)
        assert schema["$defs"][kind.__name__]["type"] == "object", kind
    # What webhooks will name: the membership changes.
    assert {
        "grant.created",
        "grant.updated",
        "grant.deleted",
        "invite.sent",
        "invite.accepted",
        "invite.cancelled",
        "client.owner_changed",
        "user.created",
        "user.updated",
        "user.email_verified",
        "user.password_changed",
        "user.signed_in",
        "user.deleted",
    } <= set(names)


async def test_listeners_hear_an_event_once_its_transaction_commits_and_never_after_rollback():
    heard: list[Event] = []
    stop = stream.listen(lambda event, _actor: heard.append(event))
    try:
        client_id, owner = await make_client(company="Committed")
        heard.clear()
        event = catalog.AccountEntered(client_id=client_id, user_id=owner["id"])

        class Undone(Exception):
            pass

        with pytest.raises(Undone):
            async with db.transaction():
                await stream.emit(event)
                assert heard == []  # not yet: the transaction is open
                raise Undone
        assert heard == []
        async with db.transaction():
            await stream.emit(event)
            assert heard == []
        assert heard == [event]
    finally:
        stop()


async def test_the_activity_log_writes_what_the_event_says():
    client_id, owner = await make_client(company="Logged")
    member = await make_user(first="Lou")
    await stream.emit(
        catalog.GrantCreated(client_id=client_id, user_id=member["id"], permissions=("tickets",)),
        actor=ADMIN,
        description="Gave Lou access",
    )
    _, rows = await entries(client_id=client_id)
    newest = rows[0]
    assert (newest["action"], newest["user_id"], newest["description"]) == (
        "access.granted",
        member["id"],
        "Gave Lou access",
    )
    before = len((await entries())[1])
    await stream.emit(catalog.UserSignedIn(user_id=member["id"]))  # no ACTION: not logged
    assert len((await entries())[1]) == before


async def test_accepting_an_invitation_is_a_grant_too_logged_once():
    """A receiver of grant.created hears of every new access, invitations included; the
    activity log keeps the acceptance's one entry."""
    from app.domain.invitations import services as invitations

    client_id, _ = await make_client(company="Accepting")
    email = unique_email("accepting")
    invitation_id, token = await invitations.invite(client_id, email, ["quotes"], actor=ADMIN)
    user = await make_user(email=email)
    heard: list[Event] = []
    stop = stream.listen(lambda event, _actor: heard.append(event))
    try:
        await invitations.accept(token, user["id"], actor=user_actor(user))
    finally:
        stop()
    heard = [event for event in heard if not event.NAME.startswith("email.")]
    assert [event.NAME for event in heard] == ["grant.created", "invite.accepted"]
    assert heard[0] == catalog.GrantCreated(
        client_id=client_id,
        user_id=user["id"],
        permissions=("quotes",),
        invitation_id=invitation_id,
    )
    _, rows = await entries(client_id=client_id)
    assert [row["action"] for row in rows if row["user_id"] == user["id"]] == ["invite.accepted"]


async def test_an_expired_invitation_is_told_once_per_expiry_whoever_looks(monkeypatch):
    import asyncio
    from datetime import timedelta

    from app.core import clock
    from app.domain.invitations import services as invitations

    client_id, _ = await make_client(company="Expiring")
    expiring, _ = await invitations.invite(client_id, unique_email("exp"), ["quotes"], actor=ADMIN)
    cancelled, _ = await invitations.invite(client_id, unique_email("can"), ["quotes"], actor=ADMIN)
    await invitations.cancel(client_id, cancelled, actor=ADMIN)
    heard: list[Event] = []
    stop = stream.listen(lambda event, _actor: heard.append(event))
    later = clock.now() + timedelta(days=8)
    try:
        assert await invitations.announce_expired(clock.now()) == 0  # not expired yet
        # Two processes looking at once: one tells it.
        told = await asyncio.gather(*(invitations.announce_expired(later) for _ in range(2)))
        assert sorted(told) == [0, 1]
        assert await invitations.announce_expired(later + timedelta(hours=1)) == 0
        # Resent, it has a new expiry, told again when that one passes.
        monkeypatch.setattr(clock, "now", lambda: later)
        await invitations.resend(client_id, expiring, actor=ADMIN)
        assert await invitations.announce_expired(later + timedelta(days=8)) == 1
    finally:
        stop()
    expired = [event for event in heard if isinstance(event, catalog.InviteExpired)]
    assert [(e.client_id, e.invitation_id) for e in expired] == [(client_id, expiring)] * 2


_EXPIRED_LONG_AGO = """
INSERT INTO invitations (client, email, email_key, permissions, token_hash, sender_name,
                         created_at, last_sent_at, times_sent, expires_at, expiry_announced_at)
SELECT {client}, 'old' || i || '@long.example', 'old' || i || '@long.example', '[]',
       'told-' || i, 'Staff', {at}, {at}, 1, {at}, {at}
FROM {numbers}
"""
_NUMBERS = {
    "sqlite": "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)"
    " SELECT i FROM n)",
    "postgres": "generate_series(1, 20000) AS i",
}
_LONG_AGO = {"sqlite": "'2025-01-01 00:00:00+00:00'", "postgres": "'2025-01-01T00:00:00Z'"}


async def test_the_expiry_watchers_look_reads_only_open_invites_by_their_expiry():
    """Every process looks every 15 s: past 20,000 long-expired, already told invites, both of
    its statements walk their partial index (migration 2026-12-11), never the whole table."""
    from datetime import timedelta

    from piccolo.querystring import QueryString

    from app.core import clock
    from app.domain.invitations import services as invitations

    client_id, _ = await make_client(company="Long Expired")
    engine = "sqlite" if db.is_sqlite() else "postgres"
    await db.DB.run_ddl(
        _EXPIRED_LONG_AGO.format(client=client_id, at=_LONG_AGO[engine], numbers=_NUMBERS[engine])
    )
    await db.DB.run_ddl("ANALYZE invitations")
    explain = "EXPLAIN QUERY PLAN " if engine == "sqlite" else "EXPLAIN "
    now = clock.now()
    (expiring,) = invitations.expiring_query(now - timedelta(seconds=15), now).querystrings
    for statement, index in (
        (QueryString(invitations._ANY_EXPIRY_UNTOLD, now), "invitations_expiry_untold"),
        (expiring, "invitations_open_by_expiry"),
    ):
        rows = await db.DB.run_querystring(QueryString(explain + "{}", statement))
        plan = "\n".join(str(row.get("detail", row.get("QUERY PLAN"))) for row in rows)
        assert index in plan, plan
        assert "Seq Scan" not in plan and "SCAN invitations" not in plan, plan
    assert await invitations.announce_expired() == 0


# ---------------------------------------------------------------------------------------------
# Every kind a page shows, done for real through its service, one at a time.


async def _version(client_id: int) -> int | None:
    sql = (
        "SELECT version FROM clients WHERE id = {}"
        if db.is_sqlite()
        else "SELECT COALESCE((SELECT version FROM client_versions WHERE client = {}), 0) "
        "AS version"
    )
    rows = await db.fetch_quick(sql, client_id)
    return rows[0]["version"] if rows else None


def _shown(kind: type[Event]) -> bool:
    return bool(
        kind.SHOWS or kind.IN_EVERY_ACCOUNT or kind.LISTED or kind.OWNER_LISTED or kind.OUTBOX
    )


SHOWN = [kind for kind in DOERS if _shown(kind)]  # the doers: tests/event_doers.py


def test_every_kind_a_page_shows_is_tested_below():
    assert {kind for kind in ALL if _shown(kind)} == set(SHOWN)


@pytest.mark.parametrize("kind", SHOWN, ids=lambda kind: kind.NAME)
async def test_each_kind_reaches_the_pages_that_show_it(kind, monkeypatch):
    passed = [timedelta(0)]
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + passed[0])

    def pass_time(delta: timedelta) -> None:
        passed[0] += delta

    world = await World(pass_time=pass_time).build()
    told: list[str] = []
    emitted: list[Event] = []

    async def record_news(*news):
        told.extend(" ".join(news).split())

    monkeypatch.setattr(stream, "changed", record_news)
    stop = stream.listen(lambda event, _actor: emitted.append(event))
    accounts = (world.client, world.other)
    before = {client_id: await _version(client_id) for client_id in accounts}
    try:
        expected = await DOERS[kind](world)
    finally:
        stop()

    assert kind in {type(event) for event in emitted}
    for news in expected:
        assert set(news.split()) <= set(told), (news, told)
    # No account the change is not about is told of it.
    mentioned = {live.parse(item)[0] for item in told}
    expected_topics = {live.parse(item)[0] for news in expected for item in news.split()}
    assert mentioned <= expected_topics | {live.MAIL, live.CLIENTS}, told
    # What an account's pages show: the kept Users tab's version is replaced too (the triggers
    # agree with the stream).
    for client_id in accounts:
        if any(item.startswith(f"{live.account(client_id)}#") for item in told):
            after = await _version(client_id)
            assert after is None or after != before[client_id], (kind.NAME, client_id)
