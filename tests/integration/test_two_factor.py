"""Two-factor authentication through the web: enrolment, the login code step, recovery codes,
disabling (by the person and by staff), the staff requirement, throttling and races."""

import asyncio
import contextlib

import httpx

from app.domain.clients import services as clients
from app.domain.invitations import services as invitations
from app.domain.staff.services import REQUIRE_STAFF_TWO_FACTOR, create_admin, set_setting
from app.domain.two_factor import services as two_factor
from app.http.plumbing.middleware import SESSION_COOKIE
from app.schema.activity import ActivityEntry
from app.schema.mail import OutboundEmail
from app.schema.sessions import PendingSignIn
from app.schema.staff import Admin
from app.schema.two_factor import TwoFactor
from app.schema.users import User
from tests.factories import ADMIN, PASSWORD, make_client, user_actor
from tests.integration.conftest import Browser, app_for_tests, page, text_of


@contextlib.asynccontextmanager
async def second_browser(port: int = 50001):
    """Another browser on the same app, from another port."""

    app = app_for_tests()
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", port))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:
        yield Browser(c)


def code(secret: str, offset: int = 0) -> str:
    return two_factor.code_at(secret, two_factor.time_step() + offset)


def manual_key(response) -> str:
    return page(response).find(id="two-factor-key").get_text().replace(" ", "")


async def enrol(http, base="/account/security/two-factor") -> tuple[str, list[str]]:
    """Enables 2FA through the pages; returns the secret read from the page, and the codes."""
    shown = await http.post(f"{base}/enable")
    assert shown.status_code == 200
    secret = manual_key(shown)
    assert page(shown).find("svg") is not None  # the QR code, drawn by the server
    done = await http.post(f"{base}/confirm", {"code": code(secret)})
    assert done.status_code == 200, text_of(done)
    codes = [c.get_text() for c in page(done).select("#recovery-codes code")]
    return secret, codes


async def user_with_two_factor() -> tuple[dict, str, list[str]]:
    _, owner = await make_client()
    person = two_factor.Person("user", owner["id"])
    secret = await two_factor.begin_enrolment(person)
    codes = await two_factor.confirm_enrolment(person, code(secret), actor=user_actor(owner))
    return owner, secret, codes


async def test_enabling_needs_a_right_code_and_a_pending_secret_enables_nothing(http):
    _, owner = await make_client()
    await http.login(owner["email"])
    shown = await http.post("/account/security/two-factor/enable")
    secret = manual_key(shown)
    field = page(shown).find(id="tf-code")
    assert field["inputmode"] == "numeric" and field["autocomplete"] == "one-time-code"
    assert page(shown).find("label", attrs={"for": "tf-code"}).get_text() == "Authentication Code"
    # Pending: nothing is on, login is unchanged.
    assert not await two_factor.is_enabled(two_factor.Person("user", owner["id"]))
    wrong = await http.post("/account/security/two-factor/confirm", {"code": "000000"})
    assert wrong.status_code == 400 and "That code is not right" in text_of(wrong)
    assert not (await User.select().where(User.id == owner["id"]).first())["totp_enabled"]
    # A new Enable replaces the pending secret: a code from the old one no longer confirms.
    again = manual_key(await http.post("/account/security/two-factor/enable"))
    assert again != secret
    stale = await http.post("/account/security/two-factor/confirm", {"code": code(secret)})
    assert stale.status_code == 400
    async with second_browser() as other:
        await other.login(owner["email"])
        assert SESSION_COOKIE in other.cookies  # still password alone
    done = await http.post("/account/security/two-factor/confirm", {"code": code(again)})
    assert done.status_code == 200
    codes = page(done).select("#recovery-codes code")
    assert len(codes) == 10
    offer = page(done).find("form", class_="end-others-offer")  # the others may end now
    assert offer["action"] == "/account/security/sessions/sign-out-others"
    assert (await User.select().where(User.id == owner["id"]).first())["totp_enabled"]
    assert await ActivityEntry.exists().where(ActivityEntry.action == "user.two_factor_enabled")
    mail = (
        await OutboundEmail.select().where(OutboundEmail.template == "two_factor_enabled").first()
    )
    assert mail["to_address"] == owner["email"] and "enabled" in mail["subject"]
    # Shown once: the page afterwards has no codes.
    later = await http.get("/account/security")
    assert "Enabled" in text_of(later) and not page(later).select("#recovery-codes")


