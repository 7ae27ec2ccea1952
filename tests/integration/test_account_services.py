"""The account services the APIs call: contact details on the account, partial
updates, deletion, and the lists of accounts, users and activity; and the profile pages that
show and edit the contact details."""

import asyncio
from datetime import timedelta

import pytest

from app.core import clock
from app.core.errors import DomainError, Forbidden, NotFound
from app.core.validation import BAD_COUNTRY, BAD_PHONE, CONTACT_LIMITS, LIST_LIMIT_MAX
from app.domain.access import services as access
from app.domain.activity.services import entries, write_entry
from app.domain.clients import services as clients
from app.domain.invitations import services as invitations
from app.domain.users import services as users
from app.schema.activity import ActivityEntry
from app.schema.clients import Client
from app.schema.grants import Grant
from app.schema.invitations import Invitation
from app.schema.mail import OutboundEmail
from app.schema.users import User
from tests.factories import ADMIN, make_client, make_user, unique_email, user_actor
from tests.integration.conftest import page, text_of

CONTACT = {
    "address1": "  1 Main   Street ",
    "address2": "Suite 5",
    "city": "Springfield",
    "state": "Oregon",
    "postcode": "97403",
    "country": "us",
    "phone_number": "+1 (541) 555-0100",
    "tax_id": "US-123",
}


async def new_account(company="Acme Hosting", **kwargs) -> int:
    return await clients.create_client(
        owner_email=kwargs.pop("owner_email", None) or unique_email("owner"),
        owner_first=kwargs.pop("owner_first", "Olivia"),
        owner_last=kwargs.pop("owner_last", "Owner"),
        company=company,
        actor=ADMIN,
        **kwargs,
    )


# Contact details ----------------------------------------------------------------------------


def test_the_contact_columns_hold_what_validation_allows():
    for field in clients.CONTACT_FIELDS:
        assert getattr(Client, field)._meta.params["length"] == CONTACT_LIMITS[field], field
    assert tuple(CONTACT_LIMITS) == clients.CONTACT_FIELDS


async def test_create_client_keeps_the_contact_details_tidied():
    client_id = await new_account(contact=CONTACT)
    client = await clients.get_client(client_id)
    assert {k: client[k] for k in clients.CONTACT_FIELDS} == {
        **CONTACT,
        "address1": "1 Main Street",
        "country": "US",
    }
    assert (await clients.get_client(await new_account()))["country"] == ""


@pytest.mark.parametrize(
    ("contact", "message", "field"),
    [
        ({"country": "ZZ"}, BAD_COUNTRY, "country"),
        ({"country": "USA"}, BAD_COUNTRY, "country"),
        ({"phone_number": "555-CALL-NOW"}, BAD_PHONE, "phone_number"),
        ({"phone_number": "1" * 31}, BAD_PHONE, "phone_number"),
        ({"city": "Spring\x00field"}, "City cannot contain control characters.", "city"),
        ({"address1": "x" * 101}, "Address 1 is limited to 100 characters.", "address1"),
        ({"fax": "123"}, "Unknown contact field: fax.", "fax"),
    ],
)
async def test_bad_contact_details_are_refused_and_change_nothing(contact, message, field):
    client_id = await new_account(contact=CONTACT)
    before = await clients.get_client(client_id)
    with pytest.raises(DomainError) as refused:
        await new_account("Other", contact=contact)
    assert (refused.value.message, refused.value.field) == (message, field)
    with pytest.raises(DomainError) as refused:
        await clients.update_client(client_id, company_name="Renamed", contact=contact, actor=ADMIN)
    assert (refused.value.message, refused.value.field) == (message, field)
    assert await Client.count() == 1
    assert await clients.get_client(client_id) == before


# create_client's owner ----------------------------------------------------------------------


async def test_an_existing_user_can_own_a_new_account_under_another_contact():
    user = await make_user("Uma", "User", email="uma@example.com")
    client_id = await new_account(
        "Uma's Shop",
        owner_user_id=user["id"],
        owner_email="billing@shop.example",
        owner_first="Bill",
        owner_last="Ing",
    )
    client = await clients.get_client(client_id)
    assert client["owner"] == user["id"]
    assert (client["first_name"], client["last_name"], client["email"]) == (
        "Bill",
        "Ing",
        "billing@shop.example",
    )
    assert await users.find_by_email("billing@shop.example") is None
    assert (await clients.access_for(user["id"], client_id)).is_owner


