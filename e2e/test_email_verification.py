"""Email verification: a new user registers, sees the banner, sends the link again
with Resend, opens the link from the email the SMTP server received and presses Verify Email
Address (opening it verifies nothing: mail scanners open links too), the banner goes, and staff
see the address verified on the admin user page.

With VERIFICATION_SCREENSHOTS=<dir>, the banner, the Security page section, the link's page and
the result page are saved at 1280 and 390 px wide."""

import os
import re

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Inbox, login
from playwright.sync_api import Browser, expect

EMAIL, PASSWORD = "vera@e2e.example", "e2e-vera-verify-passphrase"


def screenshot(page, name: str) -> None:
    folder = os.environ.get("VERIFICATION_SCREENSHOTS")
    if folder:
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=f"{folder}/{name}-{width}.png", full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})


def verification_link(message) -> str:
    return re.search(r"http://\S+/verify-email/\S+", Inbox.text_of(message)).group(0)


def test_a_new_user_verifies_their_address_and_staff_see_it(browser: Browser, base_url, smtp_inbox):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base_url}/register")
    page.get_by_label("First Name").fill("Vera")
    page.get_by_label("Last Name").fill("Verify")
    page.get_by_label("Email Address").fill(EMAIL)
    page.get_by_label("Company Name").fill("Vera Ltd")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("I have read and agree to the Terms of Service").check()
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_text("Hello, Vera!")).to_be_visible()

    banner = page.locator("#email-banner")
    expect(banner).to_contain_text("Please verify your email address")
    first = smtp_inbox.wait_for(EMAIL, "Verify your email address")
    screenshot(page, "verify-banner")

    banner.get_by_role("button", name="Resend").click()
    expect(banner).to_contain_text(f"Verification email sent to {EMAIL}")
    newest = smtp_inbox.wait_for(EMAIL, "Verify your email address", count=2)
    assert verification_link(newest) != verification_link(first)

    page.goto(f"{base_url}/account/security")
    section = page.locator("#security-email")
    expect(section.get_by_role("heading", name="Email Address", exact=True)).to_be_visible()
    expect(section).to_contain_text("Not verified")
    screenshot(page, "verify-section")

    # The older link was replaced by the newer one.
    page.goto(verification_link(first))
    expect(page.get_by_role("heading", name="This link can no longer be used")).to_be_visible()
    page.goto(verification_link(newest))
    expect(page.get_by_role("heading", name="Verify your email address")).to_be_visible()
    expect(page.locator(".auth-card")).to_contain_text(
        f"Confirm that {EMAIL} is your email address"
    )
    screenshot(page, "verify-link")
    page.reload()  # opening the link again (as a mail scanner would first) leaves it usable
    page.goto(f"{base_url}/account/security")
    expect(page.locator("#security-email")).to_contain_text("Not verified")
    page.goto(verification_link(newest))
    page.get_by_role("button", name="Verify Email Address").click()
    expect(page.get_by_role("heading", name="Email address verified")).to_be_visible()
    expect(page.locator("#email-banner")).to_have_count(0)
    screenshot(page, "verify-result")
    page.goto(verification_link(newest))  # used: no button any more
    expect(page.get_by_role("heading", name="This link can no longer be used")).to_be_visible()
    expect(page.get_by_role("button", name="Verify Email Address")).to_have_count(0)
    page.goto(f"{base_url}/account")
    expect(page.get_by_text("Hello, Vera!")).to_be_visible()
    expect(page.get_by_text("Please verify your email address")).to_have_count(0)
    page.goto(f"{base_url}/account/security")
    expect(page.locator("#security-email")).to_contain_text("Verified")
    context.close()

    staff = browser.new_context(viewport={"width": 1280, "height": 900})
    admin = staff.new_page()
    login(admin, base_url, ADMIN_EMAIL, ADMIN_PASSWORD, path="/admin/login")
    admin.goto(f"{base_url}/admin/users?q={EMAIL}")
    admin.get_by_role("link", name="Vera Verify").first.click()
    part = admin.locator("#user-email-verification")
    expect(part.get_by_role("heading", name="Email Verification")).to_be_visible()
    expect(part).to_contain_text("Verified")
    expect(part.get_by_role("button", name="Resend Verification Email")).to_have_count(0)
    staff.close()
