"""The WHMCS-compatible endpoint driven by a real WHMCS client library (whmcspy) against a real
`roster serve`: every action, its response shape and JSON types field by field as
../shared/WHMCS-API.md documents them, the error texts, roles, paging and what reaches the log.

One server for the module, on the run's test database, delivering mail to an SMTP sink (so no
link is logged on purpose, as development without SMTP does)."""

import hashlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import whmcspy
from whmcspy import exceptions

from soak.servers import MailSink, running_servers
from tests.factories import ADMIN, make_client, make_user, unique_email

ALL_KEYS = [
    "profile", "contacts", "products", "manageproducts", "productsso", "domains",
    "managedomains", "invoices", "quotes", "tickets", "affiliates", "emails", "orders",
]  # fmt: skip
DATETIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
CONTACT = {
    "address1": "1 Main Street",
    "city": "Springfield",
    "state": "Oregon",
    "postcode": "97403",
    "country": "US",
    "phonenumber": "+1 555 0100",
}


@pytest.fixture(scope="module")
def mail():
    sink = MailSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def server(database, mail):
    workdir = Path(tempfile.mkdtemp(prefix="roster-whmcs-"))
    env = {**os.environ, "ROSTER_SMTP_URL": mail.url}
    with running_servers(1, env, workdir) as (started,):
        yield started
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def seen_secrets():
    """Every secret the tests used: none may appear in the server's output."""
    return []


async def credential_for(role: str, email: str, seen_secrets: list) -> tuple[str, str, str]:
    """(identifier, secret, staff name) of a new credential of a new staff member."""
    from app.domain.credentials.services import create_credential
    from app.domain.staff.services import create_admin

    name = f"{role.title()} Staff"
    admin_id = await create_admin(
        email=email, password="staff-passphrase-2026", name=name, role=role, actor=ADMIN
    )
    made = await create_credential(admin_id, description="billing sync", actor=ADMIN)
    seen_secrets.append(made.secret)
    return made.identifier, made.secret, name


@pytest.fixture
async def api(server, seen_secrets) -> whmcspy.WHMCS:
    identifier, secret, _ = await credential_for("full", "full@example.com", seen_secrets)
    client = whmcspy.WHMCS(f"{server.url}/includes/api.php", identifier, secret)
    client.staff_name = "Full Staff"
    return client


@pytest.fixture
async def support_api(server, seen_secrets) -> whmcspy.WHMCS:
    identifier, secret, _ = await credential_for("support", "support@example.com", seen_secrets)
    return whmcspy.WHMCS(f"{server.url}/includes/api.php", identifier, secret)


async def raw(api: whmcspy.WHMCS, data: dict | None = None, **kwargs) -> httpx.Response:
    """A request whmcspy would not send (other credential forms, query strings, bad input)."""
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(api.url, data=data, **kwargs)


def error_of(api: whmcspy.WHMCS, action: str, **params) -> str:
    with pytest.raises(exceptions.Error) as raised:
        api.call(action, **params)
    return str(raised.value)


def types_of(row: dict) -> dict:
    return {key: type(value) for key, value in row.items()}


# --- envelope, authentication, roles ---------------------------------------------------------


async def test_get_permissions_list_answers_status_not_result(api):
    response = await raw(
        api, {"identifier": api.identifier, "secret": api.secret, "action": "GetPermissionsList"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "success", "permissions": {"permission": ALL_KEYS}}
    assert api.call("getpermissionslist")["permissions"]["permission"] == ALL_KEYS


async def test_a_wrong_secret_is_refused_with_403_json(api):
    wrong = whmcspy.WHMCS(api.url, api.identifier, "not-the-secret")
    with pytest.raises(exceptions.MissingPermission, match="^Authentication Failed$"):
        wrong.call("GetUsers")
    unknown = whmcspy.WHMCS(api.url, "no-such-identifier", "whatever")
    with pytest.raises(exceptions.MissingPermission, match="^Invalid or missing credentials$"):
        unknown.call("GetUsers")
    response = await raw(api, {"action": "GetUsers"})
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"result": "error", "message": "Authentication Failed"}


