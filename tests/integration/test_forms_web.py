"""The register and login forms: every field's error at once, nothing typed
lost (htmx gets the errors alone, swapped out of band into their slots; a plain post gets the
page again), "This email already has a login: use Login", and an invite page that offers only
what works."""

import re

from bs4 import BeautifulSoup

from app.domain.invitations import services as invitations
from app.domain.users import registration
from app.domain.users import services as users
from app.schema.sessions import LoginFailure
from app.schema.users import User
from tests.factories import ADMIN, PASSWORD, make_client, make_user
from tests.integration.conftest import page, text_of

# A boosted form, as htmx sends it (the forms are inside <body hx-boost:inherited="true">).
HTMX = {"HX-Request": "true", "HX-Boosted": "true", "HX-Request-Type": "full"}

GOOD = {
    "first_name": "Rita",
    "last_name": "Reg",
    "email": "rita@example.com",
    "password": "amber-violin-harbor-3",
    "company": "Rita Ltd",
    "accept_tos": "on",
}
# Four mistakes at once: no first name, an address that is not one, a weak password, no Terms.
MISTAKES = {**GOOD, "first_name": " ", "email": "rita@", "password": "password", "accept_tos": ""}
MESSAGES = {
    "first_name": "Enter a first name.",
    "email": "Enter a valid email address",
    "password": "too easy to guess",
    "accept_tos": "Agree to the Terms of Service to register.",
}


def oob_slots(response) -> dict[str, BeautifulSoup]:
    """The error slots and summary of an htmx answer, by id."""
    return {e["id"]: e for e in page(response).select("[id]")}


def assert_errors_only(response) -> None:
    """An htmx answer to a refused form: no input, no form, nothing but out-of-band elements;
    the form is left alone (HX-Reswap: none) and the address bar too."""
    soup = page(response)
    assert soup.find("input") is None and soup.find("form") is None
    assert all(e.has_attr("hx-swap-oob") for e in soup.find_all(recursive=False))
    assert response.headers["hx-reswap"] == "none"
    assert response.headers["hx-push-url"] == "false"


def slot_text(slots, slot_id: str) -> str:
    return " ".join(slots[slot_id].get_text(" ").split())


def assert_slots_fit_the_page(answer, form_page) -> None:
    """Every out-of-band element of the answer lands on the page (its id, or the element its
    swap names, is there), and each error slot names an input of the form, whose
    aria-describedby includes the slot where the page has it."""
    soup = page(form_page)
    for element in page(answer).select("[hx-swap-oob]"):
        swap = element["hx-swap-oob"]
        if swap == "true":
            assert soup.find(id=element["id"]) is not None, element["id"]
        elif swap.startswith("beforebegin:"):
            assert soup.select_one(swap.removeprefix("beforebegin:")) is not None, swap
        else:
            assert swap.startswith("delete:"), swap
    for slot in page(answer).select("[data-error-for]"):
        field = soup.find(id=slot["data-error-for"])
        assert field is not None and field.name == "input", slot["id"]
        if soup.find(id=slot["id"]) is not None:
            assert slot["id"] in field["aria-describedby"].split(), slot["id"]


# /register


async def test_a_refused_register_answers_every_error_at_once_without_the_inputs(http):
    answer = await http.post("/register", MISTAKES, headers=HTMX)
    assert answer.status_code == 400
    assert_errors_only(answer)
    slots = oob_slots(answer)
    for name, message in MESSAGES.items():
        slot_id = f"f-{name}-error"
        assert message in slot_text(slots, slot_id), name
        assert not slots[slot_id].has_attr("hidden")
    for name in ("last_name", "company"):  # fine: their slots are emptied
        assert slots[f"f-{name}-error"].has_attr("hidden") and not slot_text(
            slots, f"f-{name}-error"
        )
    summary = slots["f-summary"]
    assert summary["role"] == "alert" and "There are 4 problems" in summary.get_text()
    assert [a["href"] for a in summary.select("a")] == [
        "#f-first_name",
        "#f-email",
        "#f-password",
        "#f-accept_tos",
    ]
    assert summary["data-first-error"] == "f-first_name"
    assert_slots_fit_the_page(answer, await http.get("/register"))
    assert await User.count() == 0


async def test_fixing_some_fields_clears_their_errors(http):
    await http.post("/register", MISTAKES, headers=HTMX)
    answer = await http.post("/register", {**MISTAKES, "first_name": "Rita"}, headers=HTMX)
    slots = oob_slots(answer)
    assert slots["f-first_name-error"].has_attr("hidden")
    assert "There are 3 problems" in slots["f-summary"].get_text()
    assert slots["f-summary"]["data-first-error"] == "f-email"


