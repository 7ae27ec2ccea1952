"""The register and login forms as a person meets them: every mistake shown
at once, nothing typed lost (the password, a generated one, the Terms box), and "This email
already has a login: use Login" switching to Login with the email filled in."""

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

from axe_playwright_python.sync_playwright import Axe
from conftest import OWNER_PASSWORD
from playwright.sync_api import Page, expect


def new_invite(roster, company: str, owner_email: str, first: str, invited: str) -> str:
    """An account and a pending invitation into it, sent by its owner: the link's token."""
    client_id = roster.create_client(company, owner_email, first)
    owner_id = roster.sql("SELECT owner FROM clients WHERE id = ?", client_id)[0][0]
    token, now = secrets.token_urlsafe(32), datetime.now(UTC)
    roster.sql(
        "INSERT INTO invitations (client, email, email_key, permissions, token_hash,"
        " invited_by_user, sender_name, created_at, last_sent_at, times_sent, expires_at)"
        " VALUES (?, ?, ?, 'invoices,tickets', ?, ?, ?, ?, ?, 1, ?)",
        client_id,
        invited,
        invited,
        hashlib.sha256(token.encode()).hexdigest(),
        owner_id,
        f"{first} Owner",
        str(now),
        str(now),
        str(now + timedelta(days=7)),
    )
    return token


def mark(page: Page, selector: str, name: str) -> None:
    """Remembers the element now on the page, to tell later whether it was replaced."""
    page.evaluate("([s, n]) => { window[n] = document.querySelector(s); }", [selector, name])


def still_the_same(page: Page, selector: str, name: str) -> bool:
    return page.evaluate("([s, n]) => window[n] === document.querySelector(s)", [selector, name])


def test_the_invite_register_shows_every_mistake_and_keeps_what_was_typed(
    page: Page, base_url, roster
):
    token = new_invite(roster, "Harbor Ltd", "hana@e2e.example", "Hana", "gus@e2e.example")
    page.goto(f"{base_url}/invite/{token}")
    register = page.locator("section", has=page.get_by_role("heading", name="Register"))
    register.get_by_label("Last Name").fill("Guest")
    register.get_by_label("Email Address").fill("gus@")
    register.get_by_label("Password", exact=True).fill("password")
    terms = register.get_by_label("I have read and agree to the Terms of Service")
    terms.check()
    for selector, name in (("#r-first_name", "first"), ("#r-password", "pw"), ("form", "f")):
        mark(page, f"#invite-register {selector}", name)

    register.get_by_role("button", name="Register").click()

    summary = register.get_by_role("alert")
    expect(summary).to_contain_text("There are 3 problems")
    expect(register.locator("#r-first_name-error")).to_have_text("Enter a first name.")
    expect(register.locator("#r-email-error")).to_contain_text("Enter a valid email address")
    expect(register.locator("#r-password-error")).to_contain_text("too easy to guess")
    expect(register.locator("#r-accept_tos-error")).to_be_hidden()
    # Nothing typed is lost, and the form is the same one (not re-rendered).
    expect(register.get_by_label("Last Name")).to_have_value("Guest")
    expect(register.get_by_label("Email Address")).to_have_value("gus@")
    expect(register.get_by_label("Password", exact=True)).to_have_value("password")
    expect(terms).to_be_checked()
    assert still_the_same(page, "#invite-register #r-first_name", "first")
    assert still_the_same(page, "#invite-register #r-password", "pw")
    assert still_the_same(page, "#invite-register form", "f")
    assert page.url == f"{base_url}/invite/{token}"  # not the form's POST address
    violations = Axe().run(page).response["violations"]
    assert not [v["id"] for v in violations if v["impact"] in ("serious", "critical")]

    # Fix two, generate a password, untick the box: one problem left, the rest as it was.
    register.get_by_label("First Name").fill("Gus")
    register.get_by_label("Email Address").fill("gus@e2e.example")
    register.get_by_role("button", name="Generate").click()
    generated = register.get_by_label("Password", exact=True).input_value()
    assert len(generated) >= 16
    terms.uncheck()
    register.get_by_role("button", name="Register").click()
    expect(register.locator("#r-accept_tos-error")).to_have_text(
        "Agree to the Terms of Service to register."
    )
    expect(summary).to_contain_text("There is a problem")
    expect(register.locator("#r-first_name-error")).to_be_hidden()
    expect(register.locator("#r-password-error")).to_be_hidden()
    expect(register.get_by_label("Password", exact=True)).to_have_value(generated)
    expect(register.get_by_label("First Name")).to_have_value("Gus")

    terms.check()
    register.get_by_role("button", name="Register").click()
    expect(page.get_by_text("Hello, Gus!")).to_be_visible()
    expect(page.get_by_text("Invite accepted: you now have access to Harbor Ltd.")).to_be_visible()