@pytest.mark.parametrize("bad_id", [0, -1, 2**40, 999_999, True, "1"])
async def test_an_unknown_owner_user_id_is_refused(bad_id):
    await make_user()
    with pytest.raises(DomainError) as refused:
        await new_account(owner_user_id=bad_id)
    assert (refused.value.message, refused.value.field) == (
        "Invalid Owner User ID",
        "owner_user_id",
    )
    assert await Client.count() == 0


async def test_new_owner_only_refuses_an_email_that_has_a_user():
    await make_user(email="taken@example.com")
    with pytest.raises(DomainError) as refused:
        await new_account(owner_email="TAKEN@example.com", new_owner_only=True)
    assert (refused.value.message, refused.value.field) == (
        "A user already exists with that email address",
        "email",
    )
    assert await Client.count() == 0
    client_id = await new_account(owner_email="fresh@example.com", new_owner_only=True)
    owner = await users.find_by_email("fresh@example.com")
    assert (await clients.get_client(client_id))["owner"] == owner["id"]
    # Without it, the user with that email is reused, as before.
    reused = await new_account(owner_email="taken@example.com")
    taken = await users.find_by_email("taken@example.com")
    assert (await clients.get_client(reused))["owner"] == taken["id"]


# update_client ------------------------------------------------------------------------------


async def test_a_partial_update_changes_only_what_is_given():
    client_id = await new_account(contact=CONTACT)
    before = await clients.get_client(client_id)
    after = await clients.update_client(
        client_id, contact={"phone_number": "+44 20 7946 0958", "city": None}, actor=ADMIN
    )
    assert after == {**before, "phone_number": "+44 20 7946 0958"}
    entry = await ActivityEntry.select().order_by(ActivityEntry.id, ascending=False).first()
    assert entry["action"] == "client.updated"
    assert entry["description"] == (
        "Updated account Acme Hosting: phone number: '+1 (541) 555-0100' -> '+44 20 7946 0958'"
    )
    after = await clients.update_client(client_id, last_name="Other", actor=ADMIN)
    assert after == {**before, "phone_number": "+44 20 7946 0958", "last_name": "Other"}
    entries_before = await ActivityEntry.count()
    assert await clients.update_client(client_id, actor=ADMIN) == after
    assert await ActivityEntry.count() == entries_before  # nothing changed, nothing logged


async def test_update_client_keeps_its_rules_for_client_users():
    client_id, owner = await make_client("Acme")
    member = await make_user()
    await access.grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    with pytest.raises(Forbidden):
        await clients.update_client(client_id, contact={"city": "X"}, actor=user_actor(member))
    with pytest.raises(Forbidden):
        await clients.update_client(client_id, status="Inactive", actor=user_actor(owner))
    saved = await clients.update_client(
        client_id, contact={"city": "Paris", "country": "fr"}, actor=user_actor(owner)
    )
    assert (saved["city"], saved["country"], saved["status"]) == ("Paris", "FR", "Active")


async def test_closing_by_update_cancels_open_invitations():
    client_id, _ = await make_client("Acme")
    await invitations.invite(client_id, "guest@example.com", ["tickets"], actor=ADMIN)
    closed = await clients.update_client(client_id, status="Closed", actor=ADMIN)
    assert closed["status"] == "Closed"
    assert await Invitation.count().where(Invitation.cancelled_at.is_null()) == 0


# delete_client ------------------------------------------------------------------------------


