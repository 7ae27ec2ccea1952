"""`roster serve` as it is deployed: several worker processes, SIGTERM, proxy headers, the
connection budget, and the mail worker stopping without leaving an email leased.

Real `roster serve` processes (soak.servers) on the run's scratch database (ROSTER_DATABASE_URL,
set by tests/conftest), which this process reads and writes with the services. Tests that need
several processes on one database run only on PostgreSQL."""

import asyncio
import http.client
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller

from soak.servers import ROSTER, START_TIMEOUT, Server, free_port
from tests.factories import ADMIN, PASSWORD, make_user, unique_email
from tests.integration.conftest import Browser

ON_POSTGRES = os.environ.get("ROSTER_TEST_ENGINE", "sqlite") == "postgres"
postgres_only = pytest.mark.skipif(
    not ON_POSTGRES,
    reason="several server processes share one database only on PostgreSQL "
    "(run with ROSTER_TEST_ENGINE=postgres and ROSTER_TEST_POSTGRES_URL)",
)

STAFF_PASSWORD = "staff-passphrase-2026"
GRACEFUL = 5  # --graceful-timeout of the servers stopped here


def server_env(**extra: str) -> dict:
    env = {**os.environ, **extra}
    env.pop("ROSTER_SMTP_URL", None)
    for name in ("ROSTER_PROXY_HEADERS", "ROSTER_FORWARDED_ALLOW_IPS", "PROMETHEUS_MULTIPROC_DIR"):
        if name not in extra:
            env.pop(name, None)
    return env


def started(tmp_path: Path, name: str, args=(), **extra: str) -> Server:
    server = Server(server_env(**extra), tmp_path, name, args)
    try:
        server.wait_ready(time.monotonic() + START_TIMEOUT)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture
def serve(tmp_path):
    """Starts a `roster serve` (name, extra options, extra environment) that answers; every one
    started is stopped after the test, and any worker left behind is killed."""
    running: list[Server] = []

    def start(name: str, args=(), **extra: str) -> Server:
        server = started(tmp_path, name, args, **extra)
        running.append(server)
        return server

    yield start
    for server in running:
        leftovers = worker_pids(server.process.pid) if server.process.poll() is None else []
        server.stop()
        for pid in leftovers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def worker_pids(parent: int) -> list[int]:
    """The worker processes `parent` spawned (not multiprocessing's resource tracker)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"spawn_main" in cmdline:
            pids.append(int(entry.name))
    return sorted(pids)


def wait_for_workers(parent: int, count: int, timeout: float = 30, exclude=()) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        pids = [p for p in worker_pids(parent) if p not in exclude]
        if len(pids) == count or time.monotonic() > deadline:
            return pids
        time.sleep(0.1)


def established_by_process(pids: list[int], port: int) -> dict[int, int]:
    """How many established TCP connections on local port `port` each process holds open."""
    inodes: dict[str, int] = {}
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        for fd in fd_dir.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes[target[8:-1]] = pid
    counts = dict.fromkeys(pids, 0)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01" and fields[9] in inodes:  # ESTABLISHED
                counts[inodes[fields[9]]] += 1
    return counts


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop_within(server: Server, seconds: float) -> tuple[int | None, float]:
    """SIGTERM; the exit code and how long the process took to end (killed after `seconds`)."""
    began = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    try:
        code = server.process.wait(seconds)
    except subprocess.TimeoutExpired:
        server.stop()
        return None, time.monotonic() - began
    took = time.monotonic() - began
    server.stop()
    return code, took


def login_pages_counted(exposition: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "roster_http_requests_total"
        and sample.labels == {"method": "GET", "route": "/login", "status": "200"}
    )


async def staff_browser(base_url: str, email: str) -> Browser:
    from app.domain.staff.services import create_admin

    await create_admin(
        email=email, password=STAFF_PASSWORD, name="Sam Staff", role="full", actor=ADMIN
    )
    browser = Browser(httpx.AsyncClient(base_url=base_url, follow_redirects=False, timeout=30))
    await browser.login(email, STAFF_PASSWORD, path="/admin/login")
    return browser


# --- several workers --------------------------------------------------------------------------


@postgres_only
async def test_two_workers_both_take_connections_and_another_server_reads_their_writes(serve):
    """`--workers 2` starts two worker processes, each with its own socket on the port: 40 fresh
    connections (each answered, then held open) are spread over both, and /metrics, answered by
    either, counts the requests of both. A second `roster serve` on another port sees what was
    written through the first: the staff session, a new client."""
    multi = serve("multi", ["--workers", "2", "--graceful-timeout", str(GRACEFUL)])
    single = serve("single")
    held: list[http.client.HTTPConnection] = []
    try:
        pids = wait_for_workers(multi.process.pid, 2)
        assert len(pids) == 2, multi.log_tail()
        for _ in range(40):
            conn = http.client.HTTPConnection("127.0.0.1", multi.port, timeout=10)
            conn.request("GET", "/login")
            response = conn.getresponse()
            response.read()
            assert response.status == 200
            held.append(conn)  # kept alive: still open in the worker that accepted it
        counts = established_by_process(pids, multi.port)
        assert sum(counts.values()) == 40, counts
        assert all(count > 0 for count in counts.values()), counts

        staff = await staff_browser(multi.url, unique_email("staff"))
        scraped = await staff.get("/metrics")
        assert scraped.status_code == 200
        assert login_pages_counted(scraped.text) >= 40  # more than either worker served alone
        created = await staff.post(
            "/admin/clients",
            {
                "company": "Written Through A",
                "owner_email": unique_email("owner"),
                "owner_first": "Petra",
                "owner_last": "Ports",
            },
        )
        assert created.status_code == 303, created.text
        users_tab = created.headers["location"]
        other = httpx.AsyncClient(base_url=single.url, cookies=staff.cookies, timeout=30)
        async with other:
            seen = await other.get(users_tab)
        await staff.client.aclose()
        assert seen.status_code == 200
        assert "Written Through A" in seen.text
    finally:
        for conn in held:
            conn.close()


@postgres_only
def test_sigterm_stops_every_worker_and_exits_0(serve):
    """SIGTERM to the parent: every worker stops, the parent exits 0 well within the graceful
    timeout, and the Prometheus directory it made for the workers is removed."""
    server = serve("multi", ["--workers", "2", "--graceful-timeout", str(GRACEFUL)])
    pids = wait_for_workers(server.process.pid, 2)
    assert len(pids) == 2, server.log_tail()
    environ = Path(f"/proc/{pids[0]}/environ").read_bytes().split(b"\0")
    prefix = b"PROMETHEUS_MULTIPROC_DIR="
    metrics_dir = [Path(v[len(prefix) :].decode()) for v in environ if v.startswith(prefix)]
    assert metrics_dir and metrics_dir[0].is_dir()
    # An idle keep-alive connection is closed by the stop, not waited for.
    idle = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    idle.request("GET", "/healthz")
    idle.getresponse().read()

    code, took = stop_within(server, GRACEFUL + 10)
    idle.close()
    assert code == 0, server.log_path.read_text()
    assert took < GRACEFUL + 5
    assert not any(alive(pid) for pid in pids)
    assert not metrics_dir[0].exists()
    log = server.log_path.read_text()
    assert log.count("Application shutdown complete") == 2  # each worker's own graceful stop


@postgres_only
def test_a_worker_that_dies_is_started_again(serve):
    server = serve("multi", ["--workers", "2", "--graceful-timeout", str(GRACEFUL)])
    pids = wait_for_workers(server.process.pid, 2)
    assert len(pids) == 2
    # Both serving first: a worker that dies before it ever served stops the whole start.
    deadline = time.monotonic() + 60
    while server.log_path.read_text().count("serving on") < 2:
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.2)
    os.kill(pids[0], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while (log := server.log_path.read_text()).count("serving on") < 3:
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.2)
    assert "exited unexpectedly with code -9" in log and "starting it again in 1 s" in log
    replaced = worker_pids(server.process.pid)
    assert len(replaced) == 2 and pids[1] in replaced and pids[0] not in replaced
    assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
    code, _ = stop_within(server, GRACEFUL + 10)
    assert code == 0


@postgres_only
def test_workers_do_not_outlive_a_killed_parent(serve):
    """The parent killed outright (no chance to stop them): its workers stop by themselves
    rather than keep serving the port unsupervised."""
    server = serve("multi", ["--workers", "2", "--graceful-timeout", str(GRACEFUL)])
    pids = wait_for_workers(server.process.pid, 2)
    assert len(pids) == 2
    server.process.kill()
    server.process.wait()
    deadline = time.monotonic() + GRACEFUL + 10
    try:
        while any(alive(pid) for pid in pids):
            assert time.monotonic() < deadline, "workers still running"
            time.sleep(0.1)
    finally:
        for pid in pids:  # if they did outlive it
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_sigterm_stops_a_single_worker_server_with_exit_code_0(serve):
    """One worker is the process itself (no child); SIGTERM ends it with 0, not by the signal."""
    server = serve("single")
    assert worker_pids(server.process.pid) == []
    code, took = stop_within(server, 20)
    assert code == 0, server.log_path.read_text()  # uvicorn alone: -15, killed by the signal
    assert took < 10


def test_several_workers_on_sqlite_are_refused(tmp_path):
    env = server_env(ROSTER_DATABASE_URL=f"sqlite:///{tmp_path}/alone.sqlite3")
    result = subprocess.run(
        [ROSTER, "serve", "--port", str(free_port()), "--workers", "2"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "SQLite is served by one process" in result.stderr
    assert "PostgreSQL" in result.stderr and "ROSTER_DATABASE_URL=postgresql://" in result.stderr
    assert not (tmp_path / "alone.sqlite3").exists()  # refused before anything was done


# --- the connection budget --------------------------------------------------------------------


def refused(tmp_path: Path, args: list[str], **extra: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [ROSTER, "serve", "--port", str(free_port()), *args],
            env=server_env(**extra),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("roster serve started instead of refusing")


@postgres_only
def test_workers_that_would_run_postgresql_out_of_connections_are_refused(tmp_path):
    result = refused(tmp_path, [], ROSTER_DB_POOL_SIZE="5000")
    assert result.returncode == 2, result.stderr
    assert "1 worker(s) × (ROSTER_DB_POOL_SIZE 5000 + 2) = 5002" in result.stderr
    assert "max_connections" in result.stderr and "superusers" in result.stderr
    assert "Lower --workers or ROSTER_DB_POOL_SIZE" in result.stderr

    result = refused(tmp_path, ["--workers", "200"])
    assert result.returncode == 2, result.stderr
    assert "200 worker(s) × (ROSTER_DB_POOL_SIZE 10 + 2) = 2400" in result.stderr


# --- proxy headers ----------------------------------------------------------------------------


async def login_through(server: Server, forwarded_for: str) -> str:
    """Logs a new user in through `server` with X-Forwarded-For; the session's stored address."""
    from app.schema.sessions import Session

    user = await make_user(email=unique_email("proxied"))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        browser = Browser(client)
        response = await browser.post(
            "/login",
            {"email": user["email"], "password": PASSWORD},
            headers={"X-Forwarded-For": forwarded_for},
        )
        assert response.status_code == 303, response.text
    row = await Session.select(Session.ip).where(Session.user == user["id"]).first()
    return row["ip"]


