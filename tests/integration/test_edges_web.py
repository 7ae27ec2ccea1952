"""Edges over HTTP: bad input is a clear 4xx that writes nothing, limits answer 429, failure
paths, caching and lifetimes of sessions, and secrets kept out of the logs."""

import asyncio
import io
import json
import logging
from datetime import timedelta

import pytest

from app.core import clock
from app.core.logging_setup import RedactingFormatter
from app.domain.clients import services as clients
from app.domain.invitations import services as invitations
from app.http.plumbing.middleware import SESSION_COOKIE
from app.schema.mail import OutboundEmail
from app.schema.sessions import Session
from app.schema.users import User
from tests.factories import ADMIN, PASSWORD, make_client, make_user, unique_email
from tests.integration.conftest import text_of, written_otherwise

HX = {"HX-Request": "true"}


async def test_parallel_wrong_passwords_check_at_most_the_limit(http):
    _, owner = await make_client()
    await http.get("/login")
    attempts = [{"email": owner["email"], "password": f"wrong-{i}-passphrase"} for i in range(40)]
    answers = await asyncio.gather(*(http.post("/login", form) for form in attempts))
    checked = [a for a in answers if a.status_code != 429]
    assert len(checked) <= 5
    assert all("Too many failed attempts" in text_of(a) for a in answers if a not in checked)
    # The right password now: checked only if the burst left room under the limit.
    late = await http.post("/login", {"email": owner["email"], "password": PASSWORD})
    assert late.status_code == (429 if len(checked) == 5 else 303)


async def test_the_right_password_in_a_burst_of_wrong_ones_is_checked_only_within_the_limit(http):
    """At most 5 of these 31 are checked before any success; the right one logs in only if it
    was among them (and a success clears only the attempts up to its own)."""
    _, owner = await make_client()
    await http.get("/login")
    forms = [{"email": owner["email"], "password": f"wrong-{i}-passphrase"} for i in range(30)]
    forms.insert(15, {"email": owner["email"], "password": PASSWORD})
    answers = await asyncio.gather(*(http.post("/login", form) for form in forms))
    assert sum(a.status_code != 429 for a in answers) <= 10


async def test_parallel_wrong_staff_passwords_check_at_most_the_limit(http):
    from app.domain.staff.services import create_admin

    await create_admin(
        email="staff@example.com", password="staff-passphrase-1", name="S", role="full", actor=ADMIN
    )
    await http.get("/admin/login")
    forms = [{"email": "staff@example.com", "password": f"nope-{i}"} for i in range(20)]
    answers = await asyncio.gather(*(http.post("/admin/login", f) for f in forms))
    assert sum(a.status_code != 429 for a in answers) <= 5


async def test_a_throttled_login_says_so_with_429_and_a_correct_login_clears_the_count(http):
    _, owner = await make_client()
    for _ in range(4):
        await http.post("/login", {"email": owner["email"], "password": "wrong-password-x"})
    await http.login(owner["email"])  # the 5th attempt, right: the count starts again
    await http.post("/logout")
    for _ in range(5):
        await http.post("/login", {"email": owner["email"], "password": "wrong-password-x"})
    blocked = await http.post("/login", {"email": owner["email"], "password": PASSWORD})
    assert blocked.status_code == 429 and "Wait 15 minutes" in text_of(blocked)


async def test_registrations_are_limited_per_ip(http, monkeypatch):
    from app.domain import throttle

    monkeypatch.setattr(throttle.REGISTRATION_LIMIT, "per_ip", 2)
    for i in range(3):
        answer = await http.post(
            "/register",
            {
                "first_name": "Reg",
                "last_name": f"Number{i}",
                "email": f"reg{i}@example.com",
                "password": "a-registration-passphrase-8",
                "accept_tos": "on",
            },
        )
        await http.post("/logout")
    assert answer.status_code == 429 and "Too many accounts" in text_of(answer)
    assert await User.count() == 2


async def test_a_refused_registration_does_not_count_against_the_limit(http, monkeypatch):
    from app.domain import throttle

    monkeypatch.setattr(throttle.REGISTRATION_LIMIT, "per_ip", 1)
    form = {"first_name": "A", "last_name": "B", "email": "ab@example.com", "accept_tos": "on"}
    weak = await http.post("/register", {**form, "password": "short"})
    assert weak.status_code == 400
    ok = await http.post("/register", {**form, "password": "a-registration-passphrase-8"})
    assert ok.status_code == 303


