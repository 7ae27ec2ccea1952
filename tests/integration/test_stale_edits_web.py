"""Edit forms that can be stale: each carries the values it was opened on, and a save against
values someone changed meanwhile is refused (409, nothing saved) with what changed and the
person's change on top of the other's; a save whose opened values are the current ones works,
whatever else changed meanwhile."""

import json
from datetime import UTC, datetime

import pytest

from app.core.stale import Stale
from app.domain.access import services as access
from app.domain.auth import services as auth
from app.domain.clients import services as clients
from app.domain.staff import services as admin
from app.domain.users import services as users
from tests.factories import ADMIN, make_client, make_user
from tests.integration.conftest import log_in_as_staff, message_texts, page, text_of

HX = {"HX-Request": "true", "HX-Request-Type": "partial"}


def opened_of(response) -> str:
    """The version the form in a response carries."""
    return page(response).find("input", {"name": "opened"})["value"]


def ticked(response) -> list[str]:
    return sorted(i["value"] for i in page(response).select("input[name=permissions][checked]"))


# Manage Permissions: staff's, on the Users tab, and the owner's, on User Management.


@pytest.fixture
async def account():
    client_id, owner = await make_client("Bianchi Srl", owner_email="olga@example.com")
    marco = await make_user("Marco", "Bianchi", email="marco@example.com")
    await access.grant_access(client_id, marco["id"], ["tickets"], actor=ADMIN)
    return client_id, owner, marco


@pytest.fixture(params=["staff", "owner"])
async def manager(request, http, account):
    """The base of the section's routes, for staff (the Users tab) or the owner."""
    client_id, _, _ = account
    if request.param == "staff":
        await log_in_as_staff(http, "ada@example.com", "admin-passphrase-77", "Ada", "full")
        return f"/admin/clients/{client_id}"
    await http.login("olga@example.com")
    return "/account"


async def test_a_stale_permissions_save_is_refused_and_shows_both_changes(http, account, manager):
    client_id, _, marco = account
    url = f"{manager}/users/{marco['id']}/permissions"
    opened = opened_of(await http.get(url, headers=HX))
    assert json.loads(opened) == {"permissions": ["tickets"], "access_until": ""}

    # Someone else grants Invoices meanwhile; the open dialog adds Quotes and saves.
    await access.update_permissions(client_id, marco["id"], ["tickets", "invoices"], actor=ADMIN)
    refused = await http.post(
        url, {"permissions": ["tickets", "quotes"], "opened": opened}, headers=HX
    )
    assert refused.status_code == 409
    assert refused.headers["hx-retarget"] == "#perm-form"
    said = text_of(refused)
    assert (
        "Someone changed these permissions while you were editing: "
        "View & Pay Invoices was added." in said
    )
    assert "Your change: View & Accept Quotes added." in said
    assert "Nothing was saved." in said
    assert not message_texts(refused)  # nothing said "saved"
    assert (await access.access_for(marco["id"], client_id)).permissions == (
        "invoices",
        "tickets",
    )
    # The boxes: their Invoices with my Quotes on top; the form is now on the current version.
    assert ticked(refused) == ["invoices", "quotes", "tickets"]
    assert json.loads(opened_of(refused)) == {
        "permissions": ["invoices", "tickets"],
        "access_until": "",
    }
    soup = page(refused)
    assert soup.find("button", string="Apply my change on top")["type"] == "submit"
    assert soup.find("button", string="Discard my change").has_attr("data-dialog-close")

    # Apply my change on top: saved, nothing of the other's lost.
    applied = await http.post(
        url, {"permissions": ticked(refused), "opened": opened_of(refused)}, headers=HX
    )
    assert applied.status_code == 200
    assert "Permissions of Marco Bianchi saved." in message_texts(applied)
    assert (await access.access_for(marco["id"], client_id)).permissions == (
        "invoices",
        "quotes",
        "tickets",
    )


async def test_a_removal_meanwhile_is_named_and_not_undone(http, account, manager):
    client_id, _, marco = account
    await access.update_permissions(client_id, marco["id"], ["tickets", "emails"], actor=ADMIN)
    url = f"{manager}/users/{marco['id']}/permissions"
    opened = opened_of(await http.get(url, headers=HX))
    await access.update_permissions(client_id, marco["id"], ["tickets"], actor=ADMIN)
    refused = await http.post(
        url, {"permissions": ["tickets", "emails", "domains"], "opened": opened}, headers=HX
    )
    assert refused.status_code == 409
    assert "View Emails was removed." in text_of(refused)
    assert "Your change: View Domains added." in text_of(refused)
    assert ticked(refused) == ["domains", "tickets"]
    assert (await access.access_for(marco["id"], client_id)).permissions == ("tickets",)