async def test_without_javascript_the_page_comes_back_with_the_values_and_every_error(http):
    answer = await http.post("/register", MISTAKES)
    assert answer.status_code == 400
    soup = page(answer)
    text = text_of(answer)
    assert all(message in text for message in MESSAGES.values())
    assert soup.find("input", {"name": "last_name"})["value"] == "Reg"
    assert soup.find("input", {"name": "email"})["value"] == "rita@"
    assert soup.find("input", {"name": "company"})["value"] == "Rita Ltd"
    assert not soup.find("input", {"name": "password"}).get("value")  # never sent back
    for name in ("first_name", "email", "password", "accept_tos"):
        assert soup.find("input", {"name": name})["aria-invalid"] == "true", name
    assert not soup.find("input", {"name": "last_name"}).has_attr("aria-invalid")
    assert [i["name"] for i in soup.select("input[autofocus]")] == ["first_name"]
    assert soup.find(id="f-summary")["role"] == "alert"
    # A ticked Terms box stays ticked.
    ticked = page(await http.post("/register", {**MISTAKES, "accept_tos": "on"}))
    assert ticked.find("input", {"name": "accept_tos"}).has_attr("checked")


async def test_an_email_with_a_login_offers_login_with_the_email_filled_in(http):
    await make_user(email="taken@example.com")
    answer = await http.post("/register", {**GOOD, "email": "Taken@example.com"}, headers=HTMX)
    assert answer.status_code == 400
    slot = oob_slots(answer)["f-email-error"]
    assert " ".join(slot.get_text(" ").split()) == "This email already has a login: use Login"
    link = slot.find("a", string="use Login")
    assert link["href"] == "/login?email=Taken%40example.com"
    login = page(await http.get(link["href"]))
    assert login.find("input", {"name": "email"})["value"] == "Taken@example.com"
    assert login.find("input", {"name": "password"}).has_attr("autofocus")
    # Without JavaScript: the same words and link on the page.
    plain = await http.post("/register", {**GOOD, "email": "taken@example.com"})
    assert "This email already has a login: use Login" in text_of(plain)
    assert page(plain).find("a", string="use Login")["href"] == "/login?email=taken%40example.com"
    assert await User.count() == 1


async def test_an_email_taken_meanwhile_is_answered_the_same_way(http, monkeypatch):
    """Someone registers the address between the checks and the transaction: register_user
    refuses it, and the form says so like any other taken address."""
    real = registration.find_by_email
    calls = []

    async def not_yet(email):
        calls.append(email)
        if len(calls) == 1:
            await make_user(email="rita@example.com")  # the other registration lands now
            return None
        return await real(email)

    monkeypatch.setattr(registration, "find_by_email", not_yet)
    answer = await http.post("/register", GOOD, headers=HTMX)
    assert answer.status_code == 400
    assert "This email already has a login" in slot_text(oob_slots(answer), "f-email-error")
    assert await User.count() == 1


async def test_the_registration_limit_is_a_message_for_the_whole_form(http, monkeypatch):
    from app.domain import throttle

    monkeypatch.setattr(throttle.REGISTRATION_LIMIT, "per_ip", 0)
    answer = await http.post("/register", GOOD, headers=HTMX)
    assert answer.status_code == 429
    assert_errors_only(answer)
    summary = oob_slots(answer)["f-summary"]
    assert "Too many accounts" in summary.get_text()
    assert summary["data-first-error"] == "f-summary"
    assert await users.find_by_email(GOOD["email"]) is None


async def test_a_successful_register_still_goes_to_the_new_account(http):
    answer = await http.post("/register", GOOD, headers=HTMX)
    assert answer.status_code == 200 and answer.headers["hx-location"] == "/account?welcome=new"


# Login pages


async def test_empty_login_fields_are_both_answered_and_count_as_no_attempt(http):
    for path in ("/login", "/admin/login"):
        answer = await http.post(path, {"email": " ", "password": ""}, headers=HTMX)
        assert answer.status_code == 400
        assert_errors_only(answer)
        slots = oob_slots(answer)
        assert slot_text(slots, "f-email-error") == "Enter your email address."
        assert slot_text(slots, "f-password-error") == "Enter your password."
        assert slots["f-summary"]["data-first-error"] == "f-email"
        assert_slots_fit_the_page(answer, await http.get(path))
    assert await LoginFailure.count() == 0


async def test_a_wrong_password_over_htmx_keeps_the_form_and_says_why(http):
    _, owner = await make_client()
    answer = await http.post(
        "/login", {"email": owner["email"], "password": "wrong-password-1"}, headers=HTMX
    )
    assert answer.status_code == 400
    assert_errors_only(answer)
    slots = oob_slots(answer)
    assert slot_text(slots, "f-summary") == "The email address or password is incorrect."
    assert slots["f-summary"]["data-first-error"] == "f-password"
    assert slots["f-email-error"].has_attr("hidden")
    plain = page(await http.post("/login", {"email": owner["email"], "password": "wrong-pw"}))
    assert plain.find("input", {"name": "email"})["value"] == owner["email"]
    assert [i["name"] for i in plain.select("input[autofocus]")] == ["password"]


