"""Sessions people can see and end, and the "new sign-in from a new browser"
email (item 5): the services, the Security page section and the admin user page's."""

import hashlib
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup

from app.core import clock
from app.core.errors import NotFound
from app.core.security import hash_password, token_hash
from app.domain.active_sessions import services as active
from app.domain.auth.services import Viewer, load_viewer, start_session
from app.http.plumbing.middleware import SESSION_COOKIE
from app.http.plumbing.render import templates
from app.schema.activity import ActivityEntry
from app.schema.browsers import KnownBrowser, SignInAlertOptOut
from app.schema.mail import OutboundEmail
from app.schema.sessions import Session
from app.schema.staff import Admin
from tests.factories import make_user, user_actor
from tests.integration.conftest import message_texts, page, text_of

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


# The Security page ---------------------------------------------------------------------------

HX = {"HX-Request": "true", "HX-Request-Type": "partial"}


async def other_session(user_id: int, ua: str = FIREFOX_WINDOWS, ip: str = "198.51.100.23"):
    """A session of the user in another browser: its cookie value."""
    return await start_session(user_id=user_id, ip=ip, user_agent=ua)


async def still_signed_in(cookie: str) -> bool:
    return (await load_viewer(cookie)).user is not None


async def test_the_page_lists_only_the_persons_unexpired_sessions(http):
    user, stranger = await make_user(), await make_user()
    await http.login(user["email"])
    firefox = await other_session(user["id"])
    expired = await other_session(user["id"], ua=CHROME_LINUX, ip="192.0.2.50")
    await Session.update({Session.expires_at: clock.now() - timedelta(minutes=1)}).where(
        Session.id_hash == token_hash(expired)
    )
    await other_session(stranger["id"], ip="192.0.2.99")

    response = await http.get("/account/security")
    assert response.status_code == 200
    rows = page(response).select("#security-sessions tbody tr")
    assert len(rows) == 2
    current, other = (" ".join(r.get_text(" ").split()) for r in rows)
    assert "This device" in current and "Unknown browser" in current
    assert "Sign Out" not in current
    assert "Firefox 121 on Windows" in other and "198.51.100.23" in other
    assert "This device" not in other and "Sign Out" in other
    assert "192.0.2.50" not in response.text and "192.0.2.99" not in response.text
    assert await still_signed_in(firefox)


async def test_signing_out_one_session_logs_that_browser_out(http):
    user = await make_user()
    await http.login(user["email"])
    firefox = await other_session(user["id"])
    [row] = await Session.select(Session.id).where(Session.id_hash == token_hash(firefox))

    response = await http.post(f"/account/security/sessions/{row['id']}/sign-out", headers=HX)
    assert response.status_code == 200
    assert message_texts(response) == ["Signed out that session."]
    assert "Firefox" not in text_of(response)
    assert not await still_signed_in(firefox)
    [entry] = await ActivityEntry.select().where(ActivityEntry.action == "session.ended")
    assert entry["description"] == "Signed out a session (Firefox on Windows, 198.51.100.23)"
    assert entry["user_id"] == user["id"] and entry["actor_type"] == "user"

    # Its browser's next request finds no session.
    http.cookies.clear()
    http.cookies.set(SESSION_COOKIE, firefox)
    response = await http.get("/account/security")
    assert response.status_code in (302, 303) and "/login" in response.headers["location"]


async def test_a_plain_form_post_comes_back_to_the_page_with_the_confirmation(http):
    user = await make_user()
    await http.login(user["email"])
    firefox = await other_session(user["id"])
    [row] = await Session.select(Session.id).where(Session.id_hash == token_hash(firefox))
    response = await http.post(f"/account/security/sessions/{row['id']}/sign-out")
    assert response.status_code == 303
    assert response.headers["location"] == "/account/security?done=signed-out"
    response = await http.get(response.headers["location"])
    assert message_texts(response) == ["Signed out that session."]
    assert not await still_signed_in(firefox)


async def test_sign_out_all_other_sessions_keeps_this_one(http):
    user, stranger = await make_user(), await make_user()
    await http.login(user["email"])
    others = [await other_session(user["id"], ip=f"198.51.100.{n}") for n in (1, 2, 3)]
    strangers = await other_session(stranger["id"])

    response = await http.post("/account/security/sessions/sign-out-others", headers=HX)
    assert response.status_code == 200
    assert message_texts(response) == ["Signed out all other sessions."]
    assert len(page(response).select("#security-sessions tbody tr")) == 1
    assert [await still_signed_in(c) for c in others] == [False] * 3
    assert await still_signed_in(strangers)
    assert (await http.get("/account/security")).status_code == 200
    [entry] = await ActivityEntry.select().where(ActivityEntry.action == "session.ended_others")
    assert entry["description"] == "Signed out all other sessions (3)"


