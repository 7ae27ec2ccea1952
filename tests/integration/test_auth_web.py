"""Authentication, sessions, CSRF and security headers over HTTP."""

import pytest

from app.core.security import token_hash
from app.domain.access import services as access
from app.domain.users import services as users
from app.http.plumbing.middleware import SESSION_COOKIE
from app.schema.sessions import Session
from tests.factories import ADMIN, PASSWORD, make_client, make_user
from tests.integration.conftest import page, text_of


async def test_every_response_carries_the_security_headers(http):
    for url in ("/login", "/static/css/roster.css", "/no-such-page", "/invite/unknown"):
        response = await http.get(url)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] in ("same-origin", "no-referrer")


async def test_the_login_page_has_no_inline_script(http):
    soup = page(await http.get("/login"))
    assert soup.find("meta", {"name": "csrf-token"})["content"]
    for script in soup.find_all("script"):
        assert script.get("src") and not script.string
    assert not soup.find_all(attrs={"onclick": True})


async def test_state_changing_requests_need_the_csrf_token(http):
    _, owner = await make_client()
    refused = await http.post("/login", {"email": owner["email"], "password": PASSWORD}, csrf=False)
    assert refused.status_code == 403
    assert SESSION_COOKIE not in http.cookies
    await http.login(owner["email"])
    assert SESSION_COOKIE in http.cookies


async def test_login_greets_the_user_and_lands_in_their_only_account(http):
    await make_client("Acme Hosting")
    _, owner = await make_client("Only One", owner_email="solo@example.com")
    response = await http.post("/login", {"email": "SOLO@example.com", "password": PASSWORD})
    assert response.status_code == 303 and response.headers["location"] == "/account"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    home = await http.get("/account")
    assert "Hello, Olivia!" in text_of(home)
    assert "Only One" in text_of(home)
    user = await users.get_user(owner["id"])
    assert user["last_login_at"] is not None and user["last_login_ip"]


async def test_sessions_are_stored_server_side_by_hash_and_renewed_at_login(http):
    _, owner = await make_client()
    await http.login(owner["email"])
    first = http.cookies.get(SESSION_COOKIE)
    assert await Session.exists().where(Session.id_hash == token_hash(first))
    assert not await Session.exists().where(Session.id_hash == first)
    await http.login(owner["email"])
    second = http.cookies.get(SESSION_COOKIE)
    assert second != first
    assert not await Session.exists().where(Session.id_hash == token_hash(first))


async def test_a_wrong_password_gets_a_generic_error(http):
    _, owner = await make_client()
    wrong = await http.post("/login", {"email": owner["email"], "password": "nope-nope-nope"})
    unknown = await http.post("/login", {"email": "ghost@example.com", "password": "x"})
    assert wrong.status_code == unknown.status_code == 400
    message = "The email address or password is incorrect."
    assert message in text_of(wrong) and message in text_of(unknown)
    assert "Hello" not in text_of(wrong)
    assert page(wrong).find("input", {"name": "email"})["value"] == owner["email"]


async def test_logins_are_throttled_per_account(http):
    _, owner = await make_client()
    for _ in range(5):
        await http.post("/login", {"email": owner["email"], "password": "wrong-password-x"})
    blocked = await http.post("/login", {"email": owner["email"], "password": PASSWORD})
    assert blocked.status_code == 429
    assert "Too many failed attempts" in text_of(blocked)
    assert SESSION_COOKIE not in http.cookies


async def test_logout_ends_the_server_side_session(http):
    _, owner = await make_client()
    await http.login(owner["email"])
    cookie = http.cookies.get(SESSION_COOKIE)
    response = await http.post("/logout")
    assert response.status_code == 303
    assert not await Session.exists().where(Session.id_hash == token_hash(cookie))
    http.cookies.set(SESSION_COOKIE, cookie)  # replaying the old cookie does not work
    assert (await http.get("/account")).headers["location"].startswith("/login")


