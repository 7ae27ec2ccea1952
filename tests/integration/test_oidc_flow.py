"""Sign in with Roster, end to end against the app: an independent relying party (Authlib's own
OAuth 2 client) sends a person through the authorization code flow with PKCE, Roster's real
login form (and its two-factor code step), the consent page, the callback; it exchanges the code,
verifies the ID token against the published JWKS with joserfc and reads userinfo. Then each
refusal the provider owes: a redirect URI not registered exactly, a missing or wrong PKCE
verifier, an expired code, another client's code, a code used twice (its tokens revoked), a
replayed nonce, Deny."""

import asyncio
import contextlib
import re
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet

from app.core import clock
from app.domain.access import services as access
from app.domain.activity.services import Actor, entries
from app.domain.oauth import apps, grants
from app.domain.staff.services import create_admin
from app.http.plumbing.middleware import SESSION_COOKIE
from app.schema.oauth import OAuthToken
from tests.factories import ADMIN, PASSWORD, make_client, make_user
from tests.integration.conftest import app_for_tests, page, text_of
from tests.integration.test_two_factor import code as totp_code
from tests.integration.test_two_factor import user_with_two_factor

BASE = "http://testserver.local"
CALLBACK = "https://rp.example.com/callback"
SCOPE = "openid profile email roster.accounts"


async def full_administrator() -> Actor:
    staff_id = await create_admin(
        email="ada@example.com",
        password="admin-passphrase-77",
        name="Ada",
        role="full",
        actor=Actor("system"),
    )
    return Actor("admin", staff_id, "Ada", "127.0.0.1")


def app_transport() -> httpx.ASGITransport:

    return httpx.ASGITransport(app=app_for_tests())


@pytest.fixture
async def manager() -> Actor:
    return await full_administrator()


@pytest.fixture
def asgi() -> httpx.ASGITransport:
    return app_transport()


async def register(manager, **options) -> apps.NewApp:
    values = {"name": "Billing Desk", "redirect_uris": [CALLBACK]} | options
    return await apps.create_app(**values, actor=manager)


def relying_party(asgi, made: apps.NewApp, **options) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=made.client_id,
        client_secret=made.client_secret,
        scope=SCOPE,
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic" if made.client_secret else "none",
        transport=asgi,
        base_url=BASE,
        **options,
    )


async def start(rp: AsyncOAuth2Client, **params) -> tuple[str, str, str]:
    """The authorization URL (as a local path), its code_verifier and nonce."""
    verifier = secrets.token_urlsafe(48)
    nonce = params.pop("nonce", None) or secrets.token_urlsafe(16)
    url, _state = rp.create_authorization_url(
        f"{BASE}/oauth/authorize", code_verifier=verifier, nonce=nonce, **params
    )
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}", verifier, nonce


