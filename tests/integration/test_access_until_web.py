"""Access until on the web: the owner's Invite New User and permissions dialog, staff's Associate
User and Manage Permissions, and the lists' "until 14 Dec 2026" label."""

from datetime import UTC, datetime, timedelta

import pytest

from app.core import clock
from app.domain.access import services as access
from app.domain.invitations import services as invitations
from app.schema.grants import Grant
from app.schema.invitations import Invitation
from tests.factories import ADMIN, make_client, make_user
from tests.integration.conftest import page

HX = {"HX-Request": "true", "HX-Request-Type": "partial"}
END_OF_DAY = datetime(2099, 12, 14, 23, 59, 59, tzinfo=UTC)


@pytest.fixture
async def owner_session(http):
    client_id, owner = await make_client("Client Test", owner_email="fiona@example.com")
    member = await make_user("Jo", "Walker", email="jo@example.com")
    await access.grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    await http.login("fiona@example.com")
    return client_id, owner, member


async def until_of(client_id: int, user_id: int):
    row = (
        await Grant.select(Grant.access_until)
        .where((Grant.client == client_id) & (Grant.user == user_id))
        .first()
    )
    return row["access_until"] if row else "no grant"


async def test_the_owner_invites_with_access_until_and_the_list_shows_it(http, owner_session):
    client_id, _, _ = owner_session
    form = page(await http.get("/account/users")).find("form", id="invite-form")
    field = form.find("input", {"name": "access_until"})
    assert field["type"] == "date"
    assert form.find("label", {"for": field["id"]}).get_text() == "Access until"
    assert "end of this day (UTC)" in form.get_text()
    response = await http.post(
        "/account/users/invite",
        {"email": "temp@example.com", "scope": "all", "access_until": "2099-12-14"},
        headers=HX,
    )
    assert response.status_code == 200
    invite = await Invitation.select().where(Invitation.email == "temp@example.com").first()
    assert invite["access_until"] == END_OF_DAY
    row = page(response).select_one(f"#invite-{invite['id']}")
    label = row.find(class_="badge-until")
    assert label.get_text() == "until 14 Dec 2099"


@pytest.mark.parametrize("bad", ["2001-01-01", "not a date"])
async def test_the_invite_form_refuses_a_bad_end_inline(http, owner_session, bad):
    response = await http.post(
        "/account/users/invite",
        {"email": "temp@example.com", "scope": "all", "access_until": bad},
        headers=HX,
    )
    assert response.status_code == 422
    field = page(response).find("input", {"name": "access_until"})
    assert field["aria-invalid"] == "true" and field["value"] == bad
    assert "Access until" in page(response).find(id="invite-access-until-error").get_text()
    assert await Invitation.count() == 0


async def test_the_owners_permissions_dialog_sets_changes_and_clears_the_end(http, owner_session):
    client_id, _, member = owner_session
    url = f"/account/users/{member['id']}/permissions"
    dialog = page(await http.get(url, headers=HX))
    assert dialog.find("input", {"name": "access_until"})["value"] == ""
    base = {"permissions": ["tickets"], "access_until_opened": ""}
    response = await http.post(url, {**base, "access_until": "2099-12-14"}, headers=HX)
    assert response.status_code == 200
    assert await until_of(client_id, member["id"]) == END_OF_DAY
    row = page(response).select_one(f"#user-{member['id']}")
    assert row.find(class_="badge-until").get_text() == "until 14 Dec 2099"
    dialog = page(await http.get(url, headers=HX))
    assert dialog.find("input", {"name": "access_until"})["value"] == "2099-12-14"
    # Unchanged date: an instant set through an API stays as it is.
    exact = datetime(2099, 12, 14, 9, 30, tzinfo=UTC)
    await access.set_access_until(client_id, member["id"], exact, actor=ADMIN)
    kept = {"permissions": ["invoices"], "access_until_opened": "2099-12-14"}
    await http.post(url, {**kept, "access_until": "2099-12-14"}, headers=HX)
    assert await until_of(client_id, member["id"]) == exact
    cleared = await http.post(url, {**kept, "access_until": ""}, headers=HX)
    assert cleared.status_code == 200
    assert await until_of(client_id, member["id"]) is None
    refused = await http.post(url, {**base, "access_until": "1999-01-01"}, headers=HX)
    assert refused.status_code == 422
    assert "must be in the future" in page(refused).find(class_="error").get_text()
    assert await until_of(client_id, member["id"]) is None


