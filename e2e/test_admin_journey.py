"""The staff side end to end: the Users tab, Associate User, invites, roles."""

import re

from conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    RESEND_COOLDOWN_SECONDS,
    SUPPORT_EMAIL,
    SUPPORT_PASSWORD,
    confirm,
    link_in,
    login,
    pick_user,
    row_menu_action,
)
from playwright.sync_api import Browser, Page, expect


def open_users_tab(page: Page, base_url: str, client_id: int) -> None:
    page.goto(f"{base_url}/admin/clients/{client_id}/users")
    expect(page.get_by_role("heading", name="Pending Invites")).to_be_visible()


def associate(
    page: Page, query: str, choice: re.Pattern | str, permissions: list[str], send_invite: bool
) -> None:
    page.get_by_role("button", name="+ Associate User").click()
    dialog = page.get_by_role("dialog", name="Associate User")
    expect(dialog).to_be_visible()
    pick_user(dialog, query, choice)
    dialog.get_by_role("radio", name="Choose Permissions").check()
    for label in permissions:
        dialog.get_by_label(label, exact=True).check()
    dialog.get_by_role("radio", name="Yes" if send_invite else "No").check()
    dialog.get_by_role("button", name="Associate User").click()


def test_staff_associate_invite_resend_cancel_edit_and_remove(
    page: Page, base_url, roster, smtp_inbox, browser: Browser
):
    client_id = roster.create_client("Globex", "gina@e2e.example", "Gina")
    roster.create_client("Side Co", "sid@e2e.example", "Sid")
    login(page, base_url, ADMIN_EMAIL, ADMIN_PASSWORD, path="/admin/login")
    open_users_tab(page, base_url, client_id)

    # An existing user, no invite: associated at once.
    associate(page, "sid@e2e", re.compile("Sid Owner"), ["View Domains"], send_invite=False)
    expect(page.get_by_text("Sid Owner can now reach this account.")).to_be_visible()
    expect(page.get_by_role("dialog", name="Associate User")).to_be_hidden()
    sid_row = page.locator("tr", has_text="sid@e2e.example")
    expect(sid_row.locator(".perm-details summary")).to_have_text("1 of 13: Domains")

    # Someone who already has access is shown but cannot be picked; errors stay in the dialog
    # with what was chosen.
    page.get_by_role("button", name="+ Associate User").click()
    dialog = page.get_by_role("dialog", name="Associate User")
    dialog.get_by_role("combobox", name="Select User").fill("sid@e2e")
    expect(dialog.get_by_role("option", name=re.compile("Sid Owner"))).to_have_attribute(
        "aria-disabled", "true"
    )
    pick_user(dialog, "owner@e2e", re.compile("Olivia Owner"))
    dialog.get_by_role("radio", name="Choose Permissions").check()
    dialog.get_by_role("radio", name="No").check()
    dialog.get_by_role("button", name="Associate User").click()
    expect(dialog.get_by_text("Choose at least one permission.")).to_be_visible()
    expect(dialog.get_by_text("Selected: Olivia Owner (owner@e2e.example)")).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()

    # A new email: always an invitation, read from the SMTP server.
    associate(
        page, "newhire@e2e.example", "Create new user", ["View & Accept Quotes"], send_invite=False
    )
    expect(page.get_by_text("Invite sent to newhire@e2e.example.")).to_be_visible()
    first = smtp_inbox.wait_for("newhire@e2e.example", "sent you an invite")
    assert first["Subject"] == "An agent of Roster has sent you an invite"
    old_link = link_in(smtp_inbox.text_of(first))

    # Resend at once: refused with when it can go again (a double click sends one email).
    resend = page.locator("tr", has_text="newhire@e2e.example").get_by_role(
        "button", name="Resend Invite"
    )
    resend.click()
    expect(page.get_by_text("You can send it again in")).to_be_visible()
    page.wait_for_timeout(RESEND_COOLDOWN_SECONDS * 1000)

    # Resend: a new link; the old one stops working.
    resend.click()
    expect(page.get_by_text("Invite sent again to newhire@e2e.example")).to_be_visible()
    resent = smtp_inbox.wait_for("newhire@e2e.example", "sent you an invite", count=2)
    new_link = link_in(smtp_inbox.text_of(resent))
    assert new_link != old_link
    visitor = browser.new_context().new_page()
    assert visitor.goto(old_link).status == 404
    assert visitor.goto(new_link).status == 200
    expect(visitor.get_by_role("heading", name="You have been invited to Globex")).to_be_visible()

    # Cancel: the link stops working.
    page.locator("tr", has_text="newhire@e2e.example").get_by_role(
        "button", name="Cancel Invite"
    ).click()
    confirm(page, "Cancel Invite")
    expect(
        page.get_by_text("Invite to newhire@e2e.example cancelled: its link no longer works.")
    ).to_be_visible()
    assert visitor.goto(new_link).status == 410  # its own page: no longer valid, ask again

    # Manage Permissions in a dialog; the row updates in place.
    manage = sid_row.get_by_role("button", name="Manage Permissions")
    manage.click()
    perms = page.get_by_role("dialog", name=re.compile("Manage Permissions: Sid Owner"))
    expect(perms.get_by_label("View Domains", exact=True)).to_be_checked()
    expect(perms.get_by_role("checkbox").first).to_be_focused()
    page.keyboard.press("Escape")
    expect(perms).to_be_hidden()
    expect(manage).to_be_focused()
    manage.press("Enter")
    perms.get_by_label("View Domains", exact=True).uncheck()
    perms.get_by_role("button", name="Save Permissions").click()
    expect(perms.get_by_text("Choose at least one permission.")).to_be_visible()
    perms.get_by_label("View Emails", exact=True).check()
    perms.get_by_role("button", name="Save Permissions").click()
    expect(page.get_by_text("Permissions of Sid Owner saved.")).to_be_visible()
    summary = page.locator("tr", has_text="sid@e2e.example").locator(".perm-details summary")
    expect(summary).to_have_text("1 of 13: Emails")
    expect(perms).to_be_hidden()
    expect(manage).to_be_focused()

    # Remove, after a confirmation; the owner has no Remove.
    expect(
        page.locator("tr", has_text="gina@e2e.example").get_by_role("button", name="Remove")
    ).to_have_count(0)
    row_menu_action(page.locator("tr", has_text="sid@e2e.example"), "Remove")
    confirm(page, "Remove Access")
    expect(page.get_by_text("Removed the access of Sid Owner to Globex.")).to_be_visible()
    expect(page.locator("tr", has_text="sid@e2e.example")).to_have_count(0)


def test_a_support_operator_can_look_but_is_refused_every_change(page: Page, base_url, roster):
    client_id = roster.create_client("Initech", "ian@e2e.example", "Ian")
    login(page, base_url, SUPPORT_EMAIL, SUPPORT_PASSWORD, path="/admin/login")
    open_users_tab(page, base_url, client_id)
    expect(page.get_by_role("button", name="+ Associate User")).to_have_count(0)
    expect(page.get_by_role("button", name="Send Password Reset Email")).to_have_count(0)
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    for path in ("associate", "users/1/remove", "users/1/permissions"):
        response = page.request.post(
            f"{base_url}/admin/clients/{client_id}/{path}",
            headers={"X-CSRFToken": token},
            form={"user_id": "1", "permissions": "tickets"},
        )
        assert response.status == 403, path