def callback_params(response) -> dict[str, str]:
    location = response.headers["location"]
    assert location.startswith(CALLBACK + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def onward(login: httpx.Response) -> str:
    """Where a login made without JavaScript for an app's sign-in goes on to: a page that
    navigates there (meta refresh, and a Continue link), not a redirect, which the login
    page's CSP (form-action 'self') would stop at the app's address."""
    assert login.status_code == 200, login.status_code
    assert SESSION_COOKIE in login.headers.get("set-cookie", "")
    refresh = page(login).find("meta", {"http-equiv": "refresh"})["content"]
    url = refresh.split("url=", 1)[1]
    assert page(login).find("a", string=re.compile("Continue"))["href"] == url
    return url


async def sign_in_and_allow(http, authorize: str, email: str) -> httpx.Response:
    """Through the real pages: the authorize URL sends to /login, the login returns to it,
    the consent page's Allow sends back to the app."""
    first = await http.get(authorize)
    assert first.status_code == 303 and first.headers["location"].startswith("/login?next=")
    login_page = await http.get(first.headers["location"])
    carried = page(login_page).find("input", {"name": "next"})["value"]
    assert carried == authorize
    logged_in = await http.post("/login", {"email": email, "password": PASSWORD, "next": carried})
    assert onward(logged_in) == authorize
    return await consent(http, authorize, "allow")


async def consent(http, authorize: str, decision: str) -> httpx.Response:
    shown = await http.get(authorize)
    assert shown.status_code == 200, shown.text
    form = page(shown).find("form", {"action": "/oauth/authorize"})
    fields = {i["name"]: i.get("value", "") for i in form.find_all("input")}
    fields.pop("_csrf_token", None)
    return await http.post("/oauth/authorize", {**fields, "decision": decision})


async def verified_id_token(asgi, id_token: str, client_id: str, nonce: str) -> dict:
    async with httpx.AsyncClient(transport=asgi, base_url=BASE) as plain:
        published = KeySet.import_key_set((await plain.get("/oauth/jwks")).json())
    token = jwt.decode(id_token, published, algorithms=["RS256", "ES256"])
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": BASE},
        aud={"essential": True, "value": client_id},
        nonce={"essential": True, "value": nonce},
        sub={"essential": True},
        exp={"essential": True},
    )
    registry.validate(token.claims)
    assert token.header["kid"] in {key.kid for key in published.keys}
    return token.claims


async def test_a_relying_party_signs_a_person_in_with_pkce_consent_and_a_verified_id_token(
    http, asgi, manager
):
    client_id, owner = await make_client("Acme Hosting", owner_email="olivia@example.com")
    other_id, other_owner = await make_client("Beta Builders")
    await access.grant_access(other_id, owner["id"], ["tickets", "invoices"], actor=ADMIN)
    made = await register(manager, id_token_alg="ES256")
    async with relying_party(asgi, made) as rp:
        authorize, verifier, nonce = await start(rp, state="xyz-state")
        allowed = await sign_in_and_allow(http, authorize, "olivia@example.com")
        params = callback_params(allowed)
        assert params["state"] == "xyz-state" and params["code"]
        callback = f"{CALLBACK}?{urlencode(params)}"
        token = await rp.fetch_token(
            f"{BASE}/oauth/token", authorization_response=callback, code_verifier=verifier
        )
        assert token["token_type"].lower() == "bearer" and token["expires_in"] == 600
        assert token["refresh_token"]
        claims = await verified_id_token(asgi, token["id_token"], made.client_id, nonce)
        assert claims["sub"] == str(owner["id"])
        assert claims["email"] == "olivia@example.com" and claims["email_verified"] is False
        assert claims["exp"] - claims["iat"] == 600 and claims["auth_time"]

        got = await rp.get(f"{BASE}/oauth/userinfo")
        assert got.status_code == 200, got.text
        info = got.json()
        assert info["sub"] == str(owner["id"]) and info["given_name"] == "Olivia"
        listed = {a["id"]: a for a in info["roster.accounts"]}
        assert listed[client_id]["owner"] is True and listed[client_id]["name"] == "Acme Hosting"
        assert listed[other_id]["name"] == "Beta Builders"
        assert listed[other_id]["owner"] is False
        assert sorted(listed[other_id]["permissions"]) == ["invoices", "tickets"]

    # Consent is remembered per app and scopes: the next sign-in goes straight back.
    async with relying_party(asgi, made) as rp:
        authorize, _, _ = await start(rp)
        again = await http.get(authorize)
        assert again.status_code == 302 and callback_params(again)["code"]
    _, logged = await entries()
    actions = {entry["action"] for entry in logged}
    assert {"oauth.consent_given", "oauth.signed_in"} <= actions
    assert other_owner  # an account the user reaches without owning it


