"""Settings, the outbox and the activity log end to end."""

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, OWNER_PASSWORD, login
from playwright.sync_api import Browser, Page, expect


def save_user_management_off(page: Page, base_url: str, off: bool) -> None:
    page.goto(f"{base_url}/admin/settings")
    page.get_by_label("Disable Client Area User Management").set_checked(off)
    page.get_by_role("button", name="Save Settings").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()


def test_settings_turn_client_user_management_off_and_the_log_and_outbox_show_it(
    page: Page, base_url, roster, smtp_inbox, browser: Browser
):
    client_id = roster.create_client("Soylent", "sol@e2e.example", "Sol")
    owner = browser.new_context().new_page()
    login(owner, base_url, "sol@e2e.example", OWNER_PASSWORD)
    owner.get_by_text("Hello, Sol!").click()
    expect(owner.get_by_role("menuitem", name="User Management")).to_be_visible()

    login(page, base_url, ADMIN_EMAIL, ADMIN_PASSWORD, path="/admin/login")
    try:
        save_user_management_off(page, base_url, True)
        page.reload()
        expect(page.get_by_label("Disable Client Area User Management")).to_be_checked()

        owner.goto(f"{base_url}/account")
        owner.get_by_text("Hello, Sol!").click()
        expect(owner.get_by_role("menuitem", name="User Management")).to_have_count(0)
        assert owner.goto(f"{base_url}/account/users").status == 403
    finally:
        save_user_management_off(page, base_url, False)
    assert owner.goto(f"{base_url}/account/users").status == 200

    # The owner invites someone: the outbox shows the email sent, the log shows both changes.
    owner.get_by_label("Email Address").fill("guest@e2e.example")
    owner.get_by_role("button", name="Send Invite").click()
    expect(owner.get_by_text("Invite sent to guest@e2e.example.")).to_be_visible()
    smtp_inbox.wait_for("guest@e2e.example", "invite")
    for _ in range(20):  # the worker marks it sent just after the SMTP server has it
        page.goto(f"{base_url}/admin/mail?status=sent")
        if page.locator("tr", has_text="guest@e2e.example").count():
            break
        page.wait_for_timeout(250)
    expect(page.locator("tr", has_text="guest@e2e.example").locator(".badge")).to_have_text(
        "sent", ignore_case=True
    )
    page.goto(f"{base_url}/admin/activity")
    expect(
        page.get_by_text("Setting “Disable Client Area User Management”: off -> on")
    ).to_be_visible()
    page.locator("tr", has_text="Invited guest@e2e.example").get_by_role(
        "link", name="Soylent"
    ).first.click()
    expect(page).to_have_url(f"{base_url}/admin/activity?client_id={client_id}")
    expect(page.locator("tbody tr", has_text="Setting")).to_have_count(0)
    expect(page.locator("tbody tr", has_text="Invited guest@e2e.example")).to_have_count(1)

    # Security: a link that says what it is, beside the staff member's name.
    page.locator("header").get_by_role("link", name="Security", exact=True).click()
    expect(page).to_have_url(f"{base_url}/admin/security")
    expect(page.get_by_role("heading", name="Two-Factor Authentication")).to_be_visible()

    # Logout: the login page, and the address bar says so.
    page.get_by_role("button", name="Logout").click()
    expect(page.get_by_role("heading", name="Staff Login")).to_be_visible()
    expect(page).to_have_url(f"{base_url}/admin/login")
