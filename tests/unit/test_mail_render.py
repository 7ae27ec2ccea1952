from pathlib import Path

import pytest
from jinja2 import UndefinedError

from app.domain.mail.services import render_email
from app.domain.mail.worker import build_message, parse_smtp_url

INVITE = {
    "sender_name": "Fiona Ritterling",
    "account_name": "Client <b>Test</b>",
    "permission_labels": ["View & Pay Invoices", "View & Accept Quotes"],
    "accept_url": "http://127.0.0.1:8000/invite/TOKEN123",
    "sent_by_admin": False,
    "company": "Roster",
}


def test_the_invitation_email_has_both_parts_the_link_and_the_validity():
    subject, text, html = render_email("invitation", INVITE)
    assert subject == "Fiona Ritterling has invited you to their account"
    for body in (text, html):
        assert "http://127.0.0.1:8000/invite/TOKEN123" in body
        assert "valid for 7 days" in body
    assert "View & Pay Invoices" in text and "View &amp; Pay Invoices" in html
    assert "Client <b>Test</b>" in text
    assert "Client &lt;b&gt;Test&lt;/b&gt;" in html and "<b>Test</b>" not in html


def test_an_invitation_sent_by_staff_names_the_company():
    subject, _, _ = render_email(
        "invitation", {**INVITE, "sent_by_admin": True, "company": "Acme Hosting"}
    )
    assert subject == "An agent of Acme Hosting has sent you an invite"


def test_password_reset_and_acceptance_notice_render():
    subject, text, html = render_email(
        "password_reset",
        {"first_name": "Jo", "reset_url": "http://x/password/reset/abc", "valid_hours": 2},
    )
    assert subject == "Reset your Roster password"
    assert "http://x/password/reset/abc" in text and "2 hours" in html
    subject, text, _ = render_email(
        "invite_accepted",
        {
            "owner_first_name": "Fiona",
            "invitee_name": "Rita New",
            "invitee_email": "r@x.io",
            "account_name": "Client Test",
        },
    )
    assert subject == "Rita New accepted your invitation to Client Test"
    assert "r@x.io" in text


def test_a_request_for_a_new_invitation_says_what_to_do_for_each_state():
    context = {
        "first_name": "Fiona",
        "invited_email": "r@x.io",
        "account_name": "Client Test",
        "manage_url": "http://x/account/users",
        "by_inviter": False,
    }
    subject, text, html = render_email("invite_renewal_requested", {**context, "state": "expired"})
    assert subject == "r@x.io asked for a new invitation to Client Test"
    assert "found it expired" in text and "Resend Invite" in text and "Resend Invite" in html
    _, text, html = render_email("invite_renewal_requested", {**context, "state": "cancelled"})
    assert "cancelled" in text and "Invite New User" in text and "Invite New User" in html
    assert "Resend Invite" not in text


def test_a_missing_template_value_is_an_error_not_an_empty_string():
    with pytest.raises(UndefinedError):
        render_email("invitation", {"sender_name": "x"})


@pytest.mark.parametrize(
    "url,expected",
    [
        (
            "smtp://127.0.0.1:2525",
            {
                "hostname": "127.0.0.1",
                "port": 2525,
                "username": None,
                "password": None,
                "use_tls": False,
                "start_tls": False,
            },
        ),
        (
            "smtp://u%40x:p%3Aw@mail.example:587?starttls=1",
            {
                "hostname": "mail.example",
                "port": 587,
                "username": "u@x",
                "password": "p:w",
                "use_tls": False,
                "start_tls": True,
            },
        ),
        (
            "smtps://mail.example",
            {
                "hostname": "mail.example",
                "port": 465,
                "username": None,
                "password": None,
                "use_tls": True,
                "start_tls": False,
            },
        ),
    ],
)
def test_smtp_urls_are_parsed(url, expected):
    assert parse_smtp_url(url) == expected


def test_an_unknown_scheme_is_refused():
    with pytest.raises(ValueError):
        parse_smtp_url("http://mail.example")


def test_messages_carry_text_and_html_alternatives():
    row = {"id": 7, "to_address": "a@example.com", "subject": "Hi", "text_body": "t",
           "html_body": "<p>h</p>"}  # fmt: skip
    message = build_message(row, "Roster <no-reply@localhost>")
    assert message["From"] == "Roster <no-reply@localhost>"
    assert message["Message-ID"].endswith(".outbox-7@roster.local>")
    assert build_message(row, "x@localhost")["Message-ID"] != message["Message-ID"]  # each try
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


SYSTEM_CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None

