"""`roster serve`'s options and settings, the connection budget, and the pieces of app.serving
that can be checked without starting a server (tests/integration/test_serving.py starts them)."""

import asyncio
import socket

import pytest

from app import serving
from app.cli import parser
from app.core.config import load_settings


def serve_args(*argv: str):
    return parser().parse_args(["serve", *argv])


def test_serve_defaults():
    args = serve_args()
    assert (args.host, args.port, args.workers, args.graceful_timeout) == (
        "127.0.0.1",
        8000,
        1,
        30.0,
    )
    assert args.proxy_headers is None and args.forwarded_allow_ips is None  # the settings decide


def test_serve_options():
    args = serve_args(
        "--workers",
        "4",
        "--graceful-timeout",
        "2.5",
        "--proxy-headers",
        "--forwarded-allow-ips",
        "10.0.0.0/8, 127.0.0.1,::1",
    )
    assert (args.workers, args.graceful_timeout, args.proxy_headers) == (4, 2.5, True)
    assert args.forwarded_allow_ips == ("10.0.0.0/8", "127.0.0.1", "::1")
    assert serve_args("--no-proxy-headers").proxy_headers is False


@pytest.mark.parametrize(
    "argv",
    [
        ["--workers", "0"],
        ["--workers", "-1"],
        ["--workers", "two"],
        ["--graceful-timeout", "-1"],
        ["--graceful-timeout", "nan"],
        ["--forwarded-allow-ips", "10.0.0.0/8,proxy.local"],
        ["--forwarded-allow-ips", "10.0.0.1/8"],  # host bits set: uvicorn would never match it
        ["--forwarded-allow-ips", ""],
    ],
)
def test_bad_serve_options_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        serve_args(*argv)
    assert exit_.value.code == 2
    assert "roster serve: error: argument" in capsys.readouterr().err


def test_new_settings_and_their_defaults():
    settings = load_settings({"ROSTER_SECRET_KEY": "k"})
    assert settings.db_pool_size == 10
    assert settings.proxy_headers is False
    assert settings.forwarded_allow_ips == ("127.0.0.1",)
    settings = load_settings(
        {
            "ROSTER_SECRET_KEY": "k",
            "ROSTER_DB_POOL_SIZE": "25",
            "ROSTER_PROXY_HEADERS": "1",
            "ROSTER_FORWARDED_ALLOW_IPS": "172.16.0.0/12,2001:db8::/32",
        }
    )
    assert settings.db_pool_size == 25
    assert settings.proxy_headers is True
    assert settings.forwarded_allow_ips == ("172.16.0.0/12", "2001:db8::/32")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ROSTER_DB_POOL_SIZE", "0"),
        ("ROSTER_DB_POOL_SIZE", "-3"),
        ("ROSTER_DB_POOL_SIZE", "ten"),
        ("ROSTER_DB_POOL_SIZE", "2.5"),
        ("ROSTER_PROXY_HEADERS", "maybe"),
        ("ROSTER_FORWARDED_ALLOW_IPS", "10.0.0.0/8,my-proxy"),
    ],
)
def test_bad_new_settings_are_refused(name, value):
    with pytest.raises(ValueError, match=name):
        load_settings({"ROSTER_SECRET_KEY": "k", name: value})


def test_the_connection_budget():
    budget = serving.ConnectionBudget(max_connections=100, reserved=3, in_use=10)
    assert budget.free == 87
    assert serving.needed_connections(workers=4, pool_size=10) == 48
    assert serving.budget_refusal(budget, workers=4, pool_size=10) is None
    assert serving.budget_refusal(budget, workers=7, pool_size=10) is None  # 84 of 87
    refusal = serving.budget_refusal(budget, workers=8, pool_size=10)
    assert refusal == (
        "roster: 8 worker(s) × (ROSTER_DB_POOL_SIZE 10 + 2) = 96 PostgreSQL connections are "
        "needed, but only 87 are free (max_connections 100 − 3 reserved for superusers − 10 in "
        "use now). Lower --workers or ROSTER_DB_POOL_SIZE, or raise max_connections in "
        "postgresql.conf (PostgreSQL then needs a restart)."
    )


