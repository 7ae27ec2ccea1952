"""CreateSsoToken on the WHMCS-compatible endpoint, called by whmcspy against a real `roster
serve`, and its link followed by fresh browsers on the app in this process (the same database):
the link signs in once, within 60 seconds, as a login does (the account, the landing page, the
last login, user.signed_in, the new-browser email, the Authentication Code step), each of
WHMCS's error texts, no open redirect, and the token kept only as its hash."""

import asyncio
import hashlib
from datetime import timedelta

import pytest
from whmcspy import exceptions

from app.core import clock
from app.domain.access.services import grant_access
from app.domain.active_sessions import services as active_sessions
from app.domain.clients.services import set_status
from app.domain.events import stream
from app.domain.events.catalog import SsoTokenUsed, UserSignedIn
from app.domain.users.services import get_user
from app.http.plumbing.middleware import SESSION_COOKIE
from app.http.public.login import PENDING_COOKIE
from app.schema.activity import ActivityEntry
from app.schema.mail import OutboundEmail
from app.schema.sessions import Session
from app.schema.sso import SsoToken
from app.schema.users import User
from tests.factories import ADMIN, make_client, make_user
from tests.integration import test_whmcs_api
from tests.integration.conftest import page, text_of
from tests.integration.test_two_factor import code, second_browser, user_with_two_factor
from tests.integration.test_whmcs_api import error_of, types_of

# The fixtures: one server for this module, its credentials.
mail, server, seen_secrets = test_whmcs_api.mail, test_whmcs_api.server, test_whmcs_api.seen_secrets
api, support_api = test_whmcs_api.api, test_whmcs_api.support_api

LINK = "http://testserver.local/oauth/singlesignon.php?access_token="  # ROSTER_BASE_URL's
NO_LONGER_VALID = "This sign-in link is no longer valid"


@pytest.fixture(scope="module")
def tokens_made() -> list[str]:
    """Every access token this module was given: none may reach the server's output."""
    return []


def link_for(api, tokens_made: list[str], **params) -> str:
    answer = api.call("CreateSsoToken", **params)
    tokens_made.append(answer["access_token"])
    return answer["redirect_url"]


async def sessions_of(user_id: int) -> list[dict]:
    return await Session.select().where(Session.user == user_id).order_by(Session.id)


def assert_refused(response) -> None:
    """The dead-link page: 410, a Login button, private, and no session."""
    assert response.status_code == 410, response.text
    assert NO_LONGER_VALID in text_of(response)
    assert page(response).find("a", string="Login")["href"] == "/login"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert SESSION_COOKIE not in response.cookies


async def test_a_link_signs_in_once_into_the_account_and_lands_on_its_destination(api, tokens_made):
    client_id, owner = await make_client("Sso Hosting")
    # A browser they signed in from before: the link's is a new one (the new sign-in email).
    await active_sessions.note_sign_in(
        user_id=owner["id"], ip="203.0.113.7", user_agent="old", browser_token=None
    )
    heard = []
    stop = stream.listen(lambda event, _actor: heard.append(event))
    try:
        answer = api.call("CreateSsoToken", client_id=client_id, destination="clientarea:profile")
        tokens_made.append(answer["access_token"])
        assert types_of(answer) == {"result": str, "access_token": str, "redirect_url": str}
        assert answer["result"] == "success"
        assert answer["redirect_url"] == LINK + answer["access_token"]

        async with second_browser() as browser:
            landed = await browser.get(answer["redirect_url"])
            assert landed.status_code == 303, landed.text
            assert landed.headers["location"] == "/account/profile"
            assert landed.headers["cache-control"] == "no-store"
            assert landed.headers["referrer-policy"] == "no-referrer"
            assert SESSION_COOKIE in browser.cookies
            profile = await browser.get("/account/profile")
            assert profile.status_code == 200 and "Sso Hosting" in text_of(profile)
    finally:
        stop()
    [session] = await sessions_of(owner["id"])
    assert session["client"] == client_id
    after = await get_user(owner["id"])
    assert after["last_login_at"] is not None and after["last_login_ip"] == "127.0.0.1"
    assert [e for e in heard if isinstance(e, UserSignedIn)] == [UserSignedIn(user_id=owner["id"])]
    assert [e for e in heard if isinstance(e, SsoTokenUsed)] == [
        SsoTokenUsed(user_id=owner["id"], client_id=client_id)
    ]
    [alert] = await OutboundEmail.select().where(OutboundEmail.template == "new_sign_in")
    assert alert["to_address"] == owner["email"]

    made, used = (
        await ActivityEntry.select()
        .where(ActivityEntry.action.is_in(["sso.token_created", "sso.token_used"]))
        .order_by(ActivityEntry.id)
    )
    assert (made["action"], made["client_id"], made["user_id"]) == (
        "sso.token_created",
        client_id,
        owner["id"],
    )
    assert api.identifier in made["actor_name"] and "/account/profile" in made["description"]
    assert (used["action"], used["actor_type"], used["actor_id"]) == (
        "sso.token_used",
        "user",
        owner["id"],
    )

    # The second use: refused, nothing changed.
    async with second_browser(50002) as other:
        assert_refused(await other.get(answer["redirect_url"]))
        assert SESSION_COOKIE not in other.cookies
    assert len(await sessions_of(owner["id"])) == 1
    assert await ActivityEntry.count().where(ActivityEntry.action == "sso.token_used") == 1