async def test_reset_requests_answer_the_same_and_send_at_most_three_an_hour(http):
    user = await make_user()
    known = [await http.post("/password/reset", {"email": user["email"]}) for _ in range(5)]
    unknown = await http.post("/password/reset", {"email": "nobody@example.com"})
    assert {a.status_code for a in known} == {unknown.status_code} == {200}
    assert text_of(known[-1]).replace(user["email"], "X") == text_of(unknown).replace(
        "nobody@example.com", "X"
    )
    assert await OutboundEmail.count() == 3


@pytest.mark.parametrize(
    "url",
    [
        "/admin/users?q=%C2%B2",
        "/admin/users?q=%23%C2%B2%C2%B3",
        "/admin/clients?q=" + "+".join(["w"] * 90),
        "/admin/users?q=" + "x" * 500,
        "/admin/clients/2147483648/users",
        "/admin/clients/9223372036854775808/users",
        "/admin/clients/99999999999999999999999999/users",
        "/admin/users/2147483648",
        "/admin/activity?client_id=9223372036854775808",
        "/admin/activity?client_id=%C2%B2&user_id=%D9%A1",
        "/admin/clients/1/user-search?q=a%00b",
        "/admin/users?q=a%00b",
    ],
)
async def test_odd_ids_and_searches_are_a_clear_4xx_or_an_answer(http, admin_session, url):
    answer = await http.get(url)
    assert answer.status_code in (200, 400, 404), (url, answer.status_code)


# int() refuses a string of more than 4,300 digits (a guard against slow conversions) before any
# range check could see it.
THOUSANDS_OF_DIGITS = "1" * 5000


@pytest.mark.parametrize(
    "url",
    [
        f"/login?x_id={THOUSANDS_OF_DIGITS}",
        f"/admin/login?client_id={THOUSANDS_OF_DIGITS}",
        f"/password/reset?user_id={THOUSANDS_OF_DIGITS}",
    ],
)
async def test_a_query_id_of_thousands_of_digits_is_a_404_even_before_login(http, url):
    assert (await http.get(url)).status_code == 404
    assert (await http.post(url)).status_code == 404


async def test_a_query_id_of_thousands_of_digits_is_a_404_for_staff(http, admin_session):
    for url in ("/admin/activity?client_id=", "/admin/clients/1/users?user_id="):
        assert (await http.get(url + THOUSANDS_OF_DIGITS)).status_code == 404, url


async def test_an_id_in_the_path_not_written_in_ascii_digits_names_nothing(http, admin_session):
    client_id, owner = await make_client()
    for id_text in written_otherwise(owner["id"]):
        assert (await http.get(f"/admin/users/{id_text}")).status_code == 404, id_text
        answer = await http.post(f"/admin/users/{id_text}", {"first_name": "Renamed"})
        assert answer.status_code == 404, id_text
    for id_text in written_otherwise(client_id):
        for url in (f"/admin/clients/{id_text}/users", f"/admin/clients/{id_text}/profile"):
            assert (await http.get(url)).status_code == 404, url
        answer = await http.post(f"/admin/clients/{id_text}/status", {"status": "Closed"})
        assert answer.status_code == 404, id_text
    assert (await clients.get_client(client_id))["status"] == "Active"
    assert (await User.select().where(User.id == owner["id"]).first())["first_name"] == "Olivia"
    assert (await http.get(f"/admin/users/{owner['id']}")).status_code == 200
    assert (await http.get(f"/admin/clients/0{client_id}/users")).status_code == 200  # decimal


async def test_an_account_chosen_by_an_id_not_in_ascii_digits_is_not_found(http):
    client_id, owner = await make_client("Zeta Owned")
    await make_client("Alpha Owned", owner_email=owner["email"])
    await http.login(owner["email"])
    for id_text in written_otherwise(client_id):
        assert (await http.post(f"/accounts/{id_text}/select")).status_code == 404, id_text
    assert (await http.post(f"/accounts/{client_id}/select")).status_code == 303


async def test_a_search_of_too_many_words_says_how_much_is_allowed(http, admin_session):
    answer = await http.get("/admin/users?q=" + "+".join(["w"] * 90))
    assert answer.status_code == 400 and "at most 6 words" in text_of(answer)


async def test_a_superscript_number_in_make_owner_is_refused_clearly(http, admin_session):
    client_id, _ = await make_client()
    user = await make_user()
    answer = await http.post(f"/admin/users/{user['id']}/make-owner", {"client_id": "²"})
    assert answer.status_code < 500 and "Choose an account" in text_of(answer)


async def test_a_file_where_text_was_expected_is_refused(http):
    _, owner = await make_client()
    await http.get("/login")
    answer = await http.client.post(
        "/login",
        data={"email": owner["email"]},
        files={"password": ("password.txt", io.BytesIO(PASSWORD.encode()), "text/plain")},
        headers={"x-csrftoken": http.cookies.get("roster_csrf")},
    )
    assert answer.status_code == 400 and "must be text, not a file" in text_of(answer)
    assert SESSION_COOKIE not in http.cookies


