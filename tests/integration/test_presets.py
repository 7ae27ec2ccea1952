"""Permission presets: the shipped three, staff's own at /admin/settings (checked, stale edits
refused like the settings'), offered by every permissions form and by /api/v1, and a shortcut,
not a link: a grant made with a preset keeps its keys whatever becomes of the preset."""

import json

import pytest

from app.core.permissions import ALL_KEYS
from app.domain.access import services as access
from app.domain.activity.services import SYSTEM
from app.domain.events import stream
from app.domain.events.catalog import PresetCreated, PresetDeleted, PresetUpdated
from app.domain.presets import services as presets
from app.schema.activity import ActivityEntry
from app.schema.invitations import Invitation
from tests.factories import ADMIN, make_client, make_user
from tests.integration.conftest import message_texts, page, text_of
from tests.integration.test_api_v1 import api, assert_problem, full, support  # noqa: F401

HX = {"HX-Request": "true", "HX-Request-Type": "partial"}
BILLING = ("invoices", "quotes", "emails")
TECHNICAL = ("products", "manageproducts", "productsso", "domains", "managedomains", "tickets")


def scope_radios(soup, form_id: str) -> list[str]:
    """The labels of a form's scope radios, in order."""
    form = soup.find(id=form_id)
    return [i.parent.get_text(" ", strip=True) for i in form.find_all("input", {"name": "scope"})]


@pytest.fixture
def heard():
    events: list = []
    stop = stream.listen(lambda event, _actor: events.append(event))
    yield events
    stop()


async def invited_keys(client_id: int, email: str) -> tuple[str, ...]:
    row = (
        await Invitation.select(Invitation.permissions)
        .where((Invitation.client == client_id) & (Invitation.email == email))
        .first()
    )
    return tuple(row["permissions"].split(","))


# The presets themselves.


async def test_the_shipped_three_hold_what_they_say_and_come_first():
    shipped = await presets.list_presets()
    assert [(p.id, p.name, p.permissions) for p in shipped] == [
        ("billing-contact", "Billing contact", BILLING),
        ("technical-contact", "Technical contact", TECHNICAL),
        ("full-access", "Full access", ALL_KEYS),
    ]
    assert len(ALL_KEYS) == 13 and all(p.shipped for p in shipped)
    await presets.create_preset("Agency", ["orders", "domains"], actor=SYSTEM)
    assert [p.name for p in await presets.list_presets()][3:] == ["Agency"]
    with pytest.raises(Exception, match="shipped presets cannot"):
        await presets.delete_preset("full-access", actor=SYSTEM)


async def test_presets_are_checked(heard):
    too_long = "x" * 61
    for name, keys, field, message in [
        ("", ["orders"], "name", "Enter a name"),
        (too_long, ["orders"], "name", "limited to 60"),
        ("Agency", [], "permissions", "at least one permission"),
        ("Agency", ["orders", "root"], "permissions", "Unknown permission: root"),
        ("full ACCESS", ["orders"], "name", "shipped preset"),
    ]:
        with pytest.raises(Exception) as refused:
            await presets.create_preset(name, keys, actor=SYSTEM)
        assert refused.value.field == field and message in refused.value.message, name
    await presets.create_preset("x" * 60, ["orders"], actor=SYSTEM)
    await presets.create_preset("Agency", ["orders"], actor=SYSTEM)
    with pytest.raises(Exception, match="already exists"):
        await presets.create_preset("  AGENCY ", ["domains"], actor=SYSTEM)
    assert [type(e) for e in heard] == [PresetCreated, PresetCreated]


async def test_staff_without_manage_users_cannot_change_presets():
    from app.core.errors import Forbidden
    from app.domain.staff.services import create_admin

    support_id = await create_admin(
        email="sam@example.com",
        password="support-passphrase-77",
        name="Sam",
        role="support",
        actor=ADMIN,
    )
    from app.domain.activity.services import Actor

    with pytest.raises(Forbidden):
        await presets.create_preset("Agency", ["orders"], actor=Actor("admin", support_id, "Sam"))


# /admin/settings.


async def test_settings_refused_without_htmx_show_the_whole_page_presets_included(
    http, admin_session
):
    """A plain post of the settings form that is refused (an empty company name) answers the
    whole page again: the presets' section with it (it was a 500)."""
    refused = await http.post("/admin/settings", {"company_name": ""})
    assert refused.status_code == 422, refused.text[:500]
    shown = page(refused)
    assert shown.select_one("#presets") is not None
    assert "Billing contact" in text_of(refused)


