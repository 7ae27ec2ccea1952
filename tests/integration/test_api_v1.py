"""The JSON API under /api/v1: bearer credentials, each resource through the same services as
the web pages, problem+json errors, and nothing of the web pages' sessions or CSRF."""

import functools
import logging
import re

import httpx
import pytest

from app.core.logging_setup import SHOWS_LINKS
from app.domain.access import services as access
from app.domain.clients import services as clients
from app.domain.credentials.services import create_credential
from app.domain.events import stream
from app.domain.events.catalog import ClientStatusChanged, ClientUpdated
from app.domain.invitations import services as invitations
from app.domain.staff.services import create_admin
from app.domain.users import services as users
from app.domain.users.services import find_by_email, get_user
from app.http.api.app import create_api_app
from app.schema.activity import ActivityEntry
from app.schema.invitations import Invitation
from app.schema.mail import OutboundEmail
from tests.factories import ADMIN, make_client, make_user, unique_email
from tests.integration.conftest import app_for_tests, text_of, written_otherwise

PROBLEM = "application/problem+json"


@functools.cache
def documented_operations() -> list[tuple[re.Pattern, str, set[int]]]:
    """(path pattern, method, documented status codes) of each operation in the OpenAPI
    document the server publishes."""
    document = create_api_app(production=False).openapi_schema.to_schema()
    return [
        (
            re.compile(re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"),
            method.upper(),
            set(map(int, op["responses"])),
        )
        for path, operations in document["paths"].items()
        for method, op in operations.items()
    ]


async def answers_as_documented(response: httpx.Response) -> None:
    """Every answer of these tests has a status code its operation documents."""
    request = response.request
    for pattern, method, statuses in documented_operations():
        if method == request.method and pattern.match(request.url.path):
            assert response.status_code in statuses, (request.method, request.url.path)


@pytest.fixture
async def api():

    app = app_for_tests()
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver.local",
        event_hooks={"response": [answers_as_documented]},
    ) as client:
        yield client


async def bearer(role: str = "full") -> dict:
    """The Authorization header of a new credential of a new staff member with this role."""
    admin_id = await create_admin(
        email=unique_email("staff"),
        password="staff-passphrase-77",
        name="Stan Staff",
        role=role,
        actor=ADMIN,
    )
    credential = await create_credential(admin_id, description="tests", actor=ADMIN)
    return {"Authorization": f"Bearer {credential.identifier}:{credential.secret}"}


@pytest.fixture
async def full():
    return await bearer("full")


@pytest.fixture
async def support():
    return await bearer("support")


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


async def test_without_a_valid_bearer_credential_every_resource_is_401(api, full):
    good = full["Authorization"]
    identifier, secret = good.removeprefix("Bearer ").split(":")
    for headers in (
        {},
        {"Authorization": f"Bearer {identifier}:wrong{secret}"},
        {"Authorization": f"Bearer {identifier}"},
        {"Authorization": f"Basic {identifier}:{secret}"},
    ):
        response = await api.get("/api/v1/clients", headers=headers)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
    # The same answer for an unknown identifier and a wrong secret.
    unknown = await api.get("/api/v1/users", headers={"Authorization": "Bearer nobody:nothing"})
    assert assert_problem(unknown, 401)["detail"] == "The bearer credential is missing or invalid."


async def test_api_answers_set_no_cookie_and_need_no_csrf_token(api, full):
    client_id, _ = await make_client()
    response = await api.patch(
        f"/api/v1/clients/{client_id}", json={"company_name": "Renamed Ltd"}, headers=full
    )
    assert response.status_code == 200, response.text
    assert "set-cookie" not in response.headers
    assert "set-cookie" not in (await api.get("/api/v1/permissions", headers=full)).headers
    # The web pages keep their CSRF check.
    refused = await api.post("/admin/login", data={"email": "a@example.com", "password": "x"})
    assert refused.status_code == 403


async def test_permissions_are_listed_in_order(api, full):
    body = (await api.get("/api/v1/permissions", headers=full)).json()
    assert body["total"] == 13
    assert body["items"][0] == {
        "key": "profile",
        "label": "Modify Master Account Profile",
        "description": "Change the account's company name, contact name and email.",
    }