async def test_a_login_for_an_app_names_it_and_a_login_for_no_app_does_not(http, manager):
    from app.domain.oauth.apps import app_asking

    made = await register(manager, first_party=True)
    authorize = f"/oauth/authorize?client_id={made.client_id}&response_type=code"
    assert await app_asking(authorize) == "Billing Desk"
    for elsewhere in (
        f"https://evil.example/oauth/authorize?client_id={made.client_id}",
        f"/account?client_id={made.client_id}",
        "/oauth/authorize?client_id=app_unknown",
        "/oauth/authorize?client_id=" + "x" * 5000,
        None,
        "",
    ):
        assert await app_asking(elsewhere) is None, elsewhere
    plain = await http.get("/login")
    assert "Sign in to reach your client accounts." in plain.text
    await apps.set_enabled(made.app_id, False, actor=manager)
    assert await app_asking(authorize) is None


async def test_a_user_with_two_factor_goes_through_the_code_step_first(http, asgi, manager):
    owner, secret, _codes = await user_with_two_factor()
    made = await register(manager, first_party=True)
    async with relying_party(asgi, made) as rp:
        authorize, verifier, nonce = await start(rp)
        first = await http.get(authorize)
        login_page = await http.get(first.headers["location"])
        assert "Sign in to continue to " in page(login_page).get_text(" ", strip=True)
        assert page(login_page).find("strong", string="Billing Desk")
        carried = page(login_page).find("input", {"name": "next"})["value"]
        step = await http.post(
            "/login", {"email": owner["email"], "password": PASSWORD, "next": carried}
        )
        assert step.headers["location"] == "/login/code"
        assert (await http.get(authorize)).status_code == 303  # not signed in yet
        done = await http.post("/login/code", {"code": totp_code(secret, 1)})
        assert onward(done) == authorize
        back = await http.get(authorize)  # first-party: no consent page
        params = callback_params(back)
        token = await rp.fetch_token(
            f"{BASE}/oauth/token",
            authorization_response=f"{CALLBACK}?{urlencode(params)}",
            code_verifier=verifier,
        )
        claims = await verified_id_token(asgi, token["id_token"], made.client_id, nonce)
        assert claims["sub"] == str(owner["id"])


async def test_deny_sends_access_denied_back_to_the_app(http, asgi, manager):
    _, owner = await make_client()
    made = await register(manager)
    await http.login(owner["email"])
    async with relying_party(asgi, made) as rp:
        authorize, _, _ = await start(rp, state="s1")
        denied = await consent(http, authorize, "deny")
    params = callback_params(denied)
    assert params["error"] == "access_denied" and params["state"] == "s1" and "code" not in params


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://rp.example.com/callback/",
        "https://rp.example.com/callback?x=1",
        "https://evil.example.com/callback",
        "https://RP.example.com/callback",
    ],
)
async def test_a_redirect_uri_not_registered_exactly_gets_an_error_page_never_a_redirect(
    http, manager, redirect_uri
):
    _, owner = await make_client()
    made = await register(manager)
    await http.login(owner["email"])
    query = urlencode(
        {
            "response_type": "code",
            "client_id": made.client_id,
            "redirect_uri": redirect_uri,
            "scope": SCOPE,
            "state": "s",
        }
    )
    response = await http.get(f"/oauth/authorize?{query}")
    assert response.status_code == 400 and "location" not in response.headers
    assert "not one registered" in text_of(response)
    unknown = await http.get(f"/oauth/authorize?{query.replace(made.client_id, 'app_nobody')}")
    assert unknown.status_code == 400 and "location" not in unknown.headers


async def _code_for(http, rp, **params) -> tuple[str, str, str]:
    """A fresh code (first-party app, user signed in), its verifier and nonce."""
    authorize, verifier, nonce = await start(rp, **params)
    response = await http.get(authorize)
    return callback_params(response)["code"], verifier, nonce


async def _exchange(asgi, made, code: str, verifier: str | None, *, secret=None) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    if verifier is not None:
        data["code_verifier"] = verifier
    auth = (made.client_id, secret or made.client_secret) if made.client_secret else None
    if auth is None:
        data["client_id"] = made.client_id
    async with httpx.AsyncClient(transport=asgi, base_url=BASE) as plain:
        return await plain.post("/oauth/token", data=data, auth=auth)


