"""API credentials (issue #10): the service the two API front doors authenticate with, and the
admin screen /admin/api."""

import logging

import pytest

from app.activity.tables import ActivityEntry
from app.admin.services import create_admin
from app.admin.tables import Admin
from app.credentials import services as credentials
from app.credentials.services import ApiAuthError
from app.credentials.tables import ApiCredential
from app.errors import DomainError, NotFound, Throttled
from tests.factories import ADMIN, unique_email

IP = "203.0.113.7"


async def make_staff(name: str = "Stella Staff", role: str = "full") -> int:
    return await create_admin(
        email=unique_email("staff"),
        password="staff-passphrase-42",
        name=name,
        role=role,
        actor=ADMIN,
    )


async def make_credential(role: str = "full", **kwargs) -> tuple[int, credentials.NewCredential]:
    admin_id = await make_staff(role=role)
    return admin_id, await credentials.create_credential(admin_id, actor=ADMIN, **kwargs)


async def failure(identifier, secret, ip=IP) -> str:
    with pytest.raises(ApiAuthError) as caught:
        await credentials.authenticate(identifier, secret, ip)
    return caught.value.message


# The service.


async def test_create_list_and_revoke():
    admin_id, new = await make_credential(description="  Billing   sync ", allowed_ips=["10.0.0.1"])
    assert len(new.identifier) == 32 and new.identifier.isalnum()
    assert len(new.secret) == 32 and new.secret.isalnum()
    [listed] = await credentials.list_credentials()
    assert listed["id"] == new.id and listed["identifier"] == new.identifier
    assert listed["description"] == "Billing sync"
    assert listed["allowed_ips"] == ["10.0.0.1"]
    assert listed["admin_id"] == admin_id and listed["admin_name"] == "Stella Staff"
    assert listed["admin_email"].startswith("staff")
    assert listed["created_at"] is not None and listed["last_used_at"] is None
    second = await credentials.create_credential(admin_id, actor=ADMIN)
    assert [c["id"] for c in await credentials.list_credentials()] == [second.id, new.id]

    await credentials.revoke_credential(new.id, actor=ADMIN)
    assert [c["id"] for c in await credentials.list_credentials()] == [second.id]
    assert await failure(new.identifier, new.secret) == "Authentication Failed"
    with pytest.raises(NotFound):
        await credentials.revoke_credential(new.id, actor=ADMIN)
    with pytest.raises(NotFound):
        await credentials.revoke_credential(2**40, actor=ADMIN)

    actions = [r["action"] for r in await ActivityEntry.select().order_by(ActivityEntry.id)]
    assert actions[-3:] == [
        "api.credential_created",
        "api.credential_created",
        "api.credential_revoked",
    ]
    created = (
        await ActivityEntry.select().where(ActivityEntry.action == "api.credential_created").first()
    )
    assert created["description"] == (
        f"Created API credential {new.identifier} for Stella Staff: Billing sync"
    )


async def test_authenticate_names_the_caller_and_records_the_use():
    admin_id, new = await make_credential(description="Sync")
    caller = await credentials.authenticate(new.identifier, new.secret, IP)
    assert caller.credential_id == new.id and caller.identifier == new.identifier
    assert (caller.admin_id, caller.admin_name, caller.role) == (admin_id, "Stella Staff", "full")
    assert caller.description == "Sync" and caller.ip == IP
    assert caller.can_write
    assert caller.actor.kind == "admin" and caller.actor.id == admin_id
    assert caller.actor.name == f"Stella Staff (API credential {new.identifier})"
    assert caller.actor.ip == IP
    [listed] = await credentials.list_credentials()
    assert listed["last_used_at"] is not None and listed["last_used_ip"] == IP


async def test_every_failure_has_whmcs_message():
    _, new = await make_credential()
    for identifier, secret in ((None, None), ("", new.secret), (new.identifier, ""), ("", "")):
        assert await failure(identifier, secret) == "Authentication Failed"
    assert await failure("x" * 32, new.secret) == "Invalid or missing credentials"
    assert await failure(new.identifier, new.secret[:-1] + "#") == "Authentication Failed"
    [listed] = await credentials.list_credentials()
    assert listed["last_used_at"] is None


async def test_support_operator_credential_reads_only():
    _, new = await make_credential(role="support")
    caller = await credentials.authenticate(new.identifier, new.secret, IP)
    assert caller.role == "support" and not caller.can_write


