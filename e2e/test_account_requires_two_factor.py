"""An account that requires two-factor authentication, in a real browser: a user without it who
opens that account is sent to enrol (the page names the account), their other account stays
reachable meanwhile, and once enrolled (pyotp computes the code) they land back in the account."""

import re

import pyotp
from conftest import login
from playwright.sync_api import Page, expect
from test_two_factor import fresh_code


def open_account(page: Page, name: str) -> None:
    expect(page.get_by_role("heading", name="Choose Account")).to_be_visible()
    page.get_by_role("button", name=re.compile(name)).click()


def test_a_user_is_sent_to_enrol_by_an_account_that_requires_it(page: Page, base_url, roster):
    email = "strict-owner@e2e.example"
    strict = roster.create_client("Strict Two Factor Ltd", email, "Rae")
    roster.create_client("Relaxed Ltd", email, "Rae")  # the same login owns both
    # Staff's setting, as the Profile tab saves it.
    roster.sql("UPDATE clients SET require_two_factor = 1 WHERE id = ?", strict)

    login(page, base_url, email)
    expect(page.get_by_role("button", name=re.compile("Strict Two Factor Ltd"))).to_contain_text(
        "Requires two-factor authentication"
    )
    open_account(page, "Strict Two Factor Ltd")

    # Sent to the Security page's enrolment, which says which account asks.
    expect(page).to_have_url(re.compile(r"/account/security\?next="))
    notice = page.locator("#two-factor-asked-by")
    expect(notice).to_contain_text(
        "Strict Two Factor Ltd requires everyone with access to use two-factor authentication"
    )

    # The other account is reachable meanwhile.
    notice.get_by_role("link", name="Switch Account").click()
    open_account(page, "Relaxed Ltd")
    expect(page.get_by_role("heading", name="Relaxed Ltd", level=1)).to_be_visible()

    # Back to the strict one: enrol, then land in it.
    page.goto(f"{base_url}/accounts")
    open_account(page, "Strict Two Factor Ltd")
    expect(page.locator("#two-factor-asked-by")).to_be_visible()
    page.get_by_role("button", name="Enable Two-Factor Authentication").click()
    key = page.locator("#two-factor-key")
    expect(key).to_be_visible()
    totp = pyotp.TOTP(key.inner_text().replace(" ", ""))
    page.get_by_label("Authentication Code").fill(fresh_code(totp, set()))
    page.get_by_role("button", name="Confirm and Enable").click()
    expect(page.locator("#recovery-codes code")).to_have_count(10)
    page.get_by_role("link", name="I have saved them: continue to Strict Two Factor Ltd").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.get_by_role("heading", name="Strict Two Factor Ltd", level=1)).to_be_visible()
