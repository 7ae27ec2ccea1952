"""The emailed invitation loop: the worker delivers through SMTP; the link registers a new user."""

import re

from conftest import register_from_invite
from playwright.sync_api import Page, expect


def test_the_emailed_invite_registers_a_user_with_another_email(page: Page, base_url, smtp_inbox):
    # `roster demo` queued Fiona's invite to useraccount@example.com; the server's worker sends it.
    message = smtp_inbox.wait_for("useraccount@example.com", "has invited you")
    assert message["Subject"] == "Fiona Ritterling has invited you to their account"
    body = smtp_inbox.text_of(message)
    assert "valid for 7 days" in body
    link = re.search(r"http://\S+/invite/\S+", body).group(0)

    page.goto(link)
    expect(page.get_by_role("heading", name="You have been invited to Client Test")).to_be_visible()
    expect(
        page.get_by_text("Fiona Ritterling has given you access to the Client Test account.")
    ).to_be_visible()
    register_from_invite(page, "Rita", "Newcomer", "rita.other@example.net")
    expect(page.get_by_text("Hello, Rita!")).to_be_visible()
    expect(page.get_by_text("Invite accepted")).to_be_visible()
    expect(page.get_by_role("heading", name="Client Test")).to_be_visible()
    expect(page.get_by_text("View & Pay Invoices")).to_be_visible()
    expect(page.get_by_text("View & Accept Quotes")).to_be_visible()
    expect(page.get_by_text("Modify Master Account Profile")).to_have_count(0)

    page.goto(link)  # the used link is dead, and says so
    expect(page.get_by_role("heading", name="This invitation was accepted")).to_be_visible()
