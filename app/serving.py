"""`roster serve`: uvicorn in one process, or in several worker processes each with its own
listening socket.

Why not uvicorn's own `workers=`: its processes share one listening socket, on which the kernel
hands every new connection to whichever worker accepts first, so keep-alive connections pile up
on one of them; and that socket is made with protocol 0, so asyncio never sets TCP_NODELAY on
the connections it accepts (it only does for IPPROTO_TCP sockets), which costs each response a
delayed ACK (~40 ms). Here each worker binds its own IPPROTO_TCP socket with SO_REUSEPORT and
Linux spreads the incoming connections across them.

The parent (cli.cmd_serve has already checked the settings, the database's connection budget and
applied the migrations) starts the workers, restarts one that dies, and on SIGTERM or SIGINT
passes SIGTERM on and waits for them. Each worker stops gracefully: live streams are told first
(app.core.lifecycle), then uvicorn stops accepting, lets open requests finish (at most
`graceful_timeout` seconds) and runs the app's shutdown (the mail worker finishes or gives back
its email)."""

import contextlib
import importlib.util
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

import uvicorn
from uvicorn.server import HANDLED_SIGNALS

from app.core.lifecycle import start_draining
from app.core.logging_setup import configure_logging

log = logging.getLogger("roster.serve")

APP_FACTORY = "app.asgi:create_app"

SQLITE_ONE_PROCESS = (
    "roster: SQLite is served by one process: --workers above 1 needs PostgreSQL "
    "(ROSTER_DATABASE_URL=postgresql://user:pass@host:port/db)."
)

# Connections each process holds beyond its pool: the live-update listener's, and one spare.
CONNECTIONS_BEYOND_POOL = 2

# After SIGTERM, a worker gets its graceful timeout plus this long (the app's own shutdown: the
# mail worker may be in the middle of one send, at most app.domain.mail.worker.SEND_TIMEOUT) before
# it is killed.
SHUTDOWN_MARGIN = 30.0

# A worker that dies is started again after 1 s, then 2, 4… at most 30 s while it keeps dying;
# one that ran this long before dying starts over from 1 s.
RESTART_DELAYS = (1, 2, 4, 8, 16, 30)
HEALTHY_AFTER = 60.0


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    graceful_timeout: float = 30.0
    proxy_headers: bool = False
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1",)


# ---------------------------------------------------------------------------------------------
# Before the workers start


@dataclass(frozen=True)
class ConnectionBudget:
    max_connections: int
    reserved: int  # superuser_reserved_connections (+ reserved_connections from PostgreSQL 16)
    in_use: int  # client connections open now, other than the one counting them

    @property
    def free(self) -> int:
        return self.max_connections - self.reserved - self.in_use


async def read_connection_budget(database_url: str) -> ConnectionBudget:
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        max_connections = int(await conn.fetchval("SHOW max_connections"))
        reserved = int(await conn.fetchval("SHOW superuser_reserved_connections"))
        reserved += int(
            await conn.fetchval(
                "SELECT coalesce(current_setting('reserved_connections', true), '0')"
            )
            or 0
        )
        in_use = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return ConnectionBudget(max_connections, reserved, in_use)


def needed_connections(workers: int, pool_size: int) -> int:
    return workers * (pool_size + CONNECTIONS_BEYOND_POOL)


def budget_refusal(budget: ConnectionBudget, workers: int, pool_size: int) -> str | None:
    """Why `workers` processes with pools of `pool_size` would run PostgreSQL out of
    connections, or None when they fit."""
    needed = needed_connections(workers, pool_size)
    if needed <= budget.free:
        return None
    return (
        f"roster: {workers} worker(s) × (ROSTER_DB_POOL_SIZE {pool_size} + "
        f"{CONNECTIONS_BEYOND_POOL}) = {needed} PostgreSQL connections are needed, but only "
        f"{budget.free} are free (max_connections {budget.max_connections} − "
        f"{budget.reserved} reserved for superusers − {budget.in_use} in use now). "
        "Lower --workers or ROSTER_DB_POOL_SIZE, or raise max_connections in postgresql.conf "
        "(PostgreSQL then needs a restart)."
    )