async def test_a_missing_or_wrong_pkce_verifier_is_refused(http, asgi, manager):
    _, owner = await make_client()
    made = await register(manager, first_party=True, confidential=False)
    await http.login(owner["email"])
    async with relying_party(asgi, made) as rp:
        code, verifier, _ = await _code_for(http, rp)
        missing = await _exchange(asgi, made, code, None)
        assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
        code, verifier, _ = await _code_for(http, rp)
        other_verifier = secrets.token_urlsafe(48)
        wrong = await _exchange(asgi, made, code, other_verifier)
        assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
        code, verifier, _ = await _code_for(http, rp)
        right = await _exchange(asgi, made, code, verifier)
        assert right.status_code == 200 and right.headers["cache-control"] == "no-store"
    # A public app without PKCE is refused at the authorization request already.
    query = urlencode(
        {
            "response_type": "code",
            "client_id": made.client_id,
            "redirect_uri": CALLBACK,
            "scope": SCOPE,
        }
    )
    refused = await http.get(f"/oauth/authorize?{query}")
    assert refused.status_code == 302 and callback_params(refused)["error"] == "invalid_request"


async def test_an_expired_code_is_refused(http, asgi, manager, monkeypatch):
    _, owner = await make_client()
    made = await register(manager, first_party=True)
    await http.login(owner["email"])
    async with relying_party(asgi, made) as rp:
        code, verifier, _ = await _code_for(http, rp)
    later = clock.now() + timedelta(seconds=61)
    monkeypatch.setattr(clock, "now", lambda: later)
    expired = await _exchange(asgi, made, code, verifier)
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"


async def test_a_code_presented_by_another_client_is_refused(http, asgi, manager):
    _, owner = await make_client()
    made = await register(manager, first_party=True)
    other = await register(manager, name="Other", first_party=True)
    await http.login(owner["email"])
    async with relying_party(asgi, made) as rp:
        code, verifier, _ = await _code_for(http, rp)
    stolen = await _exchange(asgi, other, code, verifier)
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    wrong_secret = await _exchange(asgi, made, code, verifier, secret="appsec_wrong")
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"
    # Neither burnt the code: its own app still exchanges it.
    assert (await _exchange(asgi, made, code, verifier)).status_code == 200


async def test_a_code_used_twice_is_refused_and_the_tokens_from_it_are_revoked(http, asgi, manager):
    _, owner = await make_client()
    made = await register(manager, first_party=True)
    await http.login(owner["email"])
    async with relying_party(asgi, made) as rp:
        code, verifier, _ = await _code_for(http, rp)
    first = await _exchange(asgi, made, code, verifier)
    assert first.status_code == 200
    access_token = first.json()["access_token"]
    async with httpx.AsyncClient(transport=asgi, base_url=BASE) as plain:
        bearer = {"Authorization": f"Bearer {access_token}"}
        assert (await plain.get("/oauth/userinfo", headers=bearer)).status_code == 200
        again = await _exchange(asgi, made, code, verifier)
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text
        assert (await plain.get("/oauth/userinfo", headers=bearer)).status_code == 401
    assert await OAuthToken.count().where(OAuthToken.revoked_at.is_null()) == 0
    _, logged = await entries()
    assert "oauth.token_reuse_detected" in {entry["action"] for entry in logged}


@contextlib.asynccontextmanager
async def saving_held(monkeypatch):
    """While inside: the next tokens issued wait to be saved until the block ends (an exchange or
    refresh that has claimed its code or refresh token, not yet saved what it issued)."""
    original, reached, go = grants.save_tokens, asyncio.Event(), asyncio.Event()

    async def held(**kwargs):
        monkeypatch.setattr(grants, "save_tokens", original)
        reached.set()
        await go.wait()
        return await original(**kwargs)

    monkeypatch.setattr(grants, "save_tokens", held)
    try:
        yield reached
    finally:
        go.set()


