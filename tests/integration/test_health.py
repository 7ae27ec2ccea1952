"""/healthz, /readyz and X-Request-ID (app.http.plumbing.health)."""

import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from piccolo.apps.migrations.tables import Migration

from app.core import logging_setup
from app.http.plumbing import health
from soak.servers import running_servers


async def test_healthz_answers_without_the_database(http, monkeypatch):
    async def unreachable(**_):
        raise ConnectionRefusedError

    monkeypatch.setattr(Migration, "get_migrations_which_ran", unreachable)
    response = await http.client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response.headers["content-type"] == "application/json"
    assert "set-cookie" not in response.headers


async def test_readyz_is_ready_on_a_migrated_database(http):
    response = await http.client.get("/readyz")
    assert response.status_code == 200 and response.json()["status"] == "ready"


async def test_readyz_is_503_when_the_database_does_not_answer(http, monkeypatch):
    async def unreachable(**_):
        raise ConnectionRefusedError

    monkeypatch.setattr(Migration, "get_migrations_which_ran", unreachable)
    response = await http.client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "detail": "The database does not answer."}


async def test_readyz_is_503_while_a_migration_has_not_run(http, monkeypatch):
    expected = health.expected_migrations() | {"2099-01-01T00:00:00:000000"}
    monkeypatch.setattr(health, "expected_migrations", lambda: expected)
    response = await http.client.get("/readyz")
    assert response.status_code == 503 and "roster migrate" in response.json()["detail"]


async def test_every_answer_carries_a_request_id(http):
    first = (await http.client.get("/login")).headers["x-request-id"]
    second = (await http.client.get("/login")).headers["x-request-id"]
    assert re.fullmatch("[0-9a-f]{32}", first) and first != second
    kept = await http.client.get("/healthz", headers={"x-request-id": "lb-1234.abc"})
    assert kept.headers["x-request-id"] == "lb-1234.abc"
    odd = await http.client.get("/healthz", headers={"x-request-id": "bad id\u00e9"[:6]})
    assert re.fullmatch("[0-9a-f]{32}", odd.headers["x-request-id"])


def test_log_records_carry_the_request_id():
    record = logging.LogRecord("roster", logging.INFO, __file__, 1, "hello", (), None)
    token = logging_setup.request_id.set("req-42")
    try:
        assert logging_setup.RequestIdFilter().filter(record)
    finally:
        logging_setup.request_id.reset(token)
    assert record.request_id == "req-42"


@pytest.fixture(scope="module")
def server(database):
    workdir = Path(tempfile.mkdtemp(prefix="roster-health-"))
    with running_servers(1, dict(os.environ), workdir) as (started,):
        yield started
    shutil.rmtree(workdir, ignore_errors=True)


def test_a_real_server_logs_request_ids_and_no_token(server):
    """`roster serve`'s own log lines (Litestar must not replace the logging set up for it)."""
    token = "Tok3nThatMustNotBeLogged"
    answered = httpx.get(f"{server.url}/invite/{token}", headers={"x-request-id": "probe-77"})
    assert answered.headers["x-request-id"] == "probe-77"
    assert httpx.get(f"{server.url}/readyz").json()["status"] == "ready"
    for _ in range(50):  # the access line is written as the answer goes out
        output = server.log_tail(20000)
        if "probe-77" in output:
            break
        time.sleep(0.1)
    assert "[probe-77]: 127.0.0.1" in output and "GET /invite/[redacted]" in output
    assert token not in output


def test_a_real_server_logs_no_secret_sent_in_the_wrong_case_or_percent_encoded(server):
    token = "Tok3nInAQueryMustNotBeLogged"
    asked = [
        f"/INCLUDES/api.php?action=GetUsers&identifier=id1&secret={token}",
        f"/login?next=%2Finvite%2F{token}",
        f"/login?next=%252Fpassword%252Freset%252F{token}",
        f"/accounts?Password={token}",
    ]
    for url in asked:
        assert httpx.get(f"{server.url}{url}").status_code < 500
    assert httpx.get(f"{server.url}/readyz?probe=secret-case").status_code == 200
    for _ in range(50):  # the access line is written as the answer goes out
        output = server.log_tail(20000)
        if "probe=secret-case" in output:
            break
        time.sleep(0.1)
    assert "GET /login?next=[redacted]" in output and "/INCLUDES/api.php?" in output
    assert token not in output
