"""Passkeys through the web, with a software authenticator (tests/soft_authenticator.py): adding
one on the Security page, signing in with it (with and without user verification), using it as
the second factor after a password, staff's, staff removing a user's; and each refusal: a
replayed answer, a wrong origin, a wrong RP id, an expired challenge, a challenge of another
browser, a counter that goes backwards."""

import json
from datetime import timedelta

import pytest

from app.core import clock
from app.domain.passkeys import services as passkeys
from app.domain.staff.services import REQUIRE_STAFF_TWO_FACTOR, create_admin, set_setting
from app.domain.two_factor import services as two_factor
from app.http.plumbing.middleware import SESSION_COOKIE
from app.schema.activity import ActivityEntry
from app.schema.mail import OutboundEmail
from app.schema.passkeys import Passkey, PasskeyChallenge
from app.schema.sessions import Session
from app.schema.users import User
from tests.factories import ADMIN, PASSWORD, make_client, user_actor
from tests.integration.conftest import page, text_of
from tests.integration.test_two_factor import code, second_browser
from tests.soft_authenticator import SoftAuthenticator

USER_BASE = "/account/security/passkeys"
STAFF_BASE = "/admin/security/passkeys"
STAFF_PASSWORD = "staff-passphrase-58"


async def add_passkey(http, authenticator, name="Laptop", base=USER_BASE):
    """Add a passkey through the Security page, as the page's script does."""
    options = await http.post(f"{base}/options")
    assert options.status_code == 200, options.text
    assert options.headers["cache-control"] == "no-store"
    answer = authenticator.create(options.text)
    return await http.post(base, {"name": name, "credential": answer})


async def sign_in(http, authenticator, path="/login/passkey", **answer):
    """Sign in with a passkey on a login page, as its script does."""
    options = await http.post(f"{path}/options")
    assert options.status_code == 200, options.text
    return await http.post(path, {"credential": authenticator.get(options.text, **answer)})


async def user_with_passkey(http, **authenticator_options):
    """An account owner who added a passkey through the page, then logged out."""
    _, owner = await make_client()
    await http.login(owner["email"])
    authenticator = SoftAuthenticator(**authenticator_options)
    added = await add_passkey(http, authenticator)
    assert added.status_code == 200, text_of(added)
    await http.post("/logout")
    http.cookies.delete(SESSION_COOKIE)
    return owner, authenticator


def signed_in_to(response, where="/account") -> bool:
    return response.status_code == 303 and response.headers["location"] == where


async def test_a_passkey_is_added_listed_and_removed_on_the_security_page(http):
    _, owner = await make_client()
    await http.login(owner["email"])
    security = await http.get("/account/security")
    section = page(security).find(id="passkeys")
    assert section.find("h2").get_text() == "Passkeys"
    assert section.find("button", string="Add a passkey") is not None
    assert section.find("label", string="Name") is not None
    options = json.loads((await http.post(f"{USER_BASE}/options")).text)
    assert options["rp"]["id"] == "testserver.local"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"

    authenticator = SoftAuthenticator()
    added = await add_passkey(http, authenticator, name="  Work   laptop ")
    assert added.status_code == 200, text_of(added)
    assert "Work laptop" in text_of(added)
    (row,) = await Passkey.select().where(Passkey.user == owner["id"])
    assert row["name"] == "Work laptop" and row["transports"] == "internal,hybrid"
    assert (await User.select().where(User.id == owner["id"]).first())["totp_enabled"]
    assert await ActivityEntry.exists().where(ActivityEntry.action == "user.passkey_added")
    assert await OutboundEmail.exists().where(OutboundEmail.template == "passkey_added")
    # The same authenticator again: excluded by the options, refused if it answers anyway.
    options = json.loads((await http.post(f"{USER_BASE}/options")).text)
    assert [c["id"] for c in options["excludeCredentials"]] == [row["credential_id"]]
    again = await http.post(
        USER_BASE, {"name": "Again", "credential": authenticator.create(json.dumps(options))}
    )
    assert again.status_code == 400 and "already registered" in text_of(again)

    # Remove: the password is needed.
    refused = await http.post(f"{USER_BASE}/{row['id']}/remove", {"proof": "wrong"})
    assert refused.status_code == 400 and await Passkey.exists()
    removed = await http.post(f"{USER_BASE}/{row['id']}/remove", {"proof": PASSWORD})
    assert removed.status_code == 200 and not await Passkey.exists()
    assert not (await User.select().where(User.id == owner["id"]).first())["totp_enabled"]
    assert await OutboundEmail.exists().where(OutboundEmail.template == "passkey_removed")


