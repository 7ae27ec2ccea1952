"""Security → Connected apps: the apps a user allowed to sign them in with Roster (what each may
see, when it was allowed, when it last got tokens), and Revoke, which forgets the consent and
ends the app's tokens for that user at once (userinfo refused, refresh refused, a code not yet
exchanged refused), so the next sign-in asks again. Someone else's consent is not found; the
action needs the CSRF token; htmx gets the section in place, a plain post the page again."""

import httpx
import pytest

from app.domain.activity.services import Actor, entries
from app.domain.oauth import grants
from app.schema.oauth import OAuthConsent, OAuthToken
from tests.factories import make_client
from tests.integration.conftest import message_texts, page, text_of
from tests.integration.test_oidc_flow import (
    _exchange,
    app_transport,
    callback_params,
    consent,
    full_administrator,
    register,
    relying_party,
    start,
)
from tests.integration.test_oidc_tokens import _refresh, _userinfo

HTMX = {"HX-Request": "true"}


@pytest.fixture
async def manager() -> Actor:
    return await full_administrator()


@pytest.fixture
def asgi() -> httpx.ASGITransport:
    return app_transport()


async def _allowed(http, asgi, made) -> dict:
    """The signed-in user allows the app on its consent page; the app exchanges the code."""
    async with relying_party(asgi, made) as rp:
        authorize, verifier, _ = await start(rp)
        code = callback_params(await consent(http, authorize, "allow"))["code"]
    answer = await _exchange(asgi, made, code, verifier)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def _consent_id(user_id: int) -> int:
    row = await OAuthConsent.select(OAuthConsent.id).where(OAuthConsent.user == user_id).first()
    return row["id"]


async def test_the_section_lists_the_allowed_apps_and_says_so_when_there_are_none(
    http, asgi, manager
):
    _, owner = await make_client(owner_email="olivia@example.com")
    await http.login(owner["email"])
    empty = await http.get("/account/security")
    assert empty.status_code == 200
    section = page(empty).find(id="security-apps")
    assert section.find("h2").get_text(strip=True) == "Connected apps"
    assert "No apps can sign you in yet." in section.get_text(" ")

    made = await register(manager, name="Billing Desk")
    limited = await register(manager, name="aardvark Tickets", allowed_scopes=["email"])
    await _allowed(http, asgi, made)
    async with relying_party(asgi, limited) as rp:
        authorize, _, _ = await start(rp, scope="openid email")
        assert "code" in callback_params(await consent(http, authorize, "allow"))  # never used

    shown = page(await http.get("/account/security")).find(id="security-apps")
    rows = shown.select("tbody tr")
    assert [row.find("strong").get_text() for row in rows] == ["aardvark Tickets", "Billing Desk"]
    first, second = (" ".join(row.get_text(" ").split()) for row in rows)
    assert "Who you are at Roster and your email address" in first and "Never" in first
    assert (
        "Who you are at Roster, your name, your email address and the accounts you can reach "
        "and your permissions in each" in second
    )
    assert "Never" not in second  # it got tokens: when is shown
    assert rows[1].select("time")[1]["datetime"]
    button = rows[1].find("button")
    assert button.get_text(strip=True) == "Revoke" and button["aria-label"] == "Revoke Billing Desk"
    form = rows[1].find("form")
    assert form["data-confirm-action"] == "Revoke" and "Billing Desk" in form["hx-confirm"]
    assert form["action"] == form["hx-post"] and form.find("input", {"name": "_csrf_token"})

    listed = await grants.connected_apps(owner["id"])
    assert [row["name"] for row in listed] == ["aardvark Tickets", "Billing Desk"]
    assert listed[0]["last_used_at"] is None and listed[1]["last_used_at"] is not None


async def test_staff_have_no_connected_apps_section(http, manager):
    await http.login("ada@example.com", "admin-passphrase-77", path="/admin/login")
    shown = await http.get("/admin/security")
    assert shown.status_code == 200 and page(shown).find(id="security-apps") is None


