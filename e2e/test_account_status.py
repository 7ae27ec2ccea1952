"""Close Account and Reopen Account: staff close an account from its Users tab; its
pending invite stops working and its owner can no longer enter it, until it is reopened."""

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, confirm, login
from playwright.sync_api import Browser, Page, expect


def test_a_closed_account_cannot_be_entered_until_reopened(
    page: Page, browser: Browser, base_url, roster
):
    client_id = roster.create_client("Tyrell", "ty@e2e.example", "Ty")
    login(page, base_url, ADMIN_EMAIL, ADMIN_PASSWORD, path="/admin/login")
    page.goto(f"{base_url}/admin/clients/{client_id}/users")

    page.get_by_role("button", name="Close Account").click()
    expect(page.get_by_role("dialog", name="Close Tyrell?")).to_be_visible()
    confirm(page, "Close Account")
    expect(page.get_by_text("Account closed: its pending invites were cancelled")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Closed")
    expect(page.get_by_role("button", name="+ Associate User")).to_have_count(0)

    owner = browser.new_context().new_page()
    login(owner, base_url, "ty@e2e.example")
    expect(owner.get_by_role("heading", name="Choose Account")).to_be_visible()
    expect(owner.get_by_role("button", name="Tyrell")).to_be_disabled()
    owner.goto(f"{base_url}/account")
    expect(owner).to_have_url(f"{base_url}/accounts")

    page.get_by_role("button", name="Reopen Account").click()
    expect(page.get_by_text("Account reopened")).to_be_visible()
    owner.goto(f"{base_url}/accounts")
    owner.get_by_role("button", name="Tyrell").click()
    expect(owner).to_have_url(f"{base_url}/account")