async def test_staff_add_edit_and_remove_their_own_at_settings(http, admin_session, heard):
    shown = page(await http.get("/admin/settings"))
    rows = [r.find("td").get_text(" ", strip=True) for r in shown.select("#presets tbody tr")]
    assert rows == ["Billing contact Shipped", "Technical contact Shipped", "Full access Shipped"]
    assert not shown.select("#presets a[href^='/admin/settings/presets/']")  # fixed

    added = await http.post(
        "/admin/settings/presets",
        {"name": "Reseller desk", "permissions": ["orders", "domains"]},
        headers=HX,
    )
    assert added.status_code == 200, added.text
    assert message_texts(added) == ["Preset “Reseller desk” added."]
    made = (await presets.list_presets())[3]
    assert (made.name, made.permissions) == ("Reseller desk", ("domains", "orders"))
    assert "Reseller desk" in text_of(added)

    form = page(await http.get(f"/admin/settings/presets/{made.id}"))
    opened = form.find("form", id="preset-form").find("input", {"name": "opened"})["value"]
    saved = await http.post(
        f"/admin/settings/presets/{made.id}",
        {"name": "Resellers", "permissions": ["domains"], "opened": opened},
        headers=HX,
    )
    assert saved.status_code == 200 and message_texts(saved) == ["Preset saved."]
    removed = await http.post(f"/admin/settings/presets/{made.id}/delete", headers=HX)
    assert removed.status_code == 200
    assert "Resellers" not in text_of(removed).split("removed.")[-1]
    assert [type(e) for e in heard] == [PresetCreated, PresetUpdated, PresetDeleted]
    assert heard[1].name_before == "Reseller desk" and heard[1].permissions == ("domains",)
    entries = await ActivityEntry.select(ActivityEntry.action, ActivityEntry.description).order_by(
        ActivityEntry.id
    )
    assert [e["action"] for e in entries][-3:] == [
        "preset.created",
        "preset.updated",
        "preset.deleted",
    ]
    assert entries[-2]["description"] == (
        "Changed permission preset “Reseller desk” -> “Resellers”: Domains, Orders -> Domains"
    )


async def test_without_javascript_the_forms_post_and_come_back(http, admin_session):
    added = await http.post(
        "/admin/settings/presets", {"name": "Agency", "permissions": ["orders"]}
    )
    assert added.status_code == 303 and added.headers["location"] == "/admin/settings?saved=preset"
    refused = await http.post(
        "/admin/settings/presets", {"name": "agency", "permissions": ["orders"]}
    )
    assert refused.status_code == 422
    soup = page(refused)
    assert soup.find("h1").get_text(strip=True) == "Settings"  # the whole page
    assert "A preset named “agency” already exists" in soup.find(id="preset-name-error").text


async def test_refusals_are_said_beside_their_fields(http, admin_session):
    for data, field, message in [
        ({"name": "", "permissions": ["orders"]}, "preset-name-error", "Enter a name"),
        ({"name": "y" * 61, "permissions": ["orders"]}, "preset-name-error", "limited to 60"),
        ({"name": "Billing Contact", "permissions": ["orders"]}, "preset-name-error", "shipped"),
        ({"name": "Agency", "permissions": ["sudo"]}, None, "Unknown permission: sudo"),
        ({"name": "Agency"}, None, "Choose at least one permission"),
    ]:
        response = await http.post("/admin/settings/presets", data, headers=HX)
        assert response.status_code == 422, data
        soup = page(response)
        shown = soup.find(id=field).text if field else soup.select_one("#presets .error").text
        assert message in shown, data
        assert soup.find(id="preset-name")["value"] == data["name"]
    assert len(await presets.list_presets()) == 3


async def test_a_stale_preset_edit_is_refused_and_shows_both_changes(http, admin_session):
    made = await presets.create_preset("Agency", ["orders"], actor=SYSTEM)
    form = page(await http.get(f"/admin/settings/presets/{made['id']}"))
    opened = form.find("form", id="preset-form").find("input", {"name": "opened"})["value"]
    assert json.loads(opened) == {"name": "Agency", "permissions": ["orders"]}
    await presets.update_preset(made["id"], name="Agency", keys=["orders", "tickets"], actor=SYSTEM)
    refused = await http.post(
        f"/admin/settings/presets/{made['id']}",
        {"name": "Agencies", "permissions": ["orders"], "opened": opened},
        headers=HX,
    )
    assert refused.status_code == 409
    said = page(refused).find(id="preset-stale").get_text(" ", strip=True)
    assert "View & Open Support Tickets was added" in said
    assert "Name changed to “Agencies”" in said
    assert (await presets.get_preset(str(made["id"]))).permissions == ("tickets", "orders")
    soup = page(refused)
    again = soup.find("form", id="preset-form").find("input", {"name": "opened"})["value"]
    ticked = [i["value"] for i in soup.select("#preset-form input[name=permissions][checked]")]
    assert ticked == ["tickets", "orders"]  # theirs kept, mine on top
    applied = await http.post(
        f"/admin/settings/presets/{made['id']}",
        {"name": "Agencies", "permissions": ticked, "opened": again},
        headers=HX,
    )
    assert applied.status_code == 200
    assert (await presets.get_preset(str(made["id"]))).name == "Agencies"