async def test_revoke_ends_the_apps_tokens_and_the_next_sign_in_asks_again(http, asgi, manager):
    _, owner = await make_client()
    made = await register(manager)
    other = await register(manager, name="Other Desk")
    await http.login(owner["email"])
    tokens = await _allowed(http, asgi, made)
    kept = await _allowed(http, asgi, other)
    assert (await _userinfo(asgi, tokens["access_token"])).status_code == 200
    # A sign-in under way: a code given, not yet exchanged.
    async with relying_party(asgi, made) as rp:
        authorize, pending_verifier, _ = await start(rp)
        pending = callback_params(await http.get(authorize))["code"]
    consent_id = (
        await OAuthConsent.select(OAuthConsent.id)
        .where((OAuthConsent.user == owner["id"]) & (OAuthConsent.app.name == "Billing Desk"))
        .first()
    )["id"]

    revoked = await http.post(f"/account/security/apps/{consent_id}/revoke", headers=HTMX)
    assert revoked.status_code == 200, revoked.text
    said = message_texts(revoked)
    assert said == ["Billing Desk can no longer sign you in or read your details."]
    section = page(revoked).find(id="security-apps")
    assert section is not None and "Billing Desk" not in section.get_text()
    assert "Other Desk" in section.get_text()

    assert (await _userinfo(asgi, tokens["access_token"])).status_code == 401
    refused = await _refresh(asgi, made, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    late = await _exchange(asgi, made, pending, pending_verifier)
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"
    assert (
        await OAuthToken.count().where(
            (OAuthToken.app == made.app_id) & OAuthToken.revoked_at.is_null()
        )
        == 0
    )
    # The other app is untouched.
    assert (await _userinfo(asgi, kept["access_token"])).status_code == 200
    assert (await _refresh(asgi, other, kept["refresh_token"])).status_code == 200

    # The next sign-in shows the consent page again.
    async with relying_party(asgi, made) as rp:
        authorize, _, _ = await start(rp)
        again = await http.get(authorize)
    assert again.status_code == 200 and "Allow" in text_of(again)

    _, logged = await entries()
    revoked_entries = [e for e in logged if e["action"] == "oauth.consent_revoked"]
    assert len(revoked_entries) == 1
    assert "Billing Desk" in revoked_entries[0]["description"]


async def test_a_plain_post_goes_back_to_the_page_which_confirms(http, asgi, manager):
    _, owner = await make_client()
    made = await register(manager)
    await http.login(owner["email"])
    await _allowed(http, asgi, made)
    response = await http.post(f"/account/security/apps/{await _consent_id(owner['id'])}/revoke")
    assert response.status_code == 303
    assert response.headers["location"] == "/account/security?done=revoked"
    shown = await http.get(response.headers["location"])
    assert "Access revoked: that app can no longer sign you in" in " ".join(message_texts(shown))
    assert "No apps can sign you in yet." in text_of(shown)
    assert await OAuthConsent.count() == 0


async def test_someone_elses_consent_is_not_found_and_stays(http, asgi, manager):
    _, owner = await make_client(owner_email="olivia@example.com")
    _, other = await make_client("Beta Builders", owner_email="bob@example.com")
    made = await register(manager)
    await http.login(other["email"])
    others_tokens = await _allowed(http, asgi, made)
    others_consent = await _consent_id(other["id"])
    http.cookies.clear()
    await http.login(owner["email"])
    for consent_id in (others_consent, others_consent + 1000):
        response = await http.post(f"/account/security/apps/{consent_id}/revoke", headers=HTMX)
        assert response.status_code == 404, response.text
    assert await OAuthConsent.count().where(OAuthConsent.user == other["id"]) == 1
    assert (await _userinfo(asgi, others_tokens["access_token"])).status_code == 200
    _, logged = await entries()
    assert "oauth.consent_revoked" not in {e["action"] for e in logged}


async def test_revoke_needs_the_csrf_token_and_a_signed_in_user(http, asgi, manager):
    _, owner = await make_client()
    made = await register(manager)
    await http.login(owner["email"])
    await _allowed(http, asgi, made)
    url = f"/account/security/apps/{await _consent_id(owner['id'])}/revoke"
    refused = await http.post(url, csrf=False)
    assert refused.status_code == 403
    assert await OAuthConsent.count() == 1
    http.cookies.clear()
    signed_out = await http.post(url)
    assert signed_out.status_code in (303, 401) and await OAuthConsent.count() == 1
