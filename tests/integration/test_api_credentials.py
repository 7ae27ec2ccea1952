"""API credentials: the service the two API front doors authenticate with, and the
admin screen /admin/api."""

import contextlib
import logging

import httpx
import pytest

from app.core.errors import DomainError, NotFound, Throttled
from app.core.policy import Permission, role_allows
from app.domain.credentials import services as credentials
from app.domain.credentials.services import ApiAuthError
from app.domain.staff.services import create_admin
from app.schema.activity import ActivityEntry
from app.schema.credentials import ApiCredential
from app.schema.staff import Admin
from tests.factories import ADMIN, unique_email
from tests.integration.conftest import app_for_tests, message_texts, page, text_of

IP = "203.0.113.7"
HX = {"HX-Request": "true", "HX-Request-Type": "partial"}


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
    assert role_allows(caller.role, Permission.MANAGE_USERS)
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
    assert caller.role == "support" and not role_allows(caller.role, Permission.MANAGE_USERS)


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
    # The count is of the identifier from that address: the real client elsewhere gets in...
    assert await credentials.authenticate(new.identifier, new.secret, "198.51.100.1")
    # ...and one address guessing many identifiers is held back by the per-address count.
    for n in range(credentials.API_LIMIT.per_ip + 1):
        try:
            await credentials.authenticate(f"guess{n}", "wrong", "192.0.2.99")
        except ApiAuthError:
            pass
        except Throttled:
            break
    else:
        pytest.fail("never throttled")


STRANGER, REAL_CLIENT = "192.0.2.66", "198.51.100.20"


@contextlib.asynccontextmanager
async def callers_at(*addresses: str):
    """One app, and a client for it calling from each address."""

    app = app_for_tests()
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app, client=(address, 50000)),
                    base_url="http://testserver.local",
                )
            )
            for address in addresses
        ]


async def native(client: httpx.AsyncClient, identifier: str, secret: str) -> int:
    headers = {"authorization": f"Bearer {identifier}:{secret}"}
    return (await client.get("/api/v1/clients", headers=headers)).status_code


async def whmcs(client: httpx.AsyncClient, identifier: str, secret: str) -> int:
    form = {"identifier": identifier, "secret": secret, "action": "GetClients"}
    response = await client.post("/includes/api.php", data={**form, "responsetype": "json"})
    return response.status_code if response.json()["result"] == "error" else 200


async def test_a_strangers_failures_do_not_lock_the_real_client_out_of_either_endpoint():
    """Identifiers are no secret (Support see them, the activity log names them): a stranger who
    knows one is held back from their own address only."""
    _, new = await make_credential()
    identifier = new.identifier
    async with callers_at(STRANGER, REAL_CLIENT) as (stranger, real_client):
        for n in range(credentials.API_LIMIT.per_key):  # wrong secrets, through both endpoints
            endpoint = native if n % 2 else whmcs
            assert await endpoint(stranger, identifier, f"wrong{n}") in (401, 403)
        for endpoint in (native, whmcs):
            assert await endpoint(stranger, identifier, "wrong") == 429
            assert await endpoint(stranger, identifier, new.secret) == 429  # even the right one
        for endpoint in (native, whmcs, native, whmcs):
            assert await endpoint(real_client, identifier, new.secret) == 200
        assert await native(stranger, identifier, new.secret) == 429  # still, from there


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


# The screen, /admin/api.


async def ada_id() -> int:
    return (await Admin.select(Admin.id).where(Admin.email_key == "ada@example.com").first())["id"]


async def test_a_full_admin_creates_a_credential_and_sees_the_secret_once(http, admin_session):
    empty = await http.get("/admin/api")
    assert empty.status_code == 200
    soup = page(empty)
    assert soup.find("a", string="API", href="/admin/api")
    assert "No API credentials yet" in text_of(empty)
    # The staff select offers the enabled staff, the viewer first chosen.
    other = await make_staff("Otto Other")
    await Admin.update({Admin.disabled: True}).where(Admin.id == await make_staff("Gone Staff"))
    soup = page(await http.get("/admin/api"))
    options = {o["value"]: o for o in soup.select("select[name=admin_id] option")}
    assert set(options) == {str(await ada_id()), str(other)}
    assert options[str(await ada_id())].has_attr("selected")

    response = await http.post(
        "/admin/api",
        {
            "admin_id": str(other),
            "description": "Billing sync",
            "allowed_ips": "10.0.0.1\n10.1.0.0/16",
        },
        headers=HX,
    )
    assert response.status_code == 200
    [listed] = await credentials.list_credentials()
    assert listed["admin_id"] == other and listed["allowed_ips"] == ["10.0.0.1", "10.1.0.0/16"]
    soup = page(response)
    panel = soup.find(id="api-new-credential")
    assert "Copy the secret now: it is not shown again" in panel.get_text()
    secret = soup.find(id="api-new-secret")["value"]
    assert soup.find(id="api-new-identifier")["value"] == listed["identifier"]
    caller = await credentials.authenticate(listed["identifier"], secret, "10.1.2.3")
    assert caller.admin_id == other
    row = soup.find(id=f"credential-{listed['id']}")
    assert listed["identifier"] in row.get_text() and "Otto Other" in row.get_text()
    assert "Billing sync" in row.get_text() and "10.1.0.0/16" in row.get_text()
    assert message_texts(response)

    again = await http.get("/admin/api")
    assert secret not in again.text and listed["identifier"] in again.text
    assert not page(again).find(id="api-new-credential")
    assert "from 10.1.2.3" in text_of(again)  # last used: time and address


