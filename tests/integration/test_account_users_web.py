"""User Management (client area) and the admin Users tab: the same section, acted on in place."""

import json

import pytest

from app.core.config import get_settings
from app.core.permissions import ALL_KEYS
from app.domain.access import services as access
from app.domain.invitations import services as invitations
from app.domain.staff.services import DISABLE_CLIENT_USER_MANAGEMENT, set_setting
from app.schema.invitations import Invitation
from app.schema.mail import OutboundEmail
from tests.factories import ADMIN, make_client, make_user
from tests.integration.conftest import message_texts, messages_of, page, seen, text_of

HX = {"HX-Request": "true", "HX-Request-Type": "partial"}


@pytest.fixture
async def owner_session(http):
    client_id, owner = await make_client("Client Test", owner_email="fiona@example.com")
    member = await make_user("Jo", "Walker", email="jo@example.com")
    await access.grant_access(client_id, member["id"], ["tickets", "invoices"], actor=ADMIN)
    await http.login("fiona@example.com")
    return client_id, owner, member


async def test_the_owner_sees_users_permissions_and_pending_invites(http, owner_session):
    client_id, owner, member = owner_session
    await invitations.invite(client_id, "pending@example.com", ["quotes"], actor=ADMIN)
    response = await http.get("/account/users")
    assert response.status_code == 200
    soup = page(response)
    assert soup.find("h1", string="User Management")
    rows = soup.select("#account-users tbody tr[id^=user-]")
    assert [r["id"] for r in rows] == [f"user-{owner['id']}", f"user-{member['id']}"]
    assert rows[0].find(class_="badge-owner")
    assert not rows[0].find("button", string="Manage Permissions")
    assert rows[1].find("button", string="Manage Permissions")
    assert rows[1].find("button", string="Remove Access")
    assert "View & Open Support Tickets" in rows[1].get_text()
    assert "Never" in rows[1].get_text()
    invite = soup.select_one("tr[id^=invite-]")
    assert "pending@example.com" in invite.get_text()
    assert "Invite Sent: just now" in invite.get_text()
    assert invite.find("button", string="Resend Invite")
    assert invite.find("button", string="Cancel Invite")


async def test_invite_new_user_with_chosen_permissions(http, owner_session):
    client_id, _, _ = owner_session
    response = await http.post(
        "/account/users/invite",
        {"email": "new@example.com", "scope": "choose", "permissions": ["quotes", "domains"]},
        headers=HX,
    )
    assert response.status_code == 200
    soup = page(response)
    assert soup.find("form", id="invite-form").find("input", {"name": "email"})["value"] == ""
    section = soup.find(id="account-users")
    assert section["hx-swap-oob"] == "true"
    assert message_texts(response) == ["Invite sent to new@example.com."]
    row = await Invitation.select().where(Invitation.email_key == "new@example.com").first()
    assert row["permissions"] == "domains,quotes"
    assert await OutboundEmail.exists().where(OutboundEmail.invitation == row["id"])


async def test_invite_with_all_permissions(http, owner_session):
    await http.post(
        "/account/users/invite", {"email": "all@example.com", "scope": "all"}, headers=HX
    )
    row = await Invitation.select().where(Invitation.email_key == "all@example.com").first()
    assert len(row["permissions"].split(",")) == 13


@pytest.mark.parametrize(
    "data,message",
    [
        ({"email": "jo@example.com", "scope": "all"}, "already has access"),
        ({"email": "bad", "scope": "all"}, "valid email"),
        ({"email": "x@example.com", "scope": "choose"}, "at least one permission"),
    ],
)
async def test_invite_errors_are_inline_and_keep_the_input(http, owner_session, data, message):
    response = await http.post("/account/users/invite", data, headers=HX)
    assert response.status_code == 422
    assert message in seen(response)
    assert page(response).find("input", {"name": "email"})["value"] == data["email"]
    assert await Invitation.count() == 0