async def test_a_support_operator_sees_the_presets_but_cannot_change_them(http, support_session):
    made = await presets.create_preset("Agency", ["orders"], actor=SYSTEM)
    shown = page(await http.get("/admin/settings"))
    assert "Agency" in shown.find(id="presets").text and not shown.find(id="preset-form")
    for url in ("/admin/settings/presets", f"/admin/settings/presets/{made['id']}/delete"):
        assert (await http.post(url, {"name": "X", "permissions": ["orders"]})).status_code == 403


# The permissions forms.


async def test_the_owners_invite_form_offers_presets_and_a_preset_gives_its_keys(http):
    client_id, _ = await make_client("Preset Hosting", owner_email="pia@example.com")
    await http.login("pia@example.com")
    await presets.create_preset("Agency", ["orders", "domains"], actor=SYSTEM)
    soup = page(await http.get("/account/users"))
    assert scope_radios(soup, "invite-form") == [
        "All Permissions",
        "Billing contact",
        "Technical contact",
        "Full access",
        "Agency",
        "Choose Permissions",
    ]
    # Without JavaScript: the radio posts scope=preset:<id>; the boxes' values are ignored.
    response = await http.post(
        "/account/users/invite",
        {"email": "bill@example.com", "scope": "preset:billing-contact", "permissions": ["orders"]},
    )
    assert response.status_code == 200, response.text
    assert await invited_keys(client_id, "bill@example.com") == BILLING
    # A script's form may name it as preset=<id>.
    agency = (await presets.list_presets())[3].id
    await http.post("/account/users/invite", {"email": "ag@example.com", "preset": agency})
    assert await invited_keys(client_id, "ag@example.com") == ("domains", "orders")


async def test_a_preset_removed_meanwhile_is_refused_on_the_form(http):
    client_id, _ = await make_client("Preset Hosting", owner_email="pia@example.com")
    await http.login("pia@example.com")
    made = await presets.create_preset("Agency", ["orders"], actor=SYSTEM)
    await presets.delete_preset(made["id"], actor=SYSTEM)
    response = await http.post(
        "/account/users/invite",
        {"email": "late@example.com", "scope": f"preset:{made['id']}"},
        headers=HX,
    )
    assert response.status_code == 422
    form = page(response).find(id="invite-form")
    # Said above the boxes, which show again (Choose Permissions) to pick from.
    said = form.select_one(".permission-scope > .error").text
    assert said == "This preset no longer exists: choose another, or choose the permissions."
    assert form.select_one("input[name=scope][checked]")["value"] == "choose"
    assert not await Invitation.exists().where(Invitation.client == client_id)


async def test_associate_user_and_manage_permissions_offer_presets(http, admin_session):
    client_id, _ = await make_client()
    jo = await make_user("Jo", "Walker", email="jo@example.com")
    made = await presets.create_preset("Agency", ["orders"], actor=SYSTEM)
    tab = page(await http.get(f"/admin/clients/{client_id}/users"))
    assert "Agency" in scope_radios(tab, "associate-form")
    associated = await http.post(
        f"/admin/clients/{client_id}/associate",
        {"user_id": str(jo["id"]), "scope": "preset:technical-contact", "send_invite": "no"},
        headers=HX,
    )
    assert associated.status_code == 200, associated.text
    assert (await access.access_for(jo["id"], client_id)).permissions == TECHNICAL

    url = f"/admin/clients/{client_id}/users/{jo['id']}/permissions"
    dialog = page(await http.get(url, headers=HX))
    radios = scope_radios(dialog, "perm-form")
    assert radios[0] == "All Permissions" and radios[-1] == "Choose Permissions"
    checked = dialog.select_one("#perm-form input[name=scope][checked]")
    assert checked["value"] == "choose"  # the boxes as they are, until a preset is chosen
    opened = dialog.find("input", {"name": "opened"})["value"]
    saved = await http.post(url, {"scope": f"preset:{made['id']}", "opened": opened}, headers=HX)
    assert saved.status_code == 200, saved.text
    assert (await access.access_for(jo["id"], client_id)).permissions == ("orders",)


