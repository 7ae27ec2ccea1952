"""The admin screens: the activity log, the settings and the outbox."""

import re
from datetime import timedelta

import pytest

from app.core import clock
from app.domain.activity.services import write_entry
from app.domain.clients.services import update_client
from app.domain.invitations import services as invitations
from app.domain.mail.worker import MAX_ATTEMPTS
from app.domain.staff import services as admin
from app.domain.staff.services import flag, get_setting, set_setting
from app.schema.activity import ActivityEntry
from app.schema.mail import OutboundEmail
from tests.factories import ADMIN, make_client, make_user
from tests.integration.conftest import message_texts, page, text_of

HX = {"HX-Request": "true", "HX-Request-Type": "partial"}


# The activity log.


async def test_activity_lists_entries_newest_first_with_before_and_after(http, admin_session):
    client_id, owner = await make_client("Acme")
    await update_client(
        client_id,
        company_name="Acme Hosting",
        first_name="Olivia",
        last_name="Owner",
        email=owner["email"],
        actor=ADMIN,
    )
    response = await http.get("/admin/activity")
    assert response.status_code == 200
    soup = page(response)
    rows = soup.select("table.data tbody tr")
    newest = await ActivityEntry.select(ActivityEntry.id).order_by(
        ActivityEntry.id, ascending=False
    )
    assert [r["id"] for r in rows] == [f"entry-{e['id']}" for e in newest]
    first = rows[0].get_text(" ")
    assert "company name: 'Acme' -> 'Acme Hosting'" in first
    assert "Ada Admin" in first and "Admin" in first
    account = rows[0].find("a", string="Acme Hosting")
    assert account["href"] == f"/admin/activity?client_id={client_id}"
    assert rows[0].find("a", href=f"/admin/clients/{client_id}/users")
    created = soup.find("td", string=lambda s: s and "Created client account" in s).parent
    user_link = created.find("a", string="Olivia Owner")
    assert user_link["href"] == f"/admin/activity?user_id={owner['id']}"
    assert owner["email"] in created.get_text()
    assert rows[0].find("time")["title"] == "just now"
    assert f"Page 1 of 1 · {len(rows)} entries" in text_of(response)


async def test_activity_filters_by_account_and_by_user(http, admin_session):
    acme_id, acme_owner = await make_client("Acme")
    globex_id, _ = await make_client("Globex")
    member = await make_user("Jo", "Walker")
    await write_entry(
        ADMIN, "test", "Acme note: off -> on", client_id=acme_id, user_id=member["id"]
    )
    await write_entry(
        ADMIN, "test", "Globex note: off -> on", client_id=globex_id, user_id=member["id"]
    )

    by_account = await http.get(f"/admin/activity?client_id={acme_id}")
    text = text_of(by_account)
    assert "Acme note" in text and "Created client account Acme" in text
    assert "Globex" not in text
    chip = page(by_account).find("a", class_="filter-chip")
    assert "Account: Acme" in chip.get_text() and "×" in chip.get_text()
    assert chip["href"] == "/admin/activity"

    by_user = await http.get(f"/admin/activity?user_id={member['id']}")
    text = text_of(by_user)
    assert "Acme note" in text and "Globex note" in text and "Created user Jo Walker" in text
    assert "Created client account" not in text
    assert "User: Jo Walker" in page(by_user).find("a", class_="filter-chip").get_text()

    both = await http.get(f"/admin/activity?client_id={acme_id}&user_id={member['id']}")
    assert [
        r.find(class_="activity-description").get_text() for r in page(both).select("tbody tr")
    ] == ["Acme note: off -> on"]
    chips = {
        c.get_text(" ", strip=True): c["href"]
        for c in page(both).find_all("a", class_="filter-chip")
    }
    assert chips == {
        "Account: Acme × (remove this filter)": f"/admin/activity?user_id={member['id']}",
        "User: Jo Walker × (remove this filter)": f"/admin/activity?client_id={acme_id}",
    }

    nothing = await http.get(f"/admin/activity?client_id={globex_id}&user_id={acme_owner['id']}")
    assert "No activity matches these filters." in text_of(nothing)
    assert (await http.get("/admin/activity?client_id=abc")).status_code == 400