async def test_credentials_in_username_and_password_and_empty_fields_ignored(api):
    # whmcs-api-client's form; node-whmcs sends every field, the unset ones empty.
    sent = {"username": api.identifier, "password": api.secret, "action": "GetUsers"}
    assert (await raw(api, sent)).json()["result"] == "success"
    node_style = {
        "username": "",
        "password": "",
        "identifier": api.identifier,
        "secret": api.secret,
        "accesskey": "",
        "responsetype": "json",
        "action": "getusers",
    }
    assert (await raw(api, node_style)).json()["result"] == "success"
    # WHMCS's legacy form: an admin login and the MD5 of its password. Roster cannot check it.
    legacy = {
        "username": "full@example.com",
        "password": hashlib.md5(b"staff-passphrase-2026").hexdigest(),
        "action": "GetUsers",
    }
    response = await raw(api, legacy)
    assert (response.status_code, response.json()["message"]) == (403, "Authentication Failed")


async def test_action_from_the_query_string_case_insensitive(api):
    response = await raw(
        api,
        {"identifier": api.identifier, "secret": api.secret},
        params={"action": "getPermissionsList"},
    )
    assert response.json()["status"] == "success"


async def test_unknown_action_and_unsupported_response_type(api):
    assert (
        error_of(api, "MergeTicket")
        == 'Invalid API Action: "mergeticket" is not a valid API action'
    )
    response = await raw(
        api,
        {"identifier": api.identifier, "secret": api.secret, "action": "GetUsers",
         "responsetype": "xml"},
    )  # fmt: skip
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "result": "error",
        "message": "Unsupported response type: Roster answers json only",
    }


async def test_support_operator_reads_but_cannot_write(support_api):
    client_id, owner = await make_client()
    assert support_api.call("GetUsers")["totalresults"] == 1
    assert support_api.call("GetClientsDetails", clientid=client_id)["client"]["id"] == client_id
    with pytest.raises(exceptions.MissingPermission) as raised:
        support_api.call(
            "AddUser", firstname="A", lastname="B", email=unique_email(), password2="x" * 20
        )
    assert str(raised.value) == 'Invalid Permissions: API action "adduser" is not allowed'
    with pytest.raises(exceptions.MissingPermission, match='"deleteclient" is not allowed'):
        support_api.call("DeleteClient", clientid=client_id)
    from app.domain.clients.services import get_client

    assert (await get_client(client_id))["status"] == "Active"


# --- users -----------------------------------------------------------------------------------


async def test_add_user(api):
    from app.domain.users.services import get_user

    email = unique_email("added")
    answer = api.call(
        "AddUser",
        firstname="Ann",
        lastname="Added",
        email=email,
        password2="a long enough passphrase 2026",
        language="French",
    )
    assert answer == {"result": "success", "user_id": answer["user_id"]}
    assert isinstance(answer["user_id"], str)
    user = await get_user(int(answer["user_id"]))
    assert (user["first_name"], user["email"], user["language"]) == ("Ann", email, "french")

    base = {"firstname": "A", "lastname": "B", "email": unique_email(), "password2": "p" * 20}
    for missing, text in (
        ("firstname", "You did not enter a first name"),
        ("lastname", "You did not enter a last name"),
        ("email", "You did not enter an email address"),
        ("password2", "You did not enter a password"),
    ):
        assert error_of(api, "AddUser", **{**base, missing: ""}) == text
    assert (
        error_of(api, "AddUser", **{**base, "email": "not-an-address"})
        == "The email address entered is not valid"
    )
    assert (
        error_of(api, "AddUser", **{**base, "email": email.upper()})
        == "A user already exists with that email address"
    )


async def test_update_user_changes_only_what_is_sent(api):
    from app.domain.users.services import get_user

    user = await make_user(first="Old", last="Name")
    answer = api.call("UpdateUser", user_id=user["id"], firstname="New")
    assert answer == {"result": "success", "user_id": str(user["id"])}
    after = await get_user(user["id"])
    assert (after["first_name"], after["last_name"], after["email"]) == (
        "New",
        "Name",
        user["email"],
    )
    other = await make_user()
    assert error_of(api, "UpdateUser", user_id=999999) == "Invalid User ID requested"
    assert error_of(api, "UpdateUser", user_id="12abc") == "Invalid User ID requested"
    assert error_of(api, "UpdateUser", user_id="9" * 30) == "Invalid User ID requested"
    assert (
        error_of(api, "UpdateUser", user_id=user["id"])
        == "One of `email`, `firstname`, `lastname`, or `language` is required"
    )
    assert (
        error_of(api, "UpdateUser", user_id=user["id"], email=other["email"])
        == "A user already exists with that email address"
    )
    assert (
        error_of(api, "UpdateUser", user_id=user["id"], email="nope")
        == "The email address entered is not valid"
    )


