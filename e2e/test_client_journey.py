"""The client area end to end: owners invite, invitees accept, access follows rules."""

import re

from conftest import OWNER_PASSWORD, confirm, link_in, login, row_menu_action
from playwright.sync_api import Browser, Page, expect


def open_user_management(page: Page, first_name: str) -> None:
    page.get_by_text(f"Hello, {first_name}!").click()
    page.get_by_role("menuitem", name="User Management").click()
    expect(page.get_by_role("heading", name="User Management")).to_be_visible()


def test_owner_invites_with_chosen_permissions_and_a_stranger_registers(
    page: Page, base_url, roster, smtp_inbox, browser: Browser
):
    roster.create_client("Northwind", "nora@e2e.example", "Nora")
    login(page, base_url, "nora@e2e.example")
    open_user_management(page, "Nora")
    form = page.locator("#invite-form")
    form.get_by_label("Email Address").fill("guest1@e2e.example")
    form.get_by_label("Choose Permissions").check()
    form.get_by_label("View & Pay Invoices").check()
    form.get_by_label("View Domains").check()
    form.get_by_role("button", name="Send Invite", exact=True).click()
    expect(page.get_by_text("Invite sent to guest1@e2e.example.")).to_be_visible()
    expect(page.locator("tr", has_text="guest1@e2e.example")).to_be_visible()
    expect(page.get_by_text("Invite Sent: just now")).to_be_visible()
    expect(form.get_by_label("Email Address")).to_have_value("")

    message = smtp_inbox.wait_for("guest1@e2e.example", "has invited you")
    assert message["Subject"] == "Nora Owner has invited you to their account"
    link = link_in(smtp_inbox.text_of(message))

    guest = browser.new_context().new_page()
    guest.goto(link)
    expect(guest.get_by_role("heading", name="You have been invited to Northwind")).to_be_visible()
    register = guest.locator("section", has=guest.get_by_role("heading", name="Register"))
    register.get_by_label("First Name").fill("Gil")
    register.get_by_label("Last Name").fill("Guest")
    register.get_by_label("Email Address").fill("gil.elsewhere@e2e.example")
    register.get_by_label("Password", exact=True).fill("password")
    expect(register.get_by_text("Password Strength: Very weak (too easy to guess)")).to_be_visible()
    register.get_by_role("button", name="Generate").click()
    register.get_by_label("I have read and agree to the Terms of Service").check()
    register.get_by_role("button", name="Register").click()
    expect(guest.get_by_text("Hello, Gil!")).to_be_visible()
    expect(guest.get_by_text("Invite accepted: you now have access to Northwind.")).to_be_visible()
    permissions = guest.locator(".permission-list")
    expect(permissions.locator("li")).to_have_count(2)
    expect(permissions).to_contain_text("View Domains")
    expect(permissions).to_contain_text("View & Pay Invoices")

    guest.goto(link)
    expect(guest.get_by_role("heading", name="This invitation was accepted")).to_be_visible()

    page.reload()
    row = page.locator("tr", has_text="Gil Guest")
    expect(row).to_contain_text("gil.elsewhere@e2e.example")
    expect(page.locator("tr", has_text="guest1@e2e.example")).to_have_count(0)
    owner_notice = smtp_inbox.wait_for("nora@e2e.example", "accepted your invitation")
    assert "Gil Guest" in owner_notice["Subject"]


def test_an_existing_user_accepts_by_logging_in_then_switches_accounts(
    page: Page, base_url, roster, smtp_inbox, browser: Browser
):
    roster.create_client("Fabrikam", "fay@e2e.example", "Fay")
    roster.create_client("Contoso", "carl@e2e.example", "Carl")
    login(page, base_url, "carl@e2e.example")
    open_user_management(page, "Carl")
    page.locator("#invite-form").get_by_label("Email Address").fill("fay@e2e.example")
    page.get_by_role("button", name="Send Invite", exact=True).click()
    expect(page.get_by_text("Invite sent to fay@e2e.example.")).to_be_visible()
    link = link_in(smtp_inbox.text_of(smtp_inbox.wait_for("fay@e2e.example", "invited")))

    fay = browser.new_context().new_page()
    fay.goto(link)
    signin = fay.locator("section", has=fay.get_by_role("heading", name="Login"))
    signin.get_by_label("Email Address").fill("fay@e2e.example")
    signin.get_by_label("Password").fill(OWNER_PASSWORD)
    signin.get_by_role("button", name="Login").click()
    expect(fay.get_by_text("Invite accepted: you now have access to Contoso.")).to_be_visible()
    fay.get_by_text("Hello, Fay!").click()
    fay.get_by_role("menuitem", name="Switch Account").click()
    expect(fay.get_by_role("heading", name="Choose Account")).to_be_visible()
    names = fay.locator(".account-name")
    expect(names).to_have_text(["Fabrikam", "Contoso"])  # owned first
    expect(fay.locator(".account-choice").first.get_by_text("Owner")).to_be_visible()
    fay.get_by_role("button", name=re.compile("Fabrikam")).click()
    expect(fay.get_by_role("heading", name="Fabrikam")).to_be_visible()


