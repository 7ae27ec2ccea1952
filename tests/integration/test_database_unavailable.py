"""A PostgreSQL database that cannot be used. One that refuses connections (`ALTER DATABASE …
ALLOW_CONNECTIONS false`, its backends terminated): every kind of request a `roster serve`
answers that needs the database gets 503 with Retry-After, in its own format; once the
database accepts again, the very next request is answered. A pooled connection whose backend
was ended is never handed out again, and a transaction on one gives its connection back.

The refusing server runs on a database of its own, made here: the run's scratch database is
shared with the other tests and must keep accepting connections."""

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from soak.servers import ROSTER, START_TIMEOUT, Server
from tests.integration.conftest import Browser

pytestmark = pytest.mark.skipif(
    os.environ.get("ROSTER_TEST_ENGINE", "sqlite") != "postgres",
    reason="a database refusing connections is PostgreSQL's "
    "(run with ROSTER_TEST_ENGINE=postgres and ROSTER_TEST_POSTGRES_URL)",
)

STAFF_EMAIL = "refused@example.com"
STAFF_PASSWORD = "staff-passphrase-2026"


def server_url_for(database: str) -> str:
    admin = os.environ["ROSTER_TEST_POSTGRES_URL"]
    return urlunsplit(urlsplit(admin)._replace(path=f"/{database}"))


async def run_as_admin(statement: str, *args) -> None:
    """On the test server's own maintenance connection (never the database it acts on)."""
    conn = await asyncpg.connect(os.environ["ROSTER_TEST_POSTGRES_URL"])
    try:
        await conn.execute(statement, *args)
    finally:
        await conn.close()