# Emails on a phone: long values, since those are what push a layout sideways.
LONG = {
    "invitation": {
        **INVITE,
        "sender_name": "Maximilian Alexander Featherstonehaugh-Montgomery",
        "account_name": "Internationale Hosting- und Domainverwaltungsgesellschaft mbH & Co. KG",
        "accept_url": "http://127.0.0.1:8000/invite/" + "x7Kq9ZpL2vWm" * 4,
    },
    "password_reset": {
        "first_name": "Bartholomew",
        "reset_url": "http://127.0.0.1:8000/password/reset/" + "Qz8uY3nR5tEe" * 4,
        "valid_hours": 2,
    },
    "invite_renewal_requested": {
        "first_name": "Fiona",
        "invited_email": "rita.newcomer.with.a.very.long.address@subdomain.example-hosting.com",
        "account_name": "Internationale Hosting- und Domainverwaltungsgesellschaft mbH & Co. KG",
        "state": "expired",
        "manage_url": "https://portal.internationale-hosting-und-domainverwaltung.example"
        "/admin/clients/1234567/users",
        "by_inviter": True,
    },
    "access_ending": {
        "first_name": "Bartholomew",
        "person_name": "Maximilian Alexander Featherstonehaugh-Montgomery",
        "account_name": "Internationale Hosting- und Domainverwaltungsgesellschaft mbH & Co. KG",
        "until": "2026-12-14 23:59 UTC",
        "to_owner": True,
    },
    "access_expired": {
        "first_name": "Bartholomew",
        "account_name": "Internationale Hosting- und Domainverwaltungsgesellschaft mbH & Co. KG",
        "until": "2026-12-14 23:59 UTC",
    },
    "two_factor_required": {
        "first_name": "Bartholomew",
        "account_name": "Internationale Hosting- und Domainverwaltungsgesellschaft mbH & Co. KG",
        "owner_has_two_factor": False,
        "security_url": "https://portal.internationale-hosting-und-domainverwaltung.example"
        "/account/security",
        "users_url": "https://portal.internationale-hosting-und-domainverwaltung.example"
        "/account/users",
    },
    "invite_accepted": {
        "owner_first_name": "Fiona",
        "invitee_name": "Rita Newcomer",
        "invitee_email": "rita.newcomer.with.a.very.long.address@subdomain.example-hosting.com",
        "account_name": "Client Test",
    },
}


@pytest.fixture(scope="module")
async def phone():
    """A 360 px wide page in headless Chromium (the system's, else Playwright's own)."""
    from playwright.async_api import Error, async_playwright

    async with async_playwright() as playwright:
        try:
            browser = await playwright.chromium.launch(
                executable_path=SYSTEM_CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            )
        except Error as exc:
            pytest.skip(f"no Chromium to render emails in: {exc}")
        page = await browser.new_page(viewport={"width": 360, "height": 740})
        yield page
        await browser.close()


def link_of(template: str) -> str | None:
    return next((v for k, v in LONG[template].items() if k.endswith("_url")), None)


@pytest.mark.parametrize("template", sorted(LONG))
async def test_every_email_fits_a_360_px_screen(phone, template):
    _, _, html = render_email(template, LONG[template])
    await phone.set_content(html)
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 360
    card = await phone.locator("table table").first.bounding_box()
    assert card["x"] >= 0 and card["x"] + card["width"] <= 360
    if url := link_of(template):  # the link is there in full, wrapped over lines, not cut
        link = phone.locator(f'a[href="{url}"]').last
        assert (await link.inner_text()).replace("\n", "") == url
        assert (await link.bounding_box())["height"] > 30


async def test_an_email_keeps_its_560_px_card_on_a_wide_screen(phone):
    _, _, html = render_email("invitation", INVITE)
    await phone.set_viewport_size({"width": 1024, "height": 740})
    try:
        await phone.set_content(html)
        assert (await phone.locator("table table").first.bounding_box())["width"] == 560
    finally:
        await phone.set_viewport_size({"width": 360, "height": 740})


def test_the_access_emails_say_when_and_to_whom():
    context = {
        "first_name": "Fiona",
        "person_name": "Dee Signer",
        "account_name": "Client Test",
        "until": "2026-12-14 23:59 UTC",
    }
    subject, text, _ = render_email("access_ending", {**context, "to_owner": True})
    assert subject == "Access of Dee Signer to Client Test ends 2026-12-14 23:59 UTC"
    assert "under User Management" in text
    subject, text, _ = render_email("access_ending", {**context, "to_owner": False})
    assert subject == "Your access to Client Test ends 2026-12-14 23:59 UTC"
    assert "ask the account owner" in text
    subject, text, html = render_email("access_expired", context)
    assert subject == "Your access to Client Test has ended"
    assert "2026-12-14 23:59 UTC" in text and "2026-12-14 23:59 UTC" in html
    _, text, _ = render_email("invitation", {**INVITE, "access_until": "2026-12-14 23:59 UTC"})
    assert "This access ends by itself on 2026-12-14 23:59 UTC." in text
    _, text, _ = render_email("invitation", INVITE)
    assert "ends by itself" not in text
