"""Register, password reset and the account profile, over HTTP."""

import re

from app.domain.access import services as access
from app.domain.clients import services as clients
from app.domain.clients.services import get_client
from app.domain.users import services as users
from app.http.plumbing.middleware import SESSION_COOKIE
from app.schema.mail import OutboundEmail
from app.schema.sessions import PasswordReset, Session
from app.schema.users import User
from tests.factories import ADMIN, make_client, make_user
from tests.integration.conftest import page, text_of

GOOD = {
    "first_name": "Rita",
    "last_name": "Reg",
    "email": "rita@example.com",
    "password": "amber-violin-harbor-3",
    "company": "Rita Ltd",
    "accept_tos": "on",
}


async def test_register_creates_a_user_and_an_account_they_own(http):
    response = await http.post("/register", GOOD)
    assert response.status_code == 303 and response.headers["location"] == "/account?welcome=new"
    user = await users.find_by_email("rita@example.com")
    [account] = await access.user_accounts(user["id"])
    assert account["is_owner"] and account["name"] == "Rita Ltd"
    assert "Hello, Rita!" in text_of(await http.get("/account"))


async def test_register_refuses_weak_passwords_missing_terms_and_taken_emails(http):
    weak = await http.post("/register", {**GOOD, "password": "password"})
    assert weak.status_code == 400 and "too easy to guess" in text_of(weak)
    assert page(weak).find("input", {"name": "email"})["value"] == "rita@example.com"
    no_tos = await http.post("/register", {**GOOD, "accept_tos": ""})
    assert "Terms of Service" in text_of(no_tos) and no_tos.status_code == 400
    await make_user(email="taken@example.com")
    taken = await http.post("/register", {**GOOD, "email": "TAKEN@example.com"})
    assert "This email already has a login: use Login" in text_of(taken)
    assert await User.count() == 1


async def test_the_reset_request_answers_the_same_for_unknown_emails(http):
    await make_user(email="known@example.com")
    known = await http.post("/password/reset", {"email": "known@example.com"})
    unknown = await http.post("/password/reset", {"email": "nobody@example.com"})

    def strip(r):
        return text_of(r).replace("known@example.com", "X").replace("nobody@example.com", "X")

    assert known.status_code == unknown.status_code == 200
    assert strip(known) == strip(unknown)
    assert await OutboundEmail.count() == 1


async def test_a_reset_link_works_once_and_ends_other_sessions(http):
    _, owner = await make_client(owner_email="reset@example.com")
    await http.login("reset@example.com")
    old_cookie = http.cookies.get(SESSION_COOKIE)
    await http.post("/password/reset", {"email": "reset@example.com"})
    email = await OutboundEmail.select().where(OutboundEmail.template == "password_reset").first()
    token = re.search(r"/password/reset/(\S+)", email["text_body"]).group(1)
    assert not await PasswordReset.exists().where(PasswordReset.token_hash == token)
    form = await http.get(f"/password/reset/{token}")
    assert form.status_code == 200
    assert form.headers["referrer-policy"] == "no-referrer"
    weak = await http.post(f"/password/reset/{token}", {"password": "abc"})
    assert weak.status_code == 400
    done = await http.post(f"/password/reset/{token}", {"password": "fresh-lantern-meadow-8"})
    assert done.status_code == 303
    assert await Session.count().where(Session.user == owner["id"]) == 1  # only the new one
    assert http.cookies.get(SESSION_COOKIE) != old_cookie
    assert (await http.get(f"/password/reset/{token}")).status_code == 404
    again = await http.post(f"/password/reset/{token}", {"password": "another-lantern-9"})
    assert again.status_code == 400 and "no longer valid" in text_of(again)


async def test_the_profile_needs_the_profile_permission(http):
    client_id, _ = await make_client("Acme Hosting")
    member = await make_user(email="member@example.com")
    await access.grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    await http.login("member@example.com")
    assert (await http.get("/account/profile")).status_code == 403
    refused = await http.post(
        "/account/profile",
        {"company_name": "Hacked", "first_name": "a", "last_name": "b", "email": "a@b.co"},
    )
    assert refused.status_code == 403
    assert (await get_client(client_id))["company_name"] == "Acme Hosting"
    await access.update_permissions(client_id, member["id"], ["profile"], actor=ADMIN)
    assert (await http.get("/account/profile")).status_code == 200
    saved = await http.post(
        "/account/profile",
        {
            "company_name": "Acme Cloud",
            "first_name": "Olivia",
            "last_name": "Owner",
            "email": "billing@acme.example",
        },
    )
    assert saved.headers["location"] == "/account/profile?saved=1"
    assert (await get_client(client_id))["company_name"] == "Acme Cloud"
    assert "Account details saved." in text_of(await http.get("/account/profile?saved=1"))
    bad = await http.post(
        "/account/profile",
        {"company_name": "X", "first_name": "", "last_name": "Owner", "email": "x@example.com"},
    )
    assert bad.status_code == 400 and "Enter a first name" in text_of(bad)
    assert (await get_client(client_id))["company_name"] == "Acme Cloud"


async def test_register_on_the_invite_page_then_lands_in_the_account(http):
    from app.domain.invitations import services as invitations

    client_id, owner = await make_client("Client Test")
    _, token = await invitations.invite(client_id, "invited@example.com", ["quotes"], actor=ADMIN)
    response = await http.post(f"/invite/{token}/register", {**GOOD, "email": "other@example.com"})
    assert response.status_code == 303
    user = await users.find_by_email("other@example.com")
    assert (await clients.access_for(user["id"], client_id)).permissions == ("quotes",)
    assert "Invite accepted" in text_of(await http.get("/account?welcome=1"))


async def test_a_failed_invite_registration_creates_no_user(http):
    from app.domain.invitations import services as invitations

    client_id, _ = await make_client()
    _, token = await invitations.invite(client_id, "i@example.com", ["quotes"], actor=ADMIN)
    bad = await http.post(f"/invite/{token}/register", {**GOOD, "password": "123"})
    assert bad.status_code == 400
    assert page(bad).find("input", {"name": "first_name"})["value"] == "Rita"
    assert await users.find_by_email(GOOD["email"]) is None
