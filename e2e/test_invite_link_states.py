"""An expired invitation link asks for a new one; the owner sees the request beside the invite,
resends it in one click, and the new email's link works."""

from conftest import link_in, login
from playwright.sync_api import Browser, Page, expect


def test_an_expired_link_asks_the_owner_who_resends_and_the_new_link_works(
    page: Page, base_url, roster, smtp_inbox, browser: Browser
):
    roster.create_client("Lapsed Ltd", "lapsed.owner@e2e.example", "Lena")
    invitee = "late.renewal@e2e.example"
    login(page, base_url, "lapsed.owner@e2e.example")
    page.goto(f"{base_url}/account/users")
    form = page.locator("#invite-form")
    form.get_by_label("Email Address").fill(invitee)
    form.get_by_role("button", name="Send Invite", exact=True).click()
    expect(page.get_by_text(f"Invite sent to {invitee}.")).to_be_visible()
    first_link = link_in(smtp_inbox.text_of(smtp_inbox.wait_for(invitee, "invited")))
    roster.sql(
        "UPDATE invitations SET last_sent_at = '2019-12-25 00:00:00+00:00',"
        " expires_at = '2020-01-01 00:00:00+00:00' WHERE email_key = ?",
        invitee,
    )
    page.reload()
    row = page.locator("tr", has_text=invitee)
    expect(row.get_by_text("Expired")).to_be_visible()

    guest = browser.new_context().new_page()
    response = guest.goto(first_link)
    assert response.status == 410
    expect(guest.get_by_role("heading", name="This invitation has expired")).to_be_visible()
    expect(guest.get_by_text("Lena Owner")).to_be_visible()  # the sender, as the email named them
    guest.get_by_role("button", name="Ask for a new invitation").click()
    expect(guest.get_by_text("You have already asked for a new invitation")).to_be_visible()
    expect(guest.get_by_role("button", name="Ask for a new invitation")).to_have_count(0)
    expect(guest.get_by_text("lapsed.owner@e2e.example")).to_have_count(0)

    notice = smtp_inbox.wait_for("lapsed.owner@e2e.example", "asked for a new invitation")
    assert "Resend Invite" in smtp_inbox.text_of(notice)

    # The owner's open page shows the request by itself (live), with Resend beside it.
    expect(row.get_by_text("asked for a new invitation on")).to_be_visible()
    page.get_by_role("button", name=f"Resend Invite to {invitee}").click()
    expect(page.get_by_text(f"Invite sent again to {invitee}")).to_be_visible()
    expect(page.locator("tr", has_text=invitee).get_by_text("asked for a new")).to_have_count(0)

    new_link = link_in(smtp_inbox.text_of(smtp_inbox.wait_for(invitee, "invited", count=2)))
    assert new_link != first_link
    guest.goto(new_link)
    expect(guest.get_by_role("heading", name="You have been invited to Lapsed Ltd")).to_be_visible()
    expect(guest.get_by_role("heading", name="Login")).to_be_visible()