async def test_the_login_limit_still_holds_over_htmx(http):
    _, owner = await make_client()
    for _ in range(5):
        await http.post("/login", {"email": owner["email"], "password": "wrong-pw-x"}, headers=HTMX)
    blocked = await http.post(
        "/login", {"email": owner["email"], "password": PASSWORD}, headers=HTMX
    )
    assert blocked.status_code == 429
    assert "Too many failed attempts" in slot_text(oob_slots(blocked), "f-summary")


# The invite page


async def invite_token(email: str = "guest@example.com") -> tuple[int, str]:
    client_id, owner = await make_client("Client Test")
    _, token = await invitations.invite(client_id, email, ["invoices"], actor=ADMIN)
    return client_id, token


async def test_the_invite_register_answers_every_error_at_once(http):
    _, token = await invite_token()
    answer = await http.post(f"/invite/{token}/register", MISTAKES, headers=HTMX)
    assert answer.status_code == 400
    assert_errors_only(answer)
    assert answer.headers["referrer-policy"] == "no-referrer"
    slots = oob_slots(answer)
    for name, message in MESSAGES.items():
        slot_id = f"r-{name}-error"
        assert message in slot_text(slots, slot_id), name
    assert slots["r-summary"]["data-first-error"] == "r-first_name"
    assert "l-summary" not in slots  # the Login form is not touched
    assert_slots_fit_the_page(answer, await http.get(f"/invite/{token}"))
    assert await User.count() == 1  # the owner only


async def test_the_invite_register_without_javascript(http):
    _, token = await invite_token()
    answer = await http.post(f"/invite/{token}/register", MISTAKES)
    assert answer.status_code == 400
    soup = page(answer)
    assert all(message in text_of(answer) for message in MESSAGES.values())
    assert soup.find(id="r-email")["value"] == "rita@"
    assert [i["id"] for i in soup.select("input[autofocus]")] == ["r-first_name"]


async def test_use_login_switches_to_the_login_form_with_the_email(http):
    _, token = await invite_token()
    await make_user(email="known@example.com")
    answer = await http.post(
        f"/invite/{token}/register", {**GOOD, "email": "known@example.com"}, headers=HTMX
    )
    slot = oob_slots(answer)["r-email-error"]
    assert " ".join(slot.get_text(" ").split()) == "This email already has a login: use Login"
    link = slot.find("a", string="use Login")
    assert link["hx-get"] == f"/invite/{token}?email=known%40example.com"
    assert link["hx-target"] == "#invite-login" and link["hx-swap"] == "outerHTML"
    # htmx gets the Login section alone, the email filled in, the password to be focused.
    fragment = await http.get(link["hx-get"], headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and fragment.headers["cache-control"] == "no-store"
    (login,) = page(fragment).find_all(recursive=False)
    assert login["id"] == "invite-login" and login.find("h2").get_text() == "Login"
    assert login.find("input", {"name": "email"})["value"] == "known@example.com"
    assert login.find("input", {"name": "password"}).has_attr("autofocus")
    # Without JavaScript the link is the whole page, Login filled in the same way.
    assert link["href"] == link["hx-get"]
    whole = page(await http.get(link["href"]))
    assert whole.find(id="r-email") is not None
    assert whole.find(id="l-email")["value"] == "known@example.com"
    # and Login accepts there
    await http.login("known@example.com", path=f"/invite/{token}/login")
    assert "Invite accepted" in text_of(await http.get("/account?welcome=1"))


async def test_the_invite_login_answers_its_own_slots(http):
    _, token = await invite_token()
    answer = await http.post(f"/invite/{token}/login", {"email": "", "password": ""}, headers=HTMX)
    assert answer.status_code == 400
    assert_errors_only(answer)
    slots = oob_slots(answer)
    assert set(slots) == {"l-summary", "l-email-error", "l-password-error"}
    assert_slots_fit_the_page(answer, await http.get(f"/invite/{token}"))


async def test_someone_with_access_is_offered_the_account_not_accept(http):
    client_id, owner = await make_client("Client Test", owner_email="boss@example.com")
    _, token = await invitations.invite(client_id, "x@example.com", ["tickets"], actor=ADMIN)
    await http.login("boss@example.com")
    shown = await http.get(f"/invite/{token}")
    soup = page(shown)
    assert "You already have access to this account." in text_of(shown)
    assert soup.find("button", string="Accept Invite") is None
    go = soup.find("button", string=re.compile("Go to Client Test"))
    assert go.find_parent("form")["action"] == f"/accounts/{client_id}/select"
    assert (await http.post(f"/accounts/{client_id}/select")).headers["location"] == "/account"


async def test_a_different_email_is_told_before_accepting_when_the_settings_require_it(http):
    from app.domain.staff import services as admin_settings

    await admin_settings.set_setting(admin_settings.REQUIRE_INVITED_EMAIL, "true", actor=ADMIN)
    _, token = await invite_token("invited@example.com")
    await make_client("Mine", owner_email="me@example.com")
    await http.login("me@example.com")
    soup = page(await http.get(f"/invite/{token}"))
    assert soup.find("button", string="Accept Invite") is None
    assert "This invite was sent to a different email address." in soup.get_text()
    assert soup.find("button", string="Use another user")
