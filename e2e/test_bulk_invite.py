"""Bulk Invite in a real browser: staff paste a list on the Users tab, the owner uploads a CSV file
on User Management; each previews (nothing sent), then Send Invites sends exactly the rows
previewed, the emails arrive, and a second Send sends nothing new. Every screen passes axe."""

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, OWNER_PASSWORD, login
from playwright.sync_api import Page, expect
from test_accessibility import AXE, FAILING_IMPACTS, describe

OWNER = "bulk.owner@e2e.example"


def assert_accessible(page: Page) -> None:
    violations = AXE.run(page).response["violations"]
    failing = [v for v in violations if v["impact"] in FAILING_IMPACTS]
    assert not failing, describe(failing)


def row_of(page: Page, email: str):
    return page.locator(".bulk-table tbody tr", has_text=email)


def test_staff_paste_a_list_preview_it_and_send(page: Page, base_url, roster, smtp_inbox):
    client_id = roster.create_client("Bulk Paste Co", "bulk.paste.owner@e2e.example", "Pam")
    login(page, base_url, ADMIN_EMAIL, ADMIN_PASSWORD, path="/admin/login")
    page.goto(f"{base_url}/admin/clients/{client_id}/users")
    page.get_by_role("link", name="Bulk Invite").click()
    expect(page.get_by_role("heading", name="Bulk Invite")).to_be_visible()
    assert_accessible(page)

    page.get_by_label("Email addresses").fill(
        "Pat Paste <bulk.pat@e2e.example>, bulk.quinn@e2e.example\n"
        "not-an-address; BULK.PAT@e2e.example\n"
        "bulk.paste.owner@e2e.example"
    )
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="Preview")).to_be_visible()
    expect(page.get_by_text("Nothing has been sent yet")).to_be_visible()
    expect(row_of(page, "bulk.quinn@e2e.example")).to_contain_text("Invite a new person")
    expect(row_of(page, "not-an-address")).to_contain_text("Invalid")
    expect(page.locator(".bulk-table tbody tr").nth(3)).to_contain_text("Duplicate in the list")
    expect(row_of(page, "bulk.paste.owner@e2e.example")).to_contain_text("Already has access")
    expect(page.get_by_text("Daily limit: 50 new invites per account")).to_be_visible()
    assert_accessible(page)

    page.get_by_role("button", name="Send Invites").click()
    expect(page.get_by_role("heading", name="Result")).to_be_visible()
    expect(page.get_by_text("2 invites sent.")).to_be_visible()
    expect(row_of(page, "bulk.pat@e2e.example").first).to_contain_text("Invited (new person)")
    assert_accessible(page)
    for address in ("bulk.pat@e2e.example", "bulk.quinn@e2e.example"):
        smtp_inbox.wait_for(address, "invite")

    # The same list again: both are pending now, nothing is sent.
    expect(page.get_by_label("Email addresses")).to_have_value("")  # a fresh form
    page.get_by_label("Email addresses").fill("bulk.pat@e2e.example\nbulk.quinn@e2e.example")
    page.get_by_role("button", name="Preview").click()
    expect(row_of(page, "bulk.quinn@e2e.example")).to_contain_text("Invite already pending")
    expect(page.get_by_role("button", name="Send Invites")).to_have_count(0)
    page.get_by_role("link", name="Back to Users").click()
    invites = page.locator("#account-invites")
    expect(invites.get_by_text("bulk.pat@e2e.example")).to_be_visible()
    expect(invites.get_by_text("bulk.quinn@e2e.example")).to_be_visible()


def test_the_owner_uploads_a_csv_file(page: Page, base_url, roster, smtp_inbox):
    roster.create_client("Bulk Csv Co", OWNER, "Bea")
    login(page, base_url, OWNER, OWNER_PASSWORD)
    page.goto(f"{base_url}/account/users")
    page.get_by_role("link", name="Bulk Invite").click()
    expect(page.get_by_role("heading", name="Bulk Invite")).to_be_visible()
    page.get_by_label("CSV file").set_input_files(
        files=[
            {
                "name": "team.csv",
                "mimeType": "text/csv",
                "buffer": (
                    b"email,first name,last name,permissions\n"
                    b"bulk.cara@e2e.example,Cara,Csv,invoices|tickets\n"
                    b"bulk.dan@e2e.example,Dan,Csv,\n"
                    b"bulk.eve@e2e.example,Eve,Csv,flying\n"
                ),
            }
        ]
    )
    page.get_by_label("Choose Permissions").check()
    page.get_by_label("View Emails").check()
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_text("(including team.csv)")).to_be_visible()
    expect(row_of(page, "bulk.cara@e2e.example")).to_contain_text("invoices, tickets")
    expect(row_of(page, "bulk.dan@e2e.example")).to_contain_text("emails")
    expect(row_of(page, "bulk.eve@e2e.example")).to_contain_text("Unknown permission: flying")
    assert_accessible(page)

    page.get_by_role("button", name="Send Invites").click()
    expect(page.get_by_text("2 invites sent.")).to_be_visible()
    message = smtp_inbox.wait_for("bulk.cara@e2e.example", "invite")
    text = smtp_inbox.text_of(message)
    assert "View & Pay Invoices" in text and "View Emails" not in text
    assert_accessible(page)


def test_a_file_that_is_not_csv_is_refused_in_place(page: Page, base_url, roster):
    client_id = roster.create_client("Bulk Png Co", "bulk.png.owner@e2e.example", "Pia")
    login(page, base_url, ADMIN_EMAIL, ADMIN_PASSWORD, path="/admin/login")
    page.goto(f"{base_url}/admin/clients/{client_id}/users/bulk")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "photo.png", "mimeType": "image/png", "buffer": b"\x89PNG\r\n\x1a\n\x00"}]
    )
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_text("not a CSV file")).to_be_visible()
    expect(page.get_by_label("CSV file")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page)