async def test_delete_client_keeps_users_who_reach_another_account():
    acme_id, acme_owner = await make_client("Acme")
    globex_id, globex_owner = await make_client("Globex")
    only_here = await make_user("Only", "Here")
    in_both = await make_user("In", "Both")
    for user in (only_here, in_both, globex_owner):
        await access.grant_access(acme_id, user["id"], ["tickets"], actor=ADMIN)
    await access.grant_access(globex_id, in_both["id"], ["tickets"], actor=ADMIN)
    invitation_id, _ = await invitations.invite(
        acme_id, "guest@example.com", ["quotes"], actor=ADMIN
    )
    emails = await OutboundEmail.count()
    assert emails >= 1

    deleted = await clients.delete_client(acme_id, delete_users=True, actor=ADMIN)

    assert sorted(deleted) == sorted([acme_owner["id"], only_here["id"]])
    with pytest.raises(NotFound):
        await clients.get_client(acme_id)
    remaining = {u["id"] for u in await User.select(User.id)}
    assert remaining == {globex_owner["id"], in_both["id"]}
    assert await Grant.count().where(Grant.client == acme_id) == 0
    assert await Grant.count().where(Grant.client == globex_id) == 2
    assert await Invitation.count() == 0
    assert await OutboundEmail.count() == emails  # the emails stay, without their invitation
    assert await OutboundEmail.count().where(OutboundEmail.invitation == invitation_id) == 0
    logged = await ActivityEntry.select().where(ActivityEntry.client_id == acme_id)
    assert any(
        e["description"] == "Created client account Acme owned by Olivia Owner" for e in logged
    )
    assert any(e["action"] == "client.deleted" for e in logged)
    assert {e["user_id"] for e in logged if e["action"] == "user.deleted"} == set(deleted)


async def test_delete_client_without_delete_users_keeps_every_user():
    client_id, owner = await make_client("Acme")
    member = await make_user()
    await access.grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    assert await clients.delete_client(client_id, actor=ADMIN) == []
    assert await Client.count() == 0
    assert await User.count() == 2
    # They have no grants left: an admin can now delete them one by one (rule 7).
    await users.delete_user(member["id"], actor=ADMIN)


async def test_only_staff_delete_an_account():
    client_id, owner = await make_client("Acme")
    with pytest.raises(Forbidden):
        await clients.delete_client(client_id, delete_users=True, actor=user_actor(owner))
    assert await Client.count() == 1 and await User.count() == 1
    with pytest.raises(NotFound):
        await clients.delete_client(client_id + 1, actor=ADMIN)


async def test_a_grant_given_while_deleting_is_never_lost():
    """Deleting an account with its users races access given to one of them elsewhere: either
    the access is given first (the user stays) or it is refused (the user is gone)."""
    for _ in range(5):
        acme_id, _ = await make_client("Acme")
        globex_id, _ = await make_client("Globex")
        member = await make_user()
        await access.grant_access(acme_id, member["id"], ["tickets"], actor=ADMIN)
        deleting = clients.delete_client(acme_id, delete_users=True, actor=ADMIN)
        granting = access.grant_access(globex_id, member["id"], ["tickets"], actor=ADMIN)
        deleted, granted = await asyncio.gather(deleting, granting, return_exceptions=True)
        assert not isinstance(deleted, Exception), deleted
        user_left = await User.exists().where(User.id == member["id"])
        if isinstance(granted, Exception):
            assert isinstance(granted, DomainError), granted
            assert member["id"] in deleted and not user_left
        else:
            assert member["id"] not in deleted and user_left
            assert await clients.access_for(member["id"], globex_id) is not None


# list_clients, find_client_by_email, client_users -------------------------------------------


async def test_list_clients_searches_the_start_of_names_emails_and_companies():
    acme = await new_account(
        "Acme Hosting", owner_email="olivia@acme.example", owner_first="Olivia", owner_last="Ng"
    )
    globex = await new_account(
        "Globex", owner_email="hank@globex.example", owner_first="Hank", owner_last="Scorpio"
    )
    percent = await new_account(
        "100% Uptime", owner_email="p@up.example", owner_first="Pat", owner_last="Ode"
    )

    async def ids(search):
        total, rows = await clients.list_clients(search=search)
        assert total == len(rows)
        return [r["id"] for r in rows]

    assert await ids("") == [acme, globex, percent]
    assert await ids("ACME") == [acme]  # company, any case
    assert await ids("olivia@") == [acme]  # email
    assert await ids("scorp") == [globex]  # last name
    assert await ids("hank sc") == [globex]  # "first last"
    assert await ids("cme") == []  # a prefix, not a substring
    assert await ids("100%") == [percent]
    assert await ids("1_0") == []  # % and _ are plain characters
    total, rows = await clients.list_clients(search="globex")
    assert rows[0].keys() == {
        "id",
        "first_name",
        "last_name",
        "company_name",
        "email",
        "created_at",
        "status",
        "owner",
    }
    with pytest.raises(DomainError):
        await clients.list_clients(search="a\x00b")