async def test_adding_needs_a_name_and_an_answer_to_this_sessions_challenge(http):
    _, owner = await make_client()
    await http.login(owner["email"])
    authenticator = SoftAuthenticator()
    options = (await http.post(f"{USER_BASE}/options")).text
    nameless = await http.post(
        USER_BASE, {"name": " ", "credential": authenticator.create(options)}
    )
    assert nameless.status_code == 400 and passkeys.NAME_NEEDED in text_of(nameless)
    garbage = await http.post(USER_BASE, {"name": "X", "credential": "{not json"})
    assert garbage.status_code == 400
    # A challenge made for another session (another browser of the same person) is refused.
    async with second_browser() as other:
        await other.login(owner["email"])
        theirs = (await other.post(f"{USER_BASE}/options")).text
    answer = authenticator.create(theirs)
    refused = await http.post(USER_BASE, {"name": "X", "credential": answer})
    assert refused.status_code == 400 and passkeys.CHALLENGE_GONE in text_of(refused)
    assert not await Passkey.exists()


async def test_sign_in_with_a_passkey_that_verifies_the_person_skips_the_code(http):
    owner, authenticator = await user_with_passkey(http)
    # The person has the authenticator app too: a verified passkey is both factors.
    person = two_factor.Person("user", owner["id"])
    secret = await two_factor.begin_enrolment(person)
    await two_factor.confirm_enrolment(person, code(secret), actor=user_actor(owner))
    login = await http.get("/login")
    assert page(login).find("button", string="Sign in with a passkey") is not None
    assert "js/behaviours/passkeys.js" in login.text
    # From another browser: the same "new sign-in" email as a password sign-in
    # (app.active_sessions), and a session in the list.
    async with second_browser() as other:
        await other.get("/login")
        response = await sign_in(other, authenticator)
        assert signed_in_to(response), response.text
        assert (await other.get("/account")).status_code == 200
    row = await Passkey.select().where(Passkey.user == owner["id"]).first()
    assert row["sign_count"] == 1 and row["last_used_at"] is not None
    assert await OutboundEmail.exists().where(OutboundEmail.template == "new_sign_in")
    assert await Session.count().where(Session.user == owner["id"]) == 1


async def test_without_user_verification_a_passkey_is_the_first_factor_and_the_code_follows(http):
    owner, authenticator = await user_with_passkey(http, user_verification=False)
    person = two_factor.Person("user", owner["id"])
    secret = await two_factor.begin_enrolment(person)
    await two_factor.confirm_enrolment(person, code(secret), actor=user_actor(owner))
    response = await sign_in(http, authenticator)
    assert response.status_code == 303 and response.headers["location"] == "/login/code"
    assert (await http.get("/account")).status_code != 200  # not signed in yet
    done = await http.post("/login/code", {"code": code(secret, 1)})
    assert signed_in_to(done), done.text


async def test_a_passkey_is_the_second_factor_after_a_password(http):
    owner, authenticator = await user_with_passkey(http, user_verification=False)
    response = await http.login(owner["email"])
    assert response.headers["location"] == "/login/code"
    step = await http.get("/login/code")
    assert page(step).find("button", string="Use a passkey") is not None
    assert page(step).find(id="f-code") is None  # no authenticator app: no code to ask for
    options = await http.post("/login/code/passkey/options")
    assert [c["id"] for c in json.loads(options.text)["allowCredentials"]]
    done = await http.post("/login/code/passkey", {"credential": authenticator.get(options.text)})
    assert signed_in_to(done), done.text


async def test_a_replayed_answer_is_refused(http):
    _, authenticator = await user_with_passkey(http)
    options = await http.post("/login/passkey/options")
    answer = authenticator.get(options.text)
    token = http.cookies.get("roster_passkey_sign_in")
    assert signed_in_to(await http.post("/login/passkey", {"credential": answer}))
    await http.post("/logout")
    http.cookies.set("roster_passkey_sign_in", token)
    replayed = await http.post("/login/passkey", {"credential": answer})
    assert replayed.status_code == 400 and SESSION_COOKIE not in replayed.cookies
    assert "expired or was already used" in text_of(replayed)