async def test_without_user_id_the_owner_and_with_it_that_user_in_that_account(api, tokens_made):
    client_id, owner = await make_client("First Co")
    second_id, _ = await make_client("Second Co")
    member = await make_user(first="Mia")
    for account in (client_id, second_id):
        await grant_access(account, member["id"], ["tickets"], actor=ADMIN)

    async with second_browser() as browser:
        landed = await browser.get(link_for(api, tokens_made, client_id=client_id))
        assert landed.headers["location"] == "/account"  # the client area's home
    assert [s["client"] for s in await sessions_of(owner["id"])] == [client_id]

    url = link_for(api, tokens_made, client_id=second_id, user_id=member["id"])
    async with second_browser() as browser:
        assert (await browser.get(url)).headers["location"] == "/account"
        assert "Second Co" in text_of(await browser.get("/account"))
    assert [s["client"] for s in await sessions_of(member["id"])] == [second_id]

    # A user alone, who reaches two accounts: Choose Account, as after a login.
    url = link_for(api, tokens_made, user_id=member["id"], destination="clientarea:homepage")
    async with second_browser() as browser:
        assert (await browser.get(url)).headers["location"] == "/accounts"


async def test_a_link_works_for_60_seconds(api, tokens_made, monkeypatch):
    client_id, owner = await make_client()
    late = link_for(api, tokens_made, client_id=client_id)
    in_time = link_for(api, tokens_made, client_id=client_id)
    rows = await SsoToken.select().order_by(SsoToken.id)
    assert [r["expires_at"] - r["created_at"] for r in rows] == [timedelta(seconds=60)] * 2
    expires_at = rows[0]["expires_at"]

    monkeypatch.setattr(clock, "now", lambda: expires_at - timedelta(seconds=1))
    async with second_browser() as browser:
        assert (await browser.get(in_time)).status_code == 303
    monkeypatch.setattr(clock, "now", lambda: expires_at)
    async with second_browser(50002) as browser:
        assert_refused(await browser.get(late))
    assert (await SsoToken.select().where(SsoToken.id == rows[0]["id"]).first())["used_at"] is None
    assert len(await sessions_of(owner["id"])) == 1


async def test_two_uses_at_once_sign_in_once(api, tokens_made):
    client_id, owner = await make_client()
    url = link_for(api, tokens_made, client_id=client_id)
    async with second_browser(50002) as one, second_browser(50003) as two:
        answers = await asyncio.gather(one.get(url), two.get(url))
        signed_in = [b for b in (one, two) if SESSION_COOKIE in b.cookies]
    assert sorted(a.status_code for a in answers) == [303, 410]
    assert len(signed_in) == 1
    assert len(await sessions_of(owner["id"])) == 1
    assert await ActivityEntry.count().where(ActivityEntry.action == "sso.token_used") == 1


async def test_a_user_with_two_factor_still_enters_the_code(api, tokens_made):
    owner, secret, _ = await user_with_two_factor()
    url = link_for(api, tokens_made, user_id=owner["id"], destination="clientarea:security")
    async with second_browser() as browser:
        landed = await browser.get(url)
        assert landed.status_code == 303 and landed.headers["location"] == "/login/code"
        assert SESSION_COOKIE not in browser.cookies and PENDING_COOKIE in browser.cookies
        assert (await get_user(owner["id"]))["last_login_at"] is None
        elsewhere = await browser.get("/account/security")
        assert elsewhere.status_code == 303 and elsewhere.headers["location"].startswith("/login")
        step = await browser.get("/login/code")
        assert step.status_code == 200 and "Authentication Code" in text_of(step)
        done = await browser.post("/login/code", {"code": code(secret, 1)})
        assert done.status_code == 303 and done.headers["location"] == "/account/security"
        assert SESSION_COOKIE in browser.cookies
        assert (await browser.get("/account/security")).status_code == 200
    assert (await get_user(owner["id"]))["last_login_at"] is not None
    # The link was used on the way to the code: it does not start another sign-in.
    async with second_browser(50002) as other:
        assert_refused(await other.get(url))


