"""Webhooks against a real receiver (an HTTP server in a thread on 127.0.0.1), every request
verified with standardwebhooks as a receiver would: what a change sends and when (every kind
offered, its change made for real, with its documented body), retries with the same webhook-id,
order per endpoint, rotation, refused addresses (at save and at send), the endpoint disabled
after 3 days of failures, and two senders at once."""

import asyncio
import functools
import http.server
import re
import shutil
import ssl
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import msgspec
import pytest
import standardwebhooks.webhooks
from standardwebhooks import Webhook, WebhookVerificationError

from app.core import clock, db
from app.core.config import get_settings
from app.core.errors import DomainError, Forbidden
from app.domain.activity.services import Actor, entries
from app.domain.events import catalog, stream
from app.domain.staff.services import create_admin
from app.domain.webhooks import addresses, sender, services
from app.domain.webhooks.addresses import AddressRefused
from app.schema.activity import ActivityEntry
from app.schema.mail import OutboundEmail
from app.schema.webhooks import WebhookDelivery, WebhookEndpoint
from tests.event_doers import DOERS, World
from tests.factories import make_client
from tests.integration.test_api_webhooks import document, envelope_of

# ---------------------------------------------------------------------------------------------
# The receiver, the clock, the staff.


class Received(msgspec.Struct):
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    def verified(self, secret: str) -> dict:
        """The body, once its signature holds for `secret` (raises otherwise)."""
        return Webhook(secret).verify(self.body, self.headers)


class Receiver:
    """Records every POST; answers with the next of `answers`, then 200."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answers: list[int] = []
        self.delay = 0.0
        self.delays: dict[str, float] = {}  # by path, instead of `delay`
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                with receiver._lock:
                    receiver.requests.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    status = receiver.answers.pop(0) if receiver.answers else 200
                delay = receiver.delays.get(self.path, receiver.delay)
                if delay:
                    threading.Event().wait(delay)
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def types(self) -> list[str]:
        return [msgspec.json.decode(r.body)["type"] for r in self.requests]


@pytest.fixture
def receiver():
    running = Receiver()
    running.thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


class MovingClock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta

    def move_to(self, moment: datetime) -> None:
        self.at = max(self.at, moment)


@pytest.fixture(autouse=True)
def moving_clock(monkeypatch):
    """The app's time, moved by the test; receivers check timestamps against it too."""
    moving = MovingClock()
    monkeypatch.setattr(clock, "now", moving.now)

    class ReceiversTime(datetime):
        @classmethod
        def now(cls, tz=None):
            return clock.now()

    monkeypatch.setattr(standardwebhooks.webhooks, "datetime", ReceiversTime)
    return moving


def without_private():
    return msgspec.structs.replace(get_settings(), webhook_allow_private=False)


async def staff(role: str = "full", name: str = "Ada") -> Actor:
    email = f"{name.lower()}-{role}@example.com"
    staff_id = await create_admin(
        email=email, password="admin-passphrase-77", name=name, role=role, actor=Actor("system")
    )
    return Actor("admin", staff_id, name, "127.0.0.1")


@pytest.fixture
async def manager() -> Actor:
    return await staff()


async def endpoint_for(url: str, manager: Actor, **options) -> services.NewSecret:
    """An endpoint, with what was queued until then (its own creation, for every endpoint that
    takes it) dropped."""
    created = await services.create_endpoint(url=url, actor=manager, **options)
    await WebhookDelivery.delete(force=True)
    return created


async def send(settings=None) -> int:
    return await sender.deliver_due(settings or get_settings(), limit=500)


async def delivery_rows(endpoint_id: int) -> list[dict]:
    return (
        await WebhookDelivery.select()
        .where(WebhookDelivery.endpoint == endpoint_id)
        .order_by(WebhookDelivery.id)
    )


# ---------------------------------------------------------------------------------------------
# What a change sends.


async def test_each_event_of_a_change_arrives_once_signed_with_the_documented_body(
    receiver, allow_private, manager
):
    created = await endpoint_for(receiver.url(), manager)
    emitted: list[catalog.Event] = []
    stop = stream.listen(lambda event, _actor: emitted.append(event))
    try:
        await make_client(company="Hooked")
    finally:
        stop()
    assert await send() == len(emitted) >= 2
    assert receiver.types() == [event.NAME for event in emitted]
    assert len({r.id for r in receiver.requests}) == len(emitted)
    for request, event in zip(receiver.requests, emitted, strict=True):
        body = request.verified(created.secret)
        assert body == {
            "type": event.NAME,
            "version": event.VERSION,
            "timestamp": body["timestamp"],
            "data": msgspec.to_builtins(event),
        }
        assert body["timestamp"].endswith("Z")
        assert abs(datetime.fromisoformat(body["timestamp"]) - clock.now()) < timedelta(seconds=5)
        assert request.id.startswith("msg_")
        assert request.headers["content-type"] == "application/json"
        assert request.path == "/hooks"
    assert await send() == 0  # nothing twice
    assert len(receiver.requests) == len(emitted)