async def test_a_passkey_removed_while_its_sign_in_is_under_way_signs_nobody_in(http):
    owner, authenticator = await user_with_passkey(http)
    options = await http.post("/login/passkey/options")
    answer = authenticator.get(options.text)
    # Meanwhile, on another device, the person removes that passkey.
    await Passkey.delete().where(Passkey.user == owner["id"])
    refused = await http.post("/login/passkey", {"credential": answer})
    assert refused.status_code == 400 and SESSION_COOKIE not in refused.cookies
    assert passkeys.SIGN_IN_REFUSED in text_of(refused)
    assert await Session.count().where(Session.user == owner["id"]) == 0


@pytest.mark.parametrize(
    "wrong",
    [
        {"origin": "https://roster.example.net"},
        {"origin": "http://testserver.local:8080"},
        {"rp_id": "example.net"},
    ],
    ids=["origin", "port", "rp_id"],
)
async def test_an_answer_for_another_origin_or_rp_id_is_refused(http, wrong):
    _, authenticator = await user_with_passkey(http)
    refused = await sign_in(http, authenticator, **wrong)
    assert refused.status_code == 400 and passkeys.SIGN_IN_REFUSED in text_of(refused)
    assert (await http.get("/account")).status_code != 200
    # And for registering (someone without a passkey yet).
    _, newcomer = await make_client()
    await http.login(newcomer["email"])
    options = (await http.post(f"{USER_BASE}/options")).text
    other = SoftAuthenticator()
    answer = other.create(options, **wrong)
    added = await http.post(USER_BASE, {"name": "X", "credential": answer})
    assert added.status_code == 400
    assert await Passkey.count() == 1


