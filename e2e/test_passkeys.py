"""Passkeys in Chromium with its virtual authenticator (the DevTools WebAuthn domain through
Playwright's CDP session): a user adds a passkey on Security, logs out, signs in with it (no
password), then uses it as the second factor after the password; the same for a staff member.
axe on the Security page with a passkey listed and on the code step that offers one.

A WebAuthn relying party id must be a domain name, never an IP address, and the suite's server
is http://127.0.0.1:…: these tests run a second `roster serve` on the same database whose
ROSTER_BASE_URL names http://localhost:… (a secure context for the browser, as https is)."""

import re
import time

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import OWNER_PASSWORD, free_port, login, start_server
from playwright.sync_api import Page, expect

USER_EMAIL = "pia.passkey@e2e.example"
STAFF_EMAIL = "percy.passkey@e2e.example"
STAFF_PASSWORD = "percy-staff-passphrase-61"


@pytest.fixture(scope="module")
def localhost(roster, server):
    port = free_port()
    url = f"http://localhost:{port}"
    env = {**roster.env, "ROSTER_BASE_URL": url}
    process = start_server(roster, port, env=env, log_name="server-localhost.log")
    roster.create_client("Passkey Co", USER_EMAIL, "Pia")
    roster(
        "create-admin",
        "--email",
        STAFF_EMAIL,
        "--password",
        STAFF_PASSWORD,
        "--name",
        "Percy Passkey",
        "--role",
        "full",
    )
    yield url
    process.terminate()
    process.wait(10)


def virtual_authenticator(page: Page) -> None:
    """A platform authenticator that keeps discoverable credentials and verifies the person
    (as a fingerprint reader would), answering at once."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


def no_serious_axe_violations(page: Page) -> None:
    violations = Axe().run(page).response["violations"]
    failing = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not failing, [(v["id"], [n["target"] for n in v["nodes"]]) for v in failing]


# The virtual authenticator answers a quiet (conditional) request at once, as a person choosing
# the suggested passkey would: tests of the Sign in with a passkey button turn autofill off.
NO_AUTOFILL = "PublicKeyCredential.isConditionalMediationAvailable = async () => false;"


def add_passkey(page: Page, name: str) -> None:
    section = page.locator("#passkeys")
    expect(section.get_by_role("heading", name="Passkeys")).to_be_visible()
    section.get_by_label("Name").fill(name)
    section.get_by_role("button", name="Add a passkey").click()
    expect(section.get_by_text(name, exact=True)).to_be_visible()
    expect(section.get_by_role("button", name=f"Remove {name}")).to_be_visible()


def test_a_user_adds_a_passkey_and_signs_in_with_it(page: Page, localhost):
    virtual_authenticator(page)
    page.add_init_script(NO_AUTOFILL)
    login(page, localhost, USER_EMAIL, OWNER_PASSWORD)
    page.goto(f"{localhost}/account/security")
    add_passkey(page, "Virtual laptop")
    no_serious_axe_violations(page)

    # Log out, then sign in with the passkey alone: no password.
    page.get_by_text("Hello, Pia!").click()
    page.get_by_role("menuitem", name="Logout").click()
    expect(page.get_by_role("heading", name="Login")).to_be_visible()
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.get_by_text("Hello, Pia!")).to_be_visible()

    # Log out; the password, then the passkey as the second factor.
    page.get_by_text("Hello, Pia!").click()
    page.get_by_role("menuitem", name="Logout").click()
    page.get_by_label("Email Address").fill(USER_EMAIL)
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_role("heading", name="Two-Factor Authentication")).to_be_visible()
    no_serious_axe_violations(page)
    page.get_by_role("button", name="Use a passkey").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.get_by_text("Hello, Pia!")).to_be_visible()


def test_a_staff_member_adds_a_passkey_and_signs_in_with_it(page: Page, localhost):
    virtual_authenticator(page)
    page.add_init_script(NO_AUTOFILL)
    login(page, localhost, STAFF_EMAIL, STAFF_PASSWORD, path="/admin/login")
    page.goto(f"{localhost}/admin/security")
    add_passkey(page, "Desk key")
    no_serious_axe_violations(page)

    page.goto(f"{localhost}/admin/login")  # signed in: on to the admin area
    page.context.clear_cookies()
    page.goto(f"{localhost}/admin/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page).to_have_url(re.compile(r"/admin/clients$"))

    page.context.clear_cookies()
    page.goto(f"{localhost}/admin/login")
    page.get_by_label("Email Address").fill(STAFF_EMAIL)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_role("heading", name="Two-Factor Authentication")).to_be_visible()
    page.get_by_role("button", name="Use a passkey").click()
    expect(page).to_have_url(re.compile(r"/admin/clients$"))


RECORD_GETS = """
PublicKeyCredential.isConditionalMediationAvailable = async () => true;
window.__passkeyGets = JSON.parse(sessionStorage.getItem("passkeyGets") || "[]");
const realGet = navigator.credentials.get.bind(navigator.credentials);
navigator.credentials.get = (options) => {
  window.__passkeyGets.push(options.mediation || "modal");
  sessionStorage.setItem("passkeyGets", JSON.stringify(window.__passkeyGets));
  return realGet(options);
};
"""


def passkey_gets(page: Page, at_least: int) -> list[str]:
    """The page's WebAuthn requests so far, once there are `at_least` (wait_for_function would
    evaluate a string, which the pages' CSP forbids)."""
    deadline = time.monotonic() + 10
    while len(gets := page.evaluate("window.__passkeyGets")) < at_least:
        assert time.monotonic() < deadline, gets
        page.wait_for_timeout(50)
    return gets


def test_the_login_page_offers_passkeys_in_the_email_fields_suggestions(
    page: Page, localhost, roster
):
    """Conditional UI: the email field takes "username webauthn" and the page asks for a passkey
    quietly as it opens; choosing the suggested passkey (the virtual authenticator does at once)
    signs the person in, with no click on the button."""
    email = "quinn.autofill@e2e.example"
    roster.create_client("Autofill Co", email, "Quinn")
    virtual_authenticator(page)
    page.add_init_script(NO_AUTOFILL)
    login(page, localhost, email, OWNER_PASSWORD)
    page.goto(f"{localhost}/account/security")
    add_passkey(page, "Autofill laptop")
    page.context.clear_cookies()

    page.add_init_script(RECORD_GETS)  # runs after NO_AUTOFILL: turns it back on
    page.goto(f"{localhost}/login")
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.get_by_text("Hello, Quinn!")).to_be_visible()
    assert passkey_gets(page, 1) == ["conditional"]


def test_a_click_on_the_button_withdraws_the_quiet_request_and_asks_openly(page: Page, localhost):
    virtual_authenticator(page)  # holds no passkey: the quiet request waits
    page.add_init_script(RECORD_GETS)
    page.goto(f"{localhost}/login")
    expect(page.get_by_label("Email Address")).to_have_attribute(
        "autocomplete", "username webauthn"
    )
    assert passkey_gets(page, 1) == ["conditional"]
    no_serious_axe_violations(page)
    page.get_by_role("button", name="Sign in with a passkey").click()
    assert passkey_gets(page, 2) == ["conditional", "modal"]
    expect(page.get_by_text("The passkey request was cancelled or timed out.")).to_be_visible()
