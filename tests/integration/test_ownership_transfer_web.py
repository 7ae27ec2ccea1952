"""Ownership transfer over HTTP: the owner's Transfer ownership on User Management, the emailed
link's page with Accept ownership, the banner in the account, and staff's Approve / Reject."""

import re

import pytest

from app.domain.access import services as access
from app.domain.access import transfers
from app.domain.staff.services import REQUIRE_TRANSFER_APPROVAL, set_setting
from app.schema.clients import Client
from app.schema.mail import OutboundEmail
from app.schema.transfers import OwnershipTransfer
from tests.factories import ADMIN, make_client, make_user, user_actor
from tests.integration.conftest import log_in_as_staff, message_texts, page, text_of

HX = {"HX-Request": "true", "HX-Request-Type": "partial"}


@pytest.fixture
async def account(http):
    client_id, owner = await make_client("Handover Ltd", owner_email="fiona@example.com")
    heir = await make_user("Jo", "Walker", email="jo@example.com")
    other = await make_user("Max", "Other", email="max@example.com")
    await access.grant_access(client_id, heir["id"], ["tickets"], actor=ADMIN)
    await access.grant_access(client_id, other["id"], ["invoices"], actor=ADMIN)
    return client_id, owner, heir, other


async def _owner_of(client_id: int) -> int:
    return (await Client.select(Client.owner).where(Client.id == client_id).first())["owner"]


async def _link_sent_to(email: str) -> str:
    rows = await OutboundEmail.select(OutboundEmail.text_body).where(
        (OutboundEmail.to_address == email) & (OutboundEmail.template == "ownership_transfer")
    )
    found = [m for r in rows for m in re.findall(r"https?://\S+/transfer/\S+", r["text_body"])]
    assert len(found) == 1, found
    return found[0].replace("http://testserver.local", "")


async def _switch(http, email: str) -> None:
    await http.post("/logout")
    await http.login(email)


async def test_the_owner_transfers_and_the_chosen_user_accepts_from_the_link(http, account):
    client_id, owner, heir, other = account
    await http.login("fiona@example.com")
    placeholder = page(await http.get("/account/users")).find(id="transfer-ownership")
    assert placeholder["hx-get"] == "/account/users/transfer"  # loaded by its own request
    shown = page(await http.get("/account/users/transfer", headers=HX))
    options = [o["value"] for o in shown.select("#transfer-people option")]
    assert options == ["jo@example.com", "max@example.com"]  # not the owner themselves
    assert shown.find("label", string="New owner") is not None

    # Bad input: an inline error, nothing started.
    refused = await http.post("/account/users/transfer", {"scope": "all"}, headers=HX)
    assert refused.status_code == 422 and "Enter the email address" in text_of(refused)
    stranger = await http.post(
        "/account/users/transfer", {"email": "nobody@example.com", "scope": "all"}, headers=HX
    )
    assert stranger.status_code == 422 and "Choose a user of this account" in text_of(stranger)
    assert page(stranger).find(id="transfer-user")["value"] == "nobody@example.com"
    no_keys = await http.post(
        "/account/users/transfer", {"email": "jo@example.com", "scope": "choose"}, headers=HX
    )
    assert no_keys.status_code == 422 and "at least one permission" in text_of(no_keys)
    assert await OwnershipTransfer.count() == 0

    started = await http.post(
        "/account/users/transfer",
        {"email": "JO@example.com", "scope": "choose", "permissions": ["tickets", "invoices"]},
        headers=HX,
    )
    assert started.status_code == 200
    assert "Waiting for Jo Walker" in text_of(started)
    assert page(started).find(id="transfer-ownership") is not None  # the section alone
    assert page(started).find("html") is None
    assert any("Ownership transfer started" in m for m in message_texts(started))
    link = await _link_sent_to("jo@example.com")

    # Someone else with the link: told it is not theirs, and cannot accept it.
    await _switch(http, "max@example.com")
    as_other = await http.get(link)
    assert "This transfer is for another user" in text_of(as_other)
    assert (await http.post(f"{link}/accept")).status_code == 403
    assert await _owner_of(client_id) == owner["id"]

    # Logged out: Login, and the page keeps the token to itself.
    await http.post("/logout")
    logged_out = await http.get(link)
    assert logged_out.headers["referrer-policy"] == "no-referrer"
    assert logged_out.headers["cache-control"] == "no-store"
    assert page(logged_out).find("a", string="Login")["href"] == f"/login?next={link}"

    await http.login("jo@example.com")
    offered = await http.get(link)
    assert "Fiona" in text_of(offered) or "wants to make you the owner" in text_of(offered)
    assert page(offered).find("button", string="Accept ownership") is not None
    accepted = await http.post(f"{link}/accept")
    assert accepted.status_code == 303
    assert accepted.headers["location"] == "/account?transfer=completed"
    assert await _owner_of(client_id) == heir["id"]
    home = await http.get(accepted.headers["location"])
    assert "You are now the owner of this account" in text_of(home)
    assert page(home).find(class_="badge-owner") is not None

    # The link is spent.
    again = await http.get(link)
    assert again.status_code == 404 and "No pending ownership transfer" in text_of(again)