async def test_a_second_invite_to_the_same_email_offers_resend(http, owner_session):
    await http.post(
        "/account/users/invite", {"email": "twice@example.com", "scope": "all"}, headers=HX
    )
    response = await http.post(
        "/account/users/invite", {"email": "twice@example.com", "scope": "all"}, headers=HX
    )
    assert response.status_code == 422 and "Resend Invite" in text_of(response)


async def test_manage_permissions_loads_the_current_set_into_one_dialog(http, owner_session):
    client_id, owner, member = owner_session
    soup = page(await http.get("/account/users"))
    assert len(soup.find_all("dialog", id="perm-dialog")) == 1
    assert not soup.select("#perm-dialog input")  # empty until a user's button is pressed
    button = soup.select_one(f"#user-{member['id']}").find("button", string="Manage Permissions")
    assert button["hx-get"] == f"/account/users/{member['id']}/permissions"
    assert button["hx-target"] == "#perm-dialog"

    form = page(await http.get(button["hx-get"], headers=HX))
    assert form.find("h2", id="perm-title").get_text() == "Manage Permissions: Jo Walker"
    assert sorted(i["value"] for i in form.select("input[name=permissions][checked]")) == [
        "invoices",
        "tickets",
    ]
    assert form.find("form")["hx-post"] == f"/account/users/{member['id']}/permissions"
    refused = await http.get(f"/account/users/{owner['id']}/permissions", headers=HX)
    assert refused.status_code == 400 and "cannot be edited" in text_of(refused)


async def test_manage_permissions_in_place(http, owner_session):
    client_id, _, member = owner_session
    response = await http.post(
        f"/account/users/{member['id']}/permissions", {"permissions": ["profile"]}, headers=HX
    )
    assert response.status_code == 200
    assert "Permissions of Jo Walker saved." in message_texts(response)
    assert (await access.access_for(member["id"], client_id)).permissions == ("profile",)
    empty = await http.post(f"/account/users/{member['id']}/permissions", {}, headers=HX)
    assert empty.status_code == 422
    assert empty.headers["hx-retarget"] == "#perm-form"
    assert "Choose at least one permission." in text_of(empty)
    assert (await access.access_for(member["id"], client_id)).permissions == ("profile",)


async def test_remove_access_resend_and_cancel_in_place(http, owner_session):
    client_id, _, member = owner_session
    invitation_id, old_token = await invitations.invite(
        client_id, "p@example.com", ["quotes"], actor=ADMIN
    )
    resent = await http.post(f"/account/invites/{invitation_id}/resend", headers=HX)
    assert message_texts(resent) == [
        "Invite sent again to p@example.com, with a new link valid for 7 days."
    ]
    with pytest.raises(invitations.InviteUnavailable):
        await invitations.pending_invite(old_token)
    cancelled = await http.post(f"/account/invites/{invitation_id}/cancel", headers=HX)
    assert message_texts(cancelled) == [
        "Invite to p@example.com cancelled: its link no longer works."
    ]
    assert "p@example.com" not in text_of(cancelled)
    removed = await http.post(f"/account/users/{member['id']}/remove", headers=HX)
    assert "Removed the access of" in seen(removed)
    assert await access.access_for(member["id"], client_id) is None
    again = await http.post(f"/account/users/{member['id']}/remove", headers=HX)
    assert again.status_code == 409 and "no longer has access" in seen(again)


async def test_resend_too_soon_says_when_as_news_and_a_refusal_as_an_error(
    http, owner_session, monkeypatch
):
    client_id, _, member = owner_session
    invitation_id, _ = await invitations.invite(client_id, "w@example.com", ["quotes"], actor=ADMIN)
    monkeypatch.setenv("ROSTER_RESEND_COOLDOWN_SECONDS", "60")
    get_settings.cache_clear()
    try:
        too_soon = await http.post(f"/account/invites/{invitation_id}/resend", headers=HX)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert too_soon.status_code == 429
    [waiting] = messages_of(too_soon)
    assert waiting["kind"] == "info" and "You can send it again in 60 seconds" in waiting["text"]
    await http.post(f"/account/users/{member['id']}/remove", headers=HX)
    [refused] = messages_of(await http.post(f"/account/users/{member['id']}/remove", headers=HX))
    assert refused["kind"] == "error"


