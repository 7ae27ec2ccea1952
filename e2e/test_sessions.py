"""Sessions people can see and end: one person signed in from two browsers ends the
other one from the Security page, and that browser is logged out on its next request.

With SESSIONS_SCREENSHOTS=<dir>, the Security page is saved at 1280 and 390 px wide."""

import os
import re

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, confirm, login
from playwright.sync_api import Browser, expect

EMAIL, PASSWORD = "sessions@e2e.example", "e2e-sessions-passphrase"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"


def screenshot(page, name: str) -> None:
    folder = os.environ.get("SESSIONS_SCREENSHOTS")
    if folder:
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=f"{folder}/{name}-{width}.png", full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})


def test_a_user_ends_another_session_and_that_browser_is_logged_out(
    browser: Browser, base_url, roster
):
    roster.create_client("Sessions Ltd", EMAIL, "Sid", password=PASSWORD)
    laptop = browser.new_context(viewport={"width": 1280, "height": 900})
    phone = browser.new_context(viewport={"width": 390, "height": 844}, user_agent=FIREFOX)
    first, second = laptop.new_page(), phone.new_page()
    login(first, base_url, EMAIL, PASSWORD)
    login(second, base_url, EMAIL, PASSWORD)

    first.goto(f"{base_url}/account/security")
    section = first.locator("#security-sessions")
    expect(section.get_by_role("heading", name="Where You're Signed In")).to_be_visible()
    rows = section.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="This device")).to_have_count(1)
    other = rows.filter(has_text="Firefox 121 on Windows")
    expect(other).to_have_count(1)
    expect(other.get_by_text("This device")).to_have_count(0)
    screenshot(first, "security-sessions")
    second.goto(f"{base_url}/account/security")
    screenshot(second, "security-sessions-other-device")

    other.get_by_role("button", name="Sign Out").click()
    expect(first.locator("#flash")).to_contain_text("Signed out that session.")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("This device")
    expect(section.get_by_role("button", name="Sign out all other sessions")).to_have_count(0)

    # The ended browser's next request finds no session: it is sent to log in.
    second.get_by_role("link", name=re.compile("Roster")).click()
    expect(second.get_by_role("heading", name="Login")).to_be_visible()
    second.goto(f"{base_url}/account/security")
    expect(second).to_have_url(re.compile(r"/login"))

    # The first browser carries on.
    first.reload()
    expect(first.locator("#security-sessions tbody tr")).to_have_count(1)
    laptop.close()
    phone.close()


def test_staff_end_all_sessions_of_a_user(browser: Browser, base_url, roster):
    email = "ended@e2e.example"
    roster.create_client("Ended Ltd", email, "Eda", password=PASSWORD)
    user_browser = browser.new_context(user_agent=FIREFOX)
    user_page = user_browser.new_page()
    login(user_page, base_url, email, PASSWORD)
    [(user_id,)] = roster.sql("SELECT id FROM users WHERE email = ?", email)

    staff = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    login(staff, base_url, ADMIN_EMAIL, ADMIN_PASSWORD, path="/admin/login")
    staff.goto(f"{base_url}/admin/users/{user_id}")
    section = staff.locator("#user-sessions")
    expect(section.locator("tbody tr")).to_have_count(1)
    expect(section).to_contain_text("Firefox 121 on Windows")
    screenshot(staff, "admin-user-sessions")
    section.get_by_role("button", name="End All Sessions").click()
    confirm(staff, "End All Sessions")
    expect(staff.locator("#flash")).to_contain_text("Ended all of this user's sessions.")
    expect(section).to_contain_text("Not signed in anywhere.")

    user_page.reload()
    expect(user_page).to_have_url(re.compile(r"/login"))
    user_browser.close()
    staff.context.close()