async def test_without_htmx_the_whole_page_answers(http, admin_session):
    response = await http.post("/admin/api", {"admin_id": str(await ada_id())})
    assert response.status_code == 200
    soup = page(response)
    assert soup.find("h1", string="API") and soup.find(id="api-new-secret")["value"]
    [listed] = await credentials.list_credentials()
    assert "Never" in soup.find(id=f"credential-{listed['id']}").get_text()


async def test_a_refused_form_keeps_what_was_typed_and_creates_nothing(http, admin_session):
    response = await http.post(
        "/admin/api",
        {
            "admin_id": str(await ada_id()),
            "description": "Sync",
            "allowed_ips": "10.0.0.1, nonsense",
        },
        headers=HX,
    )
    assert response.status_code == 422
    soup = page(response)
    assert "nonsense" in soup.find(id="api-allowed-ips-error").get_text()
    assert soup.find(id="api-description")["value"] == "Sync"
    assert "nonsense" in soup.find(id="api-allowed-ips").get_text()
    assert not soup.find(id="api-new-credential")
    missing = await http.post("/admin/api", {"admin_id": "x"}, headers=HX)
    assert missing.status_code == 422 and "Choose a staff member." in text_of(missing)
    assert await ApiCredential.count() == 0


async def test_revoke_removes_the_row_and_confirms(http, admin_session):
    _, keep = await make_credential()
    _, gone = await make_credential(description="Old script")
    soup = page(await http.get("/admin/api"))
    form = soup.find(id=f"credential-{gone.id}").find("form")
    assert form["hx-post"] == f"/admin/api/{gone.id}/revoke" and form.has_attr("hx-confirm")
    response = await http.post(f"/admin/api/{gone.id}/revoke", headers=HX)
    assert response.status_code == 200
    soup = page(response)
    assert not soup.find(id=f"credential-{gone.id}") and soup.find(id=f"credential-{keep.id}")
    assert message_texts(response) == ["API credential revoked: it no longer authenticates."]
    assert await failure(gone.identifier, gone.secret) == "Authentication Failed"
    # Without htmx: back to the list, with the confirmation.
    plain = await http.post(f"/admin/api/{keep.id}/revoke")
    assert plain.status_code == 303
    shown = await http.get(plain.headers["location"])
    assert "API credential revoked" in text_of(shown) and "No API credentials yet" in text_of(shown)
    assert (await http.post(f"/admin/api/{keep.id}/revoke", headers=HX)).status_code == 404


async def test_a_support_operator_sees_the_list_but_cannot_create_or_revoke(http, support_session):
    _, new = await make_credential(description="Sync")
    response = await http.get("/admin/api")
    assert response.status_code == 200
    soup = page(response)
    assert soup.find(id=f"credential-{new.id}")
    assert not soup.find(id="api-create-form") and not soup.select("form[action$=revoke]")
    assert "can view the API credentials but not create or revoke them" in text_of(response)
    sam = (await Admin.select(Admin.id).first())["id"]
    assert (await http.post("/admin/api", {"admin_id": str(sam)}, headers=HX)).status_code == 403
    revoke = await http.post(f"/admin/api/{new.id}/revoke", headers=HX)
    assert revoke.status_code == 403
    assert len(await credentials.list_credentials()) == 1


async def test_logged_out_and_client_users_cannot_see_the_screen(http):
    response = await http.get("/admin/api")
    assert response.status_code in (303, 401)
    assert (await http.post("/admin/api", {"admin_id": "1"})).status_code in (303, 401)


async def test_csrf_is_enforced(http, admin_session):
    response = await http.post("/admin/api", {"admin_id": str(await ada_id())}, csrf=False)
    assert response.status_code == 403
    assert await ApiCredential.count() == 0


async def test_a_description_with_markup_is_shown_as_text(http, admin_session):
    _, new = await make_credential(description='<script>alert("x")</script><b>bold</b>')
    response = await http.get("/admin/api")
    soup = page(response)
    row = soup.find(id=f"credential-{new.id}")
    assert not row.find("script") and not row.find("b")
    assert '<script>alert("x")</script><b>bold</b>' in row.get_text()
    assert "&lt;script&gt;" in response.text


async def test_the_how_to_panel_gives_the_endpoints_of_this_server(http, admin_session):
    text = text_of(await http.get("/admin/api"))
    assert "POST http://testserver.local/includes/api.php" in text
    assert (
        "curl -s http://testserver.local/includes/api.php -d action=GetUsers"
        " -d identifier=IDENTIFIER -d secret=SECRET -d responsetype=json"
    ) in text
    assert 'curl -s -H "Authorization: Bearer IDENTIFIER:SECRET"' in text
    assert "http://testserver.local/api/v1/clients" in text
    assert "http://testserver.local/api/v1/schema" in text