async def test_the_owner_cannot_remove_or_edit_themself(http, owner_session):
    client_id, owner, _ = owner_session
    response = await http.post(f"/account/users/{owner['id']}/remove", headers=HX)
    assert response.status_code == 409 and "owner's access cannot be removed" in seen(response)


async def test_an_owner_cannot_touch_another_accounts_invites(http, owner_session):
    other_id, _ = await make_client("Other")
    invitation_id, token = await invitations.invite(
        other_id, "o@example.com", ["quotes"], actor=ADMIN
    )
    response = await http.post(f"/account/invites/{invitation_id}/cancel", headers=HX)
    assert response.status_code == 409
    assert (await invitations.pending_invite(token))["id"] == invitation_id


async def test_a_non_owner_is_refused_user_management(http):
    client_id, _ = await make_client()
    member = await make_user(email="member@example.com")
    await access.grant_access(client_id, member["id"], ["profile"], actor=ADMIN)
    await http.login("member@example.com")
    assert (await http.get("/account/users")).status_code == 403
    assert (await http.get(f"/account/users/{member['id']}/permissions")).status_code == 403
    response = await http.post(
        "/account/users/invite", {"email": "x@example.com", "scope": "all"}, headers=HX
    )
    assert response.status_code == 403
    assert await Invitation.count() == 0


async def test_the_admin_setting_turns_client_user_management_off(http, owner_session):
    client_id, _, member = owner_session
    assert page(await http.get("/account")).find("a", string="User Management")
    await set_setting(DISABLE_CLIENT_USER_MANAGEMENT, "true", actor=ADMIN)
    assert (await http.get("/account/users")).status_code == 403
    assert (await http.get(f"/account/users/{member['id']}/permissions")).status_code == 403
    assert not page(await http.get("/account")).find("a", string="User Management")
    response = await http.post(f"/account/users/{member['id']}/remove", headers=HX)
    assert response.status_code == 409 and "turned off" in seen(response)
    assert await access.access_for(member["id"], client_id) is not None


# The admin Users tab.


async def test_the_users_tab_lists_users_with_login_details(http, admin_session):
    client_id, owner = await make_client("Client <b>Test</b>")
    response = await http.get(f"/admin/clients/{client_id}/users")
    assert response.status_code == 200
    soup = page(response)
    assert "Client <b>Test</b>" in soup.find("h1").get_text()
    assert "<b>Test</b>" not in response.text
    row = soup.select_one(f"#user-{owner['id']}")
    assert row.find(class_="badge-owner")
    assert not row.find("button", string="Remove")
    assert row.find("button", string="Send Password Reset Email")
    assert soup.find("button", string="+ Associate User")
    assert soup.find("dialog", id="associate-user")


async def test_associate_an_existing_user_without_invite(http, admin_session):
    client_id, _ = await make_client()
    user = await make_user("Jo", "Walker", email="jo@example.com")
    found = await http.get(f"/admin/clients/{client_id}/user-search?q=walk", headers=HX)
    option = page(found).find("li", {"role": "option", "data-value": str(user["id"])})
    assert option["data-chosen"] == "Jo Walker (jo@example.com)"
    response = await http.post(
        f"/admin/clients/{client_id}/associate",
        {"user_id": str(user["id"]), "permissions": ["tickets"], "send_invite": "no"},
        headers=HX,
    )
    assert response.status_code == 200
    assert "roster:associated" in json.loads(response.headers["hx-trigger"])
    assert message_texts(response) == [
        f"{user['first_name']} {user['last_name']} can now reach this account."
    ]
    assert (await access.access_for(user["id"], client_id)).permissions == ("tickets",)