async def test_activity_escapes_markup_in_names(http, admin_session):
    client_id, _ = await make_client("<script>alert(1)</script>")
    await make_user("<img src=x onerror=alert(2)>", "Walker")
    response = await http.get(f"/admin/activity?client_id={client_id}")
    assert "<script>alert(1)</script>" not in response.text
    assert "<img src=x" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert "Account: <script>alert(1)</script>" in text_of(response)
    everything = await http.get("/admin/activity")
    assert "<img src=x" not in everything.text
    assert "Created user <img src=x onerror=alert(2)> Walker" in text_of(everything)


async def test_activity_pages_by_fifty_keeping_the_filters(http, admin_session):
    client_id, _ = await make_client("Acme")
    for i in range(60):
        await write_entry(ADMIN, "test", f"Step {i}: {i} -> {i + 1}", client_id=client_id)
    first = await http.get(f"/admin/activity?client_id={client_id}")
    assert len(page(first).select("tbody tr")) == 50
    assert "Page 1 of 2 · 61 entries" in text_of(first)
    assert "Step 59: 59 -> 60" in text_of(first)
    next_link = page(first).find("a", string="Next")
    assert next_link["href"] == f"/admin/activity?client_id={client_id}&page=2"
    second = await http.get(next_link["href"])
    assert len(page(second).select("tbody tr")) == 11
    assert "Page 2 of 2" in text_of(second) and "Step 0: 0 -> 1" in text_of(second)
    assert (
        page(second).find("a", string="Previous")["href"]
        == f"/admin/activity?client_id={client_id}"
    )


async def test_activity_runs_a_constant_number_of_queries(http, admin_session, count_queries):
    await ActivityEntry.delete(force=True)
    client_id, owner = await make_client("Acme")
    await ActivityEntry.delete(force=True)
    await write_entry(ADMIN, "test", "One: a -> b", client_id=client_id, user_id=owner["id"])

    async def statements():
        with count_queries() as counted:
            response = await http.get("/admin/activity")
        assert response.status_code == 200
        return counted.n, len(page(response).select("tbody tr"))

    one, rows = await statements()
    assert rows == 1
    others = [await make_client(f"Client {i}", password=None) for i in range(3)]
    for i in range(60):
        other_id, other_owner = others[i % 3]
        await write_entry(
            ADMIN,
            "test",
            f"Entry {i}: a -> b",
            client_id=other_id,
            user_id=other_owner["id"] if i % 2 else 999_000 + i,
        )
    fifty, rows = await statements()
    assert rows == 50
    assert fifty == one


# The settings.


async def test_the_settings_page_shows_the_current_values(http, admin_session):
    await set_setting(admin.REQUIRE_INVITED_EMAIL, "true", actor=ADMIN)
    await set_setting(admin.COMPANY_NAME, "Acme Hosting", actor=ADMIN)
    response = await http.get("/admin/settings")
    assert response.status_code == 200
    soup = page(response)
    disable = soup.find("input", {"name": "disable_client_user_management"})
    require = soup.find("input", {"name": "require_invited_email"})
    assert (
        disable.find_parent("label").get_text(strip=True) == "Disable Client Area User Management"
    )
    assert (
        require.find_parent("label").get_text(strip=True)
        == "Require the invited email to match when accepting"
    )
    assert not disable.has_attr("checked") and require.has_attr("checked")
    assert soup.find("input", {"name": "company_name"})["value"] == "Acme Hosting"
    assert soup.find("label", string="Company name")
    assert "Off by default" in soup.find(id=disable["aria-describedby"]).get_text()
    assert soup.find("button", string="Save Settings")
    assert not soup.find("fieldset").has_attr("disabled")


async def test_saving_the_settings_writes_both_flags_and_the_company_name(http, admin_session):
    response = await http.post(
        "/admin/settings",
        {
            "disable_client_user_management": "true",
            "require_invited_email": "true",
            "company_name": "  Globex   Corp ",
        },
        headers=HX,
    )
    assert response.status_code == 200
    soup = page(response)
    assert soup.find("form", id="settings-form")
    assert message_texts(response) == ["Settings saved."]
    assert await flag(admin.DISABLE_CLIENT_USER_MANAGEMENT)
    assert await flag(admin.REQUIRE_INVITED_EMAIL)
    assert await get_setting(admin.COMPANY_NAME) == "Globex Corp"
    assert soup.find("input", {"name": "company_name"})["value"] == "Globex Corp"
    changes = await ActivityEntry.select(ActivityEntry.description).where(
        ActivityEntry.action == "settings.changed"
    )
    assert {c["description"] for c in changes} == {
        "Setting “Disable Client Area User Management”: off -> on",
        "Setting “Require the invited email to match”: off -> on",
        "Setting “Company name”: Roster -> Globex Corp",
    }
    # Unticked boxes are not posted: both flags go off again, by a plain form post.
    plain = await http.post("/admin/settings", {"company_name": "Globex Corp"})
    assert plain.status_code == 303
    assert plain.headers["location"] == "/admin/settings?saved=1"
    assert not await flag(admin.DISABLE_CLIENT_USER_MANAGEMENT)
    assert not await flag(admin.REQUIRE_INVITED_EMAIL)
    assert "Settings saved." in text_of(await http.get(plain.headers["location"]))