async def test_get_users_shape_and_paging_with_paginated_call(api):
    client_id, owner = await make_client()
    for n in range(27):
        await make_user(first=f"Page{n:02d}", email=unique_email("paged"))
    first = api.call("GetUsers", limitnum=10)
    assert types_of(first) == {
        "result": str, "totalresults": int, "startnumber": int, "numreturned": int, "users": list,
    }  # fmt: skip
    assert (first["totalresults"], first["startnumber"], first["numreturned"]) == (28, 0, 10)
    row = next(u for u in first["users"] if u["id"] == owner["id"])
    assert types_of(row) == {
        "id": int, "firstname": str, "lastname": str, "email": str, "datecreated": str,
        "validationdata": str, "clients": list,
    }  # fmt: skip
    assert DATETIME.fullmatch(row["datecreated"])
    assert row["clients"] == [{"id": client_id, "isOwner": True}]

    pages = list(api.paginated_call("GetUsers", limitnum=10))
    assert [p["numreturned"] for p in pages] == [10, 10, 8]
    assert [p["startnumber"] for p in pages] == [0, 10, 20]
    ids = [u["id"] for p in pages for u in p["users"]]
    assert len(ids) == len(set(ids)) == 28

    descending = api.call("GetUsers", sorting="DESC", limitnum=250)["users"]
    assert [u["id"] for u in descending] == sorted(ids, reverse=True)
    found = api.call("GetUsers", search="Page1")
    assert found["totalresults"] == 10 and all(
        u["firstname"].startswith("Page1") for u in found["users"]
    )
    empty = api.call("GetUsers", search="nobody-starts-like-this")
    assert (empty["totalresults"], empty["numreturned"], empty["users"]) == (0, 0, [])
    clamped = api.call("GetUsers", limitstart=-3, limitnum=100000)
    assert (clamped["startnumber"], clamped["numreturned"]) == (0, 28)


async def test_reset_password_by_id_and_by_email(api, mail):
    user = await make_user()
    assert api.call("ResetPassword", id=user["id"]) == {"result": "success"}
    assert api.call("ResetPassword", email=user["email"].upper()) == {"result": "success"}
    assert error_of(api, "ResetPassword", id=999999) == "User Not Found"
    assert error_of(api, "ResetPassword", email=unique_email()) == "User Not Found"
    assert error_of(api, "ResetPassword", email="nope") == "Please provide a valid email address"
    assert error_of(api, "ResetPassword") == "Please enter the email address or provide the id"
    arrived = wait_for_mail(mail, user["email"], count=2)
    assert all("/password/reset/" in m.text for m in arrived)


def wait_for_mail(mail: MailSink, to: str, count: int = 1, timeout: float = 20) -> list:
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in mail.received() if m.to.lower() == to.lower()]
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) >= count, f"{len(found)} of {count} emails to {to} arrived"
            return found
        time.sleep(0.1)


# --- access and invitations ------------------------------------------------------------------