async def test_list_clients_filters_orders_and_pages():
    made = [await new_account(name) for name in ("Delta", "alpha", "Charlie", "Bravo", "Echo")]
    await clients.set_status(made[2], "Closed", actor=ADMIN)
    total, rows = await clients.list_clients(order_by="companyname", limit=2, offset=1)
    assert total == 5
    assert [r["company_name"] for r in rows] == ["Bravo", "Charlie"]
    total, rows = await clients.list_clients(order_by="id", descending=True, offset=3)
    assert total == 5 and [r["id"] for r in rows] == [made[1], made[0]]
    total, rows = await clients.list_clients(status="Closed")
    assert total == 1 and rows[0]["id"] == made[2] and rows[0]["status"] == "Closed"
    total, rows = await clients.list_clients(status="Active", order_by="status", offset=10)
    assert (total, rows) == (4, [])
    total, rows = await clients.list_clients(order_by="datecreated", limit=0)
    assert total == 5 and len(rows) == 1  # clamped to 1
    for bad in ({"order_by": "groupid"}, {"order_by": "nope"}, {"status": "active"}):
        with pytest.raises(DomainError):
            await clients.list_clients(**bad)


async def test_list_clients_limit_is_clamped():
    await new_account("Solo")
    assert LIST_LIMIT_MAX == 1000
    total, rows = await clients.list_clients(limit=10**9, offset=-5)
    assert total == 1 and len(rows) == 1


async def test_find_client_by_email_is_case_insensitive_and_takes_the_lowest_id():
    user = await make_user(email="shared@example.com")
    first = await new_account("One", owner_email="shared@example.com")
    await new_account("Two", owner_email="Shared@Example.com", owner_user_id=user["id"])
    assert (await clients.find_client_by_email("SHARED@example.COM"))["id"] == first
    assert await clients.find_client_by_email("nobody@example.com") is None
    assert await clients.find_client_by_email("") is None


async def test_client_users_lists_the_owner_first_then_by_grant(count_queries):
    client_id, owner = await make_client("Acme")
    zed = await make_user("Zed", "Z")
    amy = await make_user("Amy", "A")
    await access.grant_access(client_id, zed["id"], ["tickets", "invoices"], actor=ADMIN)
    await access.grant_access(client_id, amy["id"], ["profile"], actor=ADMIN)
    await clients.transfer_ownership(client_id, amy["id"], actor=ADMIN)
    with count_queries() as counted:
        people = await clients.client_users(client_id)
    assert counted.n == 1
    assert [(p["id"], p["is_owner"]) for p in people] == [
        (amy["id"], True),
        (owner["id"], False),
        (zed["id"], False),
    ]
    assert people[0]["permissions"] == tuple(clients.permissions.ALL_KEYS)
    assert people[2]["permissions"] == ("invoices", "tickets")
    assert people[2].keys() == {
        "id", "first_name", "last_name", "email", "is_owner", "permissions", "access_until",
    }  # fmt: skip
    assert await clients.client_users(client_id + 100) == []


async def test_a_slice_of_client_users_is_clamped_and_counted_by_the_service():
    client_id, owner = await make_client("Sliced")
    member = await make_user("Mo", "M")
    await access.grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    total, rows = await clients.client_users_page(client_id, offset=-5, limit=0)
    assert total == 2 and [r["id"] for r in rows] == [owner["id"]]  # offset 0, limit 1
    total, rows = await clients.client_users_page(client_id, offset=1, limit=10**9)
    assert total == 2 and [r["id"] for r in rows] == [member["id"]]
    assert await clients.client_users_page(2**40, offset=0, limit=5) == (0, [])


# list_users ---------------------------------------------------------------------------------


