"""Languages in a real browser (#28): a visitor whose browser asks for German gets the login in
German; a user whose language is French gets their invitation email and their pages in French;
the Arabic Users tab and User Management are laid out right to left, with nothing wider than
the window at 1280 and 390 px, and pass axe."""

import re

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, OWNER_PASSWORD, login
from playwright.sync_api import Browser, Page, expect
from test_accessibility import AXE, FAILING_IMPACTS, describe

from app.core import i18n


def said(language: str, message: str, **values) -> str:
    """What the catalog says for a message in a language (the test's expectation)."""
    with i18n.using(i18n.BY_NAME[language]):
        return i18n.gettext(message) % values if values else i18n.gettext(message)


def assert_accessible(page: Page) -> None:
    violations = AXE.run(page).response["violations"]
    failing = [v for v in violations if v["impact"] in FAILING_IMPACTS]
    assert not failing, describe(failing)


def assert_fits(page: Page) -> None:
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{overflow}px wider than the window at {page.viewport_size}"


def test_a_visitor_whose_browser_asks_for_german_gets_the_login_in_german(
    browser: Browser, base_url
):
    context = browser.new_context(locale="de-DE")
    page = context.new_page()
    page.goto(f"{base_url}/login")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("button", name=said("german", "Login"), exact=True)).to_be_visible()
    expect(page.get_by_label(said("german", "Password"), exact=True)).to_be_visible()
    # The language menu changes it, and the choice stays.
    page.get_by_label(said("german", "Language")).select_option("spanish")
    page.get_by_role("button", name=said("german", "Change")).click()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    context.close()


def test_a_french_user_gets_the_invitation_and_the_pages_in_french(
    page: Page, base_url, roster, smtp_inbox
):
    roster.create_client("Langue Owner Co", "lang.owner@e2e.example", "Lou")
    roster.create_client("Société Française", "lang.fr@e2e.example", "Françoise")
    roster.sql("UPDATE users SET language = 'french' WHERE email = 'lang.fr@e2e.example'")
    login(page, base_url, "lang.owner@e2e.example", OWNER_PASSWORD)
    page.goto(f"{base_url}/account/users")
    page.get_by_label("Email Address").fill("lang.fr@e2e.example")
    page.get_by_role("button", name="Send Invite").click()
    expect(page.locator("#account-invites").get_by_text("lang.fr@e2e.example")).to_be_visible()

    message = smtp_inbox.wait_for("lang.fr@e2e.example", "")
    html = message.get_body(preferencelist=("html",)).get_content()
    assert '<html lang="fr"' in html
    body = smtp_inbox.text_of(message)
    assert said("french", "You will be able to:") in body
    assert said("french", "You will be able to:") != "You will be able to:"
    link = re.search(r"http://\S+/invite/\S+", body).group(0)

    page.context.clear_cookies()
    page.goto(link)  # a visitor (English browser) on the invitation: English until they log in
    login_section = page.locator("#invite-login")
    login_section.get_by_label("Email Address").fill("lang.fr@e2e.example")
    login_section.get_by_label("Password").fill(OWNER_PASSWORD)
    login_section.get_by_role("button", name="Login").click()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("link", name=said("french", "Skip to content"))).to_be_attached()


def test_the_arabic_users_tab_and_user_management_are_right_to_left(page: Page, base_url, roster):
    client_id = roster.create_client("شركة الاستضافة", "lang.ar@e2e.example", "Amal")
    roster.sql("UPDATE users SET language = 'arabic' WHERE email = 'lang.ar@e2e.example'")
    login(page, base_url, "lang.ar@e2e.example", OWNER_PASSWORD)
    page.goto(f"{base_url}/account/users")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    expect(page.get_by_role("heading", name=said("arabic", "User Management"))).to_be_visible()
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        assert_fits(page)
        assert_accessible(page)

    page.context.clear_cookies()
    login(page, base_url, ADMIN_EMAIL, ADMIN_PASSWORD, path="/admin/login")
    page.goto(f"{base_url}/admin/clients/{client_id}/users")
    try:
        page.get_by_label("Language").select_option("arabic")
        page.get_by_role("button", name="Change").click()
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
        for width, height in ((1280, 900), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            assert_fits(page)
            assert_accessible(page)
    finally:  # the session's staff member is every other test's: back to their browser's
        roster.sql("UPDATE admins SET language = NULL WHERE email = ?", ADMIN_EMAIL)