async def test_allow_list_of_addresses_and_networks():
    _, new = await make_credential(allowed_ips=["192.0.2.10, 198.51.100.0/24\n2001:db8::/32"])
    [listed] = await credentials.list_credentials()
    assert listed["allowed_ips"] == ["192.0.2.10", "198.51.100.0/24", "2001:db8::/32"]
    for ip in ("192.0.2.10", "198.51.100.77", "2001:db8::1", "::ffff:192.0.2.10"):
        assert (await credentials.authenticate(new.identifier, new.secret, ip)).ip == ip
    for ip in ("192.0.2.11", "10.0.0.1", "2001:db9::1"):
        assert await failure(new.identifier, new.secret, ip) == f"Invalid IP {ip}"


async def test_a_bad_allow_list_entry_is_refused_and_nothing_is_created():
    admin_id = await make_staff()
    for bad in (["192.0.2.300"], ["10.0.0.0/33"], ["10.0.0.1", "example.com"]):
        with pytest.raises(DomainError) as caught:
            await credentials.create_credential(admin_id, allowed_ips=bad, actor=ADMIN)
        assert caught.value.field == "allowed_ips" and bad[-1] in caught.value.message
    assert await ApiCredential.count() == 0


async def test_description_rules_and_staff_must_exist_and_be_enabled():
    admin_id = await make_staff()
    for bad in ("x" * 201, "line\nbreak"):
        with pytest.raises(DomainError) as caught:
            await credentials.create_credential(admin_id, description=bad, actor=ADMIN)
        assert caught.value.field == "description"
    with pytest.raises(DomainError):
        await credentials.create_credential(admin_id + 1000, actor=ADMIN)
    await Admin.update({Admin.disabled: True}).where(Admin.id == admin_id)
    with pytest.raises(DomainError) as caught:
        await credentials.create_credential(admin_id, actor=ADMIN)
    assert "disabled" in caught.value.message
    assert await ApiCredential.count() == 0


async def test_disabled_staff_cannot_authenticate_and_deleted_staff_take_their_credentials():
    admin_id, new = await make_credential()
    await Admin.update({Admin.disabled: True}).where(Admin.id == admin_id)
    assert await failure(new.identifier, new.secret) == "Authentication Failed"
    await Admin.update({Admin.disabled: False}).where(Admin.id == admin_id)
    assert await credentials.authenticate(new.identifier, new.secret, IP)

    await Admin.delete().where(Admin.id == admin_id)
    assert await ApiCredential.count() == 0
    assert await failure(new.identifier, new.secret) == "Invalid or missing credentials"


async def test_failed_authentications_are_throttled():
    _, new = await make_credential()
    limit = credentials.API_LIMIT.per_key
    for _ in range(limit):
        await failure(new.identifier, "wrong")
    with pytest.raises(Throttled):
        await credentials.authenticate(new.identifier, new.secret, IP)
    # Another address is still held back by the per-identifier count...
    with pytest.raises(Throttled):
        await credentials.authenticate(new.identifier, new.secret, "198.51.100.1")
    # ...and one address guessing many identifiers by the per-address count.
    for n in range(credentials.API_LIMIT.per_ip + 1):
        try:
            await credentials.authenticate(f"guess{n}", "wrong", "192.0.2.99")
        except ApiAuthError:
            pass
        except Throttled:
            break
    else:
        pytest.fail("never throttled")


async def test_a_success_clears_the_earlier_failures():
    _, new = await make_credential()
    for _ in range(credentials.API_LIMIT.per_key - 1):
        await failure(new.identifier, "wrong")
    await credentials.authenticate(new.identifier, new.secret, IP)
    for _ in range(credentials.API_LIMIT.per_key - 1):
        await failure(new.identifier, "wrong")
    assert await credentials.authenticate(new.identifier, new.secret, IP)


async def test_the_secret_is_stored_only_hashed_and_never_logged(caplog):
    caplog.set_level(logging.DEBUG)
    _, new = await make_credential(description="Nightly")
    await credentials.authenticate(new.identifier, new.secret, IP)
    await credentials.revoke_credential(new.id, actor=ADMIN)
    row = await ApiCredential.select().first()
    assert new.secret not in str(row)
    assert row["secret_hash"] == credentials.secret_hash(new.secret)
    entries = await ActivityEntry.select()
    assert entries and not any(new.secret in str(e) for e in entries)
    assert new.secret not in caplog.text