async def test_login_asks_for_the_code_after_the_password(http):
    owner, secret, _ = await user_with_two_factor()
    response = await http.post(
        "/login", {"email": owner["email"], "password": PASSWORD, "next": "/account/profile"}
    )
    assert response.headers["location"] == "/login/code"
    assert SESSION_COOKIE not in http.cookies
    step = await http.get("/login/code")
    assert step.status_code == 200 and "Authentication Code" in text_of(step)
    wrong = await http.post("/login/code", {"code": "123456"})
    assert wrong.status_code == 400 and text_of(wrong).count("That code is not right") == 1
    # htmx gets the error slots alone, out of band: the form stays as typed.
    swapped = await http.post("/login/code", {"code": "123456"}, headers={"hx-request": "true"})
    assert swapped.headers["hx-reswap"] == "none"
    assert page(swapped).find(id="f-code-error").get_text().startswith("That code is not right")
    done = await http.post("/login/code", {"code": code(secret, 1)})
    assert done.status_code == 303 and done.headers["location"] == "/account/profile"
    assert SESSION_COOKIE in http.cookies
    assert (await http.get("/account")).status_code == 200
    assert not await PendingSignIn.exists()


async def test_the_half_logged_in_state_reaches_nothing_else(http):
    owner, _, _ = await user_with_two_factor()
    await http.login(owner["email"])
    for path in (
        "/account",
        "/accounts",
        "/account/users",
        "/account/security",
        "/account/profile",
    ):
        response = await http.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), (
            path
        )
    refused = await http.post("/account/security/two-factor/disable", {"proof": PASSWORD})
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login")
    # And the staff side of it: a staff member's pending login reaches no admin page.
    await create_admin(
        email="tess@example.com",
        password="staff-passphrase-42",
        name="Tess",
        role="full",
        actor=ADMIN,
    )
    staff = two_factor.Person("admin", (await Admin.select(Admin.id).first())["id"])
    secret = await two_factor.begin_enrolment(staff)
    await two_factor.confirm_enrolment(staff, code(secret), actor=ADMIN)
    await http.login("tess@example.com", "staff-passphrase-42", path="/admin/login")
    for path in ("/admin/clients", "/admin/users", "/admin/security"):
        response = await http.get(path)
        assert response.headers["location"].startswith("/admin/login"), path


async def test_the_code_step_expires(http, monkeypatch):
    from datetime import timedelta

    from app.core import clock

    owner, secret, _ = await user_with_two_factor()
    await http.login(owner["email"])
    later = clock.now() + timedelta(minutes=6)
    monkeypatch.setattr(clock, "now", lambda: later)
    response = await http.post("/login/code", {"code": code(secret, 0)})
    assert response.status_code == 303 and response.headers["location"] == "/login?ended=1"
    assert SESSION_COOKIE not in http.cookies


async def test_a_recovery_code_works_once_and_says_how_many_are_left(http):
    owner, _, codes = await user_with_two_factor()
    await http.login(owner["email"])
    done = await http.post("/login/code", {"code": codes[0].lower()})
    assert done.status_code == 303
    assert done.headers["location"] == "/account/security?signed_in_with=recovery-code"
    security = text_of(await http.get(done.headers["location"]))
    assert "You signed in with a recovery code, which now no longer works." in security
    assert "9 recovery codes left" in security
    await http.post("/logout")
    await http.login(owner["email"])
    again = await http.post("/login/code", {"code": codes[0]})
    assert again.status_code == 400 and SESSION_COOKIE not in http.cookies
    assert text_of(again).count("That recovery code was already used") == 1
    never_issued = await http.post("/login/code", {"code": "ABCD-EFGH-JKLM"})
    assert text_of(never_issued).count("That code is not right") == 1
    for used in codes[1:]:
        person = two_factor.Person("user", owner["id"])
        assert await two_factor.use_code(person, used)
    assert (await two_factor.status(person))["recovery_codes_left"] == 0