async def test_without_javascript_the_section_is_a_page_of_its_own(http, account):
    """A plain HTTP client (no script, no htmx): User Management's placeholder links to the
    Transfer ownership section as a page, whose forms post plainly (with the CSRF field) and
    answer that page again."""
    client_id, owner, heir, _ = account
    await http.login("fiona@example.com")
    placeholder = page(await http.get("/account/users")).find(id="transfer-ownership")
    link = placeholder.find("noscript").find("a")
    assert link["href"] == "/account/users/transfer"
    shown = await http.get(link["href"])
    assert shown.status_code == 200
    soup = page(shown)
    assert soup.find("h1").get_text() == "Transfer ownership"
    assert soup.find("a", string="Back to User Management")["href"] == "/account/users"
    form = soup.find("form", id="transfer-form")
    assert form["method"] == "post" and form["action"] == "/account/users/transfer"
    assert form.find("input", {"name": "_csrf_token"})["value"]

    refused = await http.post(form["action"], {"scope": "all"})
    assert refused.status_code == 422
    assert page(refused).find("h1").get_text() == "Transfer ownership"  # the page, not a part
    assert "Enter the email address" in text_of(refused)

    started = await http.post(form["action"], {"email": "jo@example.com", "scope": "all"})
    assert started.status_code == 200
    assert "Ownership transfer started: Jo Walker was emailed." in message_texts(started)
    assert "Waiting for Jo Walker" in text_of(started)
    cancel = page(started).find("form", action=re.compile(r"/cancel$"))
    assert cancel["method"] == "post" and cancel.find("input", {"name": "_csrf_token"})
    cancelled = await http.post(cancel["action"], {})
    assert cancelled.status_code == 200
    assert "Ownership transfer cancelled." in message_texts(cancelled)
    assert page(cancelled).find("form", id="transfer-form") is not None
    assert await _owner_of(client_id) == owner["id"]


async def test_accepting_from_the_link_enters_the_account_and_records_it(http, account):
    """The link's Accept ownership lands the new owner in the account: recorded as entering it
    (last login to this account), as Choose Account records it."""
    from app.schema.grants import Grant

    client_id, owner, heir, _ = account
    await transfers.start(client_id, heir["id"], ["tickets"], actor=user_actor(owner))
    link = await _link_sent_to("jo@example.com")
    await http.login("jo@example.com")
    # Their only account was entered at login: forget it, to see the link's acceptance record it.
    await Grant.update({Grant.last_login_at: None}).where(Grant.user == heir["id"])
    accepted = await http.post(f"{link}/accept")
    assert accepted.headers["location"] == "/account?transfer=completed"
    row = (
        await Grant.select(Grant.last_login_at)
        .where((Grant.client == client_id) & (Grant.user == heir["id"]))
        .first()
    )
    assert row["last_login_at"] is not None


async def test_the_banner_in_the_account_accepts_and_declines(http, account):
    client_id, owner, heir, _ = account
    transfer_id, _ = await transfers.start(
        client_id, heir["id"], ["tickets"], actor=user_actor(owner)
    )
    await http.login("jo@example.com")
    home = page(await http.get("/account"))
    assert "wants to make you the owner" in home.get_text()
    forms = [f["action"] for f in home.select(".transfer-banner form")]
    assert forms == [
        f"/account/transfer/{transfer_id}/accept",
        f"/account/transfer/{transfer_id}/decline",
    ]
    declined = await http.post(f"/account/transfer/{transfer_id}/decline")
    assert declined.headers["location"] == "/account?transfer=declined"
    assert await _owner_of(client_id) == owner["id"]
    assert "wants to make you" not in text_of(await http.get("/account"))

    transfer_id, _ = await transfers.start(
        client_id, heir["id"], ["tickets"], actor=user_actor(owner)
    )
    accepted = await http.post(f"/account/transfer/{transfer_id}/accept")
    assert accepted.headers["location"] == "/account?transfer=completed"
    assert await _owner_of(client_id) == heir["id"]
    # Spent: a second press says so.
    again = await http.post(f"/account/transfer/{transfer_id}/accept")
    assert again.headers["location"] == "/account?transfer=refused&why=gone"


async def test_the_banner_says_an_expired_transfer_expired(http, account):
    """A refusal is said by the reason the service gives (not read from its message)."""
    from datetime import timedelta

    from app.core import clock

    client_id, owner, heir, _ = account
    transfer_id, _ = await transfers.start(
        client_id, heir["id"], ["tickets"], actor=user_actor(owner)
    )
    await OwnershipTransfer.update(
        {OwnershipTransfer.expires_at: clock.now() - timedelta(minutes=1)}
    ).where(OwnershipTransfer.id == transfer_id)
    await http.login("jo@example.com")
    refused = await http.post(f"/account/transfer/{transfer_id}/accept")
    assert refused.headers["location"] == "/account?transfer=refused&why=expired"
    assert "This ownership transfer has expired." in text_of(
        await http.get(refused.headers["location"])
    )


