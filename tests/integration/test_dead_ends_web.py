"""Dead ends: the account home of a user with few permissions, and the
confirmation after a password reset."""

import re

from app.domain.access import services as access
from app.schema.mail import OutboundEmail
from tests.factories import ADMIN, PASSWORD, make_client, make_user
from tests.integration.conftest import page, text_of

NEW_PASSWORD = "fresh-lantern-meadow-8"


def go_to_links(response) -> dict[str, str] | None:
    """The "Go to" card's links, or None when there is no such card."""
    heading = page(response).find("h2", string="Go to")
    if heading is None:
        return None
    card = heading.find_parent("section")
    return {a.get_text(strip=True): a["href"] for a in card.find_all("a")}


# The account home: no empty "Go to" card.


async def test_a_user_with_few_permissions_sees_no_empty_go_to_card(http):
    client_id, _ = await make_client("Acme Hosting")
    member = await make_user("Mo", "Member", email="member@example.com")
    await access.grant_access(client_id, member["id"], ["tickets", "invoices"], actor=ADMIN)
    await http.login("member@example.com")

    home = await http.get("/account")
    assert home.status_code == 200
    assert go_to_links(home) is None
    assert not page(home).select("ul.link-list")
    # One column, the permissions and where more would come from.
    assert page(home).select_one(".two-col") is None
    text = text_of(home)
    assert "View & Open Support Tickets" in text and "View & Pay Invoices" in text
    assert "The owner of Acme Hosting chooses these permissions: to do more here, ask them." in text


async def test_the_go_to_card_lists_only_what_the_user_can_open(http):
    acme_id, _ = await make_client("Acme Hosting")
    other_id, _ = await make_client("Other Ltd")
    member = await make_user("Mo", "Member", email="member@example.com")
    await access.grant_access(acme_id, member["id"], ["profile"], actor=ADMIN)
    await http.login("member@example.com")
    assert go_to_links(await http.get("/account")) == {"Account profile": "/account/profile"}

    # A second account: Switch Account (the current one stays the one chosen at login).
    await access.grant_access(other_id, member["id"], ["tickets"], actor=ADMIN)
    assert go_to_links(await http.get("/account")) == {
        "Account profile": "/account/profile",
        "Switch Account": "/accounts",
    }


async def test_the_owner_goes_to_the_profile_and_user_management(http):
    await make_client("Acme Hosting", owner_email="owner@example.com")
    await http.login("owner@example.com")
    home = await http.get("/account")
    assert go_to_links(home) == {
        "Account profile": "/account/profile",
        "User Management": "/account/users",
    }
    assert "ask them" not in text_of(home)  # the owner has every permission already


# After a password reset: a confirmation, then on.


async def reset_link_for(http, email: str) -> str:
    await http.post("/password/reset", {"email": email})
    sent = await OutboundEmail.select().where(OutboundEmail.template == "password_reset").first()
    return re.search(r"/password/reset/\S+", sent["text_body"]).group(0)


async def test_a_password_reset_ends_on_a_confirmation(http):
    await make_client("Acme Hosting", owner_email="reset@example.com")
    link = await reset_link_for(http, "reset@example.com")

    done = await http.post(link, {"password": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == "/password/changed"
    confirmation = await http.get("/password/changed")
    assert confirmation.status_code == 200
    assert confirmation.headers["cache-control"] == "no-store"
    soup = page(confirmation)
    assert soup.find("h1").get_text() == "Password changed"
    assert soup.title.get_text().startswith("Password changed")
    status = soup.find(attrs={"role": "status"}, class_="notice")
    assert status.get_text() == (
        "Your password was changed. Use your new password the next time you log in."
    )
    assert "You are logged in as reset@example.com" in text_of(confirmation)
    onward = soup.find("a", string="Continue to your account")
    assert onward["href"] == "/account"
    assert (await http.get(onward["href"])).status_code == 200  # logged in already

    # The new password is the one that works now.
    await http.post("/logout")
    old = await http.post("/login", {"email": "reset@example.com", "password": PASSWORD})
    assert old.status_code == 400
    await http.login("reset@example.com", NEW_PASSWORD)


async def test_with_several_accounts_the_confirmation_leads_to_choose_account(http):
    acme_id, _ = await make_client("Acme Hosting")
    other_id, _ = await make_client("Other Ltd")
    member = await make_user("Mo", "Member", email="member@example.com")
    for client_id in (acme_id, other_id):
        await access.grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    link = await reset_link_for(http, "member@example.com")
    await http.post(link, {"password": NEW_PASSWORD})
    confirmation = await http.get("/password/changed")
    assert page(confirmation).find("a", string="Choose an account")["href"] == "/accounts"


async def test_the_confirmation_needs_a_login(http):
    response = await http.get("/password/changed")
    assert response.status_code == 303 and response.headers["location"] == "/login"
    # A failed reset shows its error on the form, not the confirmation.
    await make_client("Acme Hosting", owner_email="reset@example.com")
    link = await reset_link_for(http, "reset@example.com")
    weak = await http.post(link, {"password": "abc"})
    assert weak.status_code == 400 and "Password changed" not in text_of(weak)
