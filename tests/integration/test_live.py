"""Live updates (app/live) on real `roster serve` processes: who may open which stream, that a
change reaches the streams that show it and no other, the re-check of the session before every
message, the cap per session (parallel opens too), the end of the streams when a server stops,
and — on PostgreSQL — a change made through one process reaching a stream held by another."""

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from soak.servers import running_servers
from tests.factories import PASSWORD, make_client, make_user, unique_email
from tests.integration.conftest import Browser

POSTGRES = os.environ.get("ROSTER_TEST_ENGINE", "sqlite") == "postgres"
STAFF_PASSWORD = "staff-passphrase-2026"
HEARTBEAT = 1  # seconds, for these servers (ROSTER_LIVE_HEARTBEAT_SECONDS)


@contextlib.contextmanager
def servers_on_test_database(count: int, **env_changes):
    workdir = Path(tempfile.mkdtemp(prefix="roster-live-"))
    env = {**os.environ, "ROSTER_LIVE_HEARTBEAT_SECONDS": str(HEARTBEAT), **env_changes}
    env.pop("ROSTER_SMTP_URL", None)
    with running_servers(count, env, workdir) as started:
        yield started
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def server(database):
    with servers_on_test_database(1) as (one,):
        yield one


@pytest.fixture
async def browser():
    opened: list[httpx.AsyncClient] = []

    def open_on(base_url: str) -> Browser:
        client = httpx.AsyncClient(base_url=base_url, follow_redirects=False, timeout=30)
        opened.append(client)
        return Browser(client)

    yield open_on
    await asyncio.gather(*(client.aclose() for client in opened))


class Stream:
    """An open live stream: its status, and the events it has said so far."""

    def __init__(self, browser: Browser, path: str) -> None:
        self.browser, self.path = browser, path
        self.status = 0
        self.events: list[str] = []
        self.kinds: list[set[str]] = []  # each event's data: the kinds of change
        self.read = 0  # how many of the events the test has taken
        self.ended = asyncio.Event()
        self._opened = asyncio.Event()
        self._new = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        headers = {"hx-request": "true", "accept": "text/html, text/event-stream"}
        try:
            async with self.browser.client.stream(
                "GET", self.path, headers=headers, timeout=None
            ) as response:
                self.status = response.status_code
                self.content_type = response.headers.get("content-type", "")
                self._opened.set()
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        self.events.append(line.removeprefix("event: "))
                        self.kinds.append(set())
                    elif line.startswith("data: ") and self.kinds:
                        self.kinds[-1] = set(line.removeprefix("data: ").split())
                    elif line == "" and self.events:
                        self._new.set()
        except httpx.HTTPError:
            pass
        finally:
            self._opened.set()
            self.ended.set()
            self._new.set()

    async def opened(self) -> "Stream":
        await asyncio.wait_for(self._opened.wait(), 10)
        return self

    async def next_event(self, within: float = 5) -> str | None:
        """The next event said that this test has not read yet, or None if none came within
        `within` seconds."""
        deadline = time.monotonic() + within
        while True:
            self._new.clear()
            if len(self.events) > self.read or self.ended.is_set():
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), remaining)
        if len(self.events) <= self.read:
            return None
        self.read += 1
        return self.events[self.read - 1]

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@pytest.fixture
async def streams():
    opened: list[Stream] = []

    async def open_stream(browser: Browser, path: str) -> Stream:
        stream = Stream(browser, path)
        opened.append(stream)
        return await stream.opened()

    yield open_stream
    await asyncio.gather(*(stream.close() for stream in opened))


async def staff(browser: Browser, role: str = "full") -> Browser:
    from app.domain.staff.services import create_admin
    from tests.factories import ADMIN

    email = unique_email("staff")
    await create_admin(email=email, password=STAFF_PASSWORD, name=email, role=role, actor=ADMIN)
    await browser.login(email, STAFF_PASSWORD, path="/admin/login")
    return browser


async def owner(browser: Browser, account: tuple[int, dict]) -> Browser:
    """`browser` logged in as the owner of `account` (as make_client returns it)."""
    await browser.login(account[1]["email"], PASSWORD)
    return browser


async def invite(owner_browser: Browser, email: str) -> None:
    response = await owner_browser.post(
        "/account/users/invite",
        {"email": email, "scope": "all"},
        headers={"hx-request": "true"},
    )
    assert response.status_code == 200, response.text


# ---------------------------------------------------------------------------------------------
# Who may listen