async def test_codes_are_throttled_per_person(http):
    owner, secret, _ = await user_with_two_factor()
    await http.login(owner["email"])
    for _ in range(5):
        assert (await http.post("/login/code", {"code": "000000"})).status_code == 400
    blocked = await http.post("/login/code", {"code": code(secret, 1)})
    assert blocked.status_code == 429 and "Too many codes" in text_of(blocked)
    assert SESSION_COOKIE not in http.cookies


async def test_two_simultaneous_logins_with_one_code_one_wins(http):
    owner, secret, _ = await user_with_two_factor()
    async with second_browser() as other:
        for browser in (http, other):
            await browser.login(owner["email"])
        the_code = code(secret, 1)
        answers = await asyncio.gather(
            *(b.post("/login/code", {"code": the_code}) for b in (http, other))
        )
    assert sorted(a.status_code for a in answers) == [303, 400]


async def test_disable_with_the_password_or_with_a_code(http):
    _, owner = await make_client()
    await http.login(owner["email"])
    secret, _ = await enrol(http)
    wrong = await http.post("/account/security/two-factor/disable", {"proof": "not-it"})
    assert wrong.status_code == 400 and "neither your password nor a current code" in text_of(wrong)
    off = await http.post("/account/security/two-factor/disable", {"proof": PASSWORD})
    assert off.status_code == 200 and "Enable Two-Factor Authentication" in text_of(off)
    assert not (await User.select().where(User.id == owner["id"]).first())["totp_enabled"]
    assert not await TwoFactor.exists()
    assert await OutboundEmail.exists().where(OutboundEmail.template == "two_factor_disabled")
    secret, _ = await enrol(http)
    off = await http.post("/account/security/two-factor/disable", {"proof": code(secret, 1)})
    assert off.status_code == 200
    assert not await two_factor.is_enabled(two_factor.Person("user", owner["id"]))


async def test_new_recovery_codes_replace_the_old_set(http):
    _, owner = await make_client()
    await http.login(owner["email"])
    _, old = await enrol(http)
    new = await http.post("/account/security/two-factor/recovery-codes", {"proof": PASSWORD})
    fresh = [c.get_text() for c in page(new).select("#recovery-codes code")]
    assert len(fresh) == 10 and not set(fresh) & set(old)
    person = two_factor.Person("user", owner["id"])
    assert not await two_factor.use_code(person, old[0])
    assert await two_factor.use_code(person, fresh[0])


async def test_staff_disable_a_users_two_factor(http, admin_session):
    owner, _, _ = await user_with_two_factor()
    shown = await http.get(f"/admin/users/{owner['id']}")
    form = page(shown).find("form", action=f"/admin/users/{owner['id']}/two-factor/disable")
    assert form["hx-confirm"] and form["data-confirm-title"]
    response = await http.post(
        f"/admin/users/{owner['id']}/two-factor/disable", headers={"hx-request": "true"}
    )
    assert response.status_code == 200
    assert "Off" in text_of(response)
    assert not (await User.select().where(User.id == owner["id"]).first())["totp_enabled"]
    entry = (
        await ActivityEntry.select()
        .where(ActivityEntry.action == "user.two_factor_disabled")
        .first()
    )
    assert entry["actor_type"] == "admin" and entry["actor_name"] == "Ada"
    mail = (
        await OutboundEmail.select().where(OutboundEmail.template == "two_factor_disabled").first()
    )
    assert mail["to_address"] == owner["email"] and "by our staff" in mail["text_body"]
    again = await http.post(f"/admin/users/{owner['id']}/two-factor/disable")
    assert again.status_code == 400


async def test_support_staff_cannot_disable_it(http, support_session):
    owner, _, _ = await user_with_two_factor()
    response = await http.post(f"/admin/users/{owner['id']}/two-factor/disable")
    assert response.status_code == 403
    assert await two_factor.is_enabled(two_factor.Person("user", owner["id"]))