async def test_associate_with_all_permissions_as_the_owners_invite_form_offers(http, admin_session):
    client_id, _ = await make_client()
    user = await make_user("Al", "Every", email="al@example.com")
    dialog = page(await http.get(f"/admin/clients/{client_id}/users"))
    scope = dialog.find("form", id="associate-form").find_all("input", {"name": "scope"})
    assert [(i["value"], i.has_attr("checked")) for i in scope] == [
        ("all", True),
        ("preset:billing-contact", False),
        ("preset:technical-contact", False),
        ("preset:full-access", False),
        ("choose", False),
    ]
    response = await http.post(
        f"/admin/clients/{client_id}/associate",
        {
            "user_id": str(user["id"]),
            "scope": "all",
            "permissions": ["tickets"],
            "send_invite": "no",
        },
        headers=HX,
    )
    assert response.status_code == 200
    assert set((await access.access_for(user["id"], client_id)).permissions) == set(ALL_KEYS)


async def test_associate_a_new_email_always_invites(http, admin_session):
    client_id, _ = await make_client()
    found = await http.get(f"/admin/clients/{client_id}/user-search?q=new@example.com", headers=HX)
    assert "Create new user" in text_of(found)
    response = await http.post(
        f"/admin/clients/{client_id}/associate",
        {
            "user_id": "new",
            "new_email": "new@example.com",
            "permissions": ["tickets"],
            "send_invite": "no",
        },
        headers=HX,
    )
    assert "Invite sent to" in seen(response)
    assert await Invitation.exists().where(Invitation.email_key == "new@example.com")


async def test_associate_errors_stay_in_the_dialog(http, admin_session):
    client_id, owner = await make_client()
    response = await http.post(
        f"/admin/clients/{client_id}/associate",
        {
            "user_id": str(owner["id"]),
            "permissions": ["tickets"],
            "send_invite": "no",
            "q": "olivia",
        },
        headers=HX,
    )
    assert response.status_code == 422
    assert response.headers["hx-retarget"] == "#associate-form"
    assert "already has access" in seen(response)
    assert page(response).find("input", {"name": "q"})["value"] == "olivia"
    none_chosen = await http.post(
        f"/admin/clients/{client_id}/associate", {"permissions": ["tickets"]}, headers=HX
    )
    assert "Select a user" in seen(none_chosen)


async def test_admin_password_reset_email_from_the_users_tab(http, admin_session):
    client_id, owner = await make_client()
    response = await http.post(
        f"/admin/clients/{client_id}/users/{owner['id']}/password-reset", headers=HX
    )
    assert "Password reset email sent to" in seen(response)
    assert await OutboundEmail.exists().where(OutboundEmail.template == "password_reset")


async def test_a_support_operator_can_look_but_not_change(http, support_session):
    client_id, owner = await make_client()
    user = await make_user()
    invitation_id, _ = await invitations.invite(client_id, "p@example.com", ["quotes"], actor=ADMIN)
    soup = page(await http.get(f"/admin/clients/{client_id}/users"))
    assert not soup.find("button", string="+ Associate User")
    assert not soup.find("button", string="Resend Invite")
    base = f"/admin/clients/{client_id}"
    for url in (
        f"{base}/associate",
        f"{base}/users/{owner['id']}/permissions",
        f"{base}/users/{owner['id']}/remove",
        f"{base}/users/{owner['id']}/password-reset",
        f"{base}/invites/{invitation_id}/resend",
        f"{base}/invites/{invitation_id}/cancel",
    ):
        response = await http.post(
            url,
            {"user_id": str(user["id"]), "permissions": ["tickets"], "send_invite": "no"},
            headers=HX,
        )
        assert response.status_code == 403, url
    assert (await http.get(f"{base}/user-search?q=x")).status_code == 403
    assert (await http.get(f"{base}/users/{user['id']}/permissions")).status_code == 403
    assert await access.access_for(user["id"], client_id) is None
    assert await Invitation.count() == 1