def test_uvicorn_gets_an_import_string_factory_and_the_options():
    options = serving.ServeOptions(
        host="0.0.0.0",
        port=8123,
        workers=3,
        graceful_timeout=12,
        proxy_headers=True,
        forwarded_allow_ips=("10.0.0.0/8",),
    )
    config = serving.uvicorn_config(options)
    assert config.app == "app.asgi:create_app" and config.factory is True
    assert (config.host, config.port) == ("0.0.0.0", 8123)
    assert config.workers == 1  # never uvicorn's own supervisor
    assert config.proxy_headers is True and config.forwarded_allow_ips == ["10.0.0.0/8"]
    assert config.timeout_graceful_shutdown == 12
    assert config.log_config is None


def test_each_worker_binds_its_own_tcp_socket_on_the_port():
    first = serving.listening_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = serving.listening_socket("127.0.0.1", port)  # SO_REUSEPORT: both bound
    try:
        for sock in (first, second):
            assert sock.proto == socket.IPPROTO_TCP
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        assert second.getsockname() == ("127.0.0.1", port)
    finally:
        first.close()
        second.close()


async def nodelay_of_accepted(sock: socket.socket) -> int:
    """TCP_NODELAY on a connection asyncio accepted from `sock` (bound, not yet listening)."""
    loop = asyncio.get_running_loop()
    accepted = loop.create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport):
            conn = transport.get_extra_info("socket")
            accepted.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await loop.create_server(Probe, sock=sock)
    try:
        _reader, writer = await asyncio.open_connection(*sock.getsockname())
        value = await asyncio.wait_for(accepted, 10)
        writer.close()
        return value
    finally:
        server.close()
        await server.wait_closed()


async def test_accepted_connections_get_tcp_nodelay():
    """asyncio sets TCP_NODELAY only on connections accepted from an IPPROTO_TCP socket; a
    socket made with protocol 0 (as uvicorn's bind_socket makes it) leaves every response to
    wait for a delayed ACK."""
    assert await nodelay_of_accepted(serving.listening_socket("127.0.0.1", 0)) != 0
    protocol_0 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    protocol_0.bind(("127.0.0.1", 0))
    assert await nodelay_of_accepted(protocol_0) == 0


async def test_the_shutdown_drains_first(monkeypatch):
    """Live streams are told before uvicorn waits for open connections (they would hold it)."""
    import uvicorn

    order = []
    monkeypatch.setattr(serving, "start_draining", lambda: order.append("drain"))

    async def uvicorn_shutdown(self, sockets=None):
        order.append("uvicorn shutdown")

    monkeypatch.setattr(uvicorn.Server, "shutdown", uvicorn_shutdown)
    server = serving.RosterServer(serving.uvicorn_config(serving.ServeOptions()))
    await server.shutdown()
    assert order == ["drain", "uvicorn shutdown"]


def test_emailed_links_point_at_the_server_started_in_development():
    from app.cli import served_base_url

    # This machine, by the name passkeys accept (a relying party is never an address).
    assert served_base_url({}, "127.0.0.1", 18700) == "http://localhost:18700"
    assert served_base_url({}, "0.0.0.0", 8001) == "http://localhost:8001"
    assert served_base_url({}, "::1", 8001) == "http://localhost:8001"
    assert served_base_url({}, "192.0.2.7", 8001) == "http://192.0.2.7:8001"
    assert served_base_url({}, "fd00::7", 8001) == "http://[fd00::7]:8001"
    # Set by the operator, or in production (where it is the public origin): left alone.
    assert served_base_url({"ROSTER_BASE_URL": "https://portal.example"}, "127.0.0.1", 1) is None
    assert served_base_url({"ROSTER_ENV": "production"}, "127.0.0.1", 18700) is None


def test_roster_serve_sets_the_base_url_its_workers_inherit(monkeypatch):
    from app import cli, serving
    from app.core import config

    started = {}
    monkeypatch.delenv("ROSTER_BASE_URL", raising=False)
    monkeypatch.setenv("ROSTER_DATABASE_URL", "sqlite:////tmp/roster-serve-args.sqlite3")
    monkeypatch.setattr(serving, "serve", lambda options: started.setdefault("port", options.port))
    monkeypatch.setattr(cli, "migrate", _nothing)
    config.get_settings.cache_clear()
    try:
        assert cli.main(["serve", "--port", "18700"]) == 18700
        assert config.get_settings().base_url == "http://localhost:18700"
    finally:
        config.get_settings.cache_clear()


async def _nothing():
    return None