async def test_a_new_preset_shows_on_a_kept_users_tab_at_once(http, admin_session):
    client_id, _ = await make_client()
    url = f"/admin/clients/{client_id}/users"
    assert "Agency" not in scope_radios(page(await http.get(url)), "associate-form")
    await presets.create_preset("Agency", ["orders"], actor=SYSTEM)
    assert "Agency" in scope_radios(page(await http.get(url)), "associate-form")


async def test_the_users_tab_reads_the_presets_only_when_they_changed(
    http, admin_session, count_queries
):
    client_id, _ = await make_client()
    await presets.create_preset("Agency", ["orders"], actor=SYSTEM)
    url = f"/admin/clients/{client_id}/users?q="

    async def statements(query: str) -> int:
        with count_queries() as counted:
            assert (await http.get(url + query)).status_code == 200
        return counted.n

    first = await statements("a")  # this process reads the presets once for their version
    assert await statements("b") == first - 1 <= 3


# A shortcut, not a link.


async def test_editing_or_removing_a_preset_changes_no_grant_nor_invitation(http, admin_session):
    client_id, _ = await make_client()
    jo = await make_user("Jo", "Walker", email="jo@example.com")
    made = await presets.create_preset("Agency", ["orders", "domains"], actor=SYSTEM)
    await http.post(
        f"/admin/clients/{client_id}/associate",
        {"user_id": str(jo["id"]), "scope": f"preset:{made['id']}", "send_invite": "no"},
        headers=HX,
    )
    await http.post(
        f"/admin/clients/{client_id}/associate",
        {"user_id": "new", "new_email": "nu@example.com", "scope": f"preset:{made['id']}"},
        headers=HX,
    )
    assert (await access.access_for(jo["id"], client_id)).permissions == ("domains", "orders")
    assert await invited_keys(client_id, "nu@example.com") == ("domains", "orders")

    await presets.update_preset(made["id"], name="Agency", keys=["tickets"], actor=SYSTEM)
    assert (await access.access_for(jo["id"], client_id)).permissions == ("domains", "orders")
    assert await invited_keys(client_id, "nu@example.com") == ("domains", "orders")
    await presets.delete_preset(made["id"], actor=SYSTEM)
    assert (await access.access_for(jo["id"], client_id)).permissions == ("domains", "orders")
    assert await invited_keys(client_id, "nu@example.com") == ("domains", "orders")


# /api/v1.


async def test_the_api_lists_presets_and_takes_one_for_a_grant_or_an_invitation(api, full):  # noqa: F811
    made = await presets.create_preset("Agency", ["orders"], actor=SYSTEM)
    listed = await api.get("/api/v1/presets", headers=full)
    assert listed.status_code == 200
    body = listed.json()
    assert body["total"] == 4
    assert body["items"][0] == {
        "id": "billing-contact",
        "name": "Billing contact",
        "permissions": list(BILLING),
        "shipped": True,
    }
    assert body["items"][3] == {
        "id": str(made["id"]),
        "name": "Agency",
        "permissions": ["orders"],
        "shipped": False,
    }
    client_id, _ = await make_client()
    member = await make_user()
    base = f"/api/v1/clients/{client_id}"
    granted = await api.post(
        f"{base}/users", json={"user_id": member["id"], "preset": "billing-contact"}, headers=full
    )
    assert granted.status_code == 201, granted.text
    assert granted.json()["permissions"] == list(BILLING)
    invited = await api.post(
        f"{base}/invitations",
        json={"email": "api@example.com", "preset": str(made["id"])},
        headers=full,
    )
    assert invited.status_code == 201, invited.text
    assert invited.json()["permissions"] == ["orders"]

    for data in (
        {"email": "both@example.com", "preset": "full-access", "permissions": ["orders"]},
        {"email": "none@example.com"},
        {"email": "gone@example.com", "preset": "999999"},
    ):
        refused = await api.post(f"{base}/invitations", json=data, headers=full)
        assert_problem(refused, 422)
        assert "permissions" in refused.json()["errors"], data


async def test_the_openapi_schema_describes_presets(api, full):  # noqa: F811
    schema = (await api.get("/api/v1/schema/openapi.json")).json()
    assert "/api/v1/presets" in schema["paths"]
    parts = schema["components"]["schemas"]
    for name in ("GrantCreate", "InvitationCreate"):
        assert "preset" in parts[name]["properties"], name
        assert "permissions" not in parts[name].get("required", []), name
    assert set(parts["Preset"]["properties"]) == {"id", "name", "permissions", "shipped"}