async def test_list_users_lists_each_users_accounts_in_one_query(count_queries):
    acme_id, acme_owner = await make_client("Acme", owner_email="olivia@acme.example")
    globex_id, globex_owner = await make_client("Globex", owner_email="gina@globex.example")
    await access.grant_access(globex_id, acme_owner["id"], ["tickets"], actor=ADMIN)
    loner = await make_user("Lone", "Wolf", email="wolf@example.com")
    with count_queries() as counted:
        total, rows = await users.list_users()
    assert counted.n == 3  # the count, the page, the accounts of the whole page
    assert total == 3
    assert [r["id"] for r in rows] == [acme_owner["id"], globex_owner["id"], loner["id"]]
    assert rows[0]["clients"] == [
        {"id": acme_id, "is_owner": True},
        {"id": globex_id, "is_owner": False},
    ]
    assert rows[1]["clients"] == [{"id": globex_id, "is_owner": True}]
    assert rows[2]["clients"] == []
    assert {"email", "first_name", "last_name", "created_at", "language", "totp_enabled"} <= set(
        rows[2]
    )
    assert rows[2]["totp_enabled"] is False


async def test_list_users_searches_by_prefix_and_pages():
    ada = await make_user("Ada", "Lovelace", email="ada@math.example")
    alan = await make_user("Alan", "Turing", email="alan@math.example")
    grace = await make_user("Grace", "Hopper", email="grace@navy.example")

    async def found(search, **kwargs):
        total, rows = await users.list_users(search=search, **kwargs)
        return total, [r["id"] for r in rows]

    assert await found("a") == (2, [ada["id"], alan["id"]])
    assert await found("LOVE") == (1, [ada["id"]])
    assert await found("grace@navy.example") == (1, [grace["id"]])
    assert await found("alan tur") == (1, [alan["id"]])
    assert await found("urin") == (0, [])
    assert await found(f"#{grace['id']}") == (1, [grace["id"]])
    assert await found("", descending=True, limit=2) == (3, [grace["id"], alan["id"]])
    assert await found("", offset=2) == (3, [grace["id"]])


# entries ------------------------------------------------------------------------------------


async def test_entries_filter_by_account_user_text_ip_and_day():
    acme_id, owner = await make_client("Acme", owner_email="olivia@acme.example")
    staff = ADMIN.__class__("admin", 7, "Sam Staff", "10.0.0.9")
    await write_entry(staff, "note", "Checked the 100% Uptime promise", client_id=acme_id)
    await write_entry(user_actor(owner), "note", "Looked at INVOICES", user_id=owner["id"])
    await ActivityEntry.update({ActivityEntry.created_at: clock.now() - timedelta(days=3)}).where(
        ActivityEntry.actor_name == "Sam Staff"
    )
    all_total, all_rows = await entries()
    assert all_total == await ActivityEntry.count()
    ids = [r["id"] for r in all_rows]
    assert ids == sorted(ids, reverse=True)  # newest first

    async def descriptions(**filters):
        total, rows = await entries(**filters)
        assert total == len(rows)
        return [r["description"] for r in rows]

    assert await descriptions(user="sam staff") == ["Checked the 100% Uptime promise"]
    assert await descriptions(description="invoices") == ["Looked at INVOICES"]
    assert await descriptions(description="100%") == ["Checked the 100% Uptime promise"]
    assert await descriptions(description="0_U") == []
    assert await descriptions(ip="10.0.0.9") == ["Checked the 100% Uptime promise"]
    three_days_ago = (clock.now() - timedelta(days=3)).date()
    assert await descriptions(day=three_days_ago) == ["Checked the 100% Uptime promise"]
    by_email = await descriptions(user="OLIVIA@acme.example")
    assert "Looked at INVOICES" in by_email
    assert any(d.startswith("Created user Olivia Owner") for d in by_email)
    assert await descriptions(client_id=acme_id, description="created client") == [
        "Created client account Acme owned by Olivia Owner"
    ]
    total, rows = await entries(limit=1, offset=1)
    assert total == all_total and [r["id"] for r in rows] == ids[1:2]
    assert set(rows[0]) >= {"created_at", "actor_type", "actor_name", "client_id", "user_id"}


# The profile pages --------------------------------------------------------------------------

PROFILE = {
    "company_name": "Acme Hosting",
    "first_name": "Olivia",
    "last_name": "Owner",
    "address1": "1 Main Street",
    "address2": "",
    "city": "Lyon",
    "state": "Rhône",
    "postcode": "69001",
    "country": "FR",
    "phone_number": "+33 4 72 00 00 00",
    "tax_id": "FR123",
}


