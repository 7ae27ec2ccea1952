"""Access until in Chromium: an owner invites with an end, the person accepts, and when the end
comes the access goes by itself; the owner's User Management page updates live."""

from conftest import link_in, login, register_from_invite
from playwright.sync_api import Browser, Page, expect

SWEPT = 30_000  # ms: every process looks for ended access every 15 s


def test_an_invited_access_ends_by_itself_and_the_owners_page_updates_live(
    page: Page, base_url, roster, smtp_inbox, browser: Browser
):
    roster.create_client("Tempworks", "tempo@e2e.example", "Tempo")
    login(page, base_url, "tempo@e2e.example")
    page.goto(f"{base_url}/account/users")
    form = page.locator("#invite-form")
    form.get_by_label("Email Address").fill("designer@e2e.example")
    until = form.get_by_label("Access until")
    expect(until).to_have_attribute("type", "date")
    until.fill("2099-12-14")
    form.get_by_role("button", name="Send Invite", exact=True).click()
    expect(page.get_by_text("Invite sent to designer@e2e.example.")).to_be_visible()
    invite_row = page.locator("tr", has_text="designer@e2e.example")
    expect(invite_row.get_by_text("until 14 Dec 2099")).to_be_visible()

    message = smtp_inbox.wait_for("designer@e2e.example", "has invited you")
    guest = browser.new_context().new_page()
    guest.goto(link_in(smtp_inbox.text_of(message)))
    register_from_invite(guest, "Dee", "Signer")
    expect(guest.get_by_text("Invite accepted: you now have access to Tempworks.")).to_be_visible()

    # The owner's page, never reloaded, shows the new user with the invitation's end.
    page.evaluate("window.__notReloaded = true")
    person = page.locator("#account-people tr", has_text="designer@e2e.example")
    expect(person.get_by_text("until 14 Dec 2099")).to_be_visible(timeout=10_000)

    # Time passes: the end is moved into the past, as if the day had come.
    [(user_id,)] = roster.sql("SELECT id FROM users WHERE email_key = ?", "designer@e2e.example")
    roster.sql(
        'UPDATE grants SET access_until = ? WHERE "user" = ?',
        "2000-01-01 00:00:00+00:00",
        user_id,
    )
    expect(person).to_have_count(0, timeout=SWEPT)
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"
    ended = smtp_inbox.wait_for("designer@e2e.example", "has ended")
    assert ended["Subject"] == "Your access to Tempworks has ended"
    assert roster.sql('SELECT COUNT(*) FROM grants WHERE "user" = ?', user_id) == [(0,)]