async def test_the_last_week_shows_with_a_warning_style(http, owner_session):
    client_id, _, member = owner_session
    await access.set_access_until(
        client_id, member["id"], clock.now() + timedelta(days=3), actor=ADMIN
    )
    row = page(await http.get("/account/users")).select_one(f"#user-{member['id']}")
    assert row.find(class_="badge-until-soon")
    assert row.find(class_="badge-until-soon").get_text().startswith("until ")


async def test_staff_associate_user_and_manage_permissions_set_the_end(http, admin_session):
    client_id, _ = await make_client()
    user = await make_user("Al", "Temp", email="al@example.com")
    tab = page(await http.get(f"/admin/clients/{client_id}/users"))
    assert tab.find("form", id="associate-form").find("input", {"name": "access_until"})
    response = await http.post(
        f"/admin/clients/{client_id}/associate",
        {
            "user_id": str(user["id"]),
            "scope": "all",
            "send_invite": "no",
            "access_until": "2099-12-14",
        },
        headers=HX,
    )
    assert response.status_code == 200
    assert await until_of(client_id, user["id"]) == END_OF_DAY
    assert page(response).select_one(f"#user-{user['id']}").find(class_="badge-until")
    refused = await http.post(
        f"/admin/clients/{client_id}/associate",
        {"new_email": "n@example.com", "user_id": "new", "scope": "all", "access_until": "x"},
        headers=HX,
    )
    assert refused.status_code == 422
    assert page(refused).find(id="assoc-access-until-error")
    assert await Invitation.count() == 0
    url = f"/admin/clients/{client_id}/users/{user['id']}/permissions"
    dialog = page(await http.get(url, headers=HX))
    assert dialog.find("input", {"name": "access_until"})["value"] == "2099-12-14"
    await http.post(
        url,
        {"permissions": ["tickets"], "access_until_opened": "2099-12-14", "access_until": ""},
        headers=HX,
    )
    assert await until_of(client_id, user["id"]) is None


async def test_an_invitations_end_reaches_the_grant_through_the_invite_page(http):
    client_id, owner = await make_client()
    _id, token = await invitations.invite(
        client_id, "guest@example.com", ["tickets"], actor=ADMIN, access_until="2099-12-14"
    )
    guest = await make_user("Gus", "Guest", email="guest@example.com")
    await http.login("guest@example.com")
    page_ = await http.get(f"/invite/{token}")
    assert page_.status_code == 200
    accepted = await http.post(f"/invite/{token}/accept", {})
    assert accepted.status_code in (200, 303)
    assert await until_of(client_id, guest["id"]) == END_OF_DAY


async def test_undo_of_remove_gives_back_the_end_too(http, owner_session):
    from tests.integration.conftest import messages_of

    client_id, _, member = owner_session
    await access.set_access_until(client_id, member["id"], END_OF_DAY, actor=ADMIN)
    removed = await http.post(f"/account/users/{member['id']}/remove", headers=HX)
    (message,) = messages_of(removed)
    assert await until_of(client_id, member["id"]) == "no grant"
    undone = await http.post(
        message["undo"]["url"], {"token": message["undo"]["token"]}, headers=HX
    )
    assert undone.status_code == 200
    assert await until_of(client_id, member["id"]) == END_OF_DAY


# A pending invite's Access until, changed or cleared in its row (staff's Users tab, the owner's
# User Management).


@pytest.fixture(params=["owner", "staff"])
async def invite_manager(request, http):
    """An account with a pending invite (no end), and the base of the section's routes for
    whoever manages it."""
    from tests.integration.conftest import log_in_as_staff

    client_id, _owner = await make_client("Client Test", owner_email="fiona@example.com")
    invitation_id, token = await invitations.invite(
        client_id, "temp@example.com", ["tickets"], actor=ADMIN
    )
    if request.param == "staff":
        await log_in_as_staff(http, "ada@example.com", "admin-passphrase-77", "Ada", "full")
        return client_id, invitation_id, token, f"/admin/clients/{client_id}"
    await http.login("fiona@example.com")
    return client_id, invitation_id, token, "/account"