OFFERED = [kind for kind in catalog.all_events() if kind.WEBHOOK]


def test_every_kind_offered_is_made_to_happen_below():
    """A kind added to the catalog is offered to webhooks: this fails until tests/event_doers.py
    has the doer that makes one happen."""
    assert set(DOERS) == set(OFFERED)


@functools.cache
def documented(event_type: str) -> jsonschema.Draft202012Validator:
    """The message of `event_type` as the OpenAPI document's `webhooks` section describes it."""
    return jsonschema.Draft202012Validator(
        envelope_of(document()["webhooks"], event_type),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


@pytest.mark.parametrize("kind", OFFERED, ids=lambda kind: kind.NAME)
async def test_every_kind_offered_arrives_once_for_its_change_signed_with_its_documented_body(
    kind, receiver, allow_private, manager, moving_clock
):
    """Each kind's change made for real through its service (tests/event_doers.py), the sender
    run: the receiver gets that change's event of the kind once, signed, its body the event the
    stream emitted, as documented; and every other event of the change likewise, nothing more."""
    world = await World(pass_time=moving_clock.advance).build()
    created = await endpoint_for(receiver.url(), manager)
    emitted: list[catalog.Event] = []
    stop = stream.listen(lambda event, _actor: emitted.append(event))
    try:
        await DOERS[kind](world)
    finally:
        stop()
    offered = [event for event in emitted if event.WEBHOOK]
    assert await send() == len(offered)
    assert receiver.types() == [event.NAME for event in offered]
    assert len({r.id for r in receiver.requests}) == len(offered)
    ((request, event),) = [  # exactly one message of the kind
        (request, event)
        for request, event in zip(receiver.requests, offered, strict=True)
        if request.verified(created.secret)["type"] == kind.NAME
    ]
    assert type(event) is kind
    body = request.verified(created.secret)
    assert body == {
        "type": kind.NAME,
        "version": kind.VERSION,
        "timestamp": body["timestamp"],
        # The payload as the event has it, through JSON (where a tuple is a list).
        "data": msgspec.json.decode(msgspec.json.encode(msgspec.to_builtins(event))),
    }
    assert abs(datetime.fromisoformat(body["timestamp"]) - clock.now()) < timedelta(seconds=5)
    # Each message of the change as documented, and no secret the change involved in any.
    for each in receiver.requests:
        sent = each.verified(created.secret)
        documented(sent["type"]).validate(sent)
        for secret in (*world.secrets, created.secret.removeprefix("whsec_")):
            assert secret not in each.body.decode(), (sent["type"], secret)
    assert await send() == 0  # nothing twice
    assert len(receiver.requests) == len(offered)


async def test_an_endpoint_gets_only_the_types_it_takes_and_a_disabled_one_none(
    receiver, allow_private, manager
):
    chosen = await endpoint_for(
        receiver.url("/chosen"), manager, event_types=["client.created", "grant.created"]
    )
    await endpoint_for(receiver.url("/off"), manager, enabled=False)
    await make_client(company="Picky")
    await send()
    assert [(r.path, r.verified(chosen.secret)["type"]) for r in receiver.requests] == [
        ("/chosen", "client.created")
    ]


async def test_a_rolled_back_change_queues_and_sends_nothing(receiver, allow_private, manager):
    created = await endpoint_for(receiver.url(), manager)

    class Undone(Exception):
        pass

    with pytest.raises(Undone):
        async with db.transaction():
            await stream.emit(catalog.UserSignedIn(user_id=1))
            assert len(await delivery_rows(created.endpoint_id)) == 1  # inside, it is there
            raise Undone
    assert await delivery_rows(created.endpoint_id) == []
    await send()
    assert receiver.requests == []


# ---------------------------------------------------------------------------------------------
# Retries and order.


async def test_a_failed_delivery_is_retried_later_with_the_same_webhook_id(
    receiver, allow_private, manager, moving_clock
):
    created = await endpoint_for(receiver.url(), manager)
    receiver.answers = [500]
    await stream.emit(catalog.UserSignedIn(user_id=7))
    await send()
    (row,) = await delivery_rows(created.endpoint_id)
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("queued", 1, 500)
    assert row["last_response"] == "ok" and row["last_duration_ms"] >= 0
    wait = row["next_attempt_at"] - clock.now()
    assert timedelta(seconds=4) <= wait <= timedelta(seconds=6)  # 5 s, with jitter
    endpoint = await WebhookEndpoint.select().where(WebhookEndpoint.id == created.endpoint_id)
    assert endpoint[0]["failing_since"] == clock.now()

    await send()  # not due yet
    assert len(receiver.requests) == 1
    moving_clock.advance(timedelta(seconds=7))
    await send()
    first, second = receiver.requests
    assert first.id == second.id == row["message_id"]
    assert first.headers["webhook-timestamp"] != second.headers["webhook-timestamp"]
    assert first.verified(created.secret) == second.verified(created.secret)
    (row,) = await delivery_rows(created.endpoint_id)
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("delivered", 2, 200)
    assert row["delivered_at"] == clock.now()
    endpoint = await WebhookEndpoint.select().where(WebhookEndpoint.id == created.endpoint_id)
    assert endpoint[0]["failing_since"] is None


async def test_no_answer_at_all_is_a_failure_kept_for_later(allow_private, manager):
    closed = Receiver()
    url = closed.url()
    closed.server.server_close()  # nobody listens on that port now
    created = await endpoint_for(url, manager)
    await stream.emit(catalog.UserSignedIn(user_id=7))
    await send()
    (row,) = await delivery_rows(created.endpoint_id)
    assert row["status"] == "queued" and row["last_status_code"] is None
    assert "ConnectError" in row["last_response"]


async def test_a_redirect_is_not_followed_and_counts_as_a_failure(receiver, allow_private, manager):
    created = await endpoint_for(receiver.url(), manager)
    receiver.answers = [307]
    await stream.emit(catalog.UserSignedIn(user_id=7))
    await send()
    (row,) = await delivery_rows(created.endpoint_id)
    assert (row["status"], row["last_status_code"], len(receiver.requests)) == ("queued", 307, 1)


async def test_an_endpoint_gets_its_events_in_order_even_past_a_failure(
    receiver, allow_private, manager, moving_clock
):
    created = await endpoint_for(receiver.url(), manager)
    receiver.answers = [503]
    for user_id in (1, 2, 3):
        await stream.emit(catalog.UserSignedIn(user_id=user_id))
    await send()
    assert len(receiver.requests) == 1  # the two after it wait, though due
    moving_clock.advance(timedelta(seconds=7))
    await send()
    users = [r.verified(created.secret)["data"]["user_id"] for r in receiver.requests]
    assert users == [1, 1, 2, 3]


# ---------------------------------------------------------------------------------------------
# Secrets.


async def test_a_rotated_secret_and_the_previous_one_both_verify_for_24_hours_then_only_the_new(
    receiver, allow_private, manager, moving_clock
):
    created = await endpoint_for(receiver.url(), manager)
    rotated = await services.rotate_secret(created.endpoint_id, actor=manager)
    assert rotated.secret != created.secret and rotated.secret.startswith("whsec_")
    await stream.emit(catalog.UserSignedIn(user_id=1))
    await send()
    during = receiver.requests[-1]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    during.verified(created.secret)
    during.verified(rotated.secret)

    moving_clock.advance(timedelta(hours=24, seconds=1))
    await stream.emit(catalog.UserSignedIn(user_id=2))
    await send()
    after = receiver.requests[-1]
    after.verified(rotated.secret)
    with pytest.raises(WebhookVerificationError):
        after.verified(created.secret)


async def test_the_secret_is_shown_once_and_never_listed_logged_or_emitted(
    receiver, allow_private, manager
):
    emitted: list[catalog.Event] = []
    stop = stream.listen(lambda event, _actor: emitted.append(event))
    try:
        created = await services.create_endpoint(url=receiver.url(), actor=manager)
        rotated = await services.rotate_secret(created.endpoint_id, actor=manager)
    finally:
        stop()
    Webhook(created.secret)  # usable for signing as given
    assert len(created.secret) == len("whsec_") + 44
    listed = await services.list_endpoints(actor=manager)
    shown = str(listed) + str(await services.get_endpoint(created.endpoint_id))
    log = str(await ActivityEntry.select()) + str([msgspec.to_builtins(e) for e in emitted])
    for secret in (created.secret, rotated.secret):
        assert secret not in shown and secret.removeprefix("whsec_") not in shown
        assert secret.removeprefix("whsec_") not in log
    assert "secret" not in listed[0]


def test_no_event_offered_carries_a_secret_a_token_or_a_password():
    for kind in catalog.all_events():
        for field in msgspec.structs.fields(kind):
            assert not any(
                word in field.name for word in ("secret", "token", "password", "hash", "code")
            ), (kind.NAME, field.name)
    offered = {kind.NAME for kind in catalog.all_events() if kind.WEBHOOK}
    assert set(services.EVENT_TYPES) == offered
    # The endpoints' own management is not sent to them.
    assert not {name for name in offered if name.startswith("webhook")}


# ---------------------------------------------------------------------------------------------
# Addresses.

PRIVATE_URLS = [
    "http://127.0.0.1:9/hooks",
    "http://10.1.2.3/hooks",
    "http://192.168.1.1/hooks",
    "http://169.254.169.254/latest/meta-data",
    "http://100.64.0.1/hooks",
    "http://0.0.0.0/hooks",
    "http://224.0.0.1/hooks",
    "http://[::1]/hooks",
    "http://[::ffff:127.0.0.1]/hooks",
    "http://[fe80::1]/hooks",
    "http://[fd00::1]/hooks",
    "http://localhost/hooks",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
async def test_a_private_address_is_refused_when_saved(url, manager):
    with pytest.raises(AddressRefused):
        await services.create_endpoint(url=url, actor=manager)
    assert await WebhookEndpoint.count() == 0


async def test_a_host_resolving_to_a_private_address_is_refused_when_saved(monkeypatch, manager):
    async def resolves_inside(host, port):
        return ["93.184.216.34", "10.0.0.5"]  # one inside is enough to refuse

    monkeypatch.setattr(addresses, "lookup", resolves_inside)
    with pytest.raises(AddressRefused, match="10.0.0.5"):
        await services.create_endpoint(url="https://hooks.example.com/in", actor=manager)


@pytest.mark.parametrize("description", ["nul\x00byte", "bell\x07", "bidi\u202eoverride"])
async def test_a_description_with_control_characters_is_refused_and_nothing_saved(
    description, allow_private, manager
):
    with pytest.raises(DomainError) as refused:
        await services.create_endpoint(
            url="http://127.0.0.1:9/x", description=description, actor=manager
        )
    assert refused.value.field == "description"
    assert await WebhookEndpoint.count() == 0
    created = await services.create_endpoint(
        url="http://127.0.0.1:9/x", description="tabs\tand\nlines", actor=manager
    )
    assert (await services.get_endpoint(created.endpoint_id))["description"] == "tabs and lines"


@pytest.mark.parametrize("url", ["ftp://hooks.example.com/", "hooks.example.com/x", "https://"])
async def test_only_http_and_https_urls_are_taken(url, manager):
    with pytest.raises(AddressRefused):
        await services.create_endpoint(url=url, actor=manager)


async def test_production_takes_https_only(monkeypatch, manager):
    async def public(host, port):
        return ["93.184.216.34"]

    monkeypatch.setattr(addresses, "lookup", public)
    monkeypatch.setenv("ROSTER_ENV", "production")
    get_settings.cache_clear()
    try:
        with pytest.raises(AddressRefused, match="https://"):
            await services.create_endpoint(url="http://hooks.example.com/in", actor=manager)
        await services.create_endpoint(url="https://hooks.example.com/in", actor=manager)
    finally:
        monkeypatch.setenv("ROSTER_ENV", "development")
        get_settings.cache_clear()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_private_address_is_refused_when_sending(host, receiver, allow_private, manager):
    created = await endpoint_for(f"http://{host}:{receiver.port}/hooks", manager)
    await stream.emit(catalog.UserSignedIn(user_id=1))
    await send(without_private())
    assert receiver.requests == []
    (row,) = await delivery_rows(created.endpoint_id)
    assert row["status"] == "queued" and row["last_status_code"] is None
    assert row["last_response"].startswith("Refused:") and "127.0.0.1" in row["last_response"]


async def test_a_host_that_resolves_elsewhere_at_send_time_is_refused(
    receiver, monkeypatch, manager
):
    """DNS rebinding: public when saved, loopback when sent."""
    answers = [["93.184.216.34"], ["127.0.0.1"]]

    async def rebinding(host, port):
        return answers.pop(0)

    monkeypatch.setattr(addresses, "lookup", rebinding)
    created = await endpoint_for(f"http://rebind.example.com:{receiver.port}/hooks", manager)
    await stream.emit(catalog.UserSignedIn(user_id=1))
    await send()
    assert receiver.requests == [] and answers == []
    (row,) = await delivery_rows(created.endpoint_id)
    assert row["last_response"].startswith("Refused:")


async def test_the_sender_connects_to_the_address_it_checked_naming_the_host(
    receiver, allow_private, monkeypatch, manager
):
    """Resolved once, by the check; the request goes to that address with the URL's host in
    the Host header (no second lookup that could answer otherwise)."""
    lookups = []

    async def resolver(host, port):
        lookups.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(addresses, "lookup", resolver)
    created = await endpoint_for(f"http://hooks.example.test:{receiver.port}/in", manager)
    lookups.clear()
    await stream.emit(catalog.UserSignedIn(user_id=1))
    await send()
    (request,) = receiver.requests
    assert request.headers["host"] == f"hooks.example.test:{receiver.port}"
    request.verified(created.secret)
    assert lookups == ["hooks.example.test"]


@pytest.fixture
def tls_receiver(tmp_path: Path):
    """An HTTPS receiver on 127.0.0.1 whose certificate names only hooks.example.test."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a certificate with")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=hooks.example.test", "-addext", "subjectAltName=DNS:hooks.example.test"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    running = Receiver()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server_names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    running.server.socket = context.wrap_socket(running.server.socket, server_side=True)
    running.thread.start()
    yield running, cert, server_names
    running.server.shutdown()
    running.server.server_close()


async def test_https_goes_to_the_checked_address_with_the_hosts_name_for_tls(
    tls_receiver, allow_private, monkeypatch, manager
):
    receiver, cert, server_names = tls_receiver

    async def resolver(host, port):
        return ["127.0.0.1"]

    monkeypatch.setattr(addresses, "lookup", resolver)
    trusting = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(sender, "tls_context", lambda: trusting)
    created = await endpoint_for(f"https://hooks.example.test:{receiver.port}/in", manager)
    await stream.emit(catalog.UserSignedIn(user_id=1))
    await send()
    (request,) = receiver.requests  # the certificate was verified for hooks.example.test
    request.verified(created.secret)
    assert server_names == ["hooks.example.test"]
    assert request.headers["host"] == f"hooks.example.test:{receiver.port}"


# ---------------------------------------------------------------------------------------------
# Giving up.


async def test_an_endpoint_failing_for_three_days_is_disabled_and_its_managers_are_emailed(
    receiver, allow_private, moving_clock
):
    ada, bob = await staff("full", "Ada"), await staff("full", "Bob")
    await staff("support", "Sam")
    created = await endpoint_for(receiver.url("/down"), ada)
    started = clock.now()
    receiver.answers = [500] * 100
    await stream.emit(catalog.UserSignedIn(user_id=1))
    await stream.emit(catalog.UserSignedIn(user_id=2))
    for _ in range(30):
        await send()
        endpoint = await services.get_endpoint(created.endpoint_id)
        if not endpoint["enabled"]:
            break
        first = (await delivery_rows(created.endpoint_id))[0]
        moving_clock.move_to(first["next_attempt_at"] + timedelta(seconds=1))
    assert not endpoint["enabled"] and "failed for 3 days" in endpoint["disabled_reason"]
    assert timedelta(days=3) <= clock.now() - started < timedelta(days=4)
    first, second = await delivery_rows(created.endpoint_id)
    assert first["status"] == "failed" and 10 <= first["attempts"] <= 16
    assert second["status"] == "queued"  # kept, in order, should it be enabled again
    assert {r.id for r in receiver.requests} == {first["message_id"]}

    emails = await OutboundEmail.select().where(OutboundEmail.template == "webhook_disabled")
    assert sorted(e["to_address"] for e in emails) == [
        "ada-full@example.com",
        "bob-full@example.com",
    ]
    assert f"127.0.0.1:{receiver.port}/down" in emails[0]["text_body"]
    _, log = await entries()
    assert "webhook.endpoint_disabled" in [entry["action"] for entry in log]

    # Enabled again, it starts afresh and sends what it kept (its own enabling is not news to it).
    tried = len(receiver.requests)
    await services.update_endpoint(created.endpoint_id, enabled=True, actor=bob)
    receiver.answers = []
    await send()
    assert receiver.requests[tried].id == second["message_id"]
    assert receiver.types()[tried:] == ["user.signed_in"]
    assert (await services.get_endpoint(created.endpoint_id))["failing_since"] is None


# ---------------------------------------------------------------------------------------------
# Two senders at once.


async def test_concurrent_claims_take_each_delivery_once_and_only_an_endpoints_oldest(
    allow_private, manager
):
    endpoints = [
        (await endpoint_for(f"http://127.0.0.1:9/{n}", manager)).endpoint_id for n in range(10)
    ]
    for user_id in range(3):
        await stream.emit(catalog.UserSignedIn(user_id=user_id))
    batches = await asyncio.gather(*(sender.claim_due(limit=4) for _ in range(8)))
    claimed = [row for batch in batches for row in batch]
    assert len(claimed) == len({row["id"] for row in claimed}) == len(endpoints)
    oldest = {e: (await delivery_rows(e))[0]["id"] for e in endpoints}
    assert {row["endpoint"]: row["id"] for row in claimed} == oldest


async def test_concurrent_senders_deliver_each_event_exactly_once_in_order(
    receiver, allow_private, manager
):
    receiver.delay = 0.01
    paths = ("/a", "/b")
    for path in paths:
        await endpoint_for(receiver.url(path), manager)
    events = 12
    for user_id in range(1, events + 1):
        await stream.emit(catalog.UserSignedIn(user_id=user_id))
    stop = asyncio.Event()
    settings = get_settings()
    senders = [
        asyncio.create_task(sender.run_sender(settings, stop, interval=0.02)) for _ in range(4)
    ]
    try:
        for _ in range(300):
            if len(receiver.requests) >= events * len(paths):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # time for a second send of anything, were it to happen
    finally:
        stop.set()
        await asyncio.gather(*senders)
    assert len(receiver.requests) == events * len(paths)
    for path in paths:
        got = [r for r in receiver.requests if r.path == path]
        users = [msgspec.json.decode(r.body)["data"]["user_id"] for r in got]
        assert users == list(range(1, events + 1)), path
        assert len({r.id for r in got}) == events
    delivered = await WebhookDelivery.count().where(WebhookDelivery.status == "delivered")
    assert delivered == events * len(paths)


# ---------------------------------------------------------------------------------------------
# What the admin screen and the API will call.


async def test_managing_webhooks_needs_the_permission(receiver, allow_private, manager):
    support = await staff("support", "Sam")
    with pytest.raises(Forbidden):
        await services.create_endpoint(url=receiver.url(), actor=support)
    created = await services.create_endpoint(url=receiver.url(), actor=manager)
    for call in (
        services.list_endpoints(actor=support),
        services.rotate_secret(created.endpoint_id, actor=support),
        services.send_test_event(created.endpoint_id, actor=support),
        services.delete_endpoint(created.endpoint_id, actor=support),
        services.list_endpoints(actor=Actor("user", 1, "Una")),
    ):
        with pytest.raises(Forbidden):
            await call


async def test_endpoint_changes_are_in_the_activity_log(receiver, allow_private, manager):
    created = await services.create_endpoint(
        url=receiver.url("/in") + "?token=abc", description="CRM", actor=manager
    )
    await services.update_endpoint(
        created.endpoint_id, description="CRM sync", event_types=["user.created"], actor=manager
    )
    await services.rotate_secret(created.endpoint_id, actor=manager)
    await services.delete_endpoint(created.endpoint_id, actor=manager)
    _, log = await entries()
    log = [entry for entry in log if entry["action"].startswith("webhook.")]
    assert [entry["action"] for entry in reversed(log)] == [
        "webhook.endpoint_created",
        "webhook.endpoint_updated",
        "webhook.secret_rotated",
        "webhook.endpoint_deleted",
    ]
    assert "description, event_types" in log[2]["description"]
    assert all("token=abc" not in entry["description"] for entry in log)
    assert await WebhookEndpoint.count() == 0


async def test_a_test_event_goes_to_that_endpoint_only(receiver, allow_private, manager):
    one = await endpoint_for(receiver.url("/one"), manager, event_types=["user.created"])
    await endpoint_for(receiver.url("/two"), manager)
    await services.send_test_event(one.endpoint_id, actor=manager)
    await send()
    tests = [r for r in receiver.requests if r.path == "/one"]
    assert [r.verified(one.secret)["type"] for r in tests] == ["webhook.test"]
    assert "webhook.test" not in receiver.types()[1:] or receiver.requests[0].path == "/one"
    assert all(
        msgspec.json.decode(r.body)["type"] != "webhook.test"
        for r in receiver.requests
        if r.path == "/two"
    )


async def test_resend_and_replay_send_the_same_messages_again(
    receiver, allow_private, manager, moving_clock
):
    created = await endpoint_for(receiver.url(), manager, event_types=["user.signed_in"])
    await stream.emit(catalog.UserSignedIn(user_id=1))
    moving_clock.advance(timedelta(hours=1))
    middle = clock.now()
    await stream.emit(catalog.UserSignedIn(user_id=2))
    await stream.emit(catalog.UserSignedIn(user_id=3))
    await send()
    first, second, third = receiver.requests
    rows = await services.recent_deliveries(created.endpoint_id, actor=manager)
    assert [row["status"] for row in rows] == ["delivered"] * 3 and "body" not in rows[0]

    await services.resend_delivery(rows[-1]["id"], actor=manager)
    await send()
    assert receiver.requests[-1].id == first.id
    assert receiver.requests[-1].body == first.body

    assert await services.replay_since(created.endpoint_id, middle, actor=manager) == 2
    await send()
    assert [r.id for r in receiver.requests[-2:]] == [second.id, third.id]


# ---------------------------------------------------------------------------------------------
# Runs: an endpoint's deliveries claimed, sent and settled together.


async def test_a_run_of_an_endpoints_deliveries_is_claimed_together_and_in_two_transactions(
    receiver, allow_private, manager, monkeypatch
):
    created = await endpoint_for(receiver.url(), manager)
    for user_id in range(1, 6):
        await stream.emit(catalog.UserSignedIn(user_id=user_id))
    ids = [row["id"] for row in await delivery_rows(created.endpoint_id)]
    run = await sender.claim_run()
    assert run is not None and run.endpoint["id"] == created.endpoint_id
    assert [delivery["id"] for delivery in run.deliveries] == ids
    assert await sender.claim_due(limit=4) == []  # none of them is anyone else's to claim
    assert {row["status"] for row in await delivery_rows(created.endpoint_id)} == {"delivering"}
    await sender._release(run.deliveries)

    transactions = 0
    real = db.transaction

    def counted():
        nonlocal transactions
        transactions += 1
        return real()

    monkeypatch.setattr(sender.db, "transaction", counted)
    assert await send() == 5
    # The claim, the settling, and on PostgreSQL the claim that finds nothing more.
    assert transactions <= 3, transactions
    users = [r.verified(created.secret)["data"]["user_id"] for r in receiver.requests]
    assert users == [1, 2, 3, 4, 5]
    rows = await delivery_rows(created.endpoint_id)
    assert [(r["status"], r["attempts"], r["last_status_code"]) for r in rows] == [
        ("delivered", 1, 200)
    ] * 5


async def test_a_run_stops_at_its_first_failure_and_gives_back_what_it_did_not_send(
    receiver, allow_private, manager, moving_clock
):
    created = await endpoint_for(receiver.url(), manager)
    receiver.answers = [200, 200, 500]
    for user_id in range(1, 6):
        await stream.emit(catalog.UserSignedIn(user_id=user_id))
    assert await send() == 2
    rows = await delivery_rows(created.endpoint_id)
    assert [(r["status"], r["attempts"], r["last_status_code"]) for r in rows] == [
        ("delivered", 1, 200),
        ("delivered", 1, 200),
        ("queued", 1, 500),
        ("queued", 0, None),
        ("queued", 0, None),
    ]
    assert all(r["locked_until"] is None for r in rows)
    failing = (await services.get_endpoint(created.endpoint_id))["failing_since"]
    assert failing == clock.now()
    moving_clock.advance(timedelta(seconds=7))
    assert await send() == 3
    users = [r.verified(created.secret)["data"]["user_id"] for r in receiver.requests]
    assert users == [1, 2, 3, 3, 4, 5]
    assert (await services.get_endpoint(created.endpoint_id))["failing_since"] is None


async def arrived(receiver: Receiver, count: int) -> None:
    for _ in range(500):
        if len(receiver.requests) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(receiver.requests)} of {count} requests arrived")


async def test_a_sender_stopped_or_cancelled_mid_run_gives_back_the_rest_uncounted(
    receiver, allow_private, manager
):
    created = await endpoint_for(receiver.url(), manager)
    for user_id in range(1, 5):
        await stream.emit(catalog.UserSignedIn(user_id=user_id))
    stop = asyncio.Event()
    receiver.delay = 0.2
    stopping = asyncio.create_task(sender.deliver_due(get_settings(), limit=50, stop=stop))
    await arrived(receiver, 1)
    stop.set()  # the attempt under way is finished, no other one starts
    assert await stopping == 1
    rows = await delivery_rows(created.endpoint_id)
    assert [(r["status"], r["attempts"]) for r in rows] == [("delivered", 1)] + [("queued", 0)] * 3

    receiver.delay = 5.0
    cancelled = asyncio.create_task(sender.deliver_due(get_settings(), limit=50))
    await arrived(receiver, 2)
    cancelled.cancel()  # mid-attempt: that one is given back, not counted
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    rows = await delivery_rows(created.endpoint_id)
    assert [(r["status"], r["attempts"]) for r in rows] == [("delivered", 1)] + [("queued", 0)] * 3
    assert all(r["locked_until"] is None for r in rows)


async def test_an_endpoint_slow_to_answer_holds_up_only_its_own_deliveries(
    receiver, allow_private, manager
):
    slow = await endpoint_for(receiver.url("/slow"), manager)
    fast = await endpoint_for(receiver.url("/fast"), manager)
    receiver.delays["/slow"] = 3.0
    for user_id in range(1, 4):
        await stream.emit(catalog.UserSignedIn(user_id=user_id))
    stop = asyncio.Event()
    running = asyncio.create_task(sender.run_sender(get_settings(), stop, interval=0.05))
    try:
        for _ in range(100):
            if sum(r.path == "/fast" for r in receiver.requests) == 3:
                break
            await asyncio.sleep(0.02)
        to_slow = [r for r in receiver.requests if r.path == "/slow"]
        assert sum(r.path == "/fast" for r in receiver.requests) == 3
        assert len(to_slow) == 1  # still waiting for its first answer
    finally:
        stop.set()
        await running
    assert (await delivery_rows(fast.endpoint_id))[0]["status"] == "delivered"
    assert (await delivery_rows(slow.endpoint_id))[0]["status"] == "delivered"


_LONG_QUEUE = """
INSERT INTO webhook_deliveries (endpoint, message_id, event_type, event_version, body, created_at,
                                status, attempts, next_attempt_at, last_response)
SELECT {endpoint}, 'msg_' || i, 'user.signed_in', 1, '{{}}', {at},
       CASE WHEN i <= 15000 THEN 'delivered' ELSE 'queued' END, 0, {at}, ''
FROM {numbers}
"""
_NUMBERS = {
    "sqlite": "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)"
    " SELECT i FROM n)",
    "postgres": "generate_series(1, 20000) AS i",
}


async def test_looking_for_due_deliveries_walks_one_index_entry_per_endpoint(
    allow_private, manager
):
    """A dead receiver's queue grows with every change, and every sender looks at every wake-up:
    past 15,000 delivered and 5,000 queued, the look reads each endpoint's oldest pending
    delivery from the pending index, never the deliveries table or a whole index."""
    from piccolo.querystring import QueryString

    created = await endpoint_for("http://127.0.0.1:9/dead", manager)
    engine = "sqlite" if db.is_sqlite() else "postgres"
    at = "'2026-01-01 00:00:00+00:00'"
    await db.DB.run_ddl(
        _LONG_QUEUE.format(endpoint=created.endpoint_id, at=at, numbers=_NUMBERS[engine])
    )
    await db.DB.run_ddl("ANALYZE webhook_deliveries")
    explain = "EXPLAIN QUERY PLAN " if engine == "sqlite" else "EXPLAIN "
    rows = await db.DB.run_querystring(
        QueryString(explain + sender._ELIGIBLE, clock.now(), clock.now(), 1)
    )
    plan = "\n".join(str(row.get("detail", row.get("QUERY PLAN"))) for row in rows)
    assert "webhook_deliveries_pending" in plan, plan
    assert "Seq Scan on webhook_deliveries" not in plan, plan
    assert not re.search(r"SCAN [do]\b", plan), plan
    (head,) = await sender.claim_due(limit=5)
    assert head["message_id"] == "msg_15001"


async def test_settled_deliveries_are_kept_30_days_and_undelivered_ones_until_sent(
    receiver, allow_private, manager, moving_clock
):
    from app.domain.auth import services as auth

    created = await endpoint_for(receiver.url(), manager)
    receiver.answers = [200, 500]
    for user_id in (1, 2):
        await stream.emit(catalog.UserSignedIn(user_id=user_id))
    await send()  # the first delivered, the second failing
    moving_clock.advance(timedelta(days=29))
    assert (await auth.sweep())["webhook_deliveries"] == 0
    await stream.emit(catalog.UserSignedIn(user_id=3))
    moving_clock.advance(timedelta(days=2))
    assert (await auth.sweep())["webhook_deliveries"] == 1
    rows = await delivery_rows(created.endpoint_id)
    assert [(r["status"], msgspec.json.decode(r["body"])["data"]["user_id"]) for r in rows] == [
        ("queued", 2),
        ("queued", 3),
    ]