async def test_clients_create_read_list_update_delete(api, full):
    email = unique_email("apiowner")
    created = await api.post(
        "/api/v1/clients",
        json={
            "owner_email": email,
            "owner_first_name": "Ana",
            "owner_last_name": "Api",
            "company_name": "Api Hosting",
            "country": "DE",
            "city": "Berlin",
        },
        headers=full,
    )
    assert created.status_code == 201, created.text
    client = created.json()
    owner = await find_by_email(email)
    assert client["owner_id"] == owner["id"]
    assert (client["company_name"], client["country"], client["city"]) == (
        "Api Hosting",
        "DE",
        "Berlin",
    )
    assert client["status"] == "Active"

    read = (await api.get(f"/api/v1/clients/{client['id']}", headers=full)).json()
    assert read == client

    listed = await api.get(
        "/api/v1/clients", params={"search": "Api Host", "limit": 5}, headers=full
    )
    body = listed.json()
    assert body["total"] >= 1 and body["offset"] == 0 and body["limit"] == 5
    assert client["id"] in [c["id"] for c in body["items"]]

    updated = await api.patch(
        f"/api/v1/clients/{client['id']}",
        json={"status": "Inactive", "phone_number": "+49 30 1234"},
        headers=full,
    )
    assert updated.status_code == 200, updated.text
    after = updated.json()
    assert (after["status"], after["phone_number"]) == ("Inactive", "+49 30 1234")
    assert (after["company_name"], after["first_name"], after["city"]) == (
        "Api Hosting",
        "Ana",
        "Berlin",
    )

    deleted = await api.delete(
        f"/api/v1/clients/{client['id']}", params={"delete_users": "true"}, headers=full
    )
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"id": client["id"], "deleted_user_ids": [owner["id"]]}
    assert_problem(await api.get(f"/api/v1/clients/{client['id']}", headers=full), 404)


async def test_a_new_account_can_be_owned_by_an_existing_user(api, full):
    user = await make_user()
    body = {"owner_email": unique_email(), "owner_first_name": "Co", "owner_last_name": "Owner"}
    created = await api.post(
        "/api/v1/clients", json={**body, "owner_user_id": user["id"]}, headers=full
    )
    assert created.status_code == 201, created.text
    assert created.json()["owner_id"] == user["id"]
    listed = (await api.get(f"/api/v1/users/{user['id']}", headers=full)).json()["clients"]
    assert listed == [{"id": created.json()["id"], "is_owner": True}]
    nobody = await api.post(
        "/api/v1/clients", json={**body, "owner_user_id": 2147483647}, headers=full
    )
    assert_problem(nobody, 404)


@pytest.fixture
def heard():
    """The events told to the stream's listeners (after their transaction committed)."""
    events: list = []
    stop = stream.listen(lambda event, _actor: events.append(event))
    yield events
    stop()


async def test_a_status_patch_tells_client_status_changed_once(api, full, heard):
    """As staff's Close and Reopen and WHMCS CloseClient tell it, not as client.updated."""
    client_id, _ = await make_client()
    await invitations.invite(client_id, "guest@example.com", ["tickets"], actor=ADMIN)
    heard.clear()
    closed = await api.patch(
        f"/api/v1/clients/{client_id}", json={"status": "Closed"}, headers=full
    )
    assert closed.status_code == 200 and closed.json()["status"] == "Closed"
    assert heard == [
        ClientStatusChanged(client_id=client_id, status_before="Active", status="Closed")
    ]
    entry = await ActivityEntry.select().order_by(ActivityEntry.id, ascending=False).first()
    assert entry["action"] == "client.status_changed"
    assert entry["description"].endswith(": Active -> Closed; 1 pending invite(s) cancelled")
    assert not await invitations.open_invites(client_id)

    heard.clear()
    again = await api.patch(f"/api/v1/clients/{client_id}", json={"status": "Closed"}, headers=full)
    assert again.status_code == 200 and heard == []  # nothing changed, nothing told


async def test_a_patch_of_status_and_other_fields_tells_each_in_its_event(api, full, heard):
    client_id, _ = await make_client()
    url = f"/api/v1/clients/{client_id}"
    heard.clear()
    both = await api.patch(
        url, json={"company_name": "Both Co", "status": "Inactive"}, headers=full
    )
    assert both.status_code == 200
    assert heard == [
        ClientUpdated(client_id=client_id, fields=("company_name",)),
        ClientStatusChanged(client_id=client_id, status_before="Active", status="Inactive"),
    ]
    heard.clear()
    other = await api.patch(
        url, json={"company_name": "Other Co", "status": "Inactive"}, headers=full
    )
    assert other.status_code == 200
    assert heard == [ClientUpdated(client_id=client_id, fields=("company_name",))]