async def test_create_client_invite_sends_a_link_and_answers_no_token(api, mail):
    from app.schema.invitations import Invitation

    client_id, owner = await make_client()
    email = unique_email("invitee")
    answer = api.call(
        "CreateClientInvite", client_id=client_id, email=email, permissions="tickets,invoices"
    )
    assert answer == {"result": "success"}
    invitation = await Invitation.select().where(Invitation.email == email).first()
    assert invitation["permissions"] == "invoices,tickets" or set(
        invitation["permissions"].split(",")
    ) == {"invoices", "tickets"}
    (message,) = wait_for_mail(mail, email)
    token = mail.token_for(invitation["token_hash"])
    assert token and token in message.text

    # whmcspy sends a Python list as permissions[0]=…&permissions[1]=…
    second = unique_email("listed")
    api.call("CreateClientInvite", client_id=client_id, email=second, permissions=["orders"])
    assert await Invitation.exists().where(Invitation.email == second)

    member = await make_user()
    from app.domain.access.services import grant_access

    await grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    for params, text in (
        ({"client_id": 999999, "email": unique_email(), "permissions": "tickets"},
         "Invalid client id"),
        ({"client_id": client_id, "permissions": "tickets"}, "Email is required"),
        ({"client_id": client_id, "email": "bad", "permissions": "tickets"},
         "The email address entered is not valid"),
        ({"client_id": client_id, "email": unique_email()}, "User permissions are required"),
        ({"client_id": client_id, "email": member["email"], "permissions": "tickets"},
         "User already associated with client"),
        ({"client_id": client_id, "email": unique_email(), "permissions": "tickets,nosuchkey"},
         "Unknown permission: nosuchkey."),
    ):  # fmt: skip
        assert error_of(api, "CreateClientInvite", **params) == text


async def test_user_permissions_read_and_replaced_in_every_list_form(api):
    from app.domain.access.services import grant_access

    client_id, owner = await make_client()
    member = await make_user()
    await grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    ids = {"user_id": member["id"], "client_id": client_id}

    def current():
        answer = api.call("GetUserPermissions", **ids)
        assert answer["result"] == "success"
        return answer["permissions"]["permission"]

    assert current() == ["tickets"]
    assert api.call("GetUserPermissions", user_id=owner["id"], client_id=client_id)[
        "permissions"
    ] == {"permission": ALL_KEYS}
    for sent, expected in (
        ("invoices,tickets", ["invoices", "tickets"]),
        (["orders", "profile"], ["profile", "orders"]),  # whmcspy: permissions[0]=…
        ({"permissions[]": ["domains", "emails"]}, ["domains", "emails"]),
    ):
        if isinstance(sent, dict):
            fields = {**ids, "identifier": api.identifier, "secret": api.secret}
            response = await raw(api, {**fields, "action": "UpdateUserPermissions", **sent})
            assert response.json() == {"result": "success"}
        else:
            assert api.call("UpdateUserPermissions", **ids, permissions=sent) == {
                "result": "success"
            }
        assert current() == expected

    stranger = await make_user()
    owner_ids = {"user_id": owner["id"], "client_id": client_id}
    for action, params, text in (
        ("GetUserPermissions", {"user_id": 999999, "client_id": client_id}, "Invalid user id"),
        ("GetUserPermissions", {"user_id": member["id"], "client_id": 999999},
         "Invalid client id"),
        ("GetUserPermissions", {"user_id": stranger["id"], "client_id": client_id},
         "User is not associated with client"),
        ("UpdateUserPermissions", {**owner_ids, "permissions": "tickets"},
         "Permissions cannot be set on a client owner"),
        ("UpdateUserPermissions", ids, "Missing permissions definition"),
        ("UpdateUserPermissions", {**ids, "permissions": "bogus"}, "Unknown permission: bogus."),
    ):  # fmt: skip
        assert error_of(api, action, **params) == text


async def test_a_list_index_of_thousands_of_digits_is_read_in_its_order(api):
    from app.domain.access.services import grant_access

    client_id, _ = await make_client()
    member = await make_user()
    await grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    ids = {"user_id": member["id"], "client_id": client_id}
    fields = {**ids, "identifier": api.identifier, "secret": api.secret}
    sent = {f"permissions[{'9' * 5000}]": "profile", "permissions[1]": "orders"}
    response = await raw(api, {**fields, "action": "UpdateUserPermissions", **sent})
    assert response.json() == {"result": "success"}, response.text
    answer = api.call("GetUserPermissions", **ids)
    assert answer["permissions"]["permission"] == ["profile", "orders"]


