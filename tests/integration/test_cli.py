"""The roster command (SPEC §7), run as a user would, against the test database."""

import os
import subprocess
import sys
from pathlib import Path

from app.admin.tables import Admin
from app.clients.services import access_for, get_client
from app.clients.tables import Client
from app.invitations.tables import Invitation
from app.users.tables import User

ROSTER = str(Path(sys.executable).parent / "roster")


def roster(*args, env=None):
    return subprocess.run(
        [ROSTER, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


async def test_create_client_prints_the_new_id():
    result = roster(
        "create-client",
        "--owner-email",
        "Cli@Example.com",
        "--owner-first",
        "Cleo",
        "--owner-last",
        "Li",
        "--owner-password",
        "cli-passphrase-2026",
        "--company",
        "CLI Co",
    )
    assert result.returncode == 0, result.stderr
    client_id = int(result.stdout.strip())
    client = await get_client(client_id)
    assert client["company_name"] == "CLI Co"
    owner = await User.select().where(User.email_key == "cli@example.com").first()
    assert (await access_for(owner["id"], client_id)).is_owner


async def test_create_admin_with_a_role_and_clear_errors():
    ok = roster(
        "create-admin",
        "--email",
        "sam@example.com",
        "--password",
        "support-passphrase-1",
        "--name",
        "Sam",
        "--role",
        "support",
    )
    assert ok.returncode == 0, ok.stderr
    assert (await Admin.select().first())["role"] == "support"
    again = roster(
        "create-admin", "--email", "SAM@example.com", "--password", "support-passphrase-1"
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    bad_role = roster(
        "create-admin", "--email", "x@example.com", "--password", "p", "--role", "root"
    )
    assert bad_role.returncode == 2


async def test_demo_is_idempotent_and_prints_logins():
    first = roster("demo")
    assert first.returncode == 0, first.stderr
    assert "admin@example.com" in first.stdout and "fiona@example.com" in first.stdout
    counts = [await t.count() for t in (User, Client, Admin, Invitation)]
    second = roster("demo")
    assert second.returncode == 0, second.stderr
    assert [await t.count() for t in (User, Client, Admin, Invitation)] == counts


async def test_demo_is_refused_in_production():
    result = roster("demo", env={"ROSTER_ENV": "production", "ROSTER_SECRET_KEY": "k"})
    assert result.returncode == 2 and "production" in result.stderr


def test_python_dash_m_app_is_the_same_command():
    result = subprocess.run([sys.executable, "-m", "app", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("serve", "migrate", "demo", "create-admin", "create-client"):
        assert command in result.stdout