async def test_changing_the_password_ends_the_users_sessions(http):
    _, owner = await make_client()
    await http.login(owner["email"])
    assert (await http.get("/account")).status_code == 200
    await users.set_password(owner["id"], "a-brand-new-passphrase-7", actor=ADMIN)
    assert (await http.get("/account")).status_code == 303


async def test_removed_access_is_gone_on_the_very_next_request(http):
    client_id, _ = await make_client("Client Test")
    member = await make_user(email="member@example.com")
    await access.grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    await http.login("member@example.com")
    assert "Client Test" in text_of(await http.get("/account"))
    await access.revoke_access(client_id, member["id"], actor=ADMIN)
    response = await http.get("/account")
    assert response.status_code == 303 and response.headers["location"] == "/accounts"
    assert "Client Test" not in text_of(await http.get("/accounts"))


async def test_choose_account_lists_owned_first_and_refuses_others(http):
    own_id, me = await make_client("Zeta Owned", owner_email="me@example.com")
    other_id, _ = await make_client("Alpha Shared")
    closed_id, _ = await make_client("Beta Closed")
    stranger_id, _ = await make_client("Not Mine")
    for cid in (other_id, closed_id):
        await access.grant_access(cid, me["id"], ["tickets"], actor=ADMIN)
    from app.domain.clients.services import get_client, update_client

    closed = await get_client(closed_id)
    await update_client(
        closed_id,
        company_name=closed["company_name"],
        first_name=closed["first_name"],
        last_name=closed["last_name"],
        email=closed["email"],
        status="Closed",
        actor=ADMIN,
    )
    response = await http.login("me@example.com")
    assert response.headers["location"] == "/accounts"
    soup = page(await http.get("/accounts"))
    names = [n.get_text() for n in soup.select(".account-name")]
    assert names == ["Zeta Owned", "Alpha Shared", "Beta Closed"]
    assert soup.select(".account-choice")[0].find(class_="badge-owner")
    assert soup.select(".account-choice")[2].find("button").has_attr("disabled")
    assert (await http.post(f"/accounts/{stranger_id}/select")).status_code == 403
    assert (await http.post(f"/accounts/{closed_id}/select")).status_code == 403
    ok = await http.post(f"/accounts/{other_id}/select")
    assert ok.headers["location"] == "/account"
    assert "Alpha Shared" in text_of(await http.get("/account"))


async def test_admin_login_is_separate_from_user_login(http):
    from app.domain.staff.services import create_admin

    await create_admin(
        email="staff@example.com",
        password="staff-password-2026",
        name="Ada",
        role="full",
        actor=ADMIN,
    )
    _, owner = await make_client()
    await http.login(owner["email"])
    assert (await http.get("/admin/clients")).headers["location"] == "/admin/login"
    refused = await http.post("/admin/login", {"email": owner["email"], "password": PASSWORD})
    assert refused.status_code == 400
    ok = await http.post(
        "/admin/login", {"email": "staff@example.com", "password": "staff-password-2026"}
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/admin/clients"


@pytest.mark.parametrize("url", ["/account", "/accounts"])
async def test_client_pages_need_a_login(http, url):
    response = await http.get(url)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_production_cookies_are_secure(http, monkeypatch):
    from app.core.config import load_settings
    from app.http.public import login as controllers

    production = load_settings({"ROSTER_ENV": "production", "ROSTER_SECRET_KEY": "k"})
    monkeypatch.setattr(controllers, "get_settings", lambda: production)
    _, owner = await make_client()
    response = await http.post("/login", {"email": owner["email"], "password": PASSWORD})
    assert "Secure" in response.headers["set-cookie"]


async def test_logins_are_throttled_per_ip_across_accounts(http):
    _, owner = await make_client()
    for i in range(30):
        await http.post("/login", {"email": f"guess{i}@example.com", "password": "x"})
    blocked = await http.post("/login", {"email": owner["email"], "password": PASSWORD})
    assert "Too many failed attempts" in text_of(blocked)