async def test_the_users_tab_runs_a_constant_number_of_queries(http, admin_session, count_queries):
    client_id, _ = await make_client()
    await invitations.invite(client_id, "first@example.com", ["quotes"], actor=ADMIN)

    async def statements():
        with count_queries() as counted:
            assert (await http.get(f"/admin/clients/{client_id}/users")).status_code == 200
        return counted.n

    one = await statements()
    # The viewer, the account (loaded once, not again for the section), its users, its
    # invites and their latest emails.
    assert one <= 5
    for i in range(49):  # 50 users, 50 invites
        user = await make_user(email=f"bulk{i}@example.com")
        await access.grant_access(client_id, user["id"], ["tickets"], actor=ADMIN)
        await invitations.invite(client_id, f"inv{i}@example.com", ["quotes"], actor=ADMIN)
    assert await statements() == one


async def test_undo_of_remove_gives_back_the_same_grant_once(http, owner_session):
    client_id, _, member = owner_session
    removed = await http.post(f"/account/users/{member['id']}/remove", headers=HX)
    (message,) = messages_of(removed)
    assert message["text"] == "Removed the access of Jo Walker to Client Test."
    assert message["undo"]["url"] == f"/account/users/{member['id']}/restore"
    assert await access.access_for(member["id"], client_id) is None
    token = message["undo"]["token"]
    undone = await http.post(message["undo"]["url"], {"token": token}, headers=HX)
    assert undone.status_code == 200
    assert message_texts(undone) == ["Access of Jo Walker restored, with the same permissions."]
    assert (await access.access_for(member["id"], client_id)).permissions == (
        "invoices",
        "tickets",
    )
    again = await http.post(message["undo"]["url"], {"token": token}, headers=HX)
    assert again.status_code == 409 and "already has access" in seen(again)


async def test_undo_is_refused_when_forged_late_or_for_someone_else(
    http, owner_session, monkeypatch
):
    from datetime import timedelta

    from app.core import clock
    from app.domain.access.undo import UNDO_SECONDS, removal_token

    client_id, owner, member = owner_session
    removed = messages_of(await http.post(f"/account/users/{member['id']}/remove", headers=HX))
    token = removed[0]["undo"]["token"]
    url = f"/account/users/{member['id']}/restore"
    payload, _, signature = token.partition(".")
    forged = f"{payload}.{'A' * len(signature)}"
    by_staff = removal_token(client_id, member["id"], ["tickets"], actor=ADMIN)  # not the owner
    for bad in (forged, by_staff, "", "x.y"):
        refused = await http.post(url, {"token": bad}, headers=HX)
        assert refused.status_code == 409, bad
        assert "Undo is no longer possible" in seen(refused)
    later = clock.now() + timedelta(seconds=UNDO_SECONDS + 1)
    monkeypatch.setattr(clock, "now", lambda: later)
    late = await http.post(url, {"token": token}, headers=HX)
    assert late.status_code == 409 and "Undo is no longer possible" in seen(late)
    assert await access.access_for(member["id"], client_id) is None


async def test_an_action_on_the_section_reads_the_account_once(http, owner_session, count_queries):
    """The service has the account (it locked it); the refreshed section takes it from there."""
    client_id, _, member = owner_session

    def account_reads(counted) -> int:
        return sum('FROM "clients"' in s and "JOIN" not in s for s in counted.statements)

    with count_queries() as saved:
        response = await http.post(
            f"/account/users/{member['id']}/permissions", {"permissions": ["quotes"]}, headers=HX
        )
    assert message_texts(response) == ["Permissions of Jo Walker saved."]
    with count_queries() as removed:
        response = await http.post(f"/account/users/{member['id']}/remove", headers=HX)
    assert "Removed the access of Jo Walker" in seen(response)
    assert account_reads(saved) == 1 and account_reads(removed) == 1