async def test_another_persons_session_is_not_found_and_nothing_ends(http):
    user, stranger = await make_user(), await make_user()
    await http.login(user["email"])
    theirs = await other_session(stranger["id"])
    [row] = await Session.select(Session.id).where(Session.id_hash == token_hash(theirs))
    response = await http.post(f"/account/security/sessions/{row['id']}/sign-out", headers=HX)
    assert response.status_code == 404
    assert await still_signed_in(theirs)
    assert not await ActivityEntry.exists().where(ActivityEntry.action == "session.ended")
    with pytest.raises(NotFound):  # nor the viewer's own current session, by this route
        await active.end_session(
            row["id"], current_id=row["id"], actor=user_actor(stranger), user_id=stranger["id"]
        )
    assert await still_signed_in(theirs)


async def test_the_new_browser_email_can_be_turned_off_on_the_page(http):
    user = await make_user()
    await http.login(user["email"])
    soup = page(await http.get("/account/security"))
    box = soup.select_one("#security-sessions input[name=sign_in_alerts]")
    assert box.has_attr("checked")
    assert "Email me when my login is used from a new browser" in soup.get_text()

    response = await http.post("/account/security/sign-in-alerts", {}, headers=HX)
    assert message_texts(response) == [
        "You will no longer be emailed about sign-ins from new browsers."
    ]
    assert not page(response).select_one("input[name=sign_in_alerts]").has_attr("checked")
    assert not await active.sign_in_alerts_on(user_id=user["id"])
    await http.post("/account/security/sign-in-alerts", {"sign_in_alerts": "on"}, headers=HX)
    assert await active.sign_in_alerts_on(user_id=user["id"])


async def test_staff_see_and_end_their_own_sessions(http, admin_session):
    [admin] = await Admin.select(Admin.id).where(Admin.email_key == "ada@example.com")
    elsewhere = await start_session(admin_id=admin["id"], ip="192.0.2.8", user_agent=CHROME_LINUX)
    user = await make_user()
    users_session = await other_session(user["id"])

    response = await http.get("/admin/security")
    rows = page(response).select("#security-sessions tbody tr")
    assert len(rows) == 2 and "Chrome 120 on Linux" in response.text
    response = await http.post("/admin/security/sessions/sign-out-others", headers=HX)
    assert message_texts(response) == ["Signed out all other sessions."]
    assert (await load_viewer(elsewhere)).admin is None
    assert await still_signed_in(users_session)
    assert (await http.post("/account/security/sessions/sign-out-others")).status_code != 200


# The admin user page -------------------------------------------------------------------------


async def test_the_admin_user_page_lists_and_ends_all_sessions(http, admin_session):
    user = await make_user("Jo", "Walker")
    cookies = [await other_session(user["id"]), await other_session(user["id"], CHROME_LINUX)]
    soup = page(await http.get(f"/admin/users/{user['id']}"))
    section = soup.select_one("#user-sessions")
    assert len(section.select("tbody tr")) == 2
    assert "Chrome 120 on Linux" in section.get_text() and "Firefox 121 on Windows" in (
        section.get_text()
    )
    form = section.select_one("form[hx-confirm]")
    assert form["data-confirm-title"] == "End all sessions of Jo Walker?"

    response = await http.post(f"/admin/users/{user['id']}/sessions/end", headers=HX)
    assert response.status_code == 200
    assert message_texts(response) == ["Ended all of this user's sessions."]
    assert "Not signed in anywhere." in text_of(response)
    assert [await still_signed_in(c) for c in cookies] == [False, False]
    [entry] = await ActivityEntry.select().where(ActivityEntry.action == "session.ended_all")
    assert entry["description"] == "Ada ended all sessions of Jo Walker (2)"
    assert entry["actor_type"] == "admin" and entry["user_id"] == user["id"]


async def test_a_support_operator_cannot_end_sessions(http, support_session):
    user = await make_user()
    cookie = await other_session(user["id"])
    soup = page(await http.get(f"/admin/users/{user['id']}"))
    assert soup.select_one("#user-sessions tbody tr") is not None
    assert soup.select_one("#user-sessions form") is None
    response = await http.post(f"/admin/users/{user['id']}/sessions/end", headers=HX)
    assert response.status_code == 403
    assert await still_signed_in(cookie)


async def test_ending_the_sessions_of_nobody_is_not_found(http, admin_session):
    response = await http.post("/admin/users/999999/sessions/end", headers=HX)
    assert response.status_code == 404


def test_the_end_the_others_offer_posts_to_the_sign_out_others_action():
    html = templates.get_template("security/_end_others_offer.html").render(
        viewer=Viewer(user={"id": 1}), csrf_token="t"
    )
    form = BeautifulSoup(html, "html.parser").select_one("form")
    assert form["action"] == form["hx-post"] == "/account/security/sessions/sign-out-others"
    assert form["hx-target"] == "#security-sessions"
    staff = templates.get_template("security/_end_others_offer.html").render(
        viewer=Viewer(admin={"id": 1}), csrf_token="t"
    )
    assert "/admin/security/sessions/sign-out-others" in staff
