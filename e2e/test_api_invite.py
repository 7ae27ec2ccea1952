"""An invitation created through the WHMCS-compatible API (whmcspy, as a billing script would)
arrives by email, is accepted in the browser, and the new user reaches the account."""

import json

import whmcspy
from conftest import ADMIN_EMAIL, link_in, register_from_invite
from playwright.sync_api import Page, expect


def test_an_api_invitation_is_accepted_in_the_browser(page: Page, base_url, roster, smtp_inbox):
    made = json.loads(
        roster("create-api-credential", "--email", ADMIN_EMAIL, "--description", "e2e billing")
    )
    api = whmcspy.WHMCS(f"{base_url}/includes/api.php", made["identifier"], made["secret"])
    client_id = roster.create_client("Api Invite Co", "api.owner@e2e.example", "Paula")
    invitee = "api.invitee@e2e.example"

    answer = api.call(
        "CreateClientInvite", client_id=client_id, email=invitee, permissions="invoices,tickets"
    )
    assert answer == {"result": "success"}  # the token travels only in the email

    message = smtp_inbox.wait_for(invitee, "invite")
    link = link_in(smtp_inbox.text_of(message))
    page.goto(link)
    expect(
        page.get_by_role("heading", name="You have been invited to Api Invite Co")
    ).to_be_visible()
    register_from_invite(page, "Ivy", "Invited", invitee)
    expect(page.get_by_text("Hello, Ivy!")).to_be_visible()
    expect(page.get_by_text("Invite accepted")).to_be_visible()
    expect(page.get_by_role("heading", name="Api Invite Co")).to_be_visible()
    expect(page.get_by_text("View & Pay Invoices")).to_be_visible()
    expect(page.get_by_text("View & Open Support Tickets")).to_be_visible()
    expect(page.get_by_text("Modify Master Account Profile")).to_have_count(0)

    # The API sees the new user on the account, and the log names the credential.
    details = api.call("GetClientsDetails", clientid=client_id)
    assert [u["email"] for u in details["client"]["users"]["user"]] == [
        "api.owner@e2e.example",
        invitee,
    ]
    log = api.call("GetActivityLog", clientid=client_id)["activity"]["entry"]
    assert any(made["identifier"] in entry["username"] for entry in log)