async def test_a_code_presented_again_while_its_first_exchange_saves_its_tokens_revokes_them(
    http, asgi, manager, monkeypatch
):
    _, owner = await make_client()
    made = await register(manager, first_party=True)
    await http.login(owner["email"])
    async with relying_party(asgi, made) as rp:
        code, verifier, _ = await _code_for(http, rp)
    async with saving_held(monkeypatch) as reached:
        first = asyncio.create_task(_exchange(asgi, made, code, verifier))
        await reached.wait()  # the code claimed, its tokens issued, not yet saved
        again = await _exchange(asgi, made, code, verifier)
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    answer = await first
    assert answer.status_code == 200, answer.text
    async with httpx.AsyncClient(transport=asgi, base_url=BASE) as plain:
        bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        assert (await plain.get("/oauth/userinfo", headers=bearer)).status_code == 401
        refreshed = await plain.post(
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": answer.json()["refresh_token"]},
            auth=(made.client_id, made.client_secret),
        )
        assert refreshed.status_code == 400
    assert await OAuthToken.count().where(OAuthToken.revoked_at.is_null()) == 0


async def test_a_refresh_token_presented_again_while_its_rotation_saves_revokes_the_new_tokens(
    http, asgi, manager, monkeypatch
):
    _, owner = await make_client()
    made = await register(manager, first_party=True)
    await http.login(owner["email"])
    async with relying_party(asgi, made) as rp:
        code, verifier, _ = await _code_for(http, rp)
    refresh_token = (await _exchange(asgi, made, code, verifier)).json()["refresh_token"]
    async with httpx.AsyncClient(transport=asgi, base_url=BASE) as plain:

        async def refresh() -> httpx.Response:
            return await plain.post(
                "/oauth/token",
                data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                auth=(made.client_id, made.client_secret),
            )

        async with saving_held(monkeypatch) as reached:
            first = asyncio.create_task(refresh())
            await reached.wait()
            assert (await refresh()).status_code == 400
        answer = await first
        assert answer.status_code == 200, answer.text
        bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        assert (await plain.get("/oauth/userinfo", headers=bearer)).status_code == 401
    assert await OAuthToken.count().where(OAuthToken.revoked_at.is_null()) == 0


async def test_a_replayed_nonce_is_refused(http, asgi, manager):
    _, owner = await make_client()
    made = await register(manager, first_party=True)
    await http.login(owner["email"])
    async with relying_party(asgi, made) as rp:
        await _code_for(http, rp, nonce="the-same-nonce")
        authorize, _, _ = await start(rp, nonce="the-same-nonce")
        replayed = await http.get(authorize)
    assert replayed.status_code == 302
    params = callback_params(replayed)
    assert params["error"] == "invalid_request" and "code" not in params


async def test_staff_signed_in_are_not_the_subject_the_client_login_is(http, manager):
    made = await register(manager, first_party=True)
    await http.login("ada@example.com", "admin-passphrase-77", path="/admin/login")
    query = urlencode(
        {
            "response_type": "code",
            "client_id": made.client_id,
            "redirect_uri": CALLBACK,
            "scope": SCOPE,
        }
    )
    response = await http.get(f"/oauth/authorize?{query}")
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
    assert await make_user()  # nothing else changed


# prompt and max_age (OpenID Connect Core 3.1.2.1), as the conformance suite's
# oidcc-prompt-none-not-logged-in, oidcc-prompt-none-logged-in, oidcc-prompt-login and
# oidcc-max-age-1 / -10000 ask.


async def test_prompt_none_never_shows_a_page_the_app_hears_why(http, asgi, manager):
    _, owner = await make_client()
    made = await register(manager)
    async with relying_party(asgi, made) as rp:
        authorize, _, _ = await start(rp, state="quiet", prompt="none")
        params = callback_params(await http.get(authorize))  # not signed in
        assert params["error"] == "login_required" and params["state"] == "quiet"
        await http.login(owner["email"])
        params = callback_params(await http.get(authorize))  # signed in, never allowed
        assert params["error"] == "consent_required" and params["state"] == "quiet"
        allowed, _, _ = await start(rp)
        await consent(http, allowed, "allow")
        params = callback_params(await http.get(authorize))  # allowed before: a code
        assert "code" in params and params["state"] == "quiet"