@pytest.mark.parametrize(
    "company,message",
    [
        ("   ", "Enter a company name."),
        ("x" * 101, "Company name is limited to 100 characters."),
    ],
)
async def test_an_invalid_company_name_saves_nothing(http, admin_session, company, message):
    response = await http.post(
        "/admin/settings",
        {"disable_client_user_management": "true", "company_name": company},
        headers=HX,
    )
    assert response.status_code == 422
    soup = page(response)
    assert message in soup.find(id="settings-company_name-error").get_text()
    assert soup.find("input", {"name": "company_name"})["value"] == company
    assert soup.find("input", {"name": "disable_client_user_management"}).has_attr("checked")
    assert not await flag(admin.DISABLE_CLIENT_USER_MANAGEMENT)
    assert await get_setting(admin.COMPANY_NAME) == "Roster"


async def test_save_settings_writes_all_or_nothing(monkeypatch):
    calls = []
    original = admin.set_setting

    async def failing_second(key, value, *, actor):
        calls.append(key)
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        await original(key, value, actor=actor)

    monkeypatch.setattr(admin, "set_setting", failing_second)
    with pytest.raises(RuntimeError):
        await admin.save_settings(
            {
                admin.DISABLE_CLIENT_USER_MANAGEMENT: True,
                admin.REQUIRE_INVITED_EMAIL: True,
                admin.COMPANY_NAME: "Globex",
            },
            actor=ADMIN,
        )
    assert len(calls) == 2
    assert not await flag(admin.DISABLE_CLIENT_USER_MANAGEMENT)
    assert not await flag(admin.REQUIRE_INVITED_EMAIL)
    assert await ActivityEntry.count().where(ActivityEntry.action == "settings.changed") == 0


async def test_a_support_operator_sees_the_settings_but_cannot_save(http, support_session):
    soup = page(await http.get("/admin/settings"))
    assert soup.find("form", id="settings-form").find("fieldset").has_attr("disabled")
    assert "Your role can view these settings but not change them." in soup.get_text()
    response = await http.post(
        "/admin/settings",
        {"disable_client_user_management": "true", "company_name": "Evil"},
        headers=HX,
    )
    assert response.status_code == 403
    assert not await flag(admin.DISABLE_CLIENT_USER_MANAGEMENT)
    assert await get_setting(admin.COMPANY_NAME) == "Roster"


@pytest.mark.parametrize("url", ["/admin/activity", "/admin/settings", "/admin/mail"])
async def test_the_admin_screens_need_an_admin_login(http, url):
    anonymous = await http.get(url)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/admin/login"
    _, owner = await make_client()
    await http.login(owner["email"])
    as_user = await http.get(url)
    assert as_user.status_code == 303 and as_user.headers["location"] == "/admin/login"


async def test_a_client_user_cannot_change_the_settings(http):
    _, owner = await make_client()
    await http.login(owner["email"])
    response = await http.post(
        "/admin/settings", {"disable_client_user_management": "true", "company_name": "Evil"}
    )
    assert response.status_code == 303 and response.headers["location"] == "/admin/login"
    assert not await flag(admin.DISABLE_CLIENT_USER_MANAGEMENT)


# The outbox.


async def add_email(
    *,
    status: str = "failed",
    attempts: int = MAX_ATTEMPTS,
    error: str = "",
    to: str = "jo@example.com",
    subject: str = "Reset your password",
    text: str = "Hello",
    next_attempt_in: timedelta = timedelta(minutes=10),
) -> int:
    now = clock.now()
    rows = await OutboundEmail.insert(
        OutboundEmail(
            to_address=to,
            subject=subject,
            text_body=text,
            html_body="<p>Hello</p>",
            template="password_reset",
            status=status,
            attempts=attempts,
            next_attempt_at=now + next_attempt_in,
            last_error=error,
            created_at=now,
            sent_at=now if status == "sent" else None,
        )
    ).returning(OutboundEmail.id)
    return rows[0]["id"]