async def test_a_trusted_proxy_gives_the_client_address(serve):
    """With --proxy-headers and 127.0.0.1 trusted, X-Forwarded-For is the client: the session
    keeps it, and the access log shows it."""
    server = serve("proxied", ["--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"])
    assert await login_through(server, "203.0.113.7") == "203.0.113.7"
    assert '203.0.113.7:0 - "POST /login' in server.log_tail(200)


async def test_proxy_headers_from_the_environment(serve):
    server = serve("proxied-env", ROSTER_PROXY_HEADERS="1")  # trusts 127.0.0.1 by default
    assert await login_through(server, "198.51.100.4") == "198.51.100.4"


async def test_an_untrusted_peer_cannot_choose_its_address(serve):
    """The peer (127.0.0.1) is not in the trust list: its X-Forwarded-For is ignored. Without
    --proxy-headers it is ignored too."""
    untrusted = serve("untrusted", ["--proxy-headers", "--forwarded-allow-ips", "10.0.0.0/8,::1"])
    plain = serve("plain", ROSTER_FORWARDED_ALLOW_IPS="127.0.0.1")
    assert await login_through(untrusted, "203.0.113.7") == "127.0.0.1"
    assert await login_through(plain, "203.0.113.7") == "127.0.0.1"
    assert "203.0.113.7" not in untrusted.log_tail(200) + plain.log_tail(200)


# --- the mail worker's lease ------------------------------------------------------------------


class StalledSmtp:
    """An SMTP server that accepts connections and never says a word."""

    def __init__(self) -> None:
        self.connections = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def _accept(self, _reader, writer) -> None:
        self.connections += 1
        self._writers.append(writer)

    async def __aenter__(self) -> "StalledSmtp":
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc) -> None:
        for writer in self._writers:
            writer.close()
        self._server.close()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


def mail_settings(smtp_url: str):
    from app.core.config import load_settings

    return load_settings({"ROSTER_SMTP_URL": smtp_url, "ROSTER_SECRET_KEY": "k"})