def roster(env: dict, workdir: Path, *args: str) -> str:
    done = subprocess.run(
        [ROSTER, *args], env=env, cwd=workdir, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"roster {args[0]}: {done.stdout}\n{done.stderr}"
    return done.stdout


class Refusable:
    """A server on its own database, and a switch for whether that database accepts."""

    def __init__(self, name: str, server: Server, credential: dict) -> None:
        self.name, self.server, self.credential = name, server, credential

    async def refuse(self) -> None:
        await run_as_admin(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        await run_as_admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            self.name,
        )
        await self.wait_for_no_backends()

    async def accept(self) -> None:
        await run_as_admin(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')

    async def wait_for_no_backends(self) -> None:
        conn = await asyncpg.connect(os.environ["ROSTER_TEST_POSTGRES_URL"])
        try:
            for _ in range(100):
                count = await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", self.name
                )
                if count == 0:
                    return
                await asyncio.sleep(0.05)
        finally:
            await conn.close()
        raise AssertionError(f"{self.name} still has backends")


@pytest.fixture
async def refusable(database):
    name = f"roster_refuse_{secrets.token_hex(4)}"
    workdir = Path(tempfile.mkdtemp(prefix="roster-refuse-"))
    env = {**os.environ, "ROSTER_DATABASE_URL": server_url_for(name)}
    for unset in ("ROSTER_SMTP_URL", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(unset, None)
    await run_as_admin(f'CREATE DATABASE "{name}"')
    server = None
    try:
        roster(env, workdir, "migrate")
        roster(env, workdir, "create-admin", "--email", STAFF_EMAIL, "--password", STAFF_PASSWORD)
        made = roster(env, workdir, "create-api-credential", "--email", STAFF_EMAIL)
        server = Server(env, workdir, "refusing")
        server.wait_ready(time.monotonic() + START_TIMEOUT)
        yield Refusable(name, server, json.loads(made))
    finally:
        if server is not None:
            server.stop()
        await run_as_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    shutil.rmtree(workdir, ignore_errors=True)


def unavailable(response: httpx.Response) -> bool:
    return response.status_code == 503 and response.headers.get("retry-after", "").isdigit()


async def answer_only(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """The status and headers, not the body: an open stream never ends."""
    async with client.stream("GET", url) as response:
        return response


async def every_kind_of_request(staff: Browser, base_url: str, credential: dict) -> dict:
    """One request of each kind the server answers that needs the database."""
    bearer = {"Authorization": f"Bearer {credential['identifier']}:{credential['secret']}"}
    whmcs = {
        "identifier": credential["identifier"],
        "secret": credential["secret"],
        "action": "GetClients",
    }
    csrf = staff.cookies.get("roster_csrf")
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as anonymous:
        anonymous.cookies.set("roster_csrf", csrf)
        return {
            "page, signed in": await staff.get("/admin/clients"),
            "login page, signed in": await staff.get("/login"),
            "htmx": await staff.get("/admin/clients", headers={"HX-Request": "true"}),
            "form post": await staff.post("/admin/settings", {"setting": "anything"}),
            "login post": await anonymous.post(
                "/admin/login",
                data={"email": STAFF_EMAIL, "password": STAFF_PASSWORD},
                headers={"x-csrftoken": csrf},
            ),
            "api": await anonymous.get("/api/v1/clients", headers=bearer),
            "whmcs": await anonymous.post("/includes/api.php", data=whmcs),
            "live stream": await answer_only(staff.client, "/live/admin/clients"),
        }


async def test_a_database_refusing_connections_is_503_everywhere_then_serves_at_once(
    refusable: Refusable,
):
    base_url = refusable.server.url
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        staff = Browser(client)
        await staff.login(STAFF_EMAIL, STAFF_PASSWORD, path="/admin/login")
        # Warm the pool: several connections open, each used once.
        warm = await asyncio.gather(*(staff.get("/admin/clients") for _ in range(6)))
        assert [r.status_code for r in warm] == [200] * 6

        await refusable.refuse()
        answers = await every_kind_of_request(staff, base_url, refusable.credential)
        wrong = {kind: r.status_code for kind, r in answers.items() if not unavailable(r)}
        assert not wrong, f"not 503 with Retry-After: {wrong}\n{refusable.server.log_tail(60)}"

        assert "Database unavailable" in answers["page, signed in"].text
        htmx = answers["htmx"]
        assert htmx.headers["hx-reswap"] == "none" and "<html" not in htmx.text
        assert (
            "database"
            in json.loads(htmx.headers["hx-trigger"])["roster:flash"]["messages"][0]["text"]
        )
        assert answers["api"].headers["content-type"] == "application/problem+json"
        assert answers["api"].json()["status"] == 503
        assert answers["whmcs"].headers["content-type"] == "application/json"
        assert answers["whmcs"].json()["result"] == "error"
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as anonymous:
            login_form = await anonymous.get("/login")
        assert login_form.status_code == 200  # the form itself needs no database

        await refusable.accept()
        first = await staff.get("/admin/clients")
        assert first.status_code == 200, refusable.server.log_tail(60)
        again = await every_kind_of_request(staff, base_url, refusable.credential)
        failed = {kind: r.status_code for kind, r in again.items() if r.status_code >= 500}
        assert not failed, f"after accepting again: {failed}\n{refusable.server.log_tail(60)}"


async def end_backend_of(connection) -> None:
    """pg_terminate_backend on the connection's backend. When this returns the connection has
    usually read the server's last message but not yet seen its socket close: the moment in
    which a pooled connection looked usable and was handed out."""
    await run_as_admin("SELECT pg_terminate_backend($1)", connection.get_server_pid())


async def every_connection_comes_back() -> None:
    """The pool's every turn can be taken at once: none was lost with a broken connection."""
    from app.core import db
    from app.core.config import db_pool_size

    assert isinstance(db.DB.pool, db.FairPool)
    taken = await asyncio.wait_for(
        asyncio.gather(*(db.DB.pool.take() for _ in range(db_pool_size(os.environ)))), 10
    )
    for connection in taken:
        await db.DB.pool.release(connection)


@pytest.mark.parametrize("attempt", range(5))
async def test_a_pooled_connection_ended_by_the_server_is_never_used_again(attempt):
    """The next quick read, query and transaction get the connection just given back (asyncpg's
    queue is last in, first out), its backend ended: they are answered all the same, on
    another connection, and that connection is never handed out again."""
    from app.core import db
    from app.core.dberrors import is_database_unavailable
    from app.schema.clients import Client

    async with db.DB.pool.acquire() as connection:
        await end_backend_of(connection)
    assert await db.fetch_quick("SELECT {}::int AS one", 1) == [{"one": 1}]

    async with db.DB.pool.acquire() as connection:
        await end_backend_of(connection)
    try:
        assert await Client.count() == 0
    except Exception as exc:
        # Lost in the middle of the statement, not before: whether a statement ran is then
        # unknown, so it is not run again, and the caller is told to try later.
        assert is_database_unavailable(exc), repr(exc)
    assert await Client.count() == 0

    async with db.DB.pool.acquire() as connection:
        await end_backend_of(connection)
    async with db.transaction():
        assert await Client.count() == 0
    await every_connection_comes_back()


async def test_a_transaction_whose_connection_is_lost_gives_it_back_and_ends():
    """The rollback on the lost connection fails: the connection is closed all the same, its
    pool turn given back, and the task's next transaction is a new one (a long-lived task, the
    mail worker, would otherwise keep running its queries on the dead one)."""
    from app.core import db
    from app.core.dberrors import is_database_unavailable
    from app.schema.clients import Client

    with pytest.raises(Exception) as raised:
        async with db.transaction():
            pid = (await Client.raw("SELECT pg_backend_pid() AS pid"))[0]["pid"]
            await run_as_admin("SELECT pg_terminate_backend($1)", pid)
            await asyncio.sleep(0.2)
            await Client.count()
    assert is_database_unavailable(raised.value), repr(raised.value)
    await every_connection_comes_back()
    async with db.transaction():
        assert await Client.count() == 0