LONG_ERROR = (
    "SMTPConnectError: Error connecting to 127.0.0.1 on port 2525; "
    "[Errno 111] Connection refused by the <mail> server"
)


async def test_the_outbox_lists_emails_with_status_attempts_and_errors(http, admin_session):
    failed = await add_email(error=LONG_ERROR, to="failed@example.com")
    retrying = await add_email(
        status="queued", attempts=3, error="SMTPServerDisconnected: x", to="retrying@example.com"
    )
    sent = await add_email(status="sent", attempts=1, to="sent@example.com")
    response = await http.get("/admin/mail")
    assert response.status_code == 200
    soup = page(response)
    assert [r["id"] for r in soup.select("tbody tr")] == [
        f"email-{sent}",
        f"email-{retrying}",
        f"email-{failed}",
    ]

    row = soup.find(id=f"email-{failed}")
    assert row.find(class_="badge-failed").get_text() == "Failed"
    assert f"{MAX_ATTEMPTS} of {MAX_ATTEMPTS}" in row.get_text()
    details = row.find("details")
    assert details.find("p").get_text() == LONG_ERROR
    assert details.find("summary").get_text().endswith("…")
    assert "<mail>" not in response.text
    assert row.find("button", string="Retry")["hx-post"] == f"/admin/mail/{failed}/retry"
    assert row.find("a", string="View")["href"] == f"/admin/mail/{failed}"

    row = soup.find(id=f"email-{retrying}")
    assert "delivery failed, retrying" in row.get_text()
    assert re.search(r"next attempt in (9|10) minutes", " ".join(row.get_text(" ").split()))
    assert f"3 of {MAX_ATTEMPTS}" in row.get_text()
    assert not row.find("button", string="Retry")
    assert not soup.find(id=f"email-{sent}").find("button", string="Retry")

    tabs = {a.get_text(" ", strip=True): a["href"] for a in soup.select("nav.tabs a")}
    assert tabs == {
        "All 3": "/admin/mail",
        "Queued 1": "/admin/mail?status=queued",
        "Sending 0": "/admin/mail?status=sending",
        "Sent 1": "/admin/mail?status=sent",
        "Failed 1": "/admin/mail?status=failed",
    }
    only_failed = page(await http.get("/admin/mail?status=failed"))
    assert [r["id"] for r in only_failed.select("tbody tr")] == [f"email-{failed}"]
    assert (
        only_failed.select_one('nav.tabs a[aria-current="page"]').get_text(" ", strip=True)
        == "Failed 1"
    )
    assert (await http.get("/admin/mail?status=bogus")).status_code == 400
    assert "No sending emails." in text_of(await http.get("/admin/mail?status=sending"))


async def test_retry_puts_a_failed_email_back_in_the_queue(http, admin_session):
    email_id = await add_email(error="SMTPConnectError: refused")
    response = await http.post(f"/admin/mail/{email_id}/retry", headers=HX)
    assert response.status_code == 200
    soup = page(response)
    row = soup.find("tr", id=f"email-{email_id}")
    assert "delivery failed, retrying" in row.get_text()
    assert not row.find("button", string="Retry")
    assert message_texts(response) == ["Email queued for another attempt."]
    counts = {c["id"]: c.get_text() for c in soup.find_all("span", attrs={"hx-swap-oob": "true"})}
    assert counts["mail-count-failed"] == "0" and counts["mail-count-queued"] == "1"
    stored = await OutboundEmail.select().where(OutboundEmail.id == email_id).first()
    assert stored["status"] == "queued" and stored["next_attempt_at"] <= clock.now()
    assert await ActivityEntry.exists().where(ActivityEntry.action == "mail.retried")
    again = await http.post(f"/admin/mail/{email_id}/retry", headers=HX)
    assert again.status_code == 409
    assert message_texts(again) == ["Only a failed email can be retried; this one is queued."]


async def test_retry_of_a_sent_email_is_refused(http, admin_session):
    email_id = await add_email(status="sent", attempts=1)
    response = await http.post(f"/admin/mail/{email_id}/retry", headers=HX)
    assert response.status_code == 409
    assert message_texts(response) == ["Only a failed email can be retried; this one is sent."]
    assert (await OutboundEmail.select().first())["status"] == "sent"
    plain = await http.post(f"/admin/mail/{email_id}/retry")
    assert plain.status_code == 409 and "this one is sent" in text_of(plain)
    assert (await http.post("/admin/mail/999999/retry", headers=HX)).status_code == 404