async def test_each_stream_opens_only_for_those_its_page_is_for(server, browser, streams):
    account = await make_client(company="Listened To")
    anonymous = browser(server.url)
    admin = await staff(browser(server.url))
    support = await staff(browser(server.url), role="support")
    the_owner = await owner(browser(server.url), account)
    member = await make_user(first="Mia", email=unique_email("mia"))
    from app.domain.access.services import grant_access
    from tests.factories import ADMIN

    await grant_access(account[0], member["id"], ["tickets"], actor=ADMIN)
    a_member = browser(server.url)
    await a_member.login(member["email"], PASSWORD)

    users_tab = f"/live/admin/clients/{account[0]}/users"
    expected = [
        (anonymous, users_tab, 204),
        (anonymous, "/live/account/users", 204),
        (anonymous, "/live/admin/mail", 204),
        (the_owner, users_tab, 204),  # a client user is not staff
        (the_owner, "/live/admin/clients", 204),
        (a_member, "/live/account/users", 204),  # not the owner
        (the_owner, "/live/account/users", 200),
        (admin, users_tab, 200),
        (support, users_tab, 200),  # Support Operators view Users tabs
        (admin, "/live/admin/clients", 200),
        (admin, "/live/admin/mail", 200),
        (admin, "/live/account/users", 204),  # staff have no current account
    ]
    for who, path, status in expected:
        stream = await streams(who, path)
        assert stream.status == status, (path, stream.status)
        if status == 200:
            assert stream.content_type.startswith("text/event-stream")


async def test_a_change_reaches_the_streams_that_show_it_and_no_other(server, browser, streams):
    watched = await make_client(company="Watched")
    other = await make_client(company="Elsewhere")
    admin = await staff(browser(server.url))
    users_tab = await streams(admin, f"/live/admin/clients/{watched[0]}/users")
    the_owner = await owner(browser(server.url), watched)
    owners_page = await streams(the_owner, "/live/account/users")
    other_tab = await streams(admin, f"/live/admin/clients/{other[0]}/users")
    outbox = await streams(admin, "/live/admin/mail")
    # The owner's sign-in is news too (the tab shows their last login): heard, then past.
    assert await users_tab.next_event() == "roster:changed"
    assert users_tab.kinds[-1] == {"people"}

    await invite(the_owner, unique_email("new"))

    assert await users_tab.next_event() == "roster:changed"
    assert users_tab.kinds[-1] == {"invites", "people"}  # an invitation (accepted: a user)
    assert await owners_page.next_event() == "roster:changed"
    assert await outbox.next_event() == "roster:changed"  # the invitation email was queued
    assert await other_tab.next_event(within=HEARTBEAT * 2.5) is None

    # Staff give someone access: people, not invites.
    member = await make_user(first="Gil", email=unique_email("gil"))
    await admin.post(
        f"/admin/clients/{watched[0]}/associate",
        {"user_id": str(member["id"]), "permissions": ["tickets"], "send_invite": "no"},
        headers={"hx-request": "true"},
    )
    assert await users_tab.next_event() == "roster:changed"
    assert users_tab.kinds[-1] == {"people"}


async def test_the_clients_list_hears_of_a_new_account(server, browser, streams):
    admin = await staff(browser(server.url))
    clients_list = await streams(admin, "/live/admin/clients")
    response = await admin.post(
        "/admin/clients",
        {
            "owner_email": unique_email("founder"),
            "owner_first": "Fay",
            "owner_last": "Founder",
            "company": "Brand New",
        },
    )
    assert response.status_code in (200, 303), response.text
    assert await clients_list.next_event() == "roster:changed"


async def test_a_stream_whose_session_ended_says_so_once_and_ends(server, browser, streams):
    account = await make_client(company="Signed Out")
    the_owner = await owner(browser(server.url), account)
    stream = await streams(the_owner, "/live/account/users")
    assert stream.status == 200
    await the_owner.post("/logout")
    # At the next heartbeat the session is checked again: one last word, then the end.
    assert await stream.next_event(within=HEARTBEAT * 4) == "roster:changed"
    await asyncio.wait_for(stream.ended.wait(), HEARTBEAT * 4)
    again = await streams(the_owner, "/live/account/users")
    assert again.status == 204


async def test_streams_per_session_are_capped(server, browser, streams):
    from app.http.live.streams import STREAMS_PER_SESSION

    admin = await staff(browser(server.url))
    opened = [await streams(admin, "/live/admin/clients") for _ in range(STREAMS_PER_SESSION)]
    assert all(s.status == 200 for s in opened)
    refused = await streams(admin, "/live/admin/clients")
    assert refused.status == 429
    await opened[0].close()
    await asyncio.sleep(0.5)  # the server notices the closed connection
    assert (await streams(admin, "/live/admin/clients")).status == 200


async def test_parallel_opens_are_counted_before_any_of_them_starts(server, browser, streams):
    from app.http.live.streams import STREAMS_PER_SESSION

    admin = await staff(browser(server.url))
    opened = await asyncio.gather(*(streams(admin, "/live/admin/clients") for _ in range(20)))
    statuses = sorted(s.status for s in opened)
    assert statuses == [200] * STREAMS_PER_SESSION + [429] * (20 - STREAMS_PER_SESSION)
    await asyncio.gather(*(s.close() for s in opened))
    await asyncio.sleep(0.5)  # the server notices the closed connections: every slot is free
    again = await asyncio.gather(*(streams(admin, "/live/admin/clients") for _ in range(8)))
    assert [s.status for s in again] == [200] * 8