async def test_an_unknown_app_gets_the_error_page_before_any_login(http, manager):
    query = urlencode({"response_type": "code", "client_id": "app_nobody", "scope": "openid"})
    response = await http.get(f"/oauth/authorize?{query}")
    assert response.status_code == 400 and "location" not in response.headers


async def test_prompt_login_ends_the_session_and_asks_for_a_login_once(http, asgi, manager):
    _, owner = await make_client()
    made = await register(manager, first_party=True)
    await http.login(owner["email"])
    async with relying_party(asgi, made) as rp:
        authorize, _, _ = await start(rp, prompt="login")
        again = await http.get(authorize)
        assert again.status_code == 303 and again.headers["location"].startswith("/login?next=")
        carried = parse_qs(urlsplit(again.headers["location"]).query)["next"][0]
        assert "prompt" not in parse_qs(urlsplit(carried).query)  # no loop after the login
        assert (await http.get("/account")).status_code == 303  # the old session is over
        logged_in = await http.post(
            "/login", {"email": owner["email"], "password": PASSWORD, "next": carried}
        )
        assert onward(logged_in) == carried
        assert "code" in callback_params(await http.get(carried))


async def test_max_age_asks_for_a_fresh_login_only_when_the_last_is_older(
    http, asgi, manager, monkeypatch
):
    from datetime import timedelta

    from app.core import clock

    _, owner = await make_client()
    made = await register(manager, first_party=True)
    await http.login(owner["email"])
    async with relying_party(asgi, made) as rp:
        recent, _, _ = await start(rp, max_age="10000")
        assert "code" in callback_params(await http.get(recent))
        later = clock.now() + timedelta(minutes=2)
        monkeypatch.setattr(clock, "now", lambda: later)
        silent, _, _ = await start(rp, max_age="60", prompt="none")
        assert callback_params(await http.get(silent))["error"] == "login_required"
        stale, _, _ = await start(rp, max_age="60")
        again = await http.get(stale)
        assert again.status_code == 303 and again.headers["location"].startswith("/login?next=")


async def test_a_login_with_htmx_for_an_app_goes_on_by_htmx_and_others_by_redirect(http, manager):
    _, owner = await make_client()
    made = await register(manager, first_party=True)
    authorize = f"/oauth/authorize?client_id={made.client_id}&response_type=code"
    fields = {"email": owner["email"], "password": PASSWORD, "next": authorize}
    with_htmx = await http.post("/login", fields, headers={"HX-Request": "true"})
    assert with_htmx.status_code == 200 and with_htmx.headers["hx-location"] == authorize
    await http.post("/logout", {})
    elsewhere = await http.post("/login", {**fields, "next": "/account/users"})
    assert elsewhere.status_code == 303 and elsewhere.headers["location"] == "/account/users"


async def test_client_secret_post_and_userinfo_by_post_with_the_bearer_header(http, asgi, manager):
    """oidcc-server-client-secret-post and oidcc-userinfo-post-header."""
    _, owner = await make_client()
    made = await register(manager, first_party=True)
    await http.login(owner["email"])
    async with relying_party(asgi, made) as rp:
        code, verifier, _ = await _code_for(http, rp)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
        "client_id": made.client_id,
        "client_secret": made.client_secret,
    }
    async with httpx.AsyncClient(transport=asgi, base_url=BASE) as plain:
        wrong = await plain.post("/oauth/token", data={**form, "client_secret": "nope"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
        answer = await plain.post("/oauth/token", data=form)
        assert answer.status_code == 200, answer.text
        bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        info = await plain.post("/oauth/userinfo", headers=bearer)
        assert info.status_code == 200 and info.json()["sub"] == str(owner["id"])