async def test_getclientsdetails_says_whether_links_may_sign_in_as_an_int(api):
    client_id, _ = await make_client("Open Co")
    assert api.call("GetClientsDetails", clientid=client_id)["allowSingleSignOn"] == 1
    await set_status(client_id, "Closed", actor=ADMIN)
    details = api.call("GetClientsDetails", clientid=client_id)
    assert details["allowSingleSignOn"] == 0 and details["client"]["allowSingleSignOn"] == 0
    assert error_of(api, "CreateSsoToken", client_id=client_id) == (
        f"SSO authentication blocked for client {client_id}"
    )


async def test_each_refusal_is_whmcs_text_and_makes_no_link(api):
    client_id, owner = await make_client()
    stranger = await make_user()
    closed_id, _ = await make_client("Closed Co")
    await set_status(closed_id, "Closed", actor=ADMIN)
    disabled = await make_user()
    await User.update({User.disabled: True}).where(User.id == disabled["id"])
    for params, text in (
        ({}, "A valid client_id or user_id is required"),
        ({"client_id": "", "user_id": ""}, "A valid client_id or user_id is required"),
        ({"client_id": 999999}, "Invalid client_id"),
        ({"client_id": "12abc"}, "Invalid client_id"),
        ({"client_id": "9" * 40}, "Invalid client_id"),
        ({"user_id": 999999}, "Invalid user_id"),
        ({"client_id": client_id, "user_id": 999999}, "Invalid user_id"),
        ({"client_id": client_id, "user_id": stranger["id"]}, "Invalid user_id for client"),
        ({"client_id": client_id, "destination": "clientarea:services"}, "Invalid destination"),
        ({"client_id": client_id, "destination": "nowhere"}, "Invalid destination"),
        ({"client_id": client_id, "destination": "sso:custom_redirect"}, "Invalid destination"),
        ({"client_id": closed_id}, f"SSO authentication blocked for client {closed_id}"),
        (
            {"user_id": disabled["id"]},
            "Token could not be provisioned: This user's login is disabled.",
        ),
    ):
        assert error_of(api, "CreateSsoToken", **params) == text, params
    assert await SsoToken.count() == 0


OPEN_REDIRECTS = [
    "//evil.example",
    "https://evil.example",
    "/\\evil",
    "\\\\evil.example",
    "/\\/evil.example",
    "http:/evil.example",
    "javascript:alert(1)",
    "/\t/evil.example",
    "/ /evil.example",
    "/\x00",
    "/ünï",
    "/" + "a" * 500,
]


async def test_a_custom_redirect_is_a_path_on_this_site_and_never_another(api, tokens_made):
    client_id, _ = await make_client()
    for path in OPEN_REDIRECTS:
        assert (
            error_of(
                api,
                "CreateSsoToken",
                client_id=client_id,
                destination="sso:custom_redirect",
                sso_redirect_path=path,
            )
            == "Invalid destination"
        ), path
    assert await SsoToken.count() == 0
    for sent, lands in (
        ("/account/security", "/account/security"),
        ("account/profile?tab=contact", "/account/profile?tab=contact"),  # from the site's root
    ):
        url = link_for(
            api,
            tokens_made,
            client_id=client_id,
            destination="SSO:Custom_Redirect",
            sso_redirect_path=sent,
        )
        async with second_browser() as browser:
            assert (await browser.get(url)).headers["location"] == lands


async def test_a_support_operator_may_not_make_links(support_api):
    client_id, _ = await make_client()
    with pytest.raises(exceptions.MissingPermission) as raised:
        support_api.call("CreateSsoToken", client_id=client_id)
    assert str(raised.value) == 'Invalid Permissions: API action "createssotoken" is not allowed'
    assert await SsoToken.count() == 0


async def test_zz_the_token_is_kept_only_as_its_hash_and_never_logged(api, server, tokens_made):
    """Runs last in the module: a link used on the server itself, then its whole output."""
    import httpx

    client_id, _ = await make_client()
    answer = api.call("CreateSsoToken", client_id=client_id)
    token = answer["access_token"]
    tokens_made.append(token)
    [row] = await SsoToken.select()
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(row) and token not in str(await ActivityEntry.select())
    path = answer["redirect_url"].removeprefix("http://testserver.local")
    async with httpx.AsyncClient() as client:
        used = await client.get(f"{server.url}{path}")
    assert used.status_code == 303 and "roster_session" in used.cookies
    output = server.log_tail(100000)
    assert "/oauth/singlesignon.php?access_token=[redacted]" in output
    assert len(tokens_made) > 10
    assert not [t for t in tokens_made if t in output]