async def test_an_expired_challenge_is_refused(http, monkeypatch):
    _, authenticator = await user_with_passkey(http)
    options = await http.post("/login/passkey/options")
    later = clock.now() + passkeys.CHALLENGE_VALID_FOR + timedelta(seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    refused = await http.post("/login/passkey", {"credential": authenticator.get(options.text)})
    assert refused.status_code == 400 and passkeys.CHALLENGE_GONE in text_of(refused)


async def test_a_challenge_of_another_browser_is_refused(http):
    _, authenticator = await user_with_passkey(http)
    options = await http.post("/login/passkey/options")
    answer = authenticator.get(options.text)
    async with second_browser() as other:
        await other.get("/login")
        refused = await other.post("/login/passkey", {"credential": answer})
        assert refused.status_code == 400
        other.cookies.set("roster_passkey_sign_in", "A" * 43)
        refused = await other.post("/login/passkey", {"credential": answer})
        assert refused.status_code == 400


async def test_a_counter_that_goes_backwards_is_refused_and_logged(http):
    owner, authenticator = await user_with_passkey(http)
    assert signed_in_to(await sign_in(http, authenticator))
    await http.post("/logout")
    assert signed_in_to(await sign_in(http, authenticator))  # count 2
    await http.post("/logout")
    refused = await sign_in(http, authenticator, sign_count=1)
    assert refused.status_code == 400 and passkeys.POSSIBLE_CLONE in text_of(refused)
    entry = (
        await ActivityEntry.select()
        .where(ActivityEntry.action == "user.passkey_clone_suspected")
        .first()
    )
    assert entry is not None and entry["user_id"] == owner["id"]
    assert "from 2 to 1" in entry["description"]
    row = await Passkey.select().where(Passkey.user == owner["id"]).first()
    assert row["sign_count"] == 2


async def test_an_authenticator_that_counts_nothing_is_accepted_every_time(http):
    _, authenticator = await user_with_passkey(http, counts=False)
    for _ in range(3):
        assert signed_in_to(await sign_in(http, authenticator))
        await http.post("/logout")


async def test_challenges_are_single_use_and_at_most_ten_are_open(http):
    await http.get("/login")
    for _ in range(12):
        assert (await http.post("/login/passkey/options")).status_code == 200
    assert await PasskeyChallenge.count() == passkeys.MAX_OPEN_CHALLENGES


async def test_at_most_ten_passkeys_per_person(http):
    _, owner = await make_client()
    await http.login(owner["email"])
    for n in range(passkeys.MAX_PASSKEYS):
        assert (await add_passkey(http, SoftAuthenticator(), name=f"Key {n}")).status_code == 200
    refused = await http.post(f"{USER_BASE}/options")
    assert refused.status_code == 400 and json.loads(refused.text)["error"] == passkeys.TOO_MANY


async def test_a_staff_passkey_signs_in_to_the_admin_area_and_meets_the_requirement(http):
    await set_setting(REQUIRE_STAFF_TWO_FACTOR, "true", actor=ADMIN)
    await create_admin(
        email="pia@example.com", password=STAFF_PASSWORD, name="Pia", role="full", actor=ADMIN
    )
    first = await http.login("pia@example.com", STAFF_PASSWORD, path="/admin/login")
    assert first.headers["location"] == "/admin/security"  # must enrol
    authenticator = SoftAuthenticator()
    added = await add_passkey(http, authenticator, base=STAFF_BASE)
    assert added.status_code == 200, text_of(added)
    assert (await http.get("/admin/clients")).status_code == 200  # a passkey meets it
    await http.post("/admin/logout")
    admin_login = await http.get("/admin/login")
    assert page(admin_login).find("button", string="Sign in with a passkey") is not None
    # A staff passkey does not sign in to the client area, nor a user's to the admin area.
    assert (await sign_in(http, authenticator)).status_code == 400
    response = await sign_in(http, authenticator, path="/admin/login/passkey")
    assert signed_in_to(response, "/admin/clients"), response.text
    # After the password, the passkey is the second factor.
    await http.post("/admin/logout")
    step = await http.login("pia@example.com", STAFF_PASSWORD, path="/admin/login")
    assert step.headers["location"] == "/admin/login/code"
    options = await http.post("/admin/login/code/passkey/options")
    done = await http.post(
        "/admin/login/code/passkey", {"credential": authenticator.get(options.text)}
    )
    assert signed_in_to(done, "/admin/clients"), done.text


async def test_staff_who_manage_users_see_and_remove_a_users_passkeys(http, admin_session):
    _, owner = await make_client()
    person = two_factor.Person("user", owner["id"])
    authenticator = SoftAuthenticator()
    options = await passkeys.registration_options(person, "elsewhere")
    row = await passkeys.register(
        person, "elsewhere", authenticator.create(options), "Phone", actor=user_actor(owner)
    )
    detail = await http.get(f"/admin/users/{owner['id']}")
    section = page(detail).find(id="user-passkeys")
    assert "Phone" in section.get_text()
    removed = await http.post(f"/admin/users/{owner['id']}/passkeys/{row['id']}/remove")
    assert removed.status_code == 303 and not await Passkey.exists()
    email = await OutboundEmail.select().where(OutboundEmail.template == "passkey_removed").first()
    assert email["to_address"] == owner["email"] and "by our staff" in email["text_body"]
    entry = (
        await ActivityEntry.select().where(ActivityEntry.action == "user.passkey_removed").first()
    )
    assert entry["actor_type"] == "admin"


async def test_support_operators_see_but_cannot_remove_a_users_passkeys(http, support_session):
    _, owner = await make_client()
    person = two_factor.Person("user", owner["id"])
    options = await passkeys.registration_options(person, "elsewhere")
    row = await passkeys.register(
        person, "elsewhere", SoftAuthenticator().create(options), "Phone", actor=user_actor(owner)
    )
    detail = await http.get(f"/admin/users/{owner['id']}")
    assert "Phone" in page(detail).find(id="user-passkeys").get_text()
    assert page(detail).find(id="user-passkeys").find("button") is None
    refused = await http.post(f"/admin/users/{owner['id']}/passkeys/{row['id']}/remove")
    assert refused.status_code == 403 and await Passkey.exists()


async def test_an_account_that_requires_two_factor_accepts_a_passkey(http):
    from app.domain.clients import services as clients

    client_id, owner = await make_client()
    await clients.update_client(client_id, require_two_factor=True, actor=ADMIN)
    await http.login(owner["email"])
    sent = await http.get("/account")
    assert sent.status_code in (302, 303) and "/account/security" in sent.headers["location"]
    assert (await add_passkey(http, SoftAuthenticator())).status_code == 200
    assert (await http.get("/account")).status_code == 200
