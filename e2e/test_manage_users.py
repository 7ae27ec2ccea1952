"""Manage Users end to end: find a user, edit them, make them owner, delete them
only once they have no access left; a Support Operator can look and change nothing."""

import re

from conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    SUPPORT_EMAIL,
    SUPPORT_PASSWORD,
    confirm,
    login,
    pick_user,
    row_menu_action,
)
from playwright.sync_api import Page, expect


def find_user(page: Page, base_url: str, query: str, name: str) -> None:
    page.goto(f"{base_url}/admin/users")
    page.get_by_role("searchbox", name="Search users").fill(query)
    results = page.locator("#user-results tbody tr")
    expect(results).to_have_count(1)
    results.get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", level=1, name=name)).to_be_visible()


def test_make_owner_then_delete_only_once_unassociated(page: Page, base_url, roster, smtp_inbox):
    client_id = roster.create_client("Umbrella", "uma@e2e.example", "Uma")
    other_id = roster.create_client("Hooli", "hank@e2e.example", "Hank")
    login(page, base_url, ADMIN_EMAIL, ADMIN_PASSWORD, path="/admin/login")

    # Hank joins Umbrella from its Users tab (no invite), then becomes its owner.
    page.goto(f"{base_url}/admin/clients/{client_id}/users")
    page.get_by_role("button", name="+ Associate User").click()
    dialog = page.get_by_role("dialog", name="Associate User")
    pick_user(dialog, "hank@e2e", re.compile("Hank Owner"))
    dialog.get_by_role("radio", name="Choose Permissions").check()
    dialog.get_by_label("View Domains", exact=True).check()
    dialog.get_by_role("radio", name="No").check()
    dialog.get_by_role("button", name="Associate User").click()
    expect(page.get_by_text("Hank Owner can now reach this account.")).to_be_visible()

    find_user(page, base_url, "hank", "Hank Owner")
    umbrella = page.locator(f"#account-{client_id}")
    expect(page.locator(f"#account-{other_id}").locator(".badge-owner")).to_be_visible()
    umbrella.get_by_role("button", name="Make Owner").click()
    expect(
        page.get_by_role("dialog", name="Make Hank Owner the owner of Umbrella?")
    ).to_be_visible()
    confirm(page, "Make Owner")
    expect(page.get_by_text("Now the owner of Umbrella.")).to_be_visible()
    expect(umbrella.locator(".badge-owner")).to_be_visible()
    expect(umbrella.get_by_role("button", name="Make Owner")).to_have_count(0)
    page.goto(f"{base_url}/admin/clients/{client_id}/users")
    hank_row = page.locator("tr", has_text="hank@e2e.example")
    expect(hank_row.locator(".badge-owner")).to_be_visible()
    uma_row = page.locator("tr", has_text="uma@e2e.example")
    expect(uma_row.get_by_role("button", name="Manage Permissions")).to_be_visible()

    # Uma still reaches Umbrella: Delete is refused, and says why.
    find_user(page, base_url, "uma@e2e", "Uma Owner")
    danger = page.locator("#user-danger")
    expect(danger.get_by_text("still has access to 1 account")).to_be_visible()
    expect(danger.get_by_role("button", name="Delete")).to_be_disabled()

    # Edit her name in place: the heading follows.
    page.get_by_label("First Name").fill("Umeko")
    page.get_by_role("button", name="Save Changes").click()
    expect(page.get_by_text("User details saved.")).to_be_visible()
    expect(page.get_by_role("heading", level=1, name="Umeko Owner")).to_be_visible()

    # Send her a password reset email: it arrives.
    page.get_by_role("button", name="Send Password Reset Email").click()
    expect(page.get_by_text("Password reset email sent to uma@e2e.example.")).to_be_visible()
    smtp_inbox.wait_for("uma@e2e.example", "password")

    # Remove her access; then she can be deleted.
    page.goto(f"{base_url}/admin/clients/{client_id}/users")
    row_menu_action(page.locator("tr", has_text="uma@e2e.example"), "Remove")
    confirm(page, "Remove Access")
    expect(page.get_by_text("Removed the access of Umeko Owner to Umbrella.")).to_be_visible()
    find_user(page, base_url, "uma@e2e", "Umeko Owner")
    expect(page.locator(f"#account-{client_id}")).to_have_count(0)
    page.locator("#user-danger").get_by_role("button", name="Delete").click()
    confirm(page, "Delete User")
    expect(page).to_have_url(re.compile(r"/admin/users\?deleted=\d+$"))
    expect(page.get_by_text(re.compile(r"User #\d+ deleted\."))).to_be_visible()
    page.get_by_role("searchbox", name="Search users").fill("uma@e2e")
    expect(page.get_by_text("No user matches “uma@e2e”.")).to_be_visible()


def test_a_support_operator_is_refused_every_change_to_users(page: Page, base_url, roster):
    roster.create_client("Vandelay", "art@e2e.example", "Art")
    login(page, base_url, SUPPORT_EMAIL, SUPPORT_PASSWORD, path="/admin/login")
    find_user(page, base_url, "art@e2e", "Art Owner")
    expect(page.get_by_text("Your role can look at this user but not change them.")).to_be_visible()
    expect(page.get_by_label("First Name")).to_be_disabled()
    for name in (
        "Save Changes",
        "Make Owner",
        "Change Password",
        "Delete",
        "Send Password Reset Email",
    ):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    user_url = page.url
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    for path in ("", "/make-owner", "/password-reset", "/password", "/delete"):
        response = page.request.post(
            f"{user_url}{path}",
            headers={"X-CSRFToken": token},
            form={
                "first_name": "X",
                "last_name": "Y",
                "email": "x@e2e.example",
                "language": "english",
                "client_id": "1",
                "password": "violet-quartz-58-x",
            },
        )
        assert response.status == 403, path
