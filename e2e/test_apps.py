"""Apps (Sign in with Roster) in a real browser: staff register an app and see its Client ID
and Client Secret once (a reload shows the secret no more), rotate the secret (confirmed; the
new one shown once), disable and delete it; both pages pass the axe scan."""

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, confirm, login
from playwright.sync_api import Page, expect
from test_accessibility import AXE, FAILING_IMPACTS, describe


def assert_accessible(page: Page) -> None:
    violations = AXE.run(page).response["violations"]
    failing = [v for v in violations if v["impact"] in FAILING_IMPACTS]
    assert not failing, describe(failing)


def test_staff_register_an_app_and_see_its_secret_once(page: Page, base_url):
    login(page, base_url, ADMIN_EMAIL, ADMIN_PASSWORD, path="/admin/login")
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Apps").click()
    expect(page.get_by_role("heading", level=1, name="Apps")).to_be_visible()
    assert_accessible(page)

    form = page.locator("#app-register-form")
    form.get_by_label("Redirect URIs", exact=True).fill("not a uri")
    form.get_by_role("button", name="Register app").click()
    expect(form.locator(".error").first).to_be_visible()  # refused in place
    expect(form.get_by_label("Redirect URIs", exact=True)).to_have_value("not a uri")

    form.get_by_label("Name", exact=True).fill("Support desk (e2e)")
    form.get_by_label("Redirect URIs", exact=True).fill(
        "https://desk.example.com/callback\nhttps://desk.example.com/other"
    )
    form.get_by_role("button", name="Register app").click()
    client_id_field = page.get_by_label("Client ID", exact=True)
    secret_field = page.get_by_label("Client Secret", exact=True)
    expect(secret_field).to_be_visible()
    client_id, secret = client_id_field.input_value(), secret_field.input_value()
    assert client_id.startswith("app_") and secret.startswith("appsec_")
    expect(page.locator("#flash")).to_contain_text("Copy the Client Secret now")
    assert_accessible(page)

    page.reload()  # shown once
    expect(page.locator("#app-list")).to_contain_text(client_id)
    expect(page.get_by_label("Client Secret", exact=True)).to_have_count(0)
    assert secret not in page.content()

    page.get_by_role("link", name="Support desk (e2e)").click()
    expect(page.get_by_role("heading", level=1, name="Support desk (e2e)")).to_be_visible()
    assert secret not in page.content()
    assert_accessible(page)

    page.get_by_role("button", name="Rotate secret").click()
    confirm(page, "Rotate secret")
    rotated = page.get_by_label("Client Secret", exact=True)
    expect(rotated).to_be_visible()
    new_secret = rotated.input_value()
    assert new_secret.startswith("appsec_") and new_secret != secret
    page.reload()
    expect(page.get_by_role("heading", level=1, name="Support desk (e2e)")).to_be_visible()
    assert new_secret not in page.content()

    page.get_by_role("button", name="Disable").click()
    confirm(page, "Disable")
    expect(page.locator("#oauth-app .badge")).to_have_text("Disabled")
    page.get_by_role("button", name="Delete").click()
    confirm(page, "Delete app")
    expect(page.locator("#flash")).to_contain_text("App deleted")
    expect(page.locator("#app-list")).not_to_contain_text(client_id)
