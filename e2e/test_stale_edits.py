"""Two people editing the same permissions at once, in Chromium: the dialog opened first is told
live that they changed, its save is refused with what is saved now, and putting its change on
top keeps both. On staff's Users tab and on the owner's User Management."""

import re

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, OWNER_PASSWORD, login, pick_user
from playwright.sync_api import Browser, Page, expect

LIVE = 5_000  # ms: how long a live notice may take to appear
SECOND_EMAIL, SECOND_PASSWORD = "bea@e2e.example", "e2e-second-staff-passphrase"


def granted(roster, client_id: int, email: str) -> str:
    """The permissions the database holds for the user on the account."""
    rows = roster.sql(
        'SELECT g.permissions FROM grants g JOIN users u ON u.id = g."user" '
        "WHERE g.client = ? AND u.email = ?",
        client_id,
        email,
    )
    return rows[0][0]


def associate(page: Page, base_url: str, client_id: int, query: str, name: str) -> None:
    """Staff give an existing user access with View & Open Support Tickets, no invite."""
    page.goto(f"{base_url}/admin/clients/{client_id}/users")
    page.get_by_role("button", name="+ Associate User").click()
    dialog = page.get_by_role("dialog", name="Associate User")
    pick_user(dialog, query, re.compile(name))
    dialog.get_by_role("radio", name="Choose Permissions").check()
    dialog.get_by_label("View & Open Support Tickets", exact=True).check()
    dialog.get_by_role("radio", name="No").check()
    dialog.get_by_role("button", name="Associate User").click()
    expect(page.get_by_text(f"{name} can now reach this account.")).to_be_visible()


def open_permissions(page: Page, name: str):
    page.locator("#account-people tr", has_text=name).get_by_role(
        "button", name="Manage Permissions"
    ).click()
    dialog = page.get_by_role("dialog", name=f"Manage Permissions: {name}")
    expect(dialog).to_be_visible()
    return dialog


def save_from_another_dialog(page: Page, name: str, label: str) -> None:
    dialog = open_permissions(page, name)
    dialog.get_by_label(label, exact=True).check()
    dialog.get_by_role("button", name="Save Permissions").click()
    expect(page.get_by_text(f"Permissions of {name} saved.")).to_be_visible()
    expect(dialog).to_be_hidden()


def refused_then_applied_on_top(stale_page: Page, dialog, name: str) -> None:
    """The stale dialog: told live, its ticks left alone; its save refused with the saved
    Invoices shown beside its own Quotes; Apply my change on top saves both."""
    expect(
        dialog.get_by_text("This user's permissions were just changed by someone else")
    ).to_be_visible(timeout=LIVE)
    expect(dialog.get_by_label("View & Pay Invoices", exact=True)).not_to_be_checked()

    dialog.get_by_label("View & Accept Quotes", exact=True).check()
    dialog.get_by_role("button", name="Save Permissions").click()
    refusal = dialog.get_by_role("alert")
    expect(refusal).to_contain_text(
        "Someone changed these permissions while you were editing: View & Pay Invoices was added."
    )
    expect(refusal).to_contain_text("Your change: View & Accept Quotes added.")
    expect(refusal).to_contain_text("Nothing was saved.")
    expect(refusal).to_be_focused()
    expect(dialog).to_be_visible()
    expect(stale_page.get_by_text(f"Permissions of {name} saved.")).to_have_count(0)
    for label in ("View & Pay Invoices", "View & Accept Quotes", "View & Open Support Tickets"):
        expect(dialog.get_by_label(label, exact=True)).to_be_checked()
    expect(dialog.get_by_label("View Domains", exact=True)).not_to_be_checked()

    dialog.get_by_role("button", name="Apply my change on top").click()
    expect(stale_page.get_by_text(f"Permissions of {name} saved.")).to_be_visible()
    expect(dialog).to_be_hidden()
    row = stale_page.locator("#account-people tr", has_text=name)
    expect(row.locator(".perm-details summary")).to_have_text("3 of 13: Invoices, Quotes, Tickets")


def test_two_staff_members_edit_one_users_permissions(browser: Browser, base_url, roster):
    client_id = roster.create_client("Bianchi Srl", "olga@bianchi.e2e", "Olga")
    roster.create_client("Marco Consulting", "marco@bianchi.e2e", "Marco", "Bianchi")
    roster(
        *("create-admin", "--email", SECOND_EMAIL, "--password", SECOND_PASSWORD),
        *("--name", "Bea Second", "--role", "full"),
    )
    first, second = (browser.new_context().new_page() for _ in range(2))
    login(first, base_url, ADMIN_EMAIL, ADMIN_PASSWORD, path="/admin/login")
    login(second, base_url, SECOND_EMAIL, SECOND_PASSWORD, path="/admin/login")
    associate(first, base_url, client_id, "marco@bianchi", "Marco Bianchi")

    # The second opens Marco's permissions; the first grants Invoices meanwhile.
    second.goto(f"{base_url}/admin/clients/{client_id}/users")
    stale = open_permissions(second, "Marco Bianchi")
    save_from_another_dialog(first, "Marco Bianchi", "View & Pay Invoices")
    assert granted(roster, client_id, "marco@bianchi.e2e") == "invoices,tickets"

    refused_then_applied_on_top(second, stale, "Marco Bianchi")
    assert granted(roster, client_id, "marco@bianchi.e2e") == "invoices,quotes,tickets"


def test_the_owner_and_staff_edit_one_users_permissions(browser: Browser, base_url, roster):
    client_id = roster.create_client("Rossi Spa", "rosa@rossi.e2e", "Rosa", "Rossi")
    roster.create_client("Luca Design", "luca@rossi.e2e", "Luca", "Verdi")
    staff, owner = (browser.new_context().new_page() for _ in range(2))
    login(staff, base_url, ADMIN_EMAIL, ADMIN_PASSWORD, path="/admin/login")
    associate(staff, base_url, client_id, "luca@rossi", "Luca Verdi")

    # The owner opens Luca's permissions on User Management; staff grant Invoices meanwhile.
    login(owner, base_url, "rosa@rossi.e2e", OWNER_PASSWORD)
    owner.goto(f"{base_url}/account/users")
    stale = open_permissions(owner, "Luca Verdi")
    save_from_another_dialog(staff, "Luca Verdi", "View & Pay Invoices")
    assert granted(roster, client_id, "luca@rossi.e2e") == "invoices,tickets"

    refused_then_applied_on_top(owner, stale, "Luca Verdi")
    assert granted(roster, client_id, "luca@rossi.e2e") == "invoices,quotes,tickets"
