"""Sessions people can see and end (issue #11 item 4), and the "new sign-in from a new browser"
email (item 5): the services, the Security page section and the admin user page's."""

import hashlib

import pytest

from app import clock
from app.active_sessions import services as active
from app.active_sessions.tables import KnownBrowser, SignInAlertOptOut
from app.activity.tables import ActivityEntry
from app.admin.tables import Admin
from app.mail.tables import OutboundEmail
from app.security import hash_password
from tests.factories import make_user, user_actor

CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"


async def sign_in(user_id: int, token: str | None, ua: str = CHROME_LINUX, ip="203.0.113.7"):
    return await active.note_sign_in(user_id=user_id, ip=ip, user_agent=ua, browser_token=token)


async def new_sign_in_emails() -> list[dict]:
    return await OutboundEmail.select().where(OutboundEmail.template == "new_sign_in")


# note_sign_in -------------------------------------------------------------------------------


async def test_the_first_sign_in_sets_a_token_and_sends_nothing():
    user = await make_user()
    token = await sign_in(user["id"], None)
    assert len(token) >= 43
    assert await new_sign_in_emails() == []
    rows = await KnownBrowser.select()
    assert [r["token_hash"] for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in str(rows)  # only the hash is kept


async def test_a_known_browser_keeps_its_token_and_sends_nothing():
    user = await make_user()
    token = await sign_in(user["id"], None)
    assert await sign_in(user["id"], token) == token
    assert await sign_in(user["id"], token, ip="198.51.100.9") == token
    assert await new_sign_in_emails() == []
    assert await KnownBrowser.count() == 1


async def test_a_new_browser_gets_one_email_naming_the_browser_and_address():
    user = await make_user(first="Nina")
    await sign_in(user["id"], None)
    other = await sign_in(user["id"], None, ua=FIREFOX_WINDOWS, ip="198.51.100.23")
    [email] = await new_sign_in_emails()
    assert email["to_address"] == user["email"]
    assert email["subject"] == "New sign-in to your Roster login"
    for body in (email["text_body"], email["html_body"]):
        assert "Firefox 121 on Windows" in body
        assert "198.51.100.23" in body
        assert "http://testserver.local/account/security" in body
        assert "Hello Nina" in body
        assert other not in body
    [entry] = await ActivityEntry.select().where(ActivityEntry.action == "session.new_browser")
    assert entry["user_id"] == user["id"] and entry["actor_id"] == user["id"]
    assert "Firefox 121 on Windows, 198.51.100.23" in entry["description"]
    assert entry["ip"] == "198.51.100.23"
    # Known from now on.
    await sign_in(user["id"], other, ua=FIREFOX_WINDOWS)
    assert len(await new_sign_in_emails()) == 1


async def test_a_browser_another_person_used_is_new_to_this_one():
    first, second = await make_user(), await make_user()
    shared = await sign_in(first["id"], None)
    await sign_in(second["id"], None, ua=FIREFOX_WINDOWS)  # second's first browser
    assert await sign_in(second["id"], shared) == shared  # the same browser, new to second
    [email] = await new_sign_in_emails()
    assert email["to_address"] == second["email"]


async def test_a_token_this_server_never_made_is_replaced():
    user = await make_user()
    await sign_in(user["id"], None)
    made_up = "attacker-chosen"
    token = await sign_in(user["id"], made_up)
    assert token != made_up
    assert not await KnownBrowser.exists().where(
        KnownBrowser.token_hash == hashlib.sha256(made_up.encode()).hexdigest()
    )
    assert len(await new_sign_in_emails()) == 1


async def test_opting_out_stops_the_emails_and_is_logged():
    user = await make_user()
    actor = user_actor(user)
    assert await active.sign_in_alerts_on(user_id=user["id"])
    assert await active.set_sign_in_alerts(False, actor=actor, user_id=user["id"])
    assert not await active.set_sign_in_alerts(False, actor=actor, user_id=user["id"])
    assert not await active.sign_in_alerts_on(user_id=user["id"])
    await sign_in(user["id"], None)
    await sign_in(user["id"], None, ua=FIREFOX_WINDOWS)
    assert await new_sign_in_emails() == []
    [entry] = await ActivityEntry.select().where(ActivityEntry.action == "session.new_browser")
    assert "not emailed" in entry["description"]
    assert await active.set_sign_in_alerts(True, actor=actor, user_id=user["id"])
    assert await SignInAlertOptOut.count() == 0
    await sign_in(user["id"], None, ua=FIREFOX_WINDOWS)
    assert len(await new_sign_in_emails()) == 1
    changes = await ActivityEntry.select().where(ActivityEntry.action == "session.alerts_changed")
    assert [c["description"][-3:].strip() for c in changes] == ["off", "on"]


async def test_staff_get_the_email_too_with_their_security_page():
    [admin] = await Admin.insert(
        Admin(
            name="Sam Staff",
            email="sam@example.com",
            email_key="sam@example.com",
            password_hash=hash_password("x"),
            created_at=clock.now(),
        )
    ).returning(Admin.id)
    await active.note_sign_in(
        admin_id=admin["id"], ip="192.0.2.1", user_agent=CHROME_LINUX, browser_token=None
    )
    await active.note_sign_in(
        admin_id=admin["id"], ip="192.0.2.2", user_agent=FIREFOX_WINDOWS, browser_token=None
    )
    [email] = await new_sign_in_emails()
    assert email["to_address"] == "sam@example.com"
    assert "http://testserver.local/admin/security" in email["text_body"]


async def test_note_sign_in_needs_exactly_one_person():
    with pytest.raises(ValueError):
        await active.note_sign_in(ip="", user_agent="", browser_token=None)