async def test_delete_user_client_removes_the_grant_not_the_user(api):
    from app.domain.access.services import grant_access
    from app.domain.clients.services import access_for
    from app.domain.users.services import get_user

    client_id, owner = await make_client()
    member = await make_user()
    await grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    ids = {"user_id": member["id"], "client_id": client_id}
    assert api.call("DeleteUserClient", **ids) == {"result": "success"}
    assert await access_for(member["id"], client_id) is None
    assert (await get_user(member["id"]))["id"] == member["id"]
    assert error_of(api, "DeleteUserClient", **ids) == "User is not associated with client"
    assert (
        error_of(api, "DeleteUserClient", user_id=owner["id"], client_id=client_id)
        == "You cannot remove the account owner"
    )


# --- client accounts -------------------------------------------------------------------------


async def test_add_client_creates_its_owner(api):
    from app.domain.clients.services import get_client
    from app.domain.users.services import find_by_email

    email = unique_email("newclient")
    answer = api.call(
        "AddClient",
        firstname="Cleo",
        lastname="Client",
        companyname="Cleo Ltd",
        email=email,
        password2="a long enough passphrase 2026",
        tax_id="GB123",
        **CONTACT,
    )
    assert set(answer) == {"result", "clientid", "owner_id", "owner_user_id"}
    assert isinstance(answer["clientid"], str) and isinstance(answer["owner_id"], int)
    client = await get_client(int(answer["clientid"]))
    owner = await find_by_email(email)
    assert client["owner"] == owner["id"] == answer["owner_id"]
    assert (client["company_name"], client["address1"], client["country"]) == (
        "Cleo Ltd",
        "1 Main Street",
        "US",
    )
    assert client["phone_number"] == "+1 555 0100"

    # An existing user as owner; the contact fields skipped with skipvalidation=True.
    other = unique_email("second")
    answer = api.call(
        "AddClient",
        owner_user_id=owner["id"],
        firstname="Cleo",
        lastname="Client",
        email=other,
        skipvalidation=True,
    )
    assert answer["owner_id"] == owner["id"]
    assert (await get_client(int(answer["clientid"])))["address1"] == ""


async def test_add_client_errors_are_whmcs_texts(api):
    owner = await make_user()
    base = {"firstname": "F", "lastname": "L", "email": unique_email(), **CONTACT}
    cases = [
        ({"owner_user_id": 999999}, "Invalid Owner User ID"),
        ({"firstname": ""}, "You did not enter your first name"),
        ({"lastname": ""}, "You did not enter your last name"),
        ({"email": ""}, "You did not enter your email address"),
        ({"email": "not valid"}, "The email address you entered was not valid"),
        ({"email": owner["email"]}, "A user already exists with that email address"),
        ({"address1": ""}, "You did not enter your  address line 1"),
        ({"city": ""}, "You did not enter your city"),
        ({"state": ""}, "You did not enter your state"),
        ({"postcode": ""}, "You did not enter your postcode"),
        ({"country": ""}, "Valid country required"),
        ({"country": "XX"}, "Valid country required"),
        ({"phonenumber": ""}, "You did not enter your phone number"),
        ({"phonenumber": "call me"}, "Invalid telephone phone number"),
    ]
    for change, text in cases:
        assert error_of(api, "AddClient", **{**base, **change}) == text
    from app.schema.clients import Client

    assert await Client.count() == 0


async def test_get_clients_shape_filters_and_paging(api):
    for n in range(30):
        await make_client(f"Company {n:02d}")
    closed_id, _ = await make_client("Zed Closed")
    from app.domain.clients.services import set_status

    await set_status(closed_id, "Closed", actor=ADMIN)

    first = api.call("GetClients")
    assert types_of(first) == {
        "result": str, "totalresults": int, "startnumber": int, "numreturned": int,
        "clients": dict,
    }  # fmt: skip
    assert (first["totalresults"], first["numreturned"]) == (31, 25)
    row = first["clients"]["client"][0]
    assert types_of(row) == {
        "id": int, "firstname": str, "lastname": str, "companyname": str, "email": str,
        "datecreated": str, "groupid": int, "status": str,
    }  # fmt: skip
    assert DATE.fullmatch(row["datecreated"]) and row["groupid"] == 0

    pages = list(api.paginated_call("GetClients", limitnum=12))
    assert [p["numreturned"] for p in pages] == [12, 12, 7]
    assert len({c["id"] for p in pages for c in p["clients"]["client"]}) == 31

    closed = api.call("GetClients", status="Closed")["clients"]["client"]
    assert [c["id"] for c in closed] == [closed_id]
    by_name = api.call("GetClients", orderby="companyname", sorting="DESC", limitnum=1)
    assert by_name["clients"]["client"][0]["companyname"] == "Zed Closed"
    assert api.call("GetClients", search="Company 1")["totalresults"] == 10
    empty = api.call("GetClients", search="nothing like it")
    assert empty["clients"] == {"client": []} and empty["numreturned"] == 0