@pytest.mark.parametrize("bad", ["Ann\x00", "Ann\nMarie", "A\x0bB", "\u202eevil"])
async def test_control_characters_in_names_are_a_field_error_and_write_nothing(http, bad):
    answer = await http.post(
        "/register",
        {
            "first_name": bad,
            "last_name": "Lee",
            "email": unique_email(),
            "password": "a-registration-passphrase-8",
            "accept_tos": "on",
        },
    )
    assert answer.status_code == 400 and "cannot contain control characters" in text_of(answer)
    assert await User.count() == 0


@pytest.mark.parametrize(
    "next_url", ["/account\n", "/acc\rount", "/a\x0bb", "/a\u3000b", "//evil.example", "/a b"]
)
async def test_next_accepts_only_a_plain_local_path(http, next_url):
    _, owner = await make_client()
    await http.get("/login")
    answer = await http.post(
        "/login", {"email": owner["email"], "password": PASSWORD, "next": next_url}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/account"


async def test_a_logged_out_accept_shows_the_invite_page(http):
    client_id, _ = await make_client("Globex")
    _, token = await invitations.invite(client_id, unique_email(), ["tickets"], actor=ADMIN)
    answer = await http.post(f"/invite/{token}/accept")
    assert answer.status_code == 200
    assert "You have been invited to Globex" in text_of(answer)
    assert answer.headers["referrer-policy"] == "no-referrer"


async def test_an_error_on_an_invite_route_keeps_the_token_out_of_the_logs(http, monkeypatch):
    client_id, _ = await make_client()
    _, token = await invitations.invite(client_id, unique_email(), ["tickets"], actor=ADMIN)

    async def broken(value):
        raise RuntimeError(f"failed while reading /invite/{value}")

    monkeypatch.setattr(invitations, "pending_invite", broken)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(name)s %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        answer = await http.get(f"/invite/{token}")
    finally:
        logging.getLogger().removeHandler(handler)
    assert answer.status_code == 500
    logged = stream.getvalue()
    assert "Unhandled error" in logged and "Traceback" in logged
    assert token not in logged and "/invite/[redacted]" in logged


async def test_an_unreachable_database_is_a_503_page_and_an_htmx_message(http, monkeypatch):
    from app.http.plumbing import middleware

    async def refused(*_args):  # the session cookie, the page's account
        raise ConnectionRefusedError(111, "Connect call failed")

    monkeypatch.setattr(middleware, "load_viewer", refused)
    page = await http.get("/login")
    assert page.status_code == 503 and page.headers["retry-after"]
    assert "cannot reach its database; nothing was changed" in text_of(page)
    fragment = await http.get("/admin/clients", headers=HX)
    assert fragment.status_code == 503 and fragment.headers["hx-reswap"] == "none"
    (flash,) = json.loads(fragment.headers["hx-trigger"])["roster:flash"]["messages"]
    assert flash["kind"] == "error" and "cannot reach its database" in flash["text"]
    assert flash["retry"] is True  # a server fault may pass: the message offers Retry
    assert "<header" not in fragment.text


async def test_an_htmx_request_never_gets_a_whole_page_on_an_error(http, monkeypatch):
    _, owner = await make_client()
    await http.login(owner["email"])

    async def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    from app.http.shared import account_users as views

    monkeypatch.setattr(views, "section_context", broken)
    answer = await http.post("/account/invites/1/resend", headers=HX)
    assert answer.status_code == 500 and answer.headers["hx-reswap"] == "none"
    assert "<html" not in answer.text


async def test_pages_for_someone_logged_in_are_never_stored(http):
    assert "no-store" not in (await http.get("/login")).headers.get("cache-control", "")
    _, owner = await make_client()
    await http.login(owner["email"])
    assert (await http.get("/account")).headers["cache-control"] == "no-store"
    assert (await http.get("/account/users")).headers["cache-control"] == "no-store"


async def test_production_sends_hsts():
    import httpx

    from app.asgi import create_app
    from app.core.config import load_settings

    settings = load_settings({"ROSTER_ENV": "production", "ROSTER_SECRET_KEY": "k" * 40})
    app = create_app(settings, run_workers=False, manage_database=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://t") as client:
        answer = await client.get("/login")
    assert answer.headers["strict-transport-security"].startswith("max-age=")


def test_production_never_checks_template_files_on_disk():
    from app.asgi import create_app
    from app.core.config import load_settings
    from app.http.plumbing.render import templates

    try:
        create_app(load_settings({"ROSTER_ENV": "production", "ROSTER_SECRET_KEY": "k" * 40}))
        assert templates.auto_reload is False
        create_app(load_settings({"ROSTER_SECRET_KEY": "k"}))
        assert templates.auto_reload is True  # development: an edited template shows at once
    finally:
        templates.auto_reload = True


async def test_head_works_wherever_get_does(http):
    for url in ("/login", "/register", "/terms", "/static/css/roster.css"):
        answer = await http.client.head(url)
        assert answer.status_code == 200 and answer.content == b"", url
    assert (await http.client.head("/no-such-page")).status_code == 404


async def test_a_session_ends_after_the_idle_time_and_after_the_absolute_lifetime(
    http, monkeypatch
):
    _, owner = await make_client()
    await http.login(owner["email"])
    start = clock.now()

    def at(delta):
        monkeypatch.setattr(clock, "now", lambda: start + delta)

    for hours in range(11, 24 * 29, 11):  # active every 11 hours: still in, for 29 days
        at(timedelta(hours=hours))
        assert (await http.get("/account")).status_code == 200, hours
    at(timedelta(days=30, minutes=1))
    assert (await http.get("/account")).status_code == 303  # absolute lifetime
    assert await Session.count() == 0

    await http.login(owner["email"])
    at(timedelta(days=30, hours=13))
    assert (await http.get("/account")).status_code == 303  # 12 hours idle


async def test_closed_accounts_are_closed_and_reopened_from_the_users_tab(http, admin_session):
    client_id, _ = await make_client("Initech")
    await invitations.invite(client_id, unique_email(), ["tickets"], actor=ADMIN)
    tab = await http.get(f"/admin/clients/{client_id}/users")
    assert "Close Account" in text_of(tab)
    closed = await http.post(f"/admin/clients/{client_id}/status", {"status": "Closed"})
    assert closed.status_code == 303
    tab = await http.get(closed.headers["location"])
    assert "Account closed: its pending invites were cancelled" in text_of(tab)
    assert "Reopen Account" in text_of(tab) and "+ Associate User" not in text_of(tab)
    assert (await clients.get_client(client_id))["status"] == "Closed"
    assert await invitations.pending_for_client(client_id) == []
    listing = await http.get("/admin/clients")
    assert "Closed" in text_of(listing)
    reopened = await http.post(f"/admin/clients/{client_id}/status", {"status": "Active"})
    assert "Account reopened" in text_of(await http.get(reopened.headers["location"]))


async def test_support_operators_cannot_close_an_account(http, support_session):
    client_id, _ = await make_client()
    answer = await http.post(f"/admin/clients/{client_id}/status", {"status": "Closed"})
    assert answer.status_code == 403
    assert (await clients.get_client(client_id))["status"] == "Active"


async def test_buttons_that_send_email_are_disabled_while_their_request_runs(http):
    client_id, owner = await make_client()
    await invitations.invite(client_id, unique_email(), ["tickets"], actor=ADMIN)
    await http.login(owner["email"])
    from tests.integration.conftest import page

    soup = page(await http.get("/account/users"))
    for name in ("Resend Invite", "Cancel Invite"):
        button = soup.find("button", string=lambda s, n=name: s and n in s)
        assert button.get("hx-disable") == "this", name
    assert soup.find("form", id="invite-form").get("hx-disable")


async def test_forms_give_the_browser_the_servers_length_limits(http):
    from tests.integration.conftest import page

    soup = page(await http.get("/register"))
    assert soup.find("input", {"name": "first_name"})["maxlength"] == "100"
    assert soup.find("input", {"name": "company"})["maxlength"] == "150"
    assert soup.find("input", {"name": "email"})["maxlength"] == "254"


async def test_a_session_ended_mid_click_returns_to_the_page_after_login(http):
    client_id, owner = await make_client()
    await http.login(owner["email"])
    await Session.delete(force=True)  # ended elsewhere (logout on another device, expiry, staff)
    answer = await http.post(
        "/account/invites/1/resend",
        headers={**HX, "HX-Current-URL": "http://testserver.local/account/users?x=1"},
    )
    assert answer.headers["hx-location"] == "/login?ended=1&next=%2Faccount%2Fusers%3Fx%3D1"
    login = await http.get(answer.headers["hx-location"])
    assert "Your session ended. Log in again to continue." in text_of(login)
    back = await http.post(
        "/login", {"email": owner["email"], "password": PASSWORD, "next": "/account/users?x=1"}
    )
    assert back.headers["location"] == "/account/users?x=1"


async def test_an_ended_session_on_a_plain_post_logs_in_to_the_start(http):
    _, owner = await make_client()
    await http.login(owner["email"])
    await Session.delete(force=True)
    answer = await http.post("/account/profile", {"company_name": "X"})
    assert answer.headers["location"] == "/login?ended=1"