async def test_a_support_operator_sees_the_outbox_but_cannot_retry_or_read(http, support_session):
    email_id = await add_email(error="SMTPConnectError: refused")
    soup = page(await http.get("/admin/mail"))
    row = soup.find(id=f"email-{email_id}")
    assert "SMTPConnectError: refused" in row.get_text()
    assert not row.find("button", string="Retry") and not row.find("a", string="View")
    assert (await http.post(f"/admin/mail/{email_id}/retry", headers=HX)).status_code == 403
    assert (await http.get(f"/admin/mail/{email_id}")).status_code == 403
    assert (await OutboundEmail.select().first())["status"] == "failed"


async def test_the_message_view_makes_links_clickable_and_escapes(http, admin_session):
    client_id, _ = await make_client("<b>Bold</b> Hosting")
    invitation_id, token = await invitations.invite(
        client_id, "new@example.com", ["tickets"], actor=ADMIN
    )
    email = await OutboundEmail.select().where(OutboundEmail.invitation == invitation_id).first()
    response = await http.get(f"/admin/mail/{email['id']}")
    assert response.status_code == 200
    soup = page(response)
    body = soup.find("pre", class_="mail-body")
    link = f"http://testserver.local/invite/{token}"
    assert body.find("a", href=link).get_text() == link
    assert "<b>Bold</b> Hosting" in body.get_text()
    assert not body.find("b")
    assert "new@example.com" in soup.find("dl", class_="mail-headers").get_text()
    assert "development only" in text_of(response)

    hostile = await add_email(
        text="Hi <script>alert(1)</script> see http://x.test/a?b=1&c=2. "
        'and http://y.test/"><img src=x onerror=alert(1)>'
    )
    soup = page(await http.get(f"/admin/mail/{hostile}"))
    body = soup.find("pre", class_="mail-body")
    assert not body.find("script") and not body.find("img")
    assert [a["href"] for a in body.find_all("a")] == ["http://x.test/a?b=1&c=2", "http://y.test/"]
    assert "Hi <script>alert(1)</script> see" in body.get_text()
    assert (await http.get("/admin/mail/999999")).status_code == 404
    # Sent: the worker kept no content (app.domain.mail.worker._mark_sent), and the view says so.
    await OutboundEmail.update(
        {OutboundEmail.status: "sent", OutboundEmail.text_body: "", OutboundEmail.html_body: ""}
    ).where(OutboundEmail.id == email["id"])
    sent = page(await http.get(f"/admin/mail/{email['id']}"))
    assert sent.find("pre", class_="mail-body") is None
    assert "does not keep a message's content" in sent.get_text()


async def test_the_message_view_does_not_exist_in_production(http, admin_session, monkeypatch):
    from app.core.config import load_settings
    from app.http.admin import screens

    email_id = await add_email()
    production = load_settings({"ROSTER_ENV": "production", "ROSTER_SECRET_KEY": "k"})
    monkeypatch.setattr(screens, "get_settings", lambda: production)
    assert (await http.get(f"/admin/mail/{email_id}")).status_code == 404
    row = page(await http.get("/admin/mail")).find(id=f"email-{email_id}")
    assert not row.find("a", string="View")
    assert row.find("button", string="Retry")


async def test_two_retries_at_once_put_the_email_back_once():
    import asyncio

    from app.core.errors import DomainError
    from app.domain.mail import services as mail

    email_id = await add_email(error="SMTPConnectError: refused")
    outcomes = await asyncio.gather(
        *(mail.retry(email_id, actor=ADMIN) for _ in range(5)), return_exceptions=True
    )
    assert sum(isinstance(o, dict) for o in outcomes) == 1
    assert all(isinstance(o, DomainError) for o in outcomes if not isinstance(o, dict))
    assert await ActivityEntry.count().where(ActivityEntry.action == "mail.retried") == 1


async def test_a_setting_saved_twice_is_one_row():
    await set_setting(admin.COMPANY_NAME, "Acme Hosting", actor=ADMIN)
    await set_setting(admin.COMPANY_NAME, "Globex", actor=ADMIN)
    assert await admin.Setting.count().where(admin.Setting.key == admin.COMPANY_NAME) == 1
    assert await get_setting(admin.COMPANY_NAME) == "Globex"
