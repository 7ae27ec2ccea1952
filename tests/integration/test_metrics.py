"""GET /metrics and the request metrics (app.http.plumbing.metrics, app.http.metrics): who may
scrape, what is counted and under which route label, the outbox gauge, and the sum over processes
sharing PROMETHEUS_MULTIPROC_DIR. Read with prometheus_client's own parser."""

import asyncio
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.core import clock
from app.domain.credentials.services import API_LIMIT, create_credential
from app.domain.staff.services import REQUIRE_STAFF_TWO_FACTOR, create_admin, set_setting
from app.http.plumbing import metrics
from app.schema.mail import OutboundEmail
from soak.servers import running_servers
from tests.factories import ADMIN, PASSWORD, make_client, unique_email

USERS_TAB = "/admin/clients/{client_id}/users"  # Litestar's template: no converter
HTML = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def parsed(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample, by (sample name, sorted labels), as prometheus_client's parser reads it."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def requests_of(samples: dict, method: str, route: str, status: int) -> float:
    return value(
        samples, "roster_http_requests_total", method=method, route=route, status=str(status)
    )


def timed(samples: dict, method: str, route: str) -> float:
    return value(samples, "roster_http_request_duration_seconds_count", method=method, route=route)


async def new_credential(role: str = "full") -> str:
    """`IDENTIFIER:SECRET` of a new credential of a new staff member with this role."""
    admin_id = await create_admin(
        email=unique_email("staff"),
        password="staff-passphrase-2026",
        name="Pat",
        role=role,
        actor=ADMIN,
    )
    made = await create_credential(admin_id, actor=ADMIN)
    return f"{made.identifier}:{made.secret}"


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


async def scrape(http) -> dict:
    response = await http.client.get("/metrics")
    assert response.status_code == 200, response.text
    return parsed(response.text)


# Who may scrape.


async def test_a_staff_session_reads_the_text_format(http, admin_session):
    response = await http.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert response.headers["cache-control"] == "no-store"
    families = {f.name: f.type for f in text_string_to_metric_families(response.text)}
    assert families["roster_http_requests"] == "counter"
    assert families["roster_http_request_duration_seconds"] == "histogram"
    assert families["roster_live_streams"] == "gauge"
    assert families["roster_outbox_emails"] == "gauge"
    # No `_created` series: one more series per counter, which nobody reads.
    assert not [line for line in response.text.splitlines() if "_created" in line]


async def test_a_support_operator_reads_them_too(http, support_session):
    assert (await http.client.get("/metrics")).status_code == 200


async def test_an_api_credential_reads_them(http):
    token = await new_credential(role="support")  # any credential reads
    response = await http.client.get("/metrics", headers=bearer(token))
    assert response.status_code == 200
    assert "roster_http_requests_total" in {
        s.name for f in text_string_to_metric_families(response.text) for s in f.samples
    }


async def test_no_credentials_is_401_for_a_scraper_and_the_admin_login_for_a_browser(http):
    scraper = await http.client.get("/metrics", headers={"accept": "text/plain"})
    assert scraper.status_code == 401
    assert scraper.headers["content-type"].startswith("text/plain")
    assert scraper.headers["www-authenticate"].startswith("Bearer")
    assert "roster_" not in scraper.text
    browser = await http.client.get("/metrics", headers=HTML)
    assert browser.status_code == 303 and browser.headers["location"] == "/admin/login"


async def test_a_client_users_session_is_403(http):
    await make_client(owner_email="fiona@example.com")
    await http.login("fiona@example.com", PASSWORD)
    response = await http.client.get("/metrics")
    assert response.status_code == 403 and "roster_" not in response.text


async def test_a_wrong_bearer_is_401(http):
    token = await new_credential()
    identifier = token.split(":")[0]
    for wrong in (f"{identifier}:not-the-secret", "nosuchidentifier:secret", "no-colon"):
        response = await http.client.get("/metrics", headers=bearer(wrong))
        assert response.status_code == 401, wrong
        assert "roster_" not in response.text
    basic = await http.client.get("/metrics", headers={"authorization": f"Basic {token}"})
    assert basic.status_code == 401


async def test_failed_bearers_are_throttled_with_the_native_apis_count(http):
    token = await new_credential()
    identifier = token.split(":")[0]
    for _ in range(API_LIMIT.per_key):
        await http.client.get("/metrics", headers=bearer(f"{identifier}:wrong"))
    refused = await http.client.get("/metrics", headers=bearer(token))
    assert refused.status_code == 429 and "retry-after" in refused.headers
    # One count: the native API refuses the right secret too.
    api = await http.client.get("/api/v1/clients", headers=bearer(token))
    assert api.status_code == 429


async def test_staff_kept_to_enrolment_are_kept_from_the_metrics(http):
    """Like the admin area: staff who must enrol in two-factor authentication first."""
    await set_setting(REQUIRE_STAFF_TWO_FACTOR, "true", actor=ADMIN)
    await create_admin(
        email="tess@example.com",
        password="staff-passphrase-42",
        name="Tess",
        role="full",
        actor=ADMIN,
    )
    await http.login("tess@example.com", "staff-passphrase-42", path="/admin/login")
    assert (await http.client.get("/metrics")).status_code == 403
    page = await http.client.get("/metrics", headers=HTML)
    assert page.status_code == 303 and page.headers["location"] == "/admin/security"


# What is counted.


async def test_a_templated_route_is_counted_and_timed_by_its_template(http, admin_session):
    client_id, _owner = await make_client()
    before = await scrape(http)
    for _ in range(2):
        assert (await http.client.get(f"/admin/clients/{client_id}/users")).status_code == 200
    after = await scrape(http)
    assert (
        requests_of(after, "GET", USERS_TAB, 200) - requests_of(before, "GET", USERS_TAB, 200) == 2
    )
    assert timed(after, "GET", USERS_TAB) - timed(before, "GET", USERS_TAB) == 2
    buckets = [
        v
        for (name, labels), v in after.items()
        if name == "roster_http_request_duration_seconds_bucket"
        and dict(labels)["route"] == USERS_TAB
        and dict(labels)["method"] == "GET"
    ]
    assert len(buckets) == len(metrics.DURATION_BUCKETS) + 1  # and +Inf
    routes = {dict(labels)["route"] for (_name, labels) in after if "route" in dict(labels)}
    assert USERS_TAB in routes
    assert not any(segment.isdigit() for route in routes for segment in route.split("/"))


async def test_a_path_no_route_matches_is_counted_as_unmatched(http, admin_session):
    before = await scrape(http)
    assert (await http.client.get("/no/such/page/4242")).status_code == 404
    after = await scrape(http)
    assert (
        requests_of(after, "GET", "unmatched", 404) - requests_of(before, "GET", "unmatched", 404)
        == 1
    )
    assert not any("4242" in dict(labels).get("route", "") for (_name, labels) in after)


async def test_static_files_share_one_label_and_the_api_has_its_templates(http):
    token = await new_credential()
    before = parsed((await http.client.get("/metrics", headers=bearer(token))).text)
    assert (await http.client.get("/static/css/roster.css")).status_code == 200
    client_id, _owner = await make_client()
    answered = await http.client.get(f"/api/v1/clients/{client_id}", headers=bearer(token))
    assert answered.status_code == 200
    after = parsed((await http.client.get("/metrics", headers=bearer(token))).text)
    assert (
        requests_of(after, "GET", "/static", 200) - requests_of(before, "GET", "/static", 200) == 1
    )
    api_route = "/api/v1/clients/{client_id}"
    assert (
        requests_of(after, "GET", api_route, 200) - requests_of(before, "GET", api_route, 200) == 1
    )
    assert not any("roster.css" in dict(labels).get("route", "") for (_name, labels) in after)


async def test_the_outbox_gauge_counts_each_status(http, admin_session):
    wanted = {"queued": 3, "sending": 1, "sent": 2}  # and no failed one
    now = clock.now()
    for status, n in wanted.items():
        for _ in range(n):
            await OutboundEmail.insert(
                OutboundEmail(
                    to_address="someone@example.com",
                    subject="Hello",
                    text_body="Hello",
                    html_body="<p>Hello</p>",
                    template="test",
                    status=status,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
    samples = await scrape(http)
    for status in ("queued", "sending", "sent", "failed"):
        assert value(samples, "roster_outbox_emails", status=status) == wanted.get(status, 0)


async def test_webhook_deliveries_by_status_and_the_oldest_waiting(
    http, admin_session, monkeypatch
):
    from datetime import timedelta

    from app.schema.webhooks import WebhookDelivery, WebhookEndpoint

    now = clock.now()
    endpoint = await WebhookEndpoint.insert(
        WebhookEndpoint(url="https://hooks.example.com/", secret="whsec_x", created_at=now)
    ).returning(WebhookEndpoint.id)
    for status, age in (("delivered", 600), ("failed", 500), ("queued", 90), ("queued", 30)):
        await WebhookDelivery.insert(
            WebhookDelivery(
                endpoint=endpoint[0]["id"],
                message_id=f"msg_{status}_{age}",
                event_type="grant.created",
                body="{}",
                created_at=now - timedelta(seconds=age),
                status=status,
                next_attempt_at=now,
            )
        )
    monkeypatch.setattr(clock, "now", lambda: now)
    samples = await scrape(http)
    for status, n in (("queued", 2), ("delivering", 0), ("delivered", 1), ("failed", 1)):
        assert value(samples, "roster_webhook_deliveries", status=status) == n
    assert value(samples, "roster_webhook_oldest_undelivered_seconds") == 90


async def test_live_streams_are_counted_when_they_start_and_never_timed():
    """Through `measured` with a stand-in app (a stream held open until released)."""
    release = asyncio.Event()

    async def stream(scope, receive, send):
        scope["path_template"] = "/live/account/{client_id:int}"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await release.wait()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def page(scope, receive, send):
        scope["path_template"] = "/live-ish/{n:int}"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(_message):
        pass

    def scope(path: str) -> dict:
        return {"type": "http", "method": "GET", "path": path, "headers": []}

    def now() -> dict:
        return parsed(metrics.exposition().decode())

    live, other = "/live/account/{client_id:int}", "/live-ish/{n:int}"
    before = now()
    running = asyncio.create_task(metrics.measured(stream)(scope("/live/account/7"), receive, send))
    await asyncio.sleep(0.05)
    during = now()
    assert requests_of(during, "GET", live, 200) - requests_of(before, "GET", live, 200) == 1
    release.set()
    await running
    await metrics.measured(page)(scope("/live-ish/7"), receive, send)
    after = now()
    assert timed(after, "GET", live) == timed(before, "GET", live) == 0
    assert value(after, "roster_http_request_duration_seconds_sum", method="GET", route=live) == 0
    assert timed(after, "GET", other) - timed(before, "GET", other) == 1
    assert requests_of(after, "GET", live, 200) - requests_of(before, "GET", live, 200) == 1


async def test_an_unknown_method_is_counted_as_other():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 405, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(_message):
        pass

    before = parsed(metrics.exposition().decode())
    scope = {"type": "http", "method": "BREW", "path": "/pot", "headers": []}
    await metrics.measured(app)(scope, None, send)
    after = parsed(metrics.exposition().decode())
    assert (
        requests_of(after, "other", "unmatched", 405)
        - requests_of(before, "other", "unmatched", 405)
        == 1
    )


# Several processes.


@contextlib.contextmanager
def one_server(env: dict, name: str):
    workdir = Path(tempfile.mkdtemp(prefix=f"roster-metrics-{name}-"))
    with running_servers(1, env, workdir) as (server,):
        yield server
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def two_processes(database):
    """Two `roster serve` processes on the test database sharing one PROMETHEUS_MULTIPROC_DIR
    (started one after the other: each migrates first)."""
    shared = tempfile.mkdtemp(prefix="roster-prometheus-")
    env = {**os.environ, metrics.MULTIPROCESS_ENV: shared}
    env.pop("ROSTER_SMTP_URL", None)
    with one_server(env, "a") as first, one_server(env, "b") as second:
        yield first, second
    shutil.rmtree(shared, ignore_errors=True)


async def test_a_scrape_sums_every_process_sharing_the_directory(two_processes):
    first, second = two_processes
    token = await new_credential()
    asked = {first.url: 3, second.url: 5}
    async with httpx.AsyncClient() as client:
        for url, n in asked.items():
            for _ in range(n):
                assert (await client.get(f"{url}/register")).status_code == 200
        for server in (first, second):  # whichever process answers, the sum of both
            response = await client.get(f"{server.url}/metrics", headers=bearer(token))
            assert response.status_code == 200, response.text
            samples = parsed(response.text)
            assert requests_of(samples, "GET", "/register", 200) == 8
            assert timed(samples, "GET", "/register") == 8
            assert value(samples, "roster_outbox_emails", status="queued") == 0


@pytest.mark.skipif(
    os.environ.get("ROSTER_TEST_ENGINE", "sqlite") != "postgres",
    reason="roster serve --workers N refuses SQLite",
)
async def test_roster_serve_workers_share_their_metrics(database):
    """`roster serve --workers 2`: requests spread over both workers (SO_REUSEPORT, one
    connection each), and every scrape, whichever worker answers it, counts all of them."""
    token = await new_credential()
    workdir = Path(tempfile.mkdtemp(prefix="roster-metrics-workers-"))
    shared = workdir / "prometheus"
    shared.mkdir()
    env = {**os.environ, metrics.MULTIPROCESS_ENV: str(shared)}
    env.pop("ROSTER_SMTP_URL", None)
    with running_servers(1, env, workdir, ["--workers", "2"]) as (server,):
        asked = 20
        for _ in range(asked):
            async with httpx.AsyncClient() as client:  # a new connection: either worker
                assert (await client.get(f"{server.url}/register")).status_code == 200
        # Each worker that counted a request has its own file of counters.
        assert len(list(shared.glob("counter_*.db"))) == 2
        for _ in range(6):
            async with httpx.AsyncClient() as client:
                response = await client.get(f"{server.url}/metrics", headers=bearer(token))
            assert response.status_code == 200, response.text
            assert requests_of(parsed(response.text), "GET", "/register", 200) == asked
    shutil.rmtree(workdir, ignore_errors=True)
