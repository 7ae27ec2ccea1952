"""Email verification: the link sent on registration and after every change of
address, the banner and Resend, Change Email Address, staff's view, and the setting that requires
a verified address to accept invitations."""

import logging
import re
from datetime import timedelta

from app.core import clock
from app.core.logging_setup import SHOWS_LINKS, RedactingFormatter
from app.domain.invitations import services as invitations
from app.domain.staff import services as admin_settings
from app.domain.users import services as users
from app.domain.verification import services as verification
from app.schema.activity import ActivityEntry
from app.schema.grants import Grant
from app.schema.mail import OutboundEmail
from app.schema.verification import EmailVerification
from tests.factories import ADMIN, PASSWORD, make_client, make_user, user_actor
from tests.integration.conftest import message_texts, page, seen, text_of

HX = {"HX-Request": "true"}
REGISTER = {
    "first_name": "Rita",
    "last_name": "Reg",
    "email": "rita@example.com",
    "password": "amber-violin-harbor-3",
    "company": "Rita Ltd",
    "accept_tos": "on",
}


async def emails(template: str, to: str | None = None) -> list[dict]:
    query = OutboundEmail.select().where(OutboundEmail.template == template)
    if to is not None:
        query = query.where(OutboundEmail.to_address == to)
    return await query.order_by(OutboundEmail.id)


async def latest_token(to: str) -> str:
    body = (await emails("verify_email", to))[-1]["text_body"]
    return re.search(r"/verify-email/(\S+)", body).group(1)


async def follow(http, token: str):
    """What the person does: opens the link, then presses its page's Verify Email Address. A link
    that no longer works has no button: its page is the answer."""
    opened = await http.get(f"/verify-email/{token}")
    form = page(opened).find("form", action=f"/verify-email/{token}")
    if form is None:
        return opened
    assert form.find("button", type="submit").get_text(strip=True) == "Verify Email Address"
    return await http.post(form["action"])


async def actions_of(user_id: int) -> list[str]:
    rows = await ActivityEntry.select(ActivityEntry.action).where(ActivityEntry.user_id == user_id)
    return [r["action"] for r in rows]


async def test_registration_sends_one_link_that_verifies_once(http):
    assert (await http.post("/register", REGISTER)).status_code == 303
    [sent] = await emails("verify_email")
    assert sent["to_address"] == "rita@example.com" and "valid for 24 hours" in sent["text_body"]
    token = await latest_token("rita@example.com")
    assert not await EmailVerification.exists().where(EmailVerification.token_hash == token)
    user = await users.find_by_email("rita@example.com")
    assert user["email_verified_at"] is None

    done = await follow(http, token)
    assert done.status_code == 200 and "Email address verified" in text_of(done)
    assert page(done).find(id="email-banner") is None  # the viewer was read before Verify
    assert done.headers["referrer-policy"] == "no-referrer"
    assert done.headers["cache-control"] == "no-store"
    assert (await users.get_user(user["id"]))["email_verified_at"] is not None
    assert {"user.verification_sent", "user.email_verified"} <= set(await actions_of(user["id"]))

    again = await http.get(f"/verify-email/{token}")
    assert again.status_code == 410 and "can no longer be used" in text_of(again)
    assert page(again).find("form", action=f"/verify-email/{token}") is None
    http.cookies.clear()  # logged out, an unknown token: the same answer, never an error
    for method in ("GET", "POST"):
        unknown = await (http.get if method == "GET" else http.post)("/verify-email/not-a-token")
        assert unknown.status_code == 410 and "can no longer be used" in text_of(unknown)
    assert (await http.get("/verify-email/" + "x" * 5000)).status_code in (404, 410)
    assert (await http.post("/verify-email/" + "x" * 5000)).status_code in (404, 410)


async def test_opening_the_link_changes_nothing_only_its_button_verifies(http):
    """Mail scanners open every link in a message, some with HEAD: none of that may use the link
    up before the person presses the button, logged out or not (the token is the authority)."""
    user = await make_user(email="scanned@example.com")
    await verification.resend(user["id"], actor=ADMIN, ip="127.0.0.1")
    token = await latest_token("scanned@example.com")
    link = f"/verify-email/{token}"
    for _ in range(2):
        opened = await http.get(link)
        assert opened.status_code == 200 and "Verify your email address" in text_of(opened)
        assert "scanned@example.com" in text_of(opened)
        assert opened.headers["referrer-policy"] == "no-referrer"
        assert opened.headers["cache-control"] == "no-store"
        form = page(opened).find("form", action=link)
        assert form["method"] == "post" and form.find("input", attrs={"name": "_csrf_token"})
        assert form.find("button", type="submit").get_text(strip=True) == "Verify Email Address"
        head = await http.client.head(link)
        assert head.status_code == 200 and head.content == b""
    assert (await users.get_user(user["id"]))["email_verified_at"] is None
    assert "user.email_verified" not in await actions_of(user["id"])

    assert (await http.post(link, csrf=False)).status_code == 403  # a form like every other
    done = await http.post(link)
    assert done.status_code == 200 and "Email address verified" in text_of(done)
    assert done.headers["referrer-policy"] == "no-referrer"
    assert done.headers["cache-control"] == "no-store"
    assert (await users.get_user(user["id"]))["email_verified_at"] is not None
    assert (await actions_of(user["id"])).count("user.email_verified") == 1

    again = await http.post(link)
    assert again.status_code == 410
    assert "This link can no longer be used" in text_of(again)
    assert (await actions_of(user["id"])).count("user.email_verified") == 1