async def test_required_staff_two_factor_forces_enrolment(http):
    await set_setting(REQUIRE_STAFF_TWO_FACTOR, "true", actor=ADMIN)
    await create_admin(
        email="tess@example.com",
        password="staff-passphrase-42",
        name="Tess",
        role="full",
        actor=ADMIN,
    )
    response = await http.login("tess@example.com", "staff-passphrase-42", path="/admin/login")
    assert response.headers["location"] == "/admin/security"
    for path in ("/admin/clients", "/admin/users", "/admin/settings", "/admin/activity"):
        kept = await http.get(path)
        assert kept.status_code == 303 and kept.headers["location"] == "/admin/security", path
    assert "required for staff" in text_of(await http.get("/admin/security"))
    secret, codes = await enrol(http, "/admin/security/two-factor")
    assert len(codes) == 10
    assert (await http.get("/admin/clients")).status_code == 200
    # Next time, the staff login asks for the code.
    await http.post("/admin/logout")
    response = await http.login("tess@example.com", "staff-passphrase-42", path="/admin/login")
    assert response.headers["location"] == "/admin/login/code"
    assert (await http.get("/admin/clients")).headers["location"].startswith("/admin/login")
    done = await http.post("/admin/login/code", {"code": code(secret, 1)})
    assert done.headers["location"] == "/admin/clients"
    assert (await http.get("/admin/users")).status_code == 200


async def test_an_invitation_is_accepted_only_after_the_code(http):
    owner, secret, _ = await user_with_two_factor()
    client_id, _ = await make_client("Other Co")
    _, token = await invitations.invite(client_id, owner["email"], ["tickets"], actor=ADMIN)
    answered = await http.post(
        f"/invite/{token}/login", {"email": owner["email"], "password": PASSWORD}
    )
    assert answered.headers["location"] == "/login/code"
    assert await clients.access_for(owner["id"], client_id) is None  # the password alone: no
    done = await http.post("/login/code", {"code": code(secret, 1)})
    assert done.headers["location"] == f"/invite/{token}"
    assert "roster_resume_invite" not in http.cookies
    accepted = await http.post(f"/invite/{token}/accept")
    assert accepted.status_code == 303
    assert (await clients.access_for(owner["id"], client_id)).permissions == ("tickets",)


# The current code as typed on keyboards set to other scripts, and a superscript digit:
# str.isdigit() says yes to each, and none is a code.
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def not_ascii(right: str) -> list[str]:
    return [right.translate(ARABIC_INDIC), right.translate(FULLWIDTH), right[:5] + "²"]


async def test_a_code_in_other_digits_than_ascii_is_not_right_and_counts_as_an_attempt(http):
    owner, secret, _ = await user_with_two_factor()
    await http.login(owner["email"])
    typed = [*not_ascii(code(secret, 1)), "١٢٣٤٥٦", "１２３４５６"]
    for wrong in typed:
        answer = await http.post("/login/code", {"code": wrong})
        assert answer.status_code == 400 and "That code is not right" in text_of(answer), wrong
    blocked = await http.post("/login/code", {"code": code(secret, 1)})  # the sixth attempt
    assert blocked.status_code == 429 and SESSION_COOKIE not in http.cookies


async def test_a_staff_code_in_digits_other_than_ascii_is_not_right(http):
    admin_id = await create_admin(
        email="tia@example.com",
        password="staff-passphrase-42",
        name="Tia",
        role="full",
        actor=ADMIN,
    )
    person = two_factor.Person("admin", admin_id)
    secret = await two_factor.begin_enrolment(person)
    await two_factor.confirm_enrolment(person, code(secret), actor=ADMIN)
    await http.login("tia@example.com", "staff-passphrase-42", path="/admin/login")
    for wrong in not_ascii(code(secret, 1)):
        answer = await http.post("/admin/login/code", {"code": wrong})
        assert answer.status_code == 400 and "That code is not right" in text_of(answer), wrong
    done = await http.post("/admin/login/code", {"code": code(secret, 1)})
    assert done.status_code == 303


async def test_digits_other_than_ascii_neither_enable_nor_disable_two_factor(http):
    _, owner = await make_client()
    await http.login(owner["email"])
    secret = manual_key(await http.post("/account/security/two-factor/enable"))
    for wrong in not_ascii(code(secret)):
        answer = await http.post("/account/security/two-factor/confirm", {"code": wrong})
        assert answer.status_code == 400 and "That code is not right" in text_of(answer), wrong
    secret, _ = await enrol(http)
    for wrong in not_ascii(code(secret, 1)):
        answer = await http.post("/account/security/two-factor/disable", {"proof": wrong})
        assert answer.status_code == 400, wrong
        assert "neither your password nor a current code" in text_of(answer)
    assert await two_factor.is_enabled(two_factor.Person("user", owner["id"]))