async def test_a_fresh_permissions_save_works_whatever_else_changed(http, account, manager):
    client_id, owner, marco = account
    url = f"{manager}/users/{marco['id']}/permissions"
    opened = opened_of(await http.get(url, headers=HX))
    # Meanwhile: someone else joins, Marco enters the account, the account is renamed and its
    # owner's details change. None of it is what the dialog edits.
    other = await make_user("Ugo", "Other", email="ugo@example.com")
    await access.grant_access(client_id, other["id"], ["quotes"], actor=ADMIN)
    await access.update_permissions(client_id, other["id"], ["orders"], actor=ADMIN)
    await access.note_account_login(marco["id"], client_id)
    await clients.update_client(client_id, company_name="Bianchi & Figli", actor=ADMIN)
    saved = await http.post(
        url, {"permissions": ["tickets", "quotes"], "opened": opened}, headers=HX
    )
    assert saved.status_code == 200
    assert (await access.access_for(marco["id"], client_id)).permissions == ("quotes", "tickets")


async def test_the_same_change_made_meanwhile_is_no_conflict(http, account, manager):
    client_id, _, marco = account
    url = f"{manager}/users/{marco['id']}/permissions"
    opened = opened_of(await http.get(url, headers=HX))
    await access.update_permissions(client_id, marco["id"], ["tickets", "quotes"], actor=ADMIN)
    saved = await http.post(
        url, {"permissions": ["tickets", "quotes"], "opened": opened}, headers=HX
    )
    assert saved.status_code == 200


async def test_a_refused_value_keeps_the_version_the_dialog_was_opened_on(http, account, manager):
    client_id, _, marco = account
    url = f"{manager}/users/{marco['id']}/permissions"
    opened = opened_of(await http.get(url, headers=HX))
    empty = await http.post(url, {"opened": opened}, headers=HX)
    assert empty.status_code == 422 and opened_of(empty) == opened
    await access.update_permissions(client_id, marco["id"], ["invoices"], actor=ADMIN)
    stale = await http.post(url, {"permissions": ["quotes"], "opened": opened}, headers=HX)
    assert stale.status_code == 409
    assert (await access.access_for(marco["id"], client_id)).permissions == ("invoices",)


async def test_an_open_dialog_asks_whether_its_permissions_changed(http, account, manager):
    """What the page's live stream makes an open dialog ask (stale-edit.js): a notice when the
    user's permissions are no longer those it was opened on, else nothing."""
    client_id, _, marco = account
    dialog = page(await http.get(f"{manager}/users/{marco['id']}/permissions", headers=HX))
    check = dialog.find(attrs={"data-stale-edit": True})
    assert check["data-stale-edit"] == "people"
    assert check["hx-trigger"] == "roster:stale-check" and check["role"] == "status"
    assert (await http.get(check["hx-get"], headers=HX)).text == ""
    await access.note_account_login(marco["id"], client_id)  # people news, not his permissions
    assert (await http.get(check["hx-get"], headers=HX)).text == ""
    await access.update_permissions(client_id, marco["id"], ["tickets", "invoices"], actor=ADMIN)
    notice = await http.get(check["hx-get"], headers=HX)
    assert notice.status_code == 200
    assert text_of(notice).startswith(
        "This user's permissions were just changed by someone else: View & Pay Invoices was added."
    )
    await access.revoke_access(client_id, marco["id"], actor=ADMIN)
    gone = await http.get(check["hx-get"], headers=HX)
    assert "no longer has access" in text_of(gone)