async def test_a_link_expires_after_24_hours(http, monkeypatch):
    user = await make_user(email="late@example.com")
    await verification.resend(user["id"], actor=ADMIN, ip="127.0.0.1")
    token = await latest_token("late@example.com")
    later = clock.now() + verification.VALID_FOR + timedelta(seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    expired = await http.get(f"/verify-email/{token}")
    assert expired.status_code == 410 and "This link has expired" in text_of(expired)
    expired = await http.post(f"/verify-email/{token}")
    assert expired.status_code == 410 and "This link has expired" in text_of(expired)
    assert (await users.get_user(user["id"]))["email_verified_at"] is None


async def test_a_newer_link_replaces_the_older_one(http):
    user = await make_user(email="twice@example.com")
    await verification.resend(user["id"], actor=ADMIN, ip="127.0.0.1")
    older = await latest_token("twice@example.com")
    await verification.resend(user["id"], actor=ADMIN, ip="127.0.0.1")
    newer = await latest_token("twice@example.com")
    assert (await follow(http, older)).status_code == 410
    assert (await users.get_user(user["id"]))["email_verified_at"] is None
    assert (await follow(http, newer)).status_code == 200
    assert (await users.get_user(user["id"]))["email_verified_at"] is not None


async def test_the_banner_shows_until_verified_and_resend_is_throttled(http):
    await http.post("/register", REGISTER)
    banner = page(await http.get("/accounts")).find(id="email-banner")
    assert "Please verify your email address" in banner.get_text()
    assert banner.find("button", string="Resend") is not None

    for _ in range(verification.RESEND_LIMIT.per_key):
        sent = await http.post("/account/email/resend", {"shown_in": "banner"}, headers=HX)
        assert sent.status_code == 200
        assert "Verification email sent to rita@example.com" in text_of(sent)
    refused = await http.post("/account/email/resend", {"shown_in": "banner"}, headers=HX)
    assert refused.status_code == 429 and "Too many verification emails" in text_of(refused)
    assert len(await emails("verify_email")) == 1 + verification.RESEND_LIMIT.per_key

    await follow(http, await latest_token("rita@example.com"))
    assert page(await http.get("/accounts")).find(id="email-banner") is None
    # A banner left open in another tab: its Resend takes it away.
    late = await http.post("/account/email/resend", {"shown_in": "banner"}, headers=HX)
    assert late.status_code == 200 and late.text == ""
    http.cookies.clear()
    assert page(await http.get("/login")).find(id="email-banner") is None


async def test_the_security_section_shows_the_state_and_resends(http):
    await make_client(owner_email="sec@example.com")
    await http.login("sec@example.com")
    shown = await http.get("/account/security")
    section = page(shown).find(id="security-email")
    assert "sec@example.com" in section.get_text() and "Not verified" in section.get_text()
    sent = await http.post("/account/email/resend", headers=HX)
    assert sent.status_code == 200 and page(sent).find(id="security-email") is not None
    assert message_texts(sent) == [
        "Verification email sent to sec@example.com. Open the link in it to verify."
    ]
    await follow(http, await latest_token("sec@example.com"))
    section = page(await http.get("/account/security")).find(id="security-email")
    assert "Verified" in section.get_text() and "Resend" not in section.get_text()
    refused = await http.post("/account/email/resend", headers=HX)
    assert "already verified" in seen(refused)


async def test_changing_the_email_needs_the_password_notifies_the_old_address_and_unverifies(http):
    _, owner = await make_client(owner_email="old@example.com")
    await make_user(email="taken@example.com")
    await verification.resend(owner["id"], actor=ADMIN, ip="127.0.0.1")
    await verification.verify(await latest_token("old@example.com"), ip="127.0.0.1")
    await http.login("old@example.com")
    url = "/account/email/change"

    wrong = await http.post(url, {"new_email": "new@example.com", "current_password": "nope"})
    assert wrong.status_code == 422 and "The current password is incorrect." in text_of(wrong)
    taken = await http.post(url, {"new_email": "taken@example.com", "current_password": PASSWORD})
    assert taken.status_code == 422 and "Another user already has this email" in text_of(taken)
    same = await http.post(url, {"new_email": "OLD@example.com", "current_password": PASSWORD})
    assert same.status_code == 422 and "already your email address" in text_of(same)
    bad = await http.post(url, {"new_email": "not an address", "current_password": PASSWORD})
    assert bad.status_code == 422
    assert page(bad).find("input", {"name": "new_email"})["value"] == "not an address"
    unchanged = await users.get_user(owner["id"])
    assert unchanged["email"] == "old@example.com" and unchanged["email_verified_at"] is not None

    done = await http.post(
        url, {"new_email": "new@example.com", "current_password": PASSWORD}, headers=HX
    )
    assert done.status_code == 200
    assert "Your email address is now new@example.com" in message_texts(done)[0]
    changed = await users.get_user(owner["id"])
    assert changed["email"] == "new@example.com" and changed["email_verified_at"] is None
    [notice] = await emails("email_changed")
    assert notice["to_address"] == "old@example.com"
    assert (
        "n•••@example.com" in notice["text_body"] and "new@example.com" not in notice["text_body"]
    )
    assert len(await emails("verify_email", "new@example.com")) == 1
    assert "user.email_change_notified" in await actions_of(owner["id"])
    # The link sent to the old address no longer verifies anything.
    assert await EmailVerification.count().where(EmailVerification.user == owner["id"]) == 1
    assert (await follow(http, await latest_token("new@example.com"))).status_code == 200


async def test_wrong_passwords_on_change_email_count_like_failed_logins(http):
    await make_client(owner_email="guess@example.com")
    await http.login("guess@example.com")
    statuses = [
        (
            await http.post(
                "/account/email/change", {"new_email": "x@example.com", "current_password": "no"}
            )
        ).status_code
        for _ in range(6)
    ]
    assert statuses == [422] * 5 + [429]
    right = await http.post(
        "/account/email/change", {"new_email": "x@example.com", "current_password": PASSWORD}
    )
    assert right.status_code == 429 and "Too many failed attempts" in text_of(right)
    assert (await users.find_by_email("guess@example.com")) is not None


async def test_staff_changing_an_email_unverifies_it_and_sends_both_emails(http, admin_session):
    _, owner = await make_client(owner_email="before@example.com")
    await verification.resend(owner["id"], actor=ADMIN, ip="127.0.0.1")
    await verification.verify(await latest_token("before@example.com"), ip="127.0.0.1")
    saved = await http.post(
        f"/admin/users/{owner['id']}",
        {"first_name": "Olivia", "last_name": "Owner", "email": "after@example.com"}
        | {"language": "english"},
        headers=HX,
    )
    assert saved.status_code == 200
    assert (await users.get_user(owner["id"]))["email_verified_at"] is None
    assert [e["to_address"] for e in await emails("email_changed")] == ["before@example.com"]
    assert len(await emails("verify_email", "after@example.com")) == 1
    # A change of case only is the same address: nothing to verify again.
    await verification.verify(await latest_token("after@example.com"), ip="127.0.0.1")
    await users.update_user(
        owner["id"],
        first_name="Olivia",
        last_name="Owner",
        email="After@example.com",
        language="english",
        actor=ADMIN,
    )
    assert (await users.get_user(owner["id"]))["email_verified_at"] is not None
    assert len(await emails("email_changed")) == 1


async def test_the_admin_user_page_shows_the_state_and_resends(http, admin_session):
    client_id, owner = await make_client(owner_email="adm@example.com")
    detail = page(await http.get(f"/admin/users/{owner['id']}"))
    part = detail.find(id="user-email-verification")
    assert "Not verified" in part.get_text()
    tab = await http.get(f"/admin/clients/{client_id}/users")
    assert "Email not verified" in page(tab).find(id=f"user-{owner['id']}").get_text()

    sent = await http.post(f"/admin/users/{owner['id']}/verification-email", headers=HX)
    assert sent.status_code == 200 and page(sent).find(id="user-email-verification")
    assert message_texts(sent) == ["Verification email sent to adm@example.com."]
    [entry] = await ActivityEntry.select().where(ActivityEntry.action == "user.verification_sent")
    assert entry["actor_name"] == "Ada"
    await follow(http, await latest_token("adm@example.com"))
    detail = page(await http.get(f"/admin/users/{owner['id']}"))
    part = detail.find(id="user-email-verification").get_text()
    assert "Verified" in part and "Resend" not in part
    tab = await http.get(f"/admin/clients/{client_id}/users")
    assert "Email verified" in page(tab).find(id=f"user-{owner['id']}").get_text()


async def test_a_support_operator_sees_the_state_but_cannot_resend(http, support_session):
    _, owner = await make_client(owner_email="sup@example.com")
    part = page(await http.get(f"/admin/users/{owner['id']}")).find(id="user-email-verification")
    assert "Not verified" in part.get_text() and part.find("button") is None
    refused = await http.post(f"/admin/users/{owner['id']}/verification-email", headers=HX)
    assert refused.status_code == 403
    assert await emails("verify_email") == []


async def test_the_setting_blocks_accepting_until_the_address_is_verified(http):
    client_id, _ = await make_client("Shared Co")
    member = await make_user(email="member@example.com")
    _, token = await invitations.invite(client_id, "member@example.com", ["tickets"], actor=ADMIN)
    await http.login("member@example.com")
    await admin_settings.set_setting(admin_settings.REQUIRE_VERIFIED_EMAIL, "true", actor=ADMIN)
    refused = await http.post(f"/invite/{token}/accept")
    assert refused.status_code == 409 and invitations.VERIFY_FIRST in text_of(refused)
    assert not await Grant.exists().where(Grant.user == member["id"])
    assert (await invitations.pending_invite(token))["accepted_at"] is None

    await verification.resend(member["id"], actor=user_actor(member), ip="127.0.0.1")
    await follow(http, await latest_token("member@example.com"))
    accepted = await http.post(f"/invite/{token}/accept")
    assert accepted.status_code == 303
    assert await Grant.exists().where(Grant.user == member["id"])


async def test_the_setting_off_lets_unverified_users_accept(http):
    client_id, _ = await make_client("Open Co")
    member = await make_user(email="free@example.com")
    _, token = await invitations.invite(client_id, "free@example.com", ["tickets"], actor=ADMIN)
    await http.login("free@example.com")
    assert (await http.post(f"/invite/{token}/accept")).status_code == 303
    assert await Grant.exists().where(Grant.user == member["id"])
    # Accepting an invitation proves nothing about the address.
    assert (await users.get_user(member["id"]))["email_verified_at"] is None


async def test_registering_on_an_invite_with_the_setting_on_waits_for_verification(http):
    client_id, _ = await make_client("Wait Co")
    _, token = await invitations.invite(client_id, "rita@example.com", ["tickets"], actor=ADMIN)
    await admin_settings.set_setting(admin_settings.REQUIRE_VERIFIED_EMAIL, "true", actor=ADMIN)
    form = {k: v for k, v in REGISTER.items() if k != "company"}
    registered = await http.post(f"/invite/{token}/register", form)
    assert registered.status_code == 303
    user = await users.find_by_email("rita@example.com")
    assert not await Grant.exists().where(Grant.user == user["id"])
    banner = page(await http.get("/account/security")).find(id="email-banner")
    assert "You need a verified address to accept invites." in banner.get_text()

    verified = await follow(http, await latest_token("rita@example.com"))
    assert "open its link again to accept it" in text_of(verified)
    assert (await http.post(f"/invite/{token}/accept")).status_code == 303
    assert await Grant.exists().where((Grant.user == user["id"]) & (Grant.client == client_id))


async def test_whmcs_client_details_give_the_owners_real_state():
    from app.domain.credentials.services import ApiCaller
    from app.http.whmcs.actions import Call, get_clients_details
    from app.http.whmcs.params import Params

    client_id, owner = await make_client(owner_email="api@example.com")
    caller = ApiCaller(1, "id", "test", 1, "Ada", "full", "127.0.0.1")

    async def email_verified() -> bool:
        params = Params([("clientid", str(client_id))])
        answer = await get_clients_details(params, Call(caller, "http://testserver.local"))
        return answer["client"]["email_verified"]

    assert await email_verified() is False
    await verification.resend(owner["id"], actor=ADMIN, ip="127.0.0.1")
    await verification.verify(await latest_token("api@example.com"), ip="127.0.0.1")
    assert await email_verified() is True


async def test_no_token_reaches_the_logs_at_info(http, caplog):
    caplog.set_level(logging.INFO)
    await http.post("/register", REGISTER)
    token = await latest_token("rita@example.com")
    await follow(http, token)
    await http.post("/account/email/resend", headers=HX)
    formatter = RedactingFormatter("%(message)s")
    # The server's records (not the test client's own, httpx), but the one that shows links on
    # purpose: the development outbox without SMTP.
    server = [r for r in caplog.records if r.name.startswith(("roster", "litestar", "uvicorn"))]
    shows_links = [r for r in server if getattr(r, SHOWS_LINKS, False)]
    assert {r.name for r in shows_links} == {"roster.mail"}
    for record in server:
        if record not in shows_links:
            assert token not in formatter.format(record)
    # The request lines a server logs for the link and its button are redacted too.
    for method in ("GET", "POST"):
        line = logging.LogRecord(
            "uvicorn.access", logging.INFO, "", 0, f'"{method} /verify-email/{token}" 200', (), None
        )
        shown = formatter.format(line)
        assert token not in shown and "/verify-email/[redacted]" in shown
