"""End-to-end fixtures: a real `roster serve` process, a real SMTP server, Chromium.

On a failure pytest-playwright keeps a trace and a screenshot under e2e/artifacts/ (see
pytest.ini); `playwright show-trace e2e/artifacts/<test>/trace.zip` replays it."""

import email
import email.policy
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from soak.servers import answering

BIN = Path(sys.executable).parent
ROSTER = str(BIN / "roster")
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@e2e.example", "e2e-admin-passphrase"
OWNER_EMAIL, OWNER_PASSWORD = "owner@e2e.example", "e2e-owner-passphrase"
SUPPORT_EMAIL, SUPPORT_PASSWORD = "support@e2e.example", "e2e-support-passphrase"
RESEND_COOLDOWN_SECONDS = 2  # short, so the journey can wait it out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """Messages received by the test SMTP server, parsed."""

    def __init__(self) -> None:
        self.port = 0
        self.messages: list[email.message.EmailMessage] = []
        self._lock = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
            self._lock.notify_all()
        return "250 OK"

    def wait_for(self, to: str, subject_contains: str = "", timeout: float = 20, count: int = 1):
        """The newest message to `to` whose subject contains the text, once at least `count`
        such messages arrived (waiting for them if needed)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [
                    m
                    for m in self.messages
                    if to.lower() in str(m["To"]).lower() and subject_contains in str(m["Subject"])
                ]
                if len(found) >= count:
                    return found[-1]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no email to {to} ({subject_contains!r}) arrived")
                self._lock.wait(remaining)

    @staticmethod
    def text_of(message) -> str:
        return message.get_body(preferencelist=("plain",)).get_content()


@pytest.fixture(scope="session")
def smtp_inbox():
    inbox = Inbox()
    inbox.port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    yield inbox
    controller.stop()


class Roster:
    """The `roster` command against the e2e server's database, and that database itself."""

    def __init__(self, env: dict, workdir: str, db_path: str) -> None:
        self.env, self.workdir, self.db_path = env, workdir, db_path

    def __call__(self, *args: str) -> str:
        return subprocess.run(
            [ROSTER, *args],
            env=self.env,
            cwd=self.workdir,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def create_client(
        self,
        company: str,
        email: str,
        first: str,
        last: str = "Owner",
        password: str = OWNER_PASSWORD,
    ) -> int:
        return int(
            self(
                "create-client",
                "--owner-email",
                email,
                "--owner-first",
                first,
                "--owner-last",
                last,
                "--owner-password",
                password,
                "--company",
                company,
            ).strip()
        )

    def sql(self, statement: str, *params):
        """Direct database access, for what a test must fake (such as time passing)."""
        with sqlite3.connect(self.db_path) as conn:
            return conn.execute(statement, params).fetchall()


@pytest.fixture(scope="session")
def roster(smtp_inbox):
    workdir = tempfile.mkdtemp(prefix="roster-e2e-")
    db_path = f"{workdir}/e2e.sqlite3"
    env = {
        **os.environ,
        "ROSTER_DATABASE_URL": f"sqlite:///{db_path}",
        "ROSTER_SMTP_URL": f"smtp://127.0.0.1:{smtp_inbox.port}",
        "ROSTER_SECRET_KEY": "e2e-secret",
        "ROSTER_ENV": "development",
        "ROSTER_RESEND_COOLDOWN_SECONDS": str(RESEND_COOLDOWN_SECONDS),
        "ROSTER_WEBHOOK_ALLOW_PRIVATE": "1",  # the tests' webhook receivers are on 127.0.0.1
    }
    tool = Roster(env, workdir, db_path)
    yield tool
    shutil.rmtree(workdir, ignore_errors=True)


def start_server(
    roster, port: int, *, env: dict | None = None, log_name: str | None = None
) -> subprocess.Popen:
    """`roster serve` on 127.0.0.1:`port` with the tool's environment (or `env`), returned once
    it answers; what it prints goes to `log_name` in the work directory, else nowhere."""
    log_path = Path(roster.workdir) / log_name if log_name else None
    with open(log_path, "w") if log_path else open(os.devnull, "w") as log:
        process = subprocess.Popen(
            [ROSTER, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env or roster.env,
            cwd=roster.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    if not answering(f"http://127.0.0.1:{port}", process, time.monotonic() + 30):
        process.kill()
        raise RuntimeError(f"roster serve did not start; see {log_path or 'its output'}")
    return process


@pytest.fixture(scope="session")
def server(roster):
    """A migrated database with staff, a client and the demo data, served by `roster serve`."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    roster.env["ROSTER_BASE_URL"] = base_url
    roster("migrate")
    roster(
        "create-admin",
        "--email",
        ADMIN_EMAIL,
        "--password",
        ADMIN_PASSWORD,
        "--name",
        "Ada Admin",
        "--role",
        "full",
    )
    roster(
        "create-admin",
        "--email",
        SUPPORT_EMAIL,
        "--password",
        SUPPORT_PASSWORD,
        "--name",
        "Sam Support",
        "--role",
        "support",
    )
    roster.create_client("Acme Hosting", OWNER_EMAIL, "Olivia")
    roster("demo")
    process = start_server(roster, port, log_name="server.log")
    yield base_url
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    args = {
        **browser_type_launch_args,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }
    if Path("/usr/bin/chromium").exists():
        args["executable_path"] = "/usr/bin/chromium"
    return args


@pytest.fixture(scope="session")
def base_url(server):
    return server


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if exitstatus != 0:
        output = Path(config.getoption("output")).resolve()
        terminalreporter.write_line(
            f"Playwright traces and screenshots of the failed tests: {output} "
            f"(replay a trace with: .venv/bin/playwright show-trace <trace.zip>)"
        )


def login(
    page, base_url: str, email: str, password: str = OWNER_PASSWORD, path: str = "/login"
) -> None:
    page.goto(f"{base_url}{path}")
    page.get_by_label("Email Address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Login").click()
    page.wait_for_url(lambda url: not url.endswith(path))  # logged in, moved on


def link_in(text: str) -> str:
    import re

    return re.search(r"http://\S+/invite/\S+", text).group(0)


def confirm(page, action: str) -> None:
    """Answers the in-page confirmation of a destructive action with its action button."""
    from playwright.sync_api import expect

    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name=action, exact=True).click()
    expect(dialog).to_be_hidden()


def row_menu_action(row, name: str) -> None:
    """Clicks an action kept in a row's More menu (Remove, Send Password Reset Email)."""
    row.get_by_role("button", name="More").or_(row.locator("summary", has_text="More")).click()
    row.get_by_role("button", name=name, exact=True).click()


def pick_user(dialog, query: str, option) -> None:
    """Select User: types, then picks the option with the keyboard (Arrow Down until it is
    the active one, then Enter)."""
    from playwright.sync_api import expect

    box = dialog.get_by_role("combobox", name="Select User")
    box.fill(query)
    wanted = dialog.get_by_role("option", name=option)
    expect(wanted).to_be_visible()
    for _ in range(dialog.get_by_role("option").count()):
        box.press("ArrowDown")
        if wanted.get_attribute("aria-selected") == "true":
            break
    box.press("Enter")
    expect(dialog.locator(".chosen")).to_be_visible()


def register_from_invite(page, first: str, last: str, email: str | None = None) -> None:
    """On an invitation's page: registers a new login (a generated strong password, the Terms
    accepted), with another email address than the invited one when `email` is given."""
    import re

    from playwright.sync_api import expect

    register = page.locator("section", has=page.get_by_role("heading", name="Register"))
    register.get_by_label("First Name").fill(first)
    register.get_by_label("Last Name").fill(last)
    if email is not None:
        register.get_by_label("Email Address").fill(email)
    register.get_by_role("button", name="Generate").click()
    expect(
        register.get_by_text(re.compile("Password Strength: (Strong|Very strong)"))
    ).to_be_visible()
    register.get_by_label("I have read and agree to the Terms of Service").check()
    register.get_by_role("button", name="Register").click()