def labelled_values(response) -> dict:
    """Each form control's label and its value as shown (a select's selected option)."""
    soup = page(response)
    shown = {}
    for label in soup.find_all("label"):
        control = soup.find(id=label.get("for"))
        if control is None:
            continue
        if control.name == "select":
            chosen = control.find("option", selected=True)
            shown[label.get_text(strip=True)] = chosen["value"] if chosen else ""
        else:
            shown[label.get_text(strip=True)] = control.get("value", "")
    return shown


async def test_the_client_area_profile_shows_and_saves_the_contact_details(http):
    client_id, owner = await make_client("Acme Hosting")
    await http.login(owner["email"])
    shown = labelled_values(await http.get("/account/profile"))
    for label in ("Address 1", "Address 2", "City", "State/Region", "Postcode", "Country"):
        assert shown[label] == "", label
    assert "Phone Number" in shown and "Tax ID" in shown
    options = page(await http.get("/account/profile")).select("#f-country option")
    assert ("FR", "France") in [(o["value"], o.get_text()) for o in options]

    saved = await http.post("/account/profile", {**PROFILE, "email": owner["email"]})
    assert saved.headers["location"] == "/account/profile?saved=1"
    client = await clients.get_client(client_id)
    assert (client["city"], client["country"], client["state"]) == ("Lyon", "FR", "Rhône")
    shown = labelled_values(await http.get("/account/profile?saved=1"))
    assert shown["Country"] == "FR" and shown["Phone Number"] == "+33 4 72 00 00 00"
    logged = await ActivityEntry.select().order_by(ActivityEntry.id, ascending=False).first()
    assert "city: '' -> 'Lyon'" in logged["description"]
    assert "country: '' -> 'FR'" in logged["description"]

    refused = await http.post(
        "/account/profile", {**PROFILE, "email": owner["email"], "country": "XX", "city": "Nice"}
    )
    assert refused.status_code == 400
    error = page(refused).find(id="f-country-error")
    assert error.get_text() == BAD_COUNTRY
    assert labelled_values(refused)["City"] == "Nice"  # what was typed is kept
    assert (await clients.get_client(client_id))["city"] == "Lyon"


async def test_the_admin_profile_tab_shows_and_saves_the_contact_details(http, admin_session):
    client_id, owner = await make_client("Acme Hosting")
    users_tab = page(await http.get(f"/admin/clients/{client_id}/users"))
    assert users_tab.find("a", string="Profile")["href"] == f"/admin/clients/{client_id}/profile"
    response = await http.get(f"/admin/clients/{client_id}/profile")
    assert response.status_code == 200
    assert labelled_values(response)["Company Name"] == "Acme Hosting"

    saved = await http.post(
        f"/admin/clients/{client_id}/profile", {**PROFILE, "email": "billing@acme.example"}
    )
    assert saved.headers["location"] == f"/admin/clients/{client_id}/profile?saved=1"
    after = await http.get(f"/admin/clients/{client_id}/profile?saved=1")
    assert "Account details saved." in text_of(after)
    assert labelled_values(after)["Tax ID"] == "FR123"
    assert (await clients.get_client(client_id))["email"] == "billing@acme.example"

    refused = await http.post(
        f"/admin/clients/{client_id}/profile",
        {**PROFILE, "email": "billing@acme.example", "phone_number": "call me", "tax_id": "NEW"},
    )
    assert refused.status_code == 400
    assert page(refused).find(id="f-phone_number-error").get_text() == (BAD_PHONE)
    assert (await clients.get_client(client_id))["tax_id"] == "FR123"


async def test_a_support_operator_sees_the_profile_tab_but_cannot_save(http, support_session):
    client_id, _ = await make_client("Acme Hosting")
    response = await http.get(f"/admin/clients/{client_id}/profile")
    assert response.status_code == 200
    assert page(response).find("fieldset", disabled=True) is not None
    refused = await http.post(
        f"/admin/clients/{client_id}/profile", {**PROFILE, "email": "x@example.com"}
    )
    assert refused.status_code == 403
    assert (await clients.get_client(client_id))["city"] == ""