async def test_a_stale_access_until_save_is_refused_and_shows_both_changes(http, account, manager):
    """The dialog's Access until is part of what it was opened on: an end someone set meanwhile
    is not overwritten by a save prepared before it."""
    client_id, _, marco = account
    url = f"{manager}/users/{marco['id']}/permissions"
    dialog = await http.get(url, headers=HX)
    opened = opened_of(dialog)
    assert json.loads(opened) == {"permissions": ["tickets"], "access_until": ""}

    # Someone else gives Marco an end meanwhile; the open dialog sets another and saves.
    theirs = datetime(2099, 12, 14, 23, 59, 59, tzinfo=UTC)
    await access.set_access_until(client_id, marco["id"], theirs, actor=ADMIN)
    form = {"permissions": ["tickets"], "opened": opened, "access_until_opened": ""}
    refused = await http.post(url, {**form, "access_until": "2099-12-20"}, headers=HX)
    assert refused.status_code == 409
    said = text_of(refused)
    assert "Access until set to “2099-12-14”" in said
    assert "Your change: Access until changed to “2099-12-20”." in said
    assert await access.access_until_of(client_id, marco["id"]) == theirs
    soup = page(refused)
    assert soup.find("input", {"name": "access_until"})["value"] == "2099-12-20"  # mine on top
    assert soup.find("input", {"name": "access_until_opened"})["value"] == "2099-12-14"
    assert json.loads(opened_of(refused))["access_until"].startswith("2099-12-14T23:59:59")

    # A save that only changes the permissions, prepared before the end was set, is refused
    # too (nothing lost either way), and Apply my change on top keeps the other's end.
    only_keys = await http.post(
        url, {**form, "permissions": ["tickets", "quotes"], "access_until": ""}, headers=HX
    )
    assert only_keys.status_code == 409
    assert "Access until set to “2099-12-14”" in text_of(only_keys)
    assert page(only_keys).find("input", {"name": "access_until"})["value"] == "2099-12-14"
    applied = await http.post(
        url,
        {
            "permissions": ticked(only_keys),
            "opened": opened_of(only_keys),
            "access_until_opened": "2099-12-14",
            "access_until": "2099-12-14",
        },
        headers=HX,
    )
    assert applied.status_code == 200
    assert await access.access_until_of(client_id, marco["id"]) == theirs
    assert (await access.access_for(marco["id"], client_id)).permissions == ("quotes", "tickets")


async def test_an_open_dialog_is_told_when_access_until_changed(http, account, manager):
    client_id, _, marco = account
    dialog = page(await http.get(f"{manager}/users/{marco['id']}/permissions", headers=HX))
    check = dialog.find(attrs={"data-stale-edit": True})
    assert (await http.get(check["hx-get"], headers=HX)).text == ""
    until = datetime(2099, 12, 14, 23, 59, 59, tzinfo=UTC)
    await access.set_access_until(client_id, marco["id"], until, actor=ADMIN)
    notice = await http.get(check["hx-get"], headers=HX)
    assert "Access until set to “2099-12-14”" in text_of(notice)


async def test_a_support_operator_cannot_ask_about_permissions(http, support_session, account):
    client_id, _, marco = account
    url = f"/admin/clients/{client_id}/users/{marco['id']}/permissions/changes"
    assert (await http.get(url, headers=HX)).status_code == 403


# Manage Users: a user's Profile card (/admin/users/{id}).


async def test_a_stale_user_profile_save_is_refused(http, admin_session):
    jo = await make_user("Jo", "Walker", email="jo@example.com")
    url = f"/admin/users/{jo['id']}"
    opened = opened_of(await http.get(url))
    await users.update_user(
        jo["id"],
        first_name="Jo",
        last_name="Walker",
        email="jo.walker@example.com",
        language="english",
        actor=ADMIN,
    )
    form = {"first_name": "Joanna", "last_name": "Walker", "email": "jo@example.com"}
    refused = await http.post(url, {**form, "language": "english", "opened": opened}, headers=HX)
    assert refused.status_code == 409
    said = text_of(refused)
    assert (
        "Someone changed this user's details while you were editing: Email Address changed "
        "from “jo@example.com” to “jo.walker@example.com”." in said
    )
    assert "Your change: First Name changed to “Joanna”." in said
    saved = await users.get_user(jo["id"])
    assert (saved["first_name"], saved["email"]) == ("Jo", "jo.walker@example.com")
    soup = page(refused)
    assert soup.find("input", {"name": "first_name"})["value"] == "Joanna"
    assert soup.find("input", {"name": "email"})["value"] == "jo.walker@example.com"
    assert soup.find("a", string="Discard my change")["href"] == url

    applied = await http.post(
        url,
        {
            "first_name": "Joanna",
            "last_name": "Walker",
            "email": "jo.walker@example.com",
            "language": "english",
            "opened": opened_of(refused),
        },
        headers=HX,
    )
    assert applied.status_code == 200
    saved = await users.get_user(jo["id"])
    assert (saved["first_name"], saved["email"]) == ("Joanna", "jo.walker@example.com")