async def queue_emails(n: int) -> list[int]:
    from app.domain.mail.services import enqueue

    context = {"first_name": "Jo", "reset_url": "http://x/password/reset/abc", "valid_hours": 2}
    return [
        await enqueue(to=f"jo{i}@example.com", template="password_reset", context=context)
        for i in range(n)
    ]


async def email_row(email_id: int) -> dict:
    from app.schema.mail import OutboundEmail

    return await OutboundEmail.select().where(OutboundEmail.id == email_id).first()


async def wait_until(condition, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("entry", ["deliver_due", "run_worker"])
async def test_a_send_cancelled_midway_gives_the_email_back(entry):
    """The SMTP server stalls; the worker's task is cancelled during the send: the email is
    queued again with no lease and no attempt counted, for the next worker."""
    from app.domain.mail import worker

    [email_id] = await queue_emails(1)
    async with StalledSmtp() as smtp:
        settings = mail_settings(smtp.url)
        if entry == "deliver_due":
            task = asyncio.create_task(worker.deliver_due(settings))
        else:
            task = asyncio.create_task(worker.run_worker(settings, asyncio.Event()))

        async def stalled():
            return smtp.connections == 1

        await wait_until(stalled)
        assert (await email_row(email_id))["status"] == "sending"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    row = await email_row(email_id)
    assert (row["status"], row["locked_until"], row["attempts"]) == ("queued", None, 0)
    assert [r["id"] for r in await worker.claim_due()] == [email_id]  # due at once


async def test_the_worker_stops_between_two_emails_of_a_pass():
    """`stop` set while an email goes out: that one is sent, the others stay queued (a pass
    takes up to 20 emails, each up to 20 s: the stop must not wait for them all)."""
    from app.domain.mail import worker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    class StopAfterOne:  # aiosmtpd runs it in its own thread, on its own loop
        def __init__(self):
            self.received = []

        async def handle_DATA(self, server, session, envelope):
            self.received.append(envelope)
            loop.call_soon_threadsafe(stop.set)  # before the reply leaves
            return "250 OK"

    handler = StopAfterOne()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        ids = await queue_emails(3)
        await asyncio.wait_for(
            worker.run_worker(mail_settings(f"smtp://127.0.0.1:{port}"), stop), 30
        )
    finally:
        controller.stop()
    assert len(handler.received) == 1
    statuses = [(await email_row(i))["status"] for i in ids]
    assert statuses == ["sent", "queued", "queued"]
    assert [(await email_row(i))["locked_until"] for i in ids[1:]] == [None, None]


def mail_worker(smtp_url: str, tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "ROSTER_SMTP_URL": smtp_url}
    return subprocess.Popen(
        [ROSTER, "mail-worker"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def read_until(process: subprocess.Popen, text: str, seconds: float) -> str:
    """The process's output up to the line holding `text` (it handles signals from then on:
    a fixed sleep was not enough on a busy machine)."""
    deadline, said = time.monotonic() + seconds, ""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        said += line
        if text in line or not line:
            return said
    return said


def wait_or_kill(process: subprocess.Popen, seconds: float) -> int | None:
    """The exit code, or None when the process had to be killed after `seconds`."""
    try:
        return process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None


async def test_roster_mail_worker_stops_on_sigterm(tmp_path):
    async with StalledSmtp() as smtp:
        process = mail_worker(smtp.url, tmp_path)
        said = await asyncio.to_thread(read_until, process, "Mail worker started", 60)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(wait_or_kill, process, 15)
        output = said + process.stdout.read()
    assert code == 0, output
    assert "Mail worker stopped" in output


async def test_roster_mail_worker_sigterm_twice_mid_send_gives_the_email_back(tmp_path):
    """The first SIGTERM lets the email being sent finish; a second one stops at once, and the
    email goes back to the queue."""
    [email_id] = await queue_emails(1)
    async with StalledSmtp() as smtp:
        process = mail_worker(smtp.url, tmp_path)

        async def stalled():
            return smtp.connections == 1 or process.poll() is not None

        await wait_until(stalled, 30)
        assert (await email_row(email_id))["status"] == "sending"
        process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        assert process.poll() is None  # still waiting on the send
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(wait_or_kill, process, 15)
        output = process.stdout.read()
    assert code == 0, output
    row = await email_row(email_id)
    assert (row["status"], row["locked_until"], row["attempts"]) == ("queued", None, 0)
