"""The outbox and its delivery worker against a real SMTP server (aiosmtpd)."""

import asyncio
import socket
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller

from app.core import clock, db
from app.core.config import load_settings
from app.domain.mail import worker
from app.domain.mail.services import enqueue
from app.schema.mail import OutboundEmail

CONTEXT = {"first_name": "Jo", "reset_url": "http://x/password/reset/abc", "valid_hours": 2}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Collector:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server():
    collector = Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    yield collector, port
    controller.stop()


def settings_for(port: int):
    return load_settings({"ROSTER_SMTP_URL": f"smtp://127.0.0.1:{port}", "ROSTER_SECRET_KEY": "k"})


async def queue(n: int = 1) -> list[int]:
    return [
        await enqueue(to=f"jo{i}@example.com", template="password_reset", context=CONTEXT)
        for i in range(n)
    ]


async def test_an_email_is_queued_only_if_its_transaction_commits():
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await queue()
            raise RuntimeError("the change failed")
    assert await OutboundEmail.count() == 0
    async with db.transaction():
        await queue()
    assert await OutboundEmail.count() == 1


async def test_the_worker_is_woken_after_the_commit_and_never_for_a_rollback(monkeypatch):
    """Woken inside the transaction, a worker on another connection (or process) looks before
    the email is there and then sleeps a whole poll interval."""
    from piccolo_conf import DB

    seen = []

    async def visible() -> int:
        return await OutboundEmail.count()

    def woken():
        seen.append(DB.transaction_exists())

    monkeypatch.setattr(worker, "wake", woken)
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await queue()
            raise RuntimeError("the change failed")
    assert seen == []
    async with db.transaction():
        async with db.transaction():  # a nested one joins: still nothing until the outer commits
            await queue()
        assert seen == []
    assert seen == [False] and await visible() == 1
    await queue()  # outside a transaction: at once
    assert seen == [False, False]


async def test_the_worker_delivers_through_smtp(smtp_server):
    collector, port = smtp_server
    [email_id] = await queue()
    assert await worker.deliver_due(settings_for(port)) == 1
    assert len(collector.envelopes) == 1
    envelope = collector.envelopes[0]
    assert envelope.rcpt_tos == ["jo0@example.com"]
    content = envelope.content.decode()
    assert "Subject: Reset your Roster password" in content
    assert "text/plain" in content and "text/html" in content
    assert CONTEXT["reset_url"] in content
    assert f".outbox-{email_id}@roster.local>" in content  # its Message-ID names its row
    row = await OutboundEmail.select().where(OutboundEmail.id == email_id).first()
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 1, "")
    assert row["sent_at"] is not None
    # Once the server took it, the content and the link in it are not kept: tokens live in the
    # database only as hashes.
    assert (row["text_body"], row["html_body"]) == ("", "")
    assert await worker.deliver_due(settings_for(port)) == 0  # never sent twice


async def test_a_failed_delivery_is_kept_and_retried_later_then_given_up():
    closed_port = free_port()  # nothing listens there
    [email_id] = await queue()
    assert await worker.deliver_due(settings_for(closed_port)) == 0
    row = await OutboundEmail.select().where(OutboundEmail.id == email_id).first()
    assert row["status"] == "queued" and row["attempts"] == 1
    assert row["last_error"] and row["next_attempt_at"] > clock.now()
    # Not due yet: the next pass leaves it alone.
    assert await worker.deliver_due(settings_for(closed_port)) == 0
    assert (await OutboundEmail.select().first())["attempts"] == 1
    for _ in range(worker.MAX_ATTEMPTS - 1):
        await OutboundEmail.update({OutboundEmail.next_attempt_at: clock.now()}).where(
            OutboundEmail.id == email_id
        )
        await worker.deliver_due(settings_for(closed_port))
    row = await OutboundEmail.select().where(OutboundEmail.id == email_id).first()
    assert row["status"] == "failed" and row["attempts"] == worker.MAX_ATTEMPTS
    await worker.retry_now(email_id)
    row = await OutboundEmail.select().where(OutboundEmail.id == email_id).first()
    assert row["status"] == "queued" and row["next_attempt_at"] <= clock.now()