def test_use_login_switches_to_the_login_form_with_the_email(page: Page, base_url, roster):
    token = new_invite(roster, "Quay Co", "quinn@e2e.example", "Quinn", "known@e2e.example")
    roster.create_client("Known Shop", "known@e2e.example", "Kim")
    page.goto(f"{base_url}/invite/{token}")
    register = page.locator("section", has=page.get_by_role("heading", name="Register"))
    register.get_by_label("First Name").fill("Kim")
    register.get_by_label("Last Name").fill("Known")
    register.get_by_label("Password", exact=True).fill("quartz-meadow-lantern-5")
    register.get_by_label("I have read and agree to the Terms of Service").check()
    register.get_by_role("button", name="Register").click()  # the invited email, already a login

    error = register.locator("#r-email-error")
    expect(error).to_have_text("This email already has a login: use Login")
    error.get_by_role("link", name="use Login").click()

    signin = page.locator("section", has=page.get_by_role("heading", name="Login"))
    expect(signin.get_by_label("Email Address")).to_have_value("known@e2e.example")
    expect(signin.get_by_label("Password")).to_be_focused()
    assert page.url == f"{base_url}/invite/{token}"
    expect(register.get_by_label("First Name")).to_have_value("Kim")  # Register left as it was
    page.keyboard.type(OWNER_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_text("Invite accepted: you now have access to Quay Co.")).to_be_visible()


def test_register_page_offers_login_for_a_known_email(page: Page, base_url, roster):
    roster.create_client("Lumen Ltd", "lena@e2e.example", "Lena")
    page.goto(f"{base_url}/register")
    page.get_by_label("First Name").fill("Lena")
    page.get_by_label("Last Name").fill("Again")
    page.get_by_label("Email Address").fill("lena@e2e.example")
    page.get_by_label("Password", exact=True).fill("x")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("alert")).to_contain_text("There are 3 problems")
    expect(page.locator("#f-email-error")).to_have_text("This email already has a login: use Login")
    expect(page.get_by_label("Password", exact=True)).to_have_value("x")
    page.locator("#f-email-error").get_by_role("link", name="use Login").click()
    expect(page.get_by_role("heading", name="Login")).to_be_visible()
    expect(page.get_by_label("Email Address")).to_have_value("lena@e2e.example")
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_text("Hello, Lena!")).to_be_visible()


def test_login_shows_both_missing_fields_then_the_generic_error(page: Page, base_url, roster):
    page.goto(f"{base_url}/login")
    page.get_by_role("button", name="Login").click()
    expect(page.locator("#f-email-error")).to_have_text("Enter your email address.")
    expect(page.locator("#f-password-error")).to_have_text("Enter your password.")
    page.get_by_label("Email Address").fill("nobody@e2e.example")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_role("alert")).to_have_text("The email address or password is incorrect.")
    expect(page.locator("#f-email-error")).to_be_hidden()
    expect(page.get_by_label("Password")).to_have_value("not-the-password")


def test_after_a_refused_register_the_first_invalid_field_has_the_focus(
    page: Page, base_url, roster
):
    page.goto(f"{base_url}/register")
    page.get_by_label("First Name").fill("Fay")
    page.get_by_label("Email Address").fill("fay@")
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#f-email-error")).to_be_visible()
    expect(page.get_by_label("Last Name")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Email Address")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("First Name")).not_to_have_attribute("aria-invalid", re.compile("."))
    expect(page.get_by_label("Last Name")).to_be_focused()