async def test_a_fresh_user_profile_save_works_whatever_else_changed(http, admin_session):
    jo = await make_user("Jo", "Walker", email="jo@example.com")
    url = f"/admin/users/{jo['id']}"
    opened = opened_of(await http.get(url))
    client_id, _ = await make_client()
    await access.grant_access(client_id, jo["id"], ["tickets"], actor=ADMIN)
    await users.record_login(jo["id"], ip="192.0.2.1", hostname=None)
    await users.set_password(jo["id"], "another-lantern-9-x", actor=ADMIN)
    form = {"first_name": "Joanna", "last_name": "Walker", "email": "jo@example.com"}
    saved = await http.post(url, {**form, "language": "french", "opened": opened}, headers=HX)
    assert saved.status_code == 200
    assert (await users.get_user(jo["id"]))["language"] == "french"


async def test_a_refused_user_profile_keeps_its_version(http, admin_session):
    jo = await make_user("Jo", "Walker", email="jo@example.com")
    url = f"/admin/users/{jo['id']}"
    opened = opened_of(await http.get(url))
    form = {"first_name": "", "last_name": "Walker", "email": "jo@example.com"}
    bad = await http.post(url, {**form, "language": "english", "opened": opened}, headers=HX)
    assert bad.status_code == 422 and opened_of(bad) == opened
    assert (await http.get(url)).status_code == 200


# The account profile: the client's Account Details and staff's Profile tab.


PROFILE = {
    "company_name": "Bianchi Srl",
    "first_name": "Olivia",
    "last_name": "Owner",
    "email": "olga@example.com",
    "address1": "",
    "address2": "",
    "city": "",
    "state": "",
    "postcode": "",
    "country": "",
    "phone_number": "",
    "tax_id": "",
}


@pytest.fixture(params=["owner", "staff"])
async def profile_url(request, http, account):
    client_id, _, _ = account
    if request.param == "staff":
        await log_in_as_staff(http, "ada@example.com", "admin-passphrase-77", "Ada", "full")
        return f"/admin/clients/{client_id}/profile"
    await http.login("olga@example.com")
    return "/account/profile"


async def test_a_stale_account_profile_save_is_refused(http, account, profile_url):
    client_id, _, _ = account
    opened = opened_of(await http.get(profile_url))
    await clients.update_client(client_id, contact={"city": "Lyon"}, actor=ADMIN)
    refused = await http.post(profile_url, {**PROFILE, "tax_id": "IT123", "opened": opened})
    assert refused.status_code == 409
    said = text_of(refused)
    assert (
        "Someone changed this account's details while you were editing: City set to “Lyon”." in said
    )
    assert "Your change: Tax ID changed to “IT123”." in said
    now = await clients.get_client(client_id)
    assert (now["city"], now["tax_id"]) == ("Lyon", "")
    soup = page(refused)
    assert soup.find("input", {"name": "city"})["value"] == "Lyon"
    assert soup.find("input", {"name": "tax_id"})["value"] == "IT123"
    assert soup.find("a", string="Discard my change")["href"] == profile_url

    form = {k: soup.find(attrs={"name": k}).get("value", "") for k in PROFILE if k != "country"}
    applied = await http.post(profile_url, {**form, "country": "", "opened": opened_of(refused)})
    assert applied.status_code == 303
    now = await clients.get_client(client_id)
    assert (now["city"], now["tax_id"]) == ("Lyon", "IT123")


async def test_a_fresh_account_profile_save_works_whatever_else_changed(http, account, profile_url):
    client_id, _, marco = account
    opened = opened_of(await http.get(profile_url))
    await access.update_permissions(client_id, marco["id"], ["quotes"], actor=ADMIN)
    await clients.set_status(client_id, "Inactive", actor=ADMIN)
    saved = await http.post(profile_url, {**PROFILE, "city": "Milano", "opened": opened})
    assert saved.status_code == 303
    assert (await clients.get_client(client_id))["city"] == "Milano"


