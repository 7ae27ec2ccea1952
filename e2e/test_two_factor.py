"""Two-factor authentication in a real browser: a user enables it by reading the manual key
from the page (pyotp computes the code), logs in with password + code, uses a recovery code
once, and staff disable it; a staff member enrols when the setting requires it."""

import os
import re
import time
from pathlib import Path

import pyotp
from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, OWNER_PASSWORD, confirm, login
from playwright.sync_api import Page, expect

SHOTS = os.environ.get("ROSTER_SCREENSHOTS")  # a directory: screenshots of each screen


def shoot(page: Page, name: str) -> None:
    if SHOTS:
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=f"{SHOTS}/{name}-{width}.png", full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})


def fresh_code(totp: pyotp.TOTP, used: set) -> str:
    """A code not used yet: a used step is never accepted again, so wait for the next one."""
    while (code := totp.now()) in used:
        time.sleep(1)
    used.add(code)
    return code


def enrol(page: Page, used: set) -> tuple[pyotp.TOTP, list[str]]:
    page.get_by_role("button", name="Enable Two-Factor Authentication").click()
    key = page.locator("#two-factor-key")
    expect(key).to_be_visible()
    expect(page.locator("#two-factor svg")).to_be_visible()
    totp = pyotp.TOTP(key.inner_text().replace(" ", ""))
    shoot(page, "2fa-enrol")
    page.get_by_label("Authentication Code").fill(fresh_code(totp, used))
    page.get_by_role("button", name="Confirm and Enable").click()
    codes = page.locator("#recovery-codes code")
    expect(codes).to_have_count(10)
    shoot(page, "2fa-recovery-codes")
    return totp, codes.all_inner_texts()


def code_step(page: Page, code: str) -> None:
    expect(page.get_by_role("heading", name="Two-Factor Authentication")).to_be_visible()
    page.get_by_label("Authentication Code").fill(code)
    page.get_by_role("button", name="Continue").click()


def log_out(page: Page) -> None:
    page.get_by_text("Hello, Tia!").click()
    page.get_by_role("menuitem", name="Logout").click()
    expect(page.get_by_role("heading", name="Login")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/login$"))  # not the page logged out from


def test_a_user_enables_two_factor_and_staff_disable_it(page: Page, base_url, roster):
    email = "tfa-user2@e2e.example"
    roster.create_client("Two Factor Ltd", email, "Tia")
    login(page, base_url, email)
    page.goto(f"{base_url}/account/security")
    shoot(page, "2fa-off")
    used: set = set()
    totp, codes = enrol(page, used)
    # Saved by Copy, Download or Print.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    page.get_by_role("button", name="Copy", exact=True).click()
    expect(page.locator("#flash")).to_contain_text("Recovery codes copied.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(f"Roster recovery codes for {email}") and all(
        c in copied for c in codes
    )
    with page.expect_download() as download:
        page.get_by_role("link", name="Download", exact=True).click()
    assert download.value.suggested_filename == "roster-recovery-codes.txt"
    saved = Path(download.value.path()).read_text()
    assert all(c in saved for c in codes)
    page.evaluate("window.print = () => { window.printed = true; }")
    page.get_by_role("button", name="Print", exact=True).click()
    assert page.evaluate("window.printed") is True
    page.get_by_role("link", name="I have saved them").click()
    expect(page.locator("#two-factor")).to_contain_text("10 recovery codes left")
    shoot(page, "2fa-on")

    log_out(page)
    page.get_by_label("Email Address").fill(email)
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Login").click()
    page.get_by_label("Authentication Code").fill("000000")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#f-code-error")).to_contain_text("That code is not right")
    shoot(page, "2fa-login-code")
    page.get_by_label("Authentication Code").fill(fresh_code(totp, used))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("Hello, Tia!")).to_be_visible()

    # A recovery code works once.
    log_out(page)
    login_with_code = lambda code: (  # noqa: E731
        page.get_by_label("Email Address").fill(email),
        page.get_by_label("Password").fill(OWNER_PASSWORD),
        page.get_by_role("button", name="Login").click(),
        code_step(page, code),
    )
    login_with_code(codes[0])
    expect(page.get_by_text("Hello, Tia!")).to_be_visible()
    expect(page.locator("#two-factor")).to_contain_text("9 recovery codes left")
    log_out(page)
    login_with_code(codes[0])
    expect(page.locator("#f-code-error")).to_contain_text("That recovery code was already used")
    expect(page.get_by_text("That recovery code was already used")).to_have_count(1)
    page.context.clear_cookies()

    # Staff disable it; the user then logs in with the password alone.
    login(page, base_url, ADMIN_EMAIL, ADMIN_PASSWORD, path="/admin/login")
    page.goto(f"{base_url}/admin/users?q={email}")
    page.get_by_role("link", name="Tia Owner").click()
    section = page.locator("#user-two-factor")
    expect(section).to_contain_text("Enabled")
    shoot(page, "2fa-admin-user")
    section.get_by_role("button", name="Disable Two-Factor Authentication").click()
    confirm(page, "Disable")
    expect(section).to_contain_text("Off")
    page.context.clear_cookies()
    login(page, base_url, email)
    expect(page.get_by_text("Hello, Tia!")).to_be_visible()


def test_staff_enrol_when_the_setting_requires_it(page: Page, base_url, roster):
    email, password = "tfa-staff2@e2e.example", "tfa-staff-passphrase-9"
    roster(
        "create-admin",
        "--email",
        email,
        "--password",
        password,
        "--name",
        "Tom Staff",
        "--role",
        "full",
    )
    roster.sql(
        "INSERT INTO settings (key, value) VALUES ('require_staff_two_factor', 'true') "
        "ON CONFLICT (key) DO UPDATE SET value = 'true'"
    )
    try:
        login(page, base_url, email, password, path="/admin/login")
        expect(page).to_have_url(f"{base_url}/admin/security")
        expect(page.get_by_text("required for staff")).to_be_visible()
        shoot(page, "2fa-staff-required")
        page.goto(f"{base_url}/admin/clients")
        expect(page).to_have_url(f"{base_url}/admin/security")
        enrol(page, set())
        page.goto(f"{base_url}/admin/clients")
        expect(page.get_by_role("heading", name="Clients")).to_be_visible()
    finally:
        roster.sql("UPDATE settings SET value = 'false' WHERE key = 'require_staff_two_factor'")