async def test_get_clients_details(api):
    from app.domain.access.services import grant_access

    email = unique_email("details")
    added = api.call(
        "AddClient", firstname="Dee", lastname="Tails", email=email, companyname="Dee Co",
        **CONTACT,
    )  # fmt: skip
    client_id = int(added["clientid"])
    member = await make_user(first="Mem", last="Ber")
    await grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)

    answer = api.call("GetClientsDetails", clientid=client_id, stats=True)
    details = answer["client"]
    for key, value in details.items():  # duplicated at the top level, as WHMCS does
        assert answer[key] == value
    assert {
        key: details[key]
        for key in ("client_id", "owner_user_id", "userid", "id", "groupid")
    } == {
        "client_id": client_id, "owner_user_id": added["owner_id"], "userid": client_id,
        "id": client_id, "groupid": 0,
    }  # fmt: skip
    assert {k: details[k] for k in ("firstname", "lastname", "fullname", "companyname")} == {
        "firstname": "Dee", "lastname": "Tails", "fullname": "Dee Tails", "companyname": "Dee Co",
    }  # fmt: skip
    assert (details["countrycode"], details["country"], details["countryname"]) == (
        "US",
        "US",
        "United States",
    )
    assert (details["state"], details["fullstate"], details["phonenumber"]) == (
        "Oregon",
        "Oregon",
        "+1 555 0100",
    )
    assert (details["status"], details["language"], details["email_verified"]) == (
        "Active",
        "english",
        False,
    )
    assert details["lastlogin"] == "No Login Logged"
    assert all(isinstance(details[k], str) for k in ("address1", "address2", "tax_id", "email"))
    no_end = {"access_until": None}  # Roster's extension (docs/api.md)
    assert details["users"] == {
        "user": [
            {"id": added["owner_id"], "name": "Dee Tails", "email": email, "is_owner": True}
            | no_end,
            {"id": member["id"], "name": "Mem Ber", "email": member["email"], "is_owner": False}
            | no_end,
        ]
    }
    stats = answer["stats"]
    assert stats["numdueinvoices"] == 0 and stats["dueinvoicesbalance"] == "0.00"
    assert stats["isAffiliate"] is False

    by_email = api.call("GetClientsDetails", email=email.upper())
    assert by_email["client"]["id"] == client_id and "stats" not in by_email
    assert error_of(api, "GetClientsDetails") == "Either clientid Or email Is Required"
    assert error_of(api, "GetClientsDetails", clientid=999999) == "Client Not Found"
    assert error_of(api, "GetClientsDetails", email=unique_email()) == "Client Not Found"


async def test_update_close_and_delete_client(api):
    from app.domain.clients.services import get_client
    from app.domain.users.services import find_by_email

    client_id, owner = await make_client("Before Co")
    answer = api.call(
        "UpdateClient", clientid=client_id, companyname="After Co", city="Leeds", country="gb"
    )
    assert answer == {"result": "success", "clientid": str(client_id)}
    client = await get_client(client_id)
    assert (client["company_name"], client["city"], client["country"]) == (
        "After Co",
        "Leeds",
        "GB",
    )
    assert client["first_name"] == "Olivia"  # not sent: unchanged

    by_email = api.call("UpdateClient", clientemail=client["email"], status="Inactive")
    assert by_email["clientid"] == str(client_id)
    assert (await get_client(client_id))["status"] == "Inactive"
    assert error_of(api, "UpdateClient", clientid=999999, city="X") == "Client ID Not Found"
    assert error_of(api, "UpdateClient", city="X") == "Client ID Not Found"
    assert (
        error_of(api, "UpdateClient", clientid=client_id, email="bad")
        == "The email address entered is not valid"
    )

    assert api.call("CloseClient", clientid=client_id) == {
        "result": "success",
        "clientid": client_id,
    }
    assert (await get_client(client_id))["status"] == "Closed"
    assert error_of(api, "CloseClient", clientid=999999) == "Client ID Not Found"

    # deleteusers as Node sends it ("true"): the owner, reaching nothing else, goes too.
    fields = {"identifier": api.identifier, "secret": api.secret}
    response = await raw(
        api, {**fields, "action": "DeleteClient", "clientid": client_id, "deleteusers": "true"}
    )
    assert response.json() == {"result": "success", "clientid": str(client_id)}
    assert await find_by_email(owner["email"]) is None
    assert error_of(api, "DeleteClient", clientid=client_id) == "Client ID Not Found"

    kept_id, kept_owner = await make_client()
    assert api.call("DeleteClient", clientid=kept_id, deleteusers="no")["clientid"] == str(kept_id)
    assert await find_by_email(kept_owner["email"]) is not None