async def test_a_crashed_workers_lease_expires_and_the_email_is_claimed_again(monkeypatch):
    [email_id] = await queue()
    assert [r["id"] for r in await worker.claim_due()] == [email_id]
    assert await worker.claim_due() == []  # leased
    later = clock.now() + worker.LEASE + timedelta(seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert [r["id"] for r in await worker.claim_due()] == [email_id]


async def test_concurrent_claims_never_share_an_email():
    await queue(30)
    batches = await asyncio.gather(*(worker.claim_due(limit=7) for _ in range(6)))
    claimed = [row["id"] for batch in batches for row in batch]
    assert len(claimed) == len(set(claimed)) == 30


async def test_the_running_worker_sends_a_freshly_queued_email(smtp_server):
    collector, port = smtp_server
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_worker(settings_for(port), stop, interval=30))
    await asyncio.sleep(0.1)
    await queue()
    for _ in range(100):  # woken by enqueue, not by the 30 s interval
        if collector.envelopes:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    assert len(collector.envelopes) == 1


class SlowCollector(Collector):
    """An SMTP server that takes its time over every message."""

    def __init__(self, delay: float):
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


async def test_two_workers_and_a_slow_smtp_server_deliver_each_email_exactly_once(monkeypatch):
    """A batch that takes longer than the lease must not let another worker send it again: each
    email is claimed (with a fresh lease) just before it is sent."""
    collector = SlowCollector(delay=0.3)
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setattr(worker, "LEASE", timedelta(seconds=1))
    stop = asyncio.Event()
    try:
        await queue(8)
        settings = settings_for(port)
        workers = [
            asyncio.create_task(worker.run_worker(settings, stop, interval=0.1)) for _ in range(2)
        ]
        for _ in range(150):
            if await OutboundEmail.count().where(OutboundEmail.status == "sent") == 8:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # long enough for any lease to run out and a double send
        stop.set()
        await asyncio.gather(*workers)
    finally:
        controller.stop()
    recipients = [e.rcpt_tos[0] for e in collector.envelopes]
    assert len(recipients) == 8 and sorted(recipients) == sorted(set(recipients))
    assert await OutboundEmail.count().where(OutboundEmail.status == "sent") == 8


async def test_delivery_outcomes_tell_the_live_outbox_and_the_invites_account(
    monkeypatch, smtp_server
):
    """A failing invitation shows on its account's invites ("Delivery failed, retrying"), and
    stops showing once it went; every outcome shows in the outbox."""
    from app.domain.events import stream
    from app.domain.invitations import services as invitations
    from app.domain.live import broker as live
    from tests.factories import ADMIN, make_client, unique_email

    client_id, _ = await make_client(company="Mailed")
    await invitations.invite(client_id, unique_email("mailed"), ["tickets"], actor=ADMIN)
    told: list[set[str]] = []

    async def record_topics(*topics):
        told.append(set(topics))

    monkeypatch.setattr(stream, "changed", record_topics)
    await worker.deliver_due(settings_for(free_port()))  # nothing listens: it fails
    assert told == [{live.MAIL, live.account(client_id, live.INVITES)}]

    told.clear()
    await OutboundEmail.update({OutboundEmail.next_attempt_at: clock.now()}, force=True)
    _collector, port = smtp_server
    assert await worker.deliver_due(settings_for(port)) == 1
    assert told == [{live.MAIL, live.account(client_id, live.INVITES)}]  # the failure note goes

    await queue()  # not an invitation: the outbox only
    told.clear()
    await worker.deliver_due(settings_for(port))
    assert told == [{live.MAIL}]