# ---------------------------------------------------------------------------------------------
# One worker


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket of this process's own on host:port, shared with the other workers through
    SO_REUSEPORT. IPPROTO_TCP (not 0) so that asyncio sets TCP_NODELAY on what it accepts."""
    family, _, _, _, address = socket.getaddrinfo(
        host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, socket.IPPROTO_TCP, socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def uvicorn_config(options: ServeOptions) -> uvicorn.Config:
    return uvicorn.Config(
        APP_FACTORY,
        factory=True,
        host=options.host,
        port=options.port,
        log_config=None,  # app.core.logging_setup's handlers: redacted, with request ids
        proxy_headers=options.proxy_headers,
        forwarded_allow_ips=list(options.forwarded_allow_ips),
        # uvicorn annotates it `int | None` but only hands it to asyncio.wait_for, which takes
        # any number of seconds: a fractional --graceful-timeout works as given.
        timeout_graceful_shutdown=options.graceful_timeout,  # type: ignore[arg-type]
    )


class RosterServer(uvicorn.Server):
    """uvicorn's server, with the drain hook first in its shutdown, a callback once it serves,
    and an exit code of 0 after a signal-driven stop (uvicorn re-raises the signal it caught,
    which would end the process as killed by it)."""

    def __init__(self, config: uvicorn.Config, on_ready=None) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            log.info(
                "Worker process %d serving on %s:%d",
                os.getpid(),
                self.config.host,
                self.config.port,
            )
            if self._on_ready is not None:
                self._on_ready()

    async def shutdown(self, sockets=None) -> None:
        try:
            start_draining()  # live streams end now, or they would hold the drain below
        except Exception:
            log.exception("Draining before the shutdown failed; shutting down anyway")
        await super().shutdown(sockets=sockets)

    @contextlib.contextmanager
    def capture_signals(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def run_worker(options: ServeOptions, on_ready=None) -> int:
    """Serves in this process until SIGTERM or SIGINT; its exit code."""
    try:
        sock = listening_socket(options.host, options.port)
    except OSError as exc:
        log.error("Cannot listen on %s:%d: %s", options.host, options.port, exc)
        return 1
    RosterServer(uvicorn_config(options), on_ready).run(sockets=[sock])
    return 0


def _end_with_parent(parent: int) -> None:
    """Linux: this process gets SIGTERM (a graceful stop) when its parent dies, even killed, so
    no worker is left serving on its own."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the line above
        os.kill(os.getpid(), signal.SIGTERM)


def _worker_process(options: ServeOptions, ready, parent: int) -> None:
    """A child process's entry point (spawned: a fresh interpreter)."""
    _end_with_parent(parent)
    configure_logging()

    def tell_ready() -> None:
        with contextlib.suppress(OSError):
            ready.send(True)
            ready.close()

    raise SystemExit(run_worker(options, tell_ready))


# ---------------------------------------------------------------------------------------------
# The parent of several workers


@dataclass
class _Worker:
    slot: int
    process: multiprocessing.process.BaseProcess
    ready: Connection  # the parent's end of the pipe the worker tells it is serving through
    started_at: float
    serving: bool = False