async def test_a_status_and_a_field_change_together_or_not_at_all(monkeypatch, heard):
    """Both are written in one transaction: when telling the status fails, the field is not
    changed either, and nothing is told."""
    client_id, _ = await make_client("Kept Co")
    heard.clear()

    async def fails(_condition):
        raise RuntimeError("the invitations could not be cancelled")

    monkeypatch.setattr(clients, "_cancel_open_invitations", fails)
    entries = await ActivityEntry.count()
    with pytest.raises(RuntimeError):
        await clients.update_client(
            client_id, company_name="Renamed Co", status="Closed", actor=ADMIN
        )
    client = await clients.get_client(client_id)
    assert (client["company_name"], client["status"]) == ("Kept Co", "Active")
    assert heard == [] and await ActivityEntry.count() == entries


async def test_writes_are_in_the_activity_log_under_the_credential(api, full):
    identifier = full["Authorization"].removeprefix("Bearer ").split(":")[0]
    client_id, _ = await make_client()
    await api.patch(f"/api/v1/clients/{client_id}", json={"company_name": "Logged"}, headers=full)
    entry = (
        await ActivityEntry.select()
        .where(ActivityEntry.client_id == client_id)
        .order_by(ActivityEntry.id, ascending=False)
        .first()
    )
    assert entry["action"] == "client.updated"
    assert entry["actor_type"] == "admin"
    assert entry["actor_name"] == f"Stan Staff (API credential {identifier})"


async def test_bad_bodies_are_422_problems_naming_the_fields(api, full):
    missing = await api.post("/api/v1/clients", json={"owner_first_name": "A"}, headers=full)
    assert "owner_email" in str(assert_problem(missing, 422)["errors"])

    for field, value in (
        ("owner_first_name", "Nul\x00Byte"),
        ("owner_email", "not-an-address@"),
        ("country", "XX"),
        ("phone_number", "call me"),
        ("owner_first_name", "   "),
    ):
        body = {
            "owner_email": unique_email(),
            "owner_first_name": "Ana",
            "owner_last_name": "Api",
            field: value,
        }
        response = await api.post("/api/v1/clients", json=body, headers=full)
        assert field in assert_problem(response, 422)["errors"], (field, response.text)

    not_json = await api.post(
        "/api/v1/clients",
        content=b"{nope",
        headers={**full, "content-type": "application/json"},
    )
    assert_problem(not_json, 400)

    weak = await api.post(
        "/api/v1/users",
        json={"first_name": "W", "last_name": "P", "email": unique_email(), "password": "aaaaaaaa"},
        headers=full,
    )
    assert "password" in assert_problem(weak, 422)["errors"]