async def test_the_banner_shows_only_to_the_chosen_user(http, account):
    client_id, owner, heir, _ = account
    await transfers.start(client_id, heir["id"], ["tickets"], actor=user_actor(owner))
    await http.login("max@example.com")
    assert "wants to make you" not in text_of(await http.get("/account"))


async def test_the_owner_cancels_in_place_and_only_the_owner_may_start(http, account):
    client_id, owner, heir, _ = account
    transfer_id, _ = await transfers.start(
        client_id, heir["id"], ["tickets"], actor=user_actor(owner)
    )
    await http.login("jo@example.com")
    refused = await http.post(
        "/account/users/transfer", {"email": "max@example.com", "scope": "all"}, headers=HX
    )
    assert refused.status_code in (303, 403)
    assert (await http.post(f"/account/users/transfer/{transfer_id}/cancel")).status_code in (
        303,
        403,
    )
    await _switch(http, "fiona@example.com")
    shown = page(await http.get("/account/users/transfer", headers=HX))
    assert "Waiting for Jo Walker" in shown.get_text()
    cancelled = await http.post(f"/account/users/transfer/{transfer_id}/cancel", headers=HX)
    assert cancelled.status_code == 200
    assert page(cancelled).find("summary", string="Transfer ownership") is not None
    assert "Ownership transfer cancelled." in message_texts(cancelled)
    row = await OwnershipTransfer.select().where(OwnershipTransfer.id == transfer_id).first()
    assert row["status"] == "cancelled"


async def test_staff_see_a_pending_transfer_and_approve_it(http, account):
    client_id, owner, heir, _ = account
    await set_setting(REQUIRE_TRANSFER_APPROVAL, "true", actor=ADMIN)
    transfer_id, token = await transfers.start(
        client_id, heir["id"], ["tickets"], actor=user_actor(owner)
    )
    await log_in_as_staff(http, "ada@example.com", "admin-passphrase-77", "Ada", "full")
    users_tab = page(await http.get(f"/admin/clients/{client_id}/users"))
    region = users_tab.find(id="account-transfer")  # loaded by its own request
    assert region["hx-get"] == f"/admin/clients/{client_id}/transfer"
    tab = page(await http.get(region["hx-get"], headers=HX))
    assert "Waiting for Jo Walker to accept" in tab.get_text()
    assert tab.find("button", string="Approve") is None  # not accepted yet

    assert await transfers.accept_by_token(token, actor=user_actor(heir)) == "awaiting_approval"
    tab = page(await http.get(f"/admin/clients/{client_id}/transfer", headers=HX))
    assert "awaits staff approval" in tab.get_text()
    assert tab.find("button", string="Approve") is not None
    assert tab.find("button", string="Reject") is not None
    approved = await http.post(f"/admin/clients/{client_id}/transfers/{transfer_id}/approve")
    assert approved.headers["location"].endswith("notice=transfer_completed")
    assert await _owner_of(client_id) == heir["id"]
    after = page(await http.get(approved.headers["location"]))
    assert "Ownership transfer approved" in after.get_text()
    gone = page(await http.get(f"/admin/clients/{client_id}/transfer", headers=HX))
    assert gone.find(class_="transfer-pending") is None


async def test_without_javascript_staff_reach_the_transfer_as_a_page(http, account):
    """A plain HTTP client: the Users tab's placeholder links to the transfer region as a page,
    whose Approve posts plainly and comes back to the tab."""
    client_id, owner, heir, _ = account
    await set_setting(REQUIRE_TRANSFER_APPROVAL, "true", actor=ADMIN)
    transfer_id, token = await transfers.start(
        client_id, heir["id"], ["tickets"], actor=user_actor(owner)
    )
    assert await transfers.accept_by_token(token, actor=user_actor(heir)) == "awaiting_approval"
    await log_in_as_staff(http, "ada@example.com", "admin-passphrase-77", "Ada", "full")
    region = page(await http.get(f"/admin/clients/{client_id}/users")).find(id="account-transfer")
    link = region.find("noscript").find("a")
    assert link["href"] == f"/admin/clients/{client_id}/transfer"
    shown = await http.get(link["href"])
    assert shown.status_code == 200
    soup = page(shown)
    assert soup.find("h1").get_text() == "Ownership transfer"
    assert "awaits staff approval" in soup.get_text()
    approve = soup.find("button", string="Approve").find_parent("form")
    assert approve["method"] == "post" and approve.find("input", {"name": "_csrf_token"})
    approved = await http.post(approve["action"], {})
    assert approved.headers["location"].endswith("notice=transfer_completed")
    assert await _owner_of(client_id) == heir["id"]
    none = page(await http.get(link["href"]))
    assert "No ownership transfer is pending." in none.get_text()


async def test_the_settings_page_turns_approval_on(http):
    await log_in_as_staff(http, "ada@example.com", "admin-passphrase-77", "Ada", "full")
    settings = page(await http.get("/admin/settings"))
    box = settings.find("input", {"name": "require_transfer_approval"})
    assert box is not None and not box.has_attr("checked")