async def test_activity_log_names_the_credential(api):
    client_id, owner = await make_client()
    api.call("UpdateClient", clientid=client_id, city="Bristol")
    answer = api.call("GetActivityLog", clientid=client_id)
    assert types_of(answer) == {
        "result": str, "totalresults": int, "startnumber": int, "numreturned": int,
        "activity": dict,
    }  # fmt: skip
    entries = answer["activity"]["entry"]
    assert answer["totalresults"] == len(entries) == 2  # created (by the test), updated (API)
    latest = entries[0]
    assert types_of(latest) == {
        "id": int, "clientId": int, "userId": int, "adminId": int, "date": str,
        "description": str, "username": str, "ipaddress": str, "userid": int,
    }  # fmt: skip
    assert DATETIME.fullmatch(latest["date"])
    assert "Bristol" in latest["description"]
    assert api.identifier in latest["username"] and api.staff_name in latest["username"]
    assert (latest["clientId"], latest["userid"], latest["ipaddress"]) == (
        client_id,
        client_id,
        "127.0.0.1",
    )
    assert latest["adminId"] > 0

    # userid: the parameter's name before WHMCS 8.5
    assert api.call("GetActivityLog", userid=client_id)["totalresults"] == 2
    assert api.call("GetActivityLog", description="bristol")["totalresults"] == 1
    today = latest["date"][:10]
    y, m, d = today.split("-")
    assert api.call("GetActivityLog", clientid=client_id, date=f"{d}/{m}/{y}")["totalresults"] == 2
    assert api.call("GetActivityLog", clientid=client_id, date="2001-01-01")["totalresults"] == 0
    assert error_of(api, "GetActivityLog", date="yesterday") == (
        "Invalid date: use YYYY-MM-DD or DD/MM/YYYY"
    )


async def test_activity_log_filters_at_the_edges_answer_never_a_fault(api):
    client_id, _ = await make_client()
    api.call("UpdateClient", clientid=client_id, city="Bristol")
    fields = {"identifier": api.identifier, "secret": api.secret, "action": "GetActivityLog"}

    async def total(**filters) -> int:
        response = await raw(api, {**fields, **filters})
        assert response.status_code == 200, (filters, response.text)
        assert response.json()["result"] == "success", (filters, response.text)
        return response.json()["totalresults"]

    # The calendar's first and last days: no entry, no overflow past the last one.
    for day in ("9999-12-31", "31/12/9999", "0001-01-01", "01/01/0001"):
        assert await total(date=day) == 0, day
    for day in ("10000-01-01", "0000-00-00", "2023-02-29", "29/02/2100", "9999-12-32"):
        assert error_of(api, "GetActivityLog", date=day) == (
            "Invalid date: use YYYY-MM-DD or DD/MM/YYYY"
        ), day
    # A NUL (which PostgreSQL text cannot hold) matches nothing, on both engines.
    assert await total(ipaddress="127.0.0.1") > 0
    for name in ("user", "description", "ipaddress"):
        for value in ("\x00", "Full\x00Staff", "bristol\x00", "127.0.0.1\x00"):
            assert await total(**{name: value}) == 0, (name, value)


