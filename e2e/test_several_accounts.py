"""One invitation for several accounts, in a real browser: an owner of three accounts invites one
address to two of them (one with its own permissions) from User Management; the one email lists
both; staff close one of them meanwhile; the invitee registers from the link and lands on Choose
Account, told what was given and what was skipped and why. Every new screen passes axe."""

import re

from conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    OWNER_PASSWORD,
    confirm,
    login,
    register_from_invite,
)
from playwright.sync_api import Page, expect
from test_accessibility import AXE, FAILING_IMPACTS, describe

OWNER = "several.owner@e2e.example"
INVITEE = "several.invitee@e2e.example"


def assert_accessible(page: Page) -> None:
    violations = AXE.run(page).response["violations"]
    failing = [v for v in violations if v["impact"] in FAILING_IMPACTS]
    assert not failing, describe(failing)


def test_an_owner_invites_to_several_accounts_and_the_invitee_accepts_them_at_once(
    page: Page, base_url, roster, smtp_inbox
):
    north = roster.create_client("Several North", OWNER, "Sev")
    south = roster.create_client("Several South", OWNER, "Sev")
    west = roster.create_client("Several West", OWNER, "Sev")
    login(page, base_url, OWNER, OWNER_PASSWORD)
    page.goto(f"{base_url}/accounts")
    page.get_by_role("button", name="Several North").click()
    page.goto(f"{base_url}/account/users")
    page.get_by_role("link", name="Invite to several accounts").click()
    expect(page.get_by_role("heading", name="Invite to several accounts")).to_be_visible()
    accounts = page.get_by_role("group", name="Accounts")
    expect(accounts.get_by_role("checkbox", name="Several North")).to_be_checked()
    expect(accounts.get_by_role("checkbox", name="Several West")).not_to_be_checked()
    assert_accessible(page)

    page.get_by_label("Email Address").fill(INVITEE)
    page.get_by_role("radio", name="Billing contact").first.check()
    accounts.get_by_role("checkbox", name="Several South").check()
    south_item = page.locator(".several-account", has_text="Several South")
    south_item.locator("summary").click()  # its own permissions, by keyboard-reachable details
    south_item.get_by_role("radio", name="Choose Permissions").check()
    south_item.get_by_role("checkbox", name="View & Open Support Tickets").check()
    assert_accessible(page)
    page.get_by_role("button", name="Send Invite").click()
    expect(page.get_by_role("heading", name=f"Invite sent to {INVITEE}")).to_be_visible()
    expect(
        page.get_by_text("One email lists 2 accounts: Several North, Several South.")
    ).to_be_visible()
    assert_accessible(page)

    # Each account's pending list shows its part.
    page.goto(f"{base_url}/account/users")
    expect(page.locator("#account-invites").get_by_text(INVITEE)).to_be_visible()

    message = smtp_inbox.wait_for(INVITEE, "has invited you")
    assert message["Subject"] == "Sev Owner has invited you to their accounts"
    body = smtp_inbox.text_of(message)
    assert "In Several North you will be able to:" in body
    assert "In Several South you will be able to:" in body
    link = re.search(r"http://\S+/invite/\S+", body).group(0)

    # Staff close one of the two meanwhile.
    page.context.clear_cookies()
    login(page, base_url, ADMIN_EMAIL, ADMIN_PASSWORD, path="/admin/login")
    # Their own form: this account, others added by number (by keyboard: Enter in the field adds).
    page.goto(f"{base_url}/admin/clients/{north}/users")
    page.get_by_role("link", name="Invite to several accounts").click()
    page.get_by_label("Add accounts").fill(f"{west}")
    page.get_by_label("Add accounts").press("Enter")
    expect(page.get_by_role("checkbox", name="Several West")).to_be_checked()
    assert_accessible(page)
    page.goto(f"{base_url}/admin/clients/{south}/users")
    page.get_by_role("button", name="Close Account").click()
    confirm(page, "Close Account")
    expect(page.get_by_text("This account is closed").first).to_be_visible()
    page.context.clear_cookies()

    page.goto(link)
    expect(page.get_by_role("heading", name="You have been invited to 2 accounts")).to_be_visible()
    expect(page.get_by_text("This account is closed: it will be skipped.")).to_be_visible()
    assert_accessible(page)
    register_from_invite(page, "Val", "Several")
    expect(page.get_by_role("heading", name="Invite accepted")).to_be_visible()
    expect(
        page.get_by_text(
            "You now have access to 1 account; 1 of the invitation's accounts was skipped."
        )
    ).to_be_visible()
    expect(page.get_by_text("Several South: skipped. The account is closed.")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Several North").click()
    expect(page.get_by_role("heading", name="Several North")).to_be_visible()
    assert north  # the account the invitee reached
