"""Delivery history and the invitation link in Chromium: an owner sends an invite, copies the
link from the confirmation with the keyboard (the copy logged), opens the invite's delivery
history (a dialog, by keyboard) and sees the email accepted, and a Resend made meanwhile shows in
the open dialog live; axe finds nothing serious on the confirmation nor the dialog."""

import time

from axe_playwright_python.sync_playwright import Axe
from conftest import RESEND_COOLDOWN_SECONDS, login
from playwright.sync_api import Page, expect

OWNER = "della.delivery@e2e.example"
GUEST = "guest.delivery@e2e.example"
AXE = Axe()


def no_serious_findings(page: Page, where: str) -> None:
    violations = AXE.run(page).response["violations"]
    failing = [v["id"] for v in violations if v["impact"] in ("serious", "critical")]
    assert not failing, f"axe on {where}: {failing}"


def test_the_sender_copies_the_link_and_follows_its_delivery_live(
    page: Page, base_url, roster, smtp_inbox
):
    roster.create_client("Deliveries Co", OWNER, "Della")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    login(page, base_url, OWNER)
    page.goto(f"{base_url}/account/users")
    form = page.locator("#invite-form")
    form.get_by_label("Email Address").fill(GUEST)
    form.get_by_role("button", name="Send Invite", exact=True).click()
    expect(page.get_by_text(f"Invite sent to {GUEST}.")).to_be_visible()

    # The link, once, in a read-only field; Copy by the keyboard.
    field = page.get_by_label("Invitation link", exact=True)
    expect(field).to_be_visible()
    expect(field).to_have_attribute("readonly", "")
    link = field.input_value()
    assert "/invite/" in link
    no_serious_findings(page, "the confirmation with the link")
    field.focus()
    page.keyboard.press("Tab")
    copy = page.get_by_role("button", name="Copy link")
    expect(copy).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Link copied to the clipboard.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == link
    deadline = time.monotonic() + 10
    while roster.sql(
        "SELECT COUNT(*) FROM activity_entries WHERE action = 'invite.link_copied'"
    ) != [(1,)]:
        assert time.monotonic() < deadline, "the copy was not logged"
        time.sleep(0.2)
    message = smtp_inbox.wait_for(GUEST, "has invited you")
    assert link in smtp_inbox.text_of(message)

    # The delivery history, opened with the keyboard: the email accepted by the SMTP server.
    row = page.locator("tr", has_text=GUEST)
    history_button = row.get_by_role("button", name=f"Delivery history of the invite to {GUEST}")
    history_button.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#delivery-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", name=f"Delivery of the invite to {GUEST}")).to_be_visible()
    expect(dialog.get_by_text("Sent by Della Owner")).to_be_visible()
    expect(dialog.locator(".delivery-tries").get_by_text("Accepted")).to_be_visible(timeout=10_000)
    expect(dialog.get_by_text("The current link expires")).to_be_visible()
    no_serious_findings(page, "the delivery history dialog")

    # A Resend made elsewhere meanwhile (another tab) shows in the open dialog, never reloaded.
    time.sleep(RESEND_COOLDOWN_SECONDS + 0.5)
    page.evaluate("window.__notReloaded = true")
    other = page.context.new_page()
    other.goto(f"{base_url}/account/users")
    other.locator("tr", has_text=GUEST).get_by_role(
        "button", name=f"Resend Invite to {GUEST}"
    ).click()
    expect(other.get_by_label("Invitation link", exact=True)).to_be_visible()
    other.close()
    expect(dialog.get_by_text("Resent by Della Owner")).to_be_visible(timeout=15_000)
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(history_button).to_be_focused()