async def test_bad_input_is_an_error_never_a_server_fault(api):
    fields = {"identifier": api.identifier, "secret": api.secret}
    for action, params in (
        ("GetUserPermissions", {"user_id": "1\x00", "client_id": "1"}),
        ("GetClientsDetails", {"clientid": "9" * 5000}),
        ("GetClients", {"orderby": "password"}),
        ("GetClients", {"status": "Deleted"}),
        ("DeleteClient", {"clientid": "1", "deleteusers": "perhaps"}),
        ("GetUsers", {"search": "a\x01b"}),
    ):
        response = await raw(api, {**fields, "action": action, **params})
        assert response.status_code == 200, (action, response.text)
        assert response.json()["result"] == "error"
    # An id too large for the column, in the query string: still a JSON answer.
    response = await raw(api, {**fields, "action": "GetUsers"}, params={"user_id": "9" * 40})
    assert response.headers["content-type"] == "application/json"


async def test_zz_no_secret_nor_invitation_token_in_the_server_output(
    api, server, mail, seen_secrets
):
    """Runs last in the module: a secret sent in the query string too, then the whole log."""
    from app.schema.invitations import Invitation

    client_id, _ = await make_client()
    email = unique_email("secretcheck")
    api.call("CreateClientInvite", client_id=client_id, email=email, permissions="tickets")
    await raw(
        api,
        params={"identifier": api.identifier, "secret": api.secret, "action": "GetUsers"},
    )
    invitation = await Invitation.select().where(Invitation.email == email).first()
    wait_for_mail(mail, email)
    token = mail.token_for(invitation["token_hash"])
    assert token
    output = server.log_tail(100000)
    assert "/includes/api.php?[redacted]" in output  # the request was logged, without its query
    assert len(seen_secrets) > 10  # every test's credentials, not only this one's
    assert not [secret for secret in seen_secrets if secret in output]
    assert token not in output


# --- in process: faults, throttling, the IP allow-list ---------------------------------------


async def in_process_credential(**options) -> tuple[str, str]:
    from app.domain.credentials.services import create_credential
    from app.domain.staff.services import create_admin

    admin_id = await create_admin(
        email=unique_email("staff"), password="staff-passphrase-2026", name="Staff", role="full",
        actor=ADMIN,
    )  # fmt: skip
    made = await create_credential(admin_id, actor=ADMIN, **options)
    return made.identifier, made.secret


async def test_an_unexpected_fault_answers_a_generic_json_500_and_is_logged(
    http, monkeypatch, caplog
):
    from app.core.policy import Permission
    from app.http.whmcs import actions

    async def broken(params, call):
        raise RuntimeError("internal detail: table users, row 7")

    monkeypatch.setitem(actions.ACTIONS, "getusers", actions.Action(broken, Permission.LIST_USERS))
    identifier, secret = await in_process_credential()
    response = await http.client.post(
        "/includes/api.php", data={"identifier": identifier, "secret": secret, "action": "GetUsers"}
    )
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "result": "error",
        "message": "An unexpected error occurred. Nothing was changed; try again in a moment.",
    }
    logged = caplog.text
    assert "Unhandled error in the WHMCS API" in logged and "internal detail" in logged
    assert secret not in logged


async def test_failed_authentications_are_throttled_with_json_429(http):
    identifier, secret = await in_process_credential()
    statuses = []
    for _ in range(21):
        response = await http.client.post(
            "/includes/api.php",
            data={"identifier": identifier, "secret": "wrong", "action": "GetUsers"},
        )
        statuses.append(response.status_code)
    assert statuses == [403] * 20 + [429]
    assert response.headers["content-type"] == "application/json"
    assert response.json()["result"] == "error" and int(response.headers["retry-after"]) > 0


async def test_a_caller_outside_the_allow_list_gets_invalid_ip(http):
    identifier, secret = await in_process_credential(allowed_ips=["10.0.0.0/8"])
    response = await http.client.post(
        "/includes/api.php", data={"identifier": identifier, "secret": secret, "action": "GetUsers"}
    )
    assert response.status_code == 403
    assert response.json() == {"result": "error", "message": "Invalid IP 127.0.0.1"}


async def test_a_get_is_answered_in_json_too(http):
    response = await http.client.get("/includes/api.php?action=GetUsers")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.headers["content-type"] == "application/json"
    assert response.json()["result"] == "error"