# The settings (/admin/settings).


def settings_of(response) -> dict:
    soup = page(response)
    values = {
        box["name"]: "true" for box in soup.select("#settings-form input[type=checkbox][checked]")
    }
    values["company_name"] = soup.find("input", {"name": "company_name"})["value"]
    return values


async def test_a_stale_settings_save_is_refused(http, admin_session):
    opened = opened_of(await http.get("/admin/settings"))
    await admin.set_setting(admin.REQUIRE_INVITED_EMAIL, "true", actor=ADMIN)
    refused = await http.post(
        "/admin/settings", {"company_name": "Globex", "opened": opened}, headers=HX
    )
    assert refused.status_code == 409
    said = text_of(refused)
    assert (
        "Someone changed these settings while you were editing: Require the invited email to "
        "match was turned on." in said
    )
    assert "Your change: Company name changed to “Globex”." in said
    assert await admin.all_settings() == {
        **{k: False for k in admin.FLAG_SETTINGS},
        admin.REQUIRE_INVITED_EMAIL: True,
        admin.COMPANY_NAME: "Roster",
        admin.INVITE_LIFETIME_DAYS: 7,
    }
    assert settings_of(refused) == {admin.REQUIRE_INVITED_EMAIL: "true", "company_name": "Globex"}

    applied = await http.post(
        "/admin/settings", {**settings_of(refused), "opened": opened_of(refused)}, headers=HX
    )
    assert applied.status_code == 200
    assert await admin.flag(admin.REQUIRE_INVITED_EMAIL)
    assert await admin.get_setting(admin.COMPANY_NAME) == "Globex"


async def test_a_fresh_settings_save_works_whatever_else_changed(http, admin_session):
    opened = opened_of(await http.get("/admin/settings"))
    await make_client()
    await admin.save_settings({admin.COMPANY_NAME: "Roster"}, actor=ADMIN)  # changes nothing
    saved = await http.post(
        "/admin/settings",
        {admin.REQUIRE_VERIFIED_EMAIL: "true", "company_name": "Roster", "opened": opened},
        headers=HX,
    )
    assert saved.status_code == 200
    assert await admin.flag(admin.REQUIRE_VERIFIED_EMAIL)


async def test_a_form_without_a_version_saves_as_before(http, admin_session):
    """A form rendered before versions (or a script) carries none: no precondition."""
    await admin.set_setting(admin.REQUIRE_INVITED_EMAIL, "true", actor=ADMIN)
    saved = await http.post("/admin/settings", {"company_name": "Globex"}, headers=HX)
    assert saved.status_code == 200
    assert not await admin.flag(admin.REQUIRE_INVITED_EMAIL)


async def test_a_malformed_version_is_refused(http, admin_session):
    refused = await http.post(
        "/admin/settings", {"company_name": "Globex", "opened": "[1, 2"}, headers=HX
    )
    assert refused.status_code == 422
    assert "out of date" in text_of(refused)
    assert await admin.get_setting(admin.COMPANY_NAME) == "Roster"


# The rule itself, in the services (the API and the CLI call them too).


async def test_services_compare_and_set_on_the_edited_fields_only(account):
    client_id, _, marco = account
    with pytest.raises(Stale) as refused:
        await access.update_permissions(
            client_id,
            marco["id"],
            ["quotes"],
            actor=ADMIN,
            opened={"permissions": ["invoices"]},
        )
    assert refused.value.current == {"permissions": ("tickets",)}
    with pytest.raises(Stale):
        await users.update_user(
            marco["id"],
            first_name="Marc",
            last_name="Bianchi",
            email="marco@example.com",
            language="english",
            actor=ADMIN,
            opened={"first_name": "Marco", "last_name": "Bianchi", "email": "m@example.com"},
        )
    assert (await users.get_user(marco["id"]))["first_name"] == "Marco"
    await auth.send_password_reset(marco["id"], base_url="http://x", actor=ADMIN)
    await users.update_user(
        marco["id"],
        first_name="Marc",
        last_name="Bianchi",
        email="marco@example.com",
        language="english",
        actor=ADMIN,
        opened={
            "first_name": "Marco",
            "last_name": "Bianchi",
            "email": "marco@example.com",
            "language": "english",
        },
    )
    assert (await users.get_user(marco["id"]))["first_name"] == "Marc"