async def test_a_removed_owners_stream_ends_at_the_next_news_on_a_busy_account(
    server, browser, streams
):
    """Changes come faster than the heartbeat, so the stream is never idle: the re-check before
    each message is what ends it, not the heartbeat's."""
    from app.domain.access.services import grant_access, revoke_access
    from app.domain.clients.services import transfer_ownership
    from tests.factories import ADMIN

    account = await make_client(company="Busy")
    client_id, old_owner = account
    successor = await make_user(first="Sue", email=unique_email("successor"))
    busy = await make_user(first="Bo", email=unique_email("busy"))
    for user in (successor, busy):
        await grant_access(client_id, user["id"], ["tickets"], actor=ADMIN)
    stream = await streams(await owner(browser(server.url), account), "/live/account/users")
    assert stream.status == 200
    admin = await staff(browser(server.url))
    stop = asyncio.Event()

    async def keep_changing() -> None:  # the account's people change every 0.2 s
        flip = 0
        while not stop.is_set():
            flip ^= 1
            response = await admin.post(
                f"/admin/clients/{client_id}/users/{busy['id']}/permissions",
                {"permissions": ["tickets", "invoices"][: 1 + flip]},
                headers={"hx-request": "true"},
            )
            assert response.status_code == 200, response.text
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)

    changing = asyncio.create_task(keep_changing())
    try:
        for _ in range(3):  # the owner hears of them while still the owner
            assert await stream.next_event() == "roster:changed"
            assert stream.kinds[stream.read - 1] == {"people"}
        await transfer_ownership(client_id, successor["id"], actor=ADMIN)
        await revoke_access(client_id, old_owner["id"], actor=ADMIN)
        removed_at = len(stream.events)
        await asyncio.wait_for(stream.ended.wait(), HEARTBEAT * 3)
        await asyncio.sleep(HEARTBEAT * 1.5)  # more changes: nothing more reaches the ex-owner
    finally:
        stop.set()
        await changing
    after = stream.kinds[removed_at:]
    # At most one message sent before the removal was committed, then one last word (re-fetch
    # everything: the page then meets the refusal), and the end.
    assert after[-1] == {"all"}
    assert len(after) <= 2, after


async def test_stopping_a_server_ends_its_streams_at_once(database, browser, streams):
    with servers_on_test_database(1) as (one,):
        admin = await staff(browser(one.url))
        stream = await streams(admin, "/live/admin/clients")
        assert stream.status == 200
        started = time.monotonic()
        one.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(stream.ended.wait(), 10)
        exit_code = await asyncio.to_thread(one.process.wait, 20)
        # Well inside the graceful timeout (30 s): the stream did not hold the shutdown.
        assert time.monotonic() - started < 10
        assert exit_code == 0


# ---------------------------------------------------------------------------------------------
# Across processes (PostgreSQL)


@pytest.mark.skipif(not POSTGRES, reason="several processes share a database only on PostgreSQL")
async def test_a_change_on_one_process_reaches_a_stream_on_another(database, browser, streams):
    watched = await make_client(company="Two Processes")
    with servers_on_test_database(2) as (first, second):
        admin = await staff(browser(first.url))
        users_tab = await streams(admin, f"/live/admin/clients/{watched[0]}/users")
        started = time.monotonic()
        await invite(await owner(browser(second.url), watched), unique_email("across"))
        assert await users_tab.next_event() == "roster:changed"
        assert time.monotonic() - started < 5


async def test_a_sign_in_and_a_verified_address_reach_an_open_users_tab(server, browser, streams):
    """The Users tab shows each person's last login and whether their address is verified:
    both reach a tab that is open, not only one that is reloaded."""
    from app.core import db
    from app.domain.access.services import grant_access
    from app.domain.verification import services as verification
    from app.schema.mail import OutboundEmail
    from tests.factories import ADMIN

    watched = await make_client(company="Signed In")
    member = await make_user(first="Lin", email=unique_email("lin"))
    await grant_access(watched[0], member["id"], ["tickets"], actor=ADMIN)
    admin = await staff(browser(server.url))
    users_tab = await streams(admin, f"/live/admin/clients/{watched[0]}/users")

    await browser(server.url).login(member["email"], PASSWORD)
    assert await users_tab.next_event() == "roster:changed"
    assert users_tab.kinds[-1] == {"people"}

    async with db.transaction():
        await verification.send_link(member, actor=ADMIN)
    mail = (
        await OutboundEmail.select(OutboundEmail.text_body)
        .where(OutboundEmail.to_address == member["email"])
        .order_by(OutboundEmail.id, ascending=False)
        .first()
    )
    token = mail["text_body"].split("/verify-email/")[1].split()[0]
    while await users_tab.next_event(within=0.5) is not None:  # the queued email's news
        pass
    verified = await browser(server.url).post(f"/verify-email/{token}")  # its page's button
    assert verified.status_code == 200, verified.text
    assert await users_tab.next_event() == "roster:changed"
    assert "people" in users_tab.kinds[-1]