async def test_a_body_nested_too_deeply_is_a_400_problem_like_any_malformed_body(api, full):
    client_id, _ = await make_client()
    json_body = {**full, "content-type": "application/json"}
    for deep in ("[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000):
        created = await api.post("/api/v1/clients", content=deep, headers=json_body)
        assert_problem(created, 400)
        path = f"/api/v1/clients/{client_id}"
        assert_problem(await api.patch(path, content=deep, headers=json_body), 400)
    assert (await api.get("/api/v1/clients", headers=full)).json()["total"] == 1


async def test_a_refused_change_is_a_409_and_changes_nothing(api, full):
    _, owner = await make_client()
    taken = await api.post(
        "/api/v1/clients",
        json={"owner_email": owner["email"], "owner_first_name": "A", "owner_last_name": "B"},
        headers=full,
    )
    assert "email" in assert_problem(taken, 409)["errors"]
    duplicate = await api.post(
        "/api/v1/users",
        json={"first_name": "A", "last_name": "B", "email": owner["email"]},
        headers=full,
    )
    assert_problem(duplicate, 409)
    still_has_access = await api.delete(f"/api/v1/users/{owner['id']}", headers=full)
    assert_problem(still_has_access, 409)
    assert await get_user(owner["id"])


async def test_impossible_ids_and_paths_are_404_or_422_never_500(api, full):
    for path in (
        "/api/v1/clients/99999999999999999999",
        "/api/v1/users/0",
        "/api/v1/clients/2147483648/users",
        "/api/v1/clients/1/invitations/-1/resend",
    ):
        method = "POST" if path.endswith("resend") else "GET"
        response = await api.request(method, path, headers=full)
        assert response.status_code in (404, 422), (path, response.text)
        assert response.headers["content-type"] == PROBLEM
    for path in ("/api/v1/clients/2147483647", "/api/v1/clients/abc", "/api/v1/nowhere"):
        assert_problem(await api.get(path, headers=full), 404)
    nul = await api.get("/api/v1/users", params={"search": "a\x00b"}, headers=full)
    assert list(assert_problem(nul, 422)["errors"]) == ["search"]
    paging = await api.get("/api/v1/users", params={"limit": 101}, headers=full)
    assert "limit" in assert_problem(paging, 422)["errors"]
    assert_problem(await api.put("/api/v1/clients", headers=full), 405)


async def test_an_id_in_the_path_not_written_in_ascii_digits_is_a_404_problem(api, full):
    client_id, owner = await make_client()
    for id_text in written_otherwise(client_id):
        for path in (f"/api/v1/clients/{id_text}", f"/api/v1/clients/{id_text}/users"):
            assert_problem(await api.get(path, headers=full), 404)
        changed = await api.patch(
            f"/api/v1/clients/{id_text}", json={"company_name": "Renamed"}, headers=full
        )
        assert_problem(changed, 404)
        assert_problem(await api.delete(f"/api/v1/clients/{id_text}", headers=full), 404)
    for id_text in written_otherwise(owner["id"]):
        assert_problem(await api.get(f"/api/v1/users/{id_text}", headers=full), 404)
        path = f"/api/v1/clients/{client_id}/users/{id_text}"
        assert_problem(await api.delete(path, headers=full), 404)
    assert (await api.get(f"/api/v1/clients/{client_id}", headers=full)).json()["company_name"] == (
        "Acme Hosting"
    )
    assert (
        await api.get(f"/api/v1/clients/{client_id}/users/{owner['id']}", headers=full)
    ).is_success


async def test_a_support_operators_credential_reads_but_cannot_write(api, support):
    client_id, owner = await make_client()
    assert (await api.get(f"/api/v1/clients/{client_id}", headers=support)).status_code == 200
    assert (await api.get(f"/api/v1/clients/{client_id}/users", headers=support)).status_code == 200
    for method, path, body in (
        ("PATCH", f"/api/v1/clients/{client_id}", {"company_name": "No"}),
        ("DELETE", f"/api/v1/clients/{client_id}", None),
        ("POST", "/api/v1/users", {"first_name": "a", "last_name": "b", "email": "x@y.z"}),
        ("PUT", f"/api/v1/clients/{client_id}/users/{owner['id']}", {"permissions": ["profile"]}),
        ("POST", f"/api/v1/clients/{client_id}/invitations", {"email": "a@example.com"}),
    ):
        response = await api.request(method, path, json=body, headers=support)
        assert_problem(response, 403)
    assert (await api.get(f"/api/v1/clients/{client_id}", headers=support)).json()[
        "company_name"
    ] == "Acme Hosting"


async def test_users_create_read_list_update_delete(api, full):
    email = unique_email("apiuser")
    created = await api.post(
        "/api/v1/users",
        json={"first_name": "Una", "last_name": "Api", "email": email, "language": "french"},
        headers=full,
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert (user["email"], user["language"], user["clients"]) == (email, "french", [])
    assert user["last_login_at"] is None

    listed = (await api.get("/api/v1/users", params={"search": email}, headers=full)).json()
    assert [u["id"] for u in listed["items"]] == [user["id"]] and listed["total"] == 1

    patched = await api.patch(
        f"/api/v1/users/{user['id']}", json={"last_name": "Renamed"}, headers=full
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["last_name"], patched.json()["language"]) == ("Renamed", "french")

    client_id, _ = await make_client()
    await api.post(
        f"/api/v1/clients/{client_id}/users",
        json={"user_id": user["id"], "permissions": ["invoices"]},
        headers=full,
    )
    read = (await api.get(f"/api/v1/users/{user['id']}", headers=full)).json()
    assert read["clients"] == [{"id": client_id, "is_owner": False}]

    assert (
        await api.delete(f"/api/v1/clients/{client_id}/users/{user['id']}", headers=full)
    ).status_code == 204
    assert (await api.delete(f"/api/v1/users/{user['id']}", headers=full)).status_code == 204
    assert_problem(await api.get(f"/api/v1/users/{user['id']}", headers=full), 404)


async def test_an_accounts_users_grant_read_change_remove(api, full):
    client_id, owner = await make_client()
    member = await make_user()
    base = f"/api/v1/clients/{client_id}/users"

    granted = await api.post(
        base, json={"user_id": member["id"], "permissions": ["tickets", "profile"]}, headers=full
    )
    assert granted.status_code == 201, granted.text
    assert granted.json()["permissions"] == ["profile", "tickets"]
    again = await api.post(
        base, json={"user_id": member["id"], "permissions": ["tickets"]}, headers=full
    )
    assert_problem(again, 409)
    unknown_key = await api.post(
        base, json={"user_id": member["id"], "permissions": ["root"]}, headers=full
    )
    assert list(assert_problem(unknown_key, 422)["errors"]) == ["permissions[0]"]
    assert_problem(
        await api.post(
            base, json={"user_id": 2147483647, "permissions": ["tickets"]}, headers=full
        ),
        404,
    )

    listed = (await api.get(base, headers=full)).json()
    assert [(g["user_id"], g["is_owner"]) for g in listed["items"]] == [
        (owner["id"], True),
        (member["id"], False),
    ]
    assert len(listed["items"][0]["permissions"]) == 13 and listed["total"] == 2

    changed = await api.put(
        f"{base}/{member['id']}", json={"permissions": ["domains"]}, headers=full
    )
    assert changed.json()["permissions"] == ["domains"]
    assert (await api.get(f"{base}/{member['id']}", headers=full)).json()["permissions"] == [
        "domains"
    ]
    assert_problem(
        await api.put(f"{base}/{owner['id']}", json={"permissions": ["domains"]}, headers=full),
        409,
    )
    assert_problem(await api.delete(f"{base}/{owner['id']}", headers=full), 409)
    assert (await api.delete(f"{base}/{member['id']}", headers=full)).status_code == 204
    assert_problem(await api.get(f"{base}/{member['id']}", headers=full), 404)
    assert_problem(await api.delete(f"{base}/{member['id']}", headers=full), 404)


async def test_invitations_through_the_api_reach_the_users_tab_and_never_show_the_token(
    api, full, http, admin_session, monkeypatch, caplog
):
    from app.domain.invitations import services as invitations

    tokens = []
    real_new_token = invitations.new_token

    def remembered_token():
        token, digest = real_new_token()
        tokens.append(token)
        return token, digest

    monkeypatch.setattr(invitations, "new_token", remembered_token)
    caplog.set_level(logging.INFO)  # the level the server logs at (app.core.logging_setup)
    client_id, _ = await make_client()
    base = f"/api/v1/clients/{client_id}/invitations"
    email = unique_email("invitee")

    created = await api.post(base, json={"email": email, "permissions": ["invoices"]}, headers=full)
    assert created.status_code == 201, created.text
    invitation = created.json()
    assert (invitation["email"], invitation["status"], invitation["permissions"]) == (
        email,
        "pending",
        ["invoices"],
    )
    assert_problem(await api.post(base, json={"email": email, "permissions": ["invoices"]},
                                  headers=full), 409)  # fmt: skip

    users_tab = await http.get(f"/admin/clients/{client_id}/users")
    assert email in text_of(users_tab)

    listed = await api.get(base, headers=full)
    assert [i["id"] for i in listed.json()["items"]] == [invitation["id"]]
    resent = await api.post(f"{base}/{invitation['id']}/resend", headers=full)
    assert resent.status_code == 200, resent.text
    assert resent.json()["times_sent"] == 2

    answers = [created, listed, resent]
    cancelled = await api.delete(f"{base}/{invitation['id']}", headers=full)
    assert cancelled.status_code == 204
    assert (await api.get(base, headers=full)).json()["items"] == []
    assert_problem(await api.delete(f"{base}/{invitation['id']}", headers=full), 404)

    assert len(tokens) == 2  # created and resent (a refused invite makes no token)
    # Only the development outbox shows links on purpose.
    logged = "\n".join(r.getMessage() for r in caplog.records if not getattr(r, SHOWS_LINKS, False))
    for token in tokens:
        assert not any(token in a.text or token in str(a.headers) for a in answers)
        assert token not in logged


async def test_inviting_to_an_unknown_or_closed_account(api, full):
    assert_problem(
        await api.post(
            "/api/v1/clients/2147483647/invitations",
            json={"email": "a@example.com", "permissions": ["invoices"]},
            headers=full,
        ),
        404,
    )
    client_id, _ = await make_client()
    await api.patch(f"/api/v1/clients/{client_id}", json={"status": "Closed"}, headers=full)
    closed = await api.post(
        f"/api/v1/clients/{client_id}/invitations",
        json={"email": "a@example.com", "permissions": ["invoices"]},
        headers=full,
    )
    assert_problem(closed, 409)


async def test_a_staff_session_cookie_does_not_authenticate_the_api(http, admin_session):
    # The API takes no CSRF token, so it must never act on a browser's cookies.
    response = await http.client.post(
        "/api/v1/users", json={"first_name": "C", "last_name": "S", "email": unique_email()}
    )
    assert_problem(response, 401)
    assert_problem(await http.client.get("/api/v1/clients"), 401)


async def test_an_accounts_users_and_invitations_are_paged_by_the_database(
    api, full, count_queries
):
    """offset/limit go to the database (LIMIT/OFFSET and a count), not a slice of every row:
    the owner first, then by grant; open invitations oldest first."""
    from app.domain.access import services as access
    from app.domain.invitations import services as invitations

    client_id, owner = await make_client()
    members = [await make_user() for _ in range(4)]
    for member in members:
        await access.grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    emails = [unique_email("paged") for _ in range(3)]
    for email in emails:
        await invitations.invite(client_id, email, ["quotes"], actor=ADMIN)
    users = f"/api/v1/clients/{client_id}/users"

    first = (await api.get(users, params={"limit": 2}, headers=full)).json()
    assert [g["user_id"] for g in first["items"]] == [owner["id"], members[0]["id"]]
    assert (first["total"], first["offset"], first["limit"]) == (5, 0, 2)
    with count_queries() as counted:
        last = (await api.get(users, params={"offset": 3, "limit": 2}, headers=full)).json()
    assert [g["user_id"] for g in last["items"]] == [m["id"] for m in members[2:]]
    assert last["total"] == 5
    assert any("LIMIT" in s and "OFFSET" in s for s in counted.statements)
    beyond = (await api.get(users, params={"offset": 2147483647}, headers=full)).json()
    assert beyond["items"] == [] and beyond["total"] == 5

    invites = f"/api/v1/clients/{client_id}/invitations"
    page = (await api.get(invites, params={"offset": 1, "limit": 1}, headers=full)).json()
    assert [i["email"] for i in page["items"]] == [emails[1]] and page["total"] == 3
    assert (await api.get(invites, params={"offset": 3}, headers=full)).json()["items"] == []


async def test_if_match_makes_an_edit_only_on_the_version_read(api, full):
    """Each editable resource has an ETag (of what its edit sets); an edit with If-Match naming
    another version is 412 and changes nothing; without If-Match, or with `*`, as before."""
    client_id, _ = await make_client("Etag Ltd")
    member = await make_user("Mia", "Match")
    await access.grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    for method, url, body, change_meanwhile in (
        (
            "PUT",
            f"/api/v1/clients/{client_id}/users/{member['id']}",
            {"permissions": ["tickets", "quotes"]},
            lambda: access.update_permissions(
                client_id, member["id"], ["tickets", "invoices"], actor=ADMIN
            ),
        ),
        (
            "PATCH",
            f"/api/v1/users/{member['id']}",
            {"first_name": "Mina"},
            lambda: users.update_user(
                member["id"],
                first_name="Mia",
                last_name="Match",
                email=member["email"],
                language="german",
                actor=ADMIN,
            ),
        ),
        (
            "PATCH",
            f"/api/v1/clients/{client_id}",
            {"city": "Lyon"},
            lambda: clients.update_client(client_id, company_name="Etag & Co", actor=ADMIN),
        ),
    ):

        async def edit(if_match: str):
            headers = {**full, "If-Match": if_match}
            return await api.request(method, url, json=body, headers=headers)  # noqa: B023

        etag = (await api.get(url, headers=full)).headers["etag"]
        assert re.fullmatch(r'"[0-9a-f]{20}"', etag), url
        await change_meanwhile()
        meanwhile = await api.get(url, headers=full)
        refused = await edit(etag)
        assert "nothing was changed" in assert_problem(refused, 412)["detail"], url
        assert (await api.get(url, headers=full)).json() == meanwhile.json(), url
        now = meanwhile.headers["etag"]
        assert now != etag, url
        assert_problem(await edit(f"W/{now}"), 412)  # compared strongly
        done = await edit(f'"0", {now}')
        assert done.status_code == 200, (url, done.text)
        assert done.headers["etag"] not in (etag, now)
        assert (await edit("*")).status_code == 200, url
    # A PUT sets the whole set: the one made on the version read (Invoices seen) drops it.
    assert (await access.access_for(member["id"], client_id)).permissions == ("quotes", "tickets")
    assert (await get_user(member["id"]))["first_name"] == "Mina"
    row = await clients.get_client(client_id)
    assert (row["company_name"], row["city"]) == ("Etag & Co", "Lyon")


async def test_one_address_is_invited_to_several_accounts_in_one_email(api, full, support):
    """#25 item 2 through the API (tests/integration/test_several_accounts.py: the rest)."""
    alpha, beta, gamma = [(await make_client(name))[0] for name in ("Alpha", "Beta", "Gamma")]
    guest = "guest@example.com"
    await clients.set_status(gamma, "Closed", actor=ADMIN)
    url = "/api/v1/invitations"
    body = {
        "email": guest,
        "accounts": [
            {"client_id": alpha, "permissions": ["invoices"]},
            {"client_id": beta, "preset": "billing-contact"},
        ],
    }
    assert (await api.post(url, json=body, headers=support)).status_code == 403
    for bad in (
        {**body, "accounts": []},
        {**body, "accounts": [{"client_id": alpha}]},
        {**body, "accounts": [{"client_id": alpha, "permissions": ["x"]}]},
        {**body, "email": "nope"},
        {**body, "accounts": [{"client_id": 0, "permissions": ["invoices"]}]},
    ):
        assert_problem(await api.post(url, json=bad, headers=full), 422)
    closed = {
        **body,
        "accounts": [*body["accounts"], {"client_id": gamma, "preset": "billing-contact"}],
    }
    refused = assert_problem(await api.post(url, json=closed, headers=full), 409)
    assert "Gamma is closed." in refused["detail"]
    missing = {**body, "accounts": [{"client_id": 2147483647, "permissions": ["invoices"]}]}
    assert_problem(await api.post(url, json=missing, headers=full), 404)
    assert await Invitation.count() == 0

    made = await api.post(url, json=body, headers=full)
    assert made.status_code == 201, made.text
    answer = made.json()
    assert answer["email"] == guest
    assert [i["client_id"] for i in answer["invitations"]] == [alpha, beta]
    assert answer["invitations"][0]["invitation"]["permissions"] == ["invoices"]
    assert set(answer["invitations"][1]["invitation"]["permissions"]) == {
        "invoices",
        "quotes",
        "emails",
    }
    assert "token" not in made.text and "/invite/" not in made.text
    listed = await api.get(f"/api/v1/clients/{beta}/invitations", headers=full)
    assert [i["email"] for i in listed.json()["items"]] == [guest]
    assert await OutboundEmail.count().where(OutboundEmail.template == "invitation") == 1


async def test_problem_details_speak_the_callers_language(api, full):
    """The JSON API's human texts follow Accept-Language (the WHMCS API's stay WHMCS's own)."""
    from app.core import i18n

    body = {"email": "not an address", "permissions": ["invoices"]}
    client_id, _owner = await make_client("Problem Co")
    url = f"/api/v1/clients/{client_id}/invitations"
    english = assert_problem(await api.post(url, json=body, headers=full), 422)
    german = assert_problem(
        await api.post(url, json=body, headers={**full, "Accept-Language": "de"}), 422
    )
    assert german["detail"] != english["detail"]
    with i18n.using(i18n.BY_NAME["german"]):
        assert german["detail"] == i18n.gettext(english["detail"])
