"""Real `roster serve` processes on 127.0.0.1, and an SMTP server that keeps what it receives.

Shared by the soak run, tests/integration/test_two_servers.py and the benchmarks in bench/."""

import contextlib
import email
import email.policy
import hashlib
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import httpx
from aiosmtpd.controller import Controller

ROSTER = str(Path(sys.executable).parent / "roster")
START_TIMEOUT = 60  # seconds for a server to answer GET /login
STOP_TIMEOUT = 10  # seconds between SIGTERM and SIGKILL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answering(url: str, process: subprocess.Popen, deadline: float) -> bool:
    """Whether the server at `url` answers GET /login with 200 before `deadline` (monotonic
    seconds); False as soon as its process has ended."""
    while True:
        try:
            if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.2)


class Server:
    """One `roster serve` process; its output goes to `log_path`. `args` are more options for
    `roster serve` (e.g. `["--workers", "2"]`)."""

    def __init__(self, env: dict, workdir: Path, name: str, args: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{name}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 (open while the process runs)
        self.process = subprocess.Popen(
            [ROSTER, "serve", "--host", "127.0.0.1", "--port", str(self.port), *args],
            env=env,
            cwd=workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, deadline: float) -> None:
        if not answering(self.url, self.process, deadline):
            raise RuntimeError(
                f"roster serve on port {self.port} did not start "
                f"(exit code {self.process.poll()}); its log, {self.log_path}:\n" + self.log_tail()
            )

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> int | None:
        """Terminates the process (killed if it does not stop in time); its exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        self._log.close()
        return self.process.returncode


@contextlib.contextmanager
def running_servers(count: int, env: dict, workdir: Path, args: Sequence[str] = ()):
    """`count` servers started together on one database (each with the extra `roster serve`
    options `args`), each answering before this yields; all stopped on the way out."""
    workdir = Path(workdir)
    servers: list[Server] = []
    try:
        for n in range(count):
            servers.append(Server(env, workdir, f"server-{n + 1}", args))
        deadline = time.monotonic() + START_TIMEOUT
        for server in servers:
            server.wait_ready(deadline)
        yield servers
    finally:
        for server in servers:
            server.stop()


# An invitation link in an email's text: the token is what follows /invite/.
INVITE_LINK = re.compile(r"https?://\S+/invite/([A-Za-z0-9_\-]+)")


def normalised(text: str) -> str:
    """Text compared between the outbox and what arrived: whitespace does not matter."""
    return " ".join(text.split())


class Delivered(NamedTuple):
    message_id: str
    to: str
    subject: str
    text: str  # the plain-text part, normalised


class MailSink:
    """An SMTP server on 127.0.0.1 (aiosmtpd, in its own thread) keeping every message, so
    duplicates can be counted; it also indexes invitation tokens by their SHA-256, the way the
    database stores them."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[Delivered] = []
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        delivered = Delivered(
            str(message["Message-ID"] or ""),
            str(message["To"] or ""),
            str(message["Subject"] or ""),
            normalised(text),
        )
        with self._lock:
            self.messages.append(delivered)
            for token in INVITE_LINK.findall(text):
                self._tokens[hashlib.sha256(token.encode()).hexdigest()] = token
        return "250 OK"

    def token_for(self, token_hash: str) -> str | None:
        """The invitation token whose SHA-256 is `token_hash`, if its email arrived."""
        with self._lock:
            return self._tokens.get(token_hash)

    def received(self) -> list[Delivered]:
        with self._lock:
            return list(self.messages)

    def start(self) -> "MailSink":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