class Supervisor:
    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.context = multiprocessing.get_context("spawn")
        self.workers: dict[int, _Worker] = {}  # by slot
        self.failures: dict[int, int] = {}  # consecutive early deaths, by slot
        self.restart_at: dict[int, float] = {}  # slots waiting to be started again
        self.signals: list[int] = []
        self.booted = False  # every first worker has served
        self.metrics_dir: str | None = None  # created here, removed at the end

    # Prometheus' multiprocess mode: each worker writes its metrics to files in one directory.
    def _prepare_metrics(self) -> None:
        # Not imported here: prometheus_client reads the variable when it is first imported.
        if importlib.util.find_spec("prometheus_client") is None:
            return
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            self.metrics_dir = tempfile.mkdtemp(prefix="roster-prometheus-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = self.metrics_dir

    def _metrics_process_dead(self, pid: int | None) -> None:
        # None: a process never started, which wrote no metrics.
        if pid is None or not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return
        try:
            from prometheus_client import multiprocess
        except ImportError:
            return
        try:
            multiprocess.mark_process_dead(pid)
        except Exception:
            log.exception("Could not mark worker %d's metrics as dead", pid)

    def _cleanup_metrics(self) -> None:
        if self.metrics_dir is not None:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
            if os.environ.get("PROMETHEUS_MULTIPROC_DIR") == self.metrics_dir:
                del os.environ["PROMETHEUS_MULTIPROC_DIR"]

    def _start(self, slot: int) -> None:
        reader, writer = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=_worker_process,
            args=(self.options, writer, os.getpid()),
            name=f"roster-worker-{slot}",
        )
        process.start()
        writer.close()
        self.workers[slot] = _Worker(slot, process, reader, time.monotonic())
        log.info("Started worker %d (process %d)", slot, process.pid)

    def _on_signal(self, signum, _frame) -> None:
        self.signals.append(signum)

    def run(self) -> int:
        wake_reader, wake_writer = socket.socketpair()
        wake_reader.setblocking(False)
        wake_writer.setblocking(False)
        previous_wakeup = signal.set_wakeup_fd(wake_writer.fileno())
        previous = {sig: signal.signal(sig, self._on_signal) for sig in HANDLED_SIGNALS}
        self._prepare_metrics()
        try:
            return self._supervise(wake_reader)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(previous_wakeup)
            wake_reader.close()
            wake_writer.close()
            self._cleanup_metrics()

    def _supervise(self, wake) -> int:
        for slot in range(self.options.workers):
            self._start(slot)
        while not self.signals:
            timeout = None
            if self.restart_at:
                timeout = max(0.0, min(self.restart_at.values()) - time.monotonic())
            waiting = [wake]
            for worker in self.workers.values():
                waiting.append(worker.process.sentinel)
                if not worker.serving:
                    waiting.append(worker.ready)
            ready = wait(waiting, timeout)
            if wake in ready:
                with contextlib.suppress(OSError):
                    wake.recv(4096)
            for worker in self.workers.values():
                if not worker.serving and worker.ready in ready:
                    with contextlib.suppress(EOFError, OSError):
                        worker.serving = bool(worker.ready.recv())
            if not self.booted and all(w.serving for w in self.workers.values()):
                self.booted = True  # no worker can have ended before booting: that stops all
                log.info("All %d workers are serving", self.options.workers)
            for worker in list(self.workers.values()):
                if worker.process.sentinel in ready or not worker.process.is_alive():
                    outcome = self._ended(worker)
                    if outcome is not None:
                        return outcome
            now = time.monotonic()
            for slot, when in list(self.restart_at.items()):
                if when <= now and not self.signals:
                    del self.restart_at[slot]
                    self._start(slot)
        return self._stop_all()

    def _ended(self, worker: _Worker) -> int | None:
        """A worker died without being asked to: started again later, or, when one of the first
        workers never came up (a port taken, an app that does not start), everything stops and
        its exit code (at least 1) is returned."""
        worker.process.join()
        code = worker.process.exitcode
        del self.workers[worker.slot]
        worker.ready.close()
        self._metrics_process_dead(worker.process.pid)
        if not self.booted:
            log.error(
                "Worker %d (process %d) exited with code %s before serving; stopping",
                worker.slot,
                worker.process.pid,
                code,
            )
            self._stop_all()
            return code if code and code > 0 else 1
        lived = time.monotonic() - worker.started_at
        failures = 0 if lived >= HEALTHY_AFTER else self.failures.get(worker.slot, 0)
        delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]
        self.failures[worker.slot] = failures + 1
        log.error(
            "Worker %d (process %d) exited unexpectedly with code %s after %.1f s; "
            "starting it again in %d s",
            worker.slot,
            worker.process.pid,
            code,
            lived,
            delay,
        )
        self.restart_at[worker.slot] = time.monotonic() + delay
        return None

    def _stop_all(self) -> int:
        """SIGTERM to every worker (a second Ctrl+C passes SIGINT on: uvicorn's forced stop),
        then waits; one still running after the graceful timeout and the margin is killed.
        0 when every worker stopped by itself."""
        self.restart_at.clear()
        handled = len(self.signals)
        if self.signals:
            log.info("Stopping %d worker(s)", len(self.workers))
        for worker in self.workers.values():
            _send(worker.process, signal.SIGTERM)
        deadline = time.monotonic() + self.options.graceful_timeout + SHUTDOWN_MARGIN
        clean = True
        while self.workers:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                for worker in self.workers.values():
                    log.error("Worker %d did not stop in time; killing it", worker.slot)
                    _send(worker.process, signal.SIGKILL)
                    worker.process.join()
                clean = False
            if len(self.signals) > handled:
                forced = signal.SIGINT in self.signals[handled:]
                handled = len(self.signals)
                for worker in self.workers.values():
                    _send(worker.process, signal.SIGINT if forced else signal.SIGTERM)
            wait([w.process.sentinel for w in self.workers.values()], min(max(remaining, 0), 0.5))
            for worker in list(self.workers.values()):
                if not worker.process.is_alive():
                    worker.process.join()
                    code = worker.process.exitcode
                    # Killed by the SIGTERM before uvicorn had taken it over: stopped as asked.
                    if code not in (0, -signal.SIGTERM, -signal.SIGINT):
                        log.error("Worker %d stopped with exit code %s", worker.slot, code)
                        clean = False
                    del self.workers[worker.slot]
                    worker.ready.close()
                    self._metrics_process_dead(worker.process.pid)
        log.info("All workers stopped")
        return 0 if clean else 1


def _send(process, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        if process.pid is not None and process.exitcode is None:
            os.kill(process.pid, sig)


def serve(options: ServeOptions) -> int:
    """Serves until SIGTERM or SIGINT: in this process for one worker, else through children."""
    if options.workers == 1:
        return run_worker(options)
    return Supervisor(options).run()
