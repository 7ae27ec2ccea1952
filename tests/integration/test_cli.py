"""The roster command, run as a user would, against the test database."""

import json
import os
import subprocess
import sys
from pathlib import Path

from app.core.policy import Permission, role_allows
from app.domain.clients.services import access_for, get_client
from app.domain.credentials.services import authenticate, list_credentials
from app.schema.clients import Client
from app.schema.credentials import ApiCredential
from app.schema.invitations import Invitation
from app.schema.staff import Admin
from app.schema.users import User

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
    # Their addresses count as verified: no "please verify" on every page of a first look.
    unverified = await User.select(User.email).where(User.email_verified_at.is_null())
    assert unverified == []


async def test_demo_is_refused_in_production():
    result = roster("demo", env={"ROSTER_ENV": "production", "ROSTER_SECRET_KEY": "k"})
    assert result.returncode == 2 and "production" in result.stderr


def test_python_dash_m_app_is_the_same_command():
    result = subprocess.run([sys.executable, "-m", "app", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("serve", "migrate", "demo", "create-admin", "create-client"):
        assert command in result.stdout


async def test_create_api_credential_prints_one_json_object_that_authenticates():
    made = roster("create-admin", "--email", "ops@example.com", "--password", "ops-passphrase-9")
    assert made.returncode == 0, made.stderr
    result = roster(
        "create-api-credential",
        "--email",
        "OPS@example.com",
        "--description",
        "Provisioning",
        "--allow-ip",
        "10.0.0.0/8",
        "--allow-ip",
        "192.0.2.1",
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)  # the whole of stdout is the one object
    assert set(printed) == {"identifier", "secret"}
    caller = await authenticate(printed["identifier"], printed["secret"], "10.20.30.40")
    assert caller.admin_name == "Administrator" and role_allows(
        caller.role, Permission.MANAGE_USERS
    )
    [listed] = await list_credentials()
    assert listed["description"] == "Provisioning"
    assert listed["allowed_ips"] == ["10.0.0.0/8", "192.0.2.1"]
    assert printed["secret"] not in result.stderr


async def test_create_api_credential_refuses_unknown_and_disabled_staff():
    unknown = roster("create-api-credential", "--email", "nobody@example.com")
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert "no staff member" in unknown.stderr
    made = roster("create-admin", "--email", "off@example.com", "--password", "off-passphrase-9")
    assert made.returncode == 0, made.stderr
    await Admin.update({Admin.disabled: True}).where(Admin.email_key == "off@example.com")
    disabled = roster("create-api-credential", "--email", "off@example.com")
    assert disabled.returncode == 1 and disabled.stdout == ""
    assert "disabled" in disabled.stderr
    bad_ip = roster("create-admin", "--email", "ip@example.com", "--password", "ip-passphrase-99")
    assert bad_ip.returncode == 0, bad_ip.stderr
    refused = roster("create-api-credential", "--email", "ip@example.com", "--allow-ip", "10.0.0.")
    assert refused.returncode == 1 and "10.0.0." in refused.stderr
    assert await ApiCredential.count() == 0


def test_migrate_says_in_one_line_what_it_applied(tmp_path):
    from app.schema import migrations

    fresh = {"ROSTER_DATABASE_URL": f"sqlite:///{tmp_path}/fresh.sqlite3"}
    known = len(list(Path(migrations.__file__).parent.glob("roster_*.py")))
    first = roster("migrate", env=fresh)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"Applied {known} migrations."
    again = roster("migrate", env=fresh)
    assert again.stdout.strip() == "The database is up to date: no migration to apply."
