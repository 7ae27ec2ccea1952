"""Ownership transfer started by the owner: Transfer ownership on User Management, then the
chosen user confirms from the emailed link (Accept ownership) in their own browser."""

import re
from datetime import UTC, datetime

from conftest import OWNER_PASSWORD, login
from playwright.sync_api import Page, expect

OWNER = "tess.transfer@e2e.example"
HEIR = "hal.heir@e2e.example"


def test_an_owner_transfers_ownership_and_the_new_owner_confirms_from_the_email(
    page: Page, browser, base_url, roster, smtp_inbox
):
    client_id = roster.create_client("Transfer Co", OWNER, "Tess")
    roster.create_client("Hal's Own Co", HEIR, "Hal", "Heir")  # Hal's login, with a password
    heir_id = roster.sql("SELECT id FROM users WHERE email_key = ?", HEIR)[0][0]
    now = str(datetime.now(UTC))
    roster.sql(
        "INSERT INTO grants (user, client, permissions, created_at, updated_at)"
        " VALUES (?, ?, 'tickets', ?, ?)",
        heir_id,
        client_id,
        now,
        now,
    )

    login(page, base_url, OWNER)
    page.goto(f"{base_url}/account/users")
    section = page.locator("#transfer-ownership")
    section.locator("summary", has_text="Transfer ownership").click()
    section.get_by_label("New owner").fill(HEIR)
    section.get_by_role("radio", name="Choose Permissions").check()
    section.get_by_label("View & Pay Invoices").check()
    section.get_by_role("button", name="Transfer", exact=True).click()
    expect(section.get_by_text("Waiting for Hal Heir")).to_be_visible()
    expect(section.get_by_role("button", name="Cancel transfer")).to_be_visible()

    message = smtp_inbox.wait_for(HEIR, "wants to make you the owner of Transfer Co")
    link = re.search(r"http://\S+/transfer/\S+", smtp_inbox.text_of(message)).group(0)
    smtp_inbox.wait_for(OWNER, "You asked to transfer Transfer Co")

    # Hal, in his own browser: the link, then Login, then back to the link's page.
    heir = browser.new_context().new_page()
    heir.goto(link)
    expect(heir.get_by_role("heading", name="Ownership of Transfer Co")).to_be_visible()
    heir.get_by_role("link", name="Login").click()
    heir.get_by_label("Email Address").fill(HEIR)
    heir.get_by_label("Password").fill(OWNER_PASSWORD)
    heir.get_by_role("button", name="Login").click()
    heir.get_by_role("button", name="Accept ownership").click()
    expect(heir.get_by_text("You are now the owner of this account.")).to_be_visible()
    expect(heir.get_by_role("heading", name="Transfer Co")).to_be_visible()
    expect(heir.locator(".badge-owner")).to_be_visible()

    smtp_inbox.wait_for(OWNER, "Hal Heir now owns Transfer Co")
    assert roster.sql("SELECT owner FROM clients WHERE id = ?", client_id)[0][0] == heir_id

    # Tess stays a user with what she chose to keep: User Management is no longer hers.
    page.goto(f"{base_url}/account")
    expect(page.get_by_text("View & Pay Invoices")).to_be_visible()
    expect(page.locator(".badge-owner")).to_have_count(0)

    heir.goto(link)  # the link worked once
    expect(heir.get_by_text("No pending ownership transfer matches this link.")).to_be_visible()
    heir.context.close()
