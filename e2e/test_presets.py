"""Permission presets in Chromium: staff add one at /admin/settings; the owner invites with
Billing contact from Invite New User; staff associate a user with their own preset from the
Associate User dialog. axe finds nothing serious on each of these screens and dialogs."""

from axe_playwright_python.sync_playwright import Axe
from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login, pick_user
from playwright.sync_api import Page, expect

OWNER = "preset.owner@e2e.example"
MEMBER = "preset.member@e2e.example"
GUEST = "preset.guest@e2e.example"


def assert_axe_clean(page: Page) -> None:
    violations = Axe().run(page).response["violations"]
    serious = [v["id"] for v in violations if v["impact"] in ("serious", "critical")]
    assert not serious, serious


def test_the_owner_invites_with_a_shipped_preset(page: Page, base_url, roster):
    client_id = roster.create_client("Preset Billing Co", OWNER, "Pat")
    login(page, base_url, OWNER)
    page.goto(f"{base_url}/account/users")
    form = page.locator("#invite-form")
    for name in ("All Permissions", "Billing contact", "Technical contact", "Full access"):
        expect(form.get_by_role("radio", name=name, exact=True)).to_be_visible()
    form.get_by_label("Email Address").fill(GUEST)
    form.get_by_role("radio", name="Billing contact", exact=True).check()
    expect(form.get_by_role("checkbox", name="View & Pay Invoices")).to_be_hidden()
    assert_axe_clean(page)
    form.get_by_role("button", name="Send Invite", exact=True).click()
    expect(page.get_by_text(f"Invite sent to {GUEST}.")).to_be_visible()
    row = page.locator("#account-invites tr", has_text=GUEST)
    expect(row.get_by_text("3 of 13: Invoices, Quotes, Emails")).to_be_visible()
    assert roster.sql(
        "SELECT permissions FROM invitations WHERE client = ? AND email = ?", client_id, GUEST
    ) == [("invoices,quotes,emails",)]


def test_staff_make_a_preset_and_associate_a_user_with_it(page: Page, base_url, roster):
    client_id = roster.create_client("Preset Domains Co", "preset.domains@e2e.example", "Dom")
    roster.create_client("Preset Member Co", MEMBER, "Mia")
    login(page, base_url, ADMIN_EMAIL, ADMIN_PASSWORD, path="/admin/login")

    page.goto(f"{base_url}/admin/settings")
    presets = page.locator("#presets")
    expect(presets.get_by_role("cell", name="Billing contact Shipped")).to_be_visible()
    form = presets.locator("#preset-form")
    form.get_by_label("Name", exact=True).fill("Domain desk")
    form.get_by_label("View Domains", exact=True).check()
    form.get_by_label("Manage Domain Settings", exact=True).check()
    form.get_by_role("button", name="Add Preset").click()
    expect(page.get_by_text("Preset “Domain desk” added.")).to_be_visible()
    expect(presets.get_by_role("row", name="Domain desk")).to_be_visible()
    assert_axe_clean(page)

    page.goto(f"{base_url}/admin/clients/{client_id}/users")
    page.get_by_role("button", name="+ Associate User").click()
    dialog = page.get_by_role("dialog", name="Associate User")
    expect(dialog).to_be_visible()
    pick_user(dialog, "preset.member@e2e", "Mia Owner")
    dialog.get_by_role("radio", name="Domain desk", exact=True).check()
    dialog.get_by_role("radio", name="No").check()
    assert_axe_clean(page)
    dialog.get_by_role("button", name="Associate User").click()
    expect(dialog).to_be_hidden()
    person = page.locator("#account-people tr", has_text=MEMBER)
    expect(person.get_by_text("2 of 13: Domains, Domain Settings")).to_be_visible()
    [(user_id,)] = roster.sql("SELECT id FROM users WHERE email_key = ?", MEMBER)
    assert roster.sql(
        'SELECT permissions FROM grants WHERE client = ? AND "user" = ?', client_id, user_id
    ) == [("domains,managedomains",)]