def test_a_removed_user_loses_the_account_on_the_next_request(
    page: Page, base_url, roster, smtp_inbox, browser: Browser
):
    roster.create_client("Tailspin", "tara@e2e.example", "Tara")
    roster.create_client("Own Shop", "rob@e2e.example", "Rob")
    login(page, base_url, "tara@e2e.example")
    open_user_management(page, "Tara")
    page.locator("#invite-form").get_by_label("Email Address").fill("rob@e2e.example")
    page.get_by_role("button", name="Send Invite", exact=True).click()
    expect(page.get_by_text("Invite sent to rob@e2e.example.")).to_be_visible()
    link = link_in(smtp_inbox.text_of(smtp_inbox.wait_for("rob@e2e.example", "invited")))

    rob = browser.new_context().new_page()
    login(rob, base_url, "rob@e2e.example")
    rob.goto(link)
    rob.get_by_role("button", name="Accept Invite").click()
    rob.wait_for_url(f"{base_url}/account?welcome=1")  # accepted (the invite page names it too)
    expect(rob.get_by_role("heading", name="Tailspin", exact=True)).to_be_visible()

    page.reload()
    row_menu_action(page.locator("tr", has_text="Rob Owner"), "Remove Access")
    confirm(page, "Remove Access")
    expect(page.get_by_text("Removed the access of Rob Owner to Tailspin.")).to_be_visible()
    expect(page.locator("tr", has_text="Rob Owner")).to_have_count(0)

    rob.goto(f"{base_url}/account")
    expect(rob.get_by_role("heading", name="Choose Account")).to_be_visible()
    expect(rob.get_by_text("Tailspin")).to_have_count(0)


def test_an_expired_invite_shows_the_no_pending_invite_page(
    page: Page, base_url, roster, smtp_inbox
):
    roster.create_client("Litware", "lia@e2e.example", "Lia")
    login(page, base_url, "lia@e2e.example")
    open_user_management(page, "Lia")
    page.locator("#invite-form").get_by_label("Email Address").fill("late@e2e.example")
    page.get_by_role("button", name="Send Invite", exact=True).click()
    expect(page.get_by_text("Invite sent to late@e2e.example.")).to_be_visible()
    link = link_in(smtp_inbox.text_of(smtp_inbox.wait_for("late@e2e.example", "invited")))
    roster.sql(
        "UPDATE invitations SET expires_at = '2020-01-01 00:00:00+00:00' "
        "WHERE email_key = 'late@e2e.example'"
    )
    response = page.goto(link)
    assert response.status == 410
    expect(page.get_by_role("heading", name="This invitation has expired")).to_be_visible()
    expect(page.get_by_role("button", name="Ask for a new invitation")).to_be_visible()
    page.goto(f"{base_url}/account/users")
    expect(page.locator("tr", has_text="late@e2e.example").get_by_text("Expired")).to_be_visible()


def test_a_non_owner_is_refused_user_management_and_the_profile_without_permission(
    page: Page, base_url, roster, smtp_inbox, browser: Browser
):
    roster.create_client("Adventure Works", "ada.w@e2e.example", "Ada")
    login(page, base_url, "ada.w@e2e.example")
    open_user_management(page, "Ada")
    form = page.locator("#invite-form")
    form.get_by_label("Email Address").fill("nick@e2e.example")
    form.get_by_label("Choose Permissions").check()
    form.get_by_label("View & Open Support Tickets").check()
    form.get_by_role("button", name="Send Invite", exact=True).click()
    expect(page.get_by_text("Invite sent to nick@e2e.example.")).to_be_visible()
    link = link_in(smtp_inbox.text_of(smtp_inbox.wait_for("nick@e2e.example", "invited")))

    nick = browser.new_context().new_page()
    nick.goto(link)
    register = nick.locator("section", has=nick.get_by_role("heading", name="Register"))
    register.get_by_label("First Name").fill("Nick")
    register.get_by_label("Last Name").fill("Member")
    register.get_by_label("Email Address").fill("nick@e2e.example")
    register.get_by_label("Password", exact=True).fill("quartz-meadow-lantern-5")
    register.get_by_label("I have read and agree to the Terms of Service").check()
    register.get_by_role("button", name="Register").click()
    expect(nick.get_by_text("Hello, Nick!")).to_be_visible()
    nick.get_by_text("Hello, Nick!").click()
    expect(nick.get_by_role("menuitem", name="User Management")).to_have_count(0)
    assert nick.goto(f"{base_url}/account/users").status == 403
    expect(nick.get_by_text("Only the account owner can manage its users.")).to_be_visible()
    assert nick.goto(f"{base_url}/account/profile").status == 403