async def invite_until(invitation_id: int):
    row = await Invitation.select(Invitation.access_until).where(Invitation.id == invitation_id)
    return row[0]["access_until"]


async def test_a_pending_invites_end_is_changed_and_cleared_in_its_row(http, invite_manager):
    from app.schema.activity import ActivityEntry
    from tests.integration.conftest import message_texts

    client_id, invitation_id, token, base = invite_manager
    shown = page(await http.get(f"{base}/users"))
    row = shown.select_one(f"#invite-{invitation_id}")
    opener = row.find("summary", string="Access until")
    assert opener["aria-label"] == "Access until of the invite to temp@example.com"
    form = row.find("form", class_="invite-until")
    assert form["hx-post"] == f"{base}/invites/{invitation_id}/access-until"
    field = form.find("input", {"name": "access_until"})
    assert field["type"] == "date" and field["value"] == ""
    assert form.find("label", {"for": field["id"]}).get_text() == "Access until"

    url = form["hx-post"]
    assert (await http.post(url, {"access_until": "2099-12-14"}, csrf=False)).status_code == 403
    assert await invite_until(invitation_id) is None

    changed = await http.post(url, {"access_until": "2099-12-14"}, headers=HX)
    assert changed.status_code == 200
    assert await invite_until(invitation_id) == END_OF_DAY
    assert message_texts(changed) == [
        "The access the invite to temp@example.com gives ends 2099-12-14 23:59 UTC."
    ]
    row = page(changed).select_one(f"#invite-{invitation_id}")
    assert row.find(class_="badge-until").get_text() == "until 14 Dec 2099"
    assert row.find("input", {"name": "access_until"})["value"] == "2099-12-14"
    [entry] = await ActivityEntry.select().where(ActivityEntry.action == "invite.until_changed")
    assert entry["description"].endswith("ends: no end -> 2099-12-14 23:59 UTC")

    refused = await http.post(url, {"access_until": "2001-01-01"}, headers=HX)
    assert refused.status_code == 409
    assert "must be in the future" in " ".join(message_texts(refused))
    assert await invite_until(invitation_id) == END_OF_DAY

    cleared = await http.post(url, {"access_until": ""}, headers=HX)
    assert cleared.status_code == 200
    assert await invite_until(invitation_id) is None
    assert "no longer ends by itself" in message_texts(cleared)[0]

    # The grant its acceptance creates carries the end it has then.
    await http.post(url, {"access_until": "2099-12-14"}, headers=HX)
    guest = await make_user("Tem", "Porary", email="temp@example.com")
    await invitations.accept(token, guest["id"], actor=ADMIN)
    assert await until_of(client_id, guest["id"]) == END_OF_DAY
    gone = await http.post(url, {"access_until": ""}, headers=HX)
    assert gone.status_code == 409  # accepted: no longer pending


async def test_who_may_change_a_pending_invites_end(http, support_session):
    from app.domain.staff.services import DISABLE_CLIENT_USER_MANAGEMENT, set_setting

    client_id, owner = await make_client("Client Test", owner_email="fiona@example.com")
    invitation_id, _ = await invitations.invite(
        client_id, "temp@example.com", ["tickets"], actor=ADMIN
    )
    url = f"/admin/clients/{client_id}/invites/{invitation_id}/access-until"
    assert (await http.post(url, {"access_until": "2099-12-14"}, headers=HX)).status_code == 403
    tab = page(await http.get(f"/admin/clients/{client_id}/users"))
    assert tab.select_one(f"#invite-{invitation_id}").find("form", class_="invite-until") is None
    await http.post("/admin/logout")
    await set_setting(DISABLE_CLIENT_USER_MANAGEMENT, "true", actor=ADMIN)
    await http.login("fiona@example.com")
    refused = await http.post(
        f"/account/invites/{invitation_id}/access-until", {"access_until": "2099-12-14"},
        headers=HX,
    )  # fmt: skip
    assert refused.status_code in (403, 409)
    assert await invite_until(invitation_id) is None
