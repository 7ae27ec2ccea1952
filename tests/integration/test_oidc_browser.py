"""What a real browser needs of the authorization endpoint beyond the protocol: the consent
page's CSP lets its form go to the app (the browser checks form-action on the redirect that Allow
and Deny answer with; Roster's own policy allows only 'self'), and an htmx request for the
endpoint (the login form's HX-Location) is made a whole-page navigation, so the consent page is a
document of its own and a redirect to the app is never a cross-origin fetch."""

import httpx
import pytest

from app.domain.activity.services import Actor
from app.http.oauth.flow import consent_policy
from app.http.plumbing.middleware import CONTENT_SECURITY_POLICY
from tests.factories import make_client
from tests.integration.test_oidc_flow import (
    app_transport,
    full_administrator,
    register,
    relying_party,
    start,
)


@pytest.fixture
async def manager() -> Actor:
    return await full_administrator()


@pytest.fixture
def asgi() -> httpx.ASGITransport:
    return app_transport()


def form_action(policy: str) -> str:
    return next(d.strip() for d in policy.split(";") if d.strip().startswith("form-action"))


async def test_the_consent_page_lets_its_form_go_to_the_apps_redirect_uri(http, asgi, manager):
    _, owner = await make_client()
    made = await register(manager)
    await http.login(owner["email"])
    async with relying_party(asgi, made) as rp:
        authorize, _, _ = await start(rp)
    shown = await http.get(authorize)
    assert shown.status_code == 200 and "Allow" in shown.text
    policy = shown.headers["content-security-policy"]
    assert form_action(policy) == "form-action 'self' https://rp.example.com"
    assert policy.replace(" https://rp.example.com", "") == CONTENT_SECURITY_POLICY
    # Every other page keeps Roster's own policy.
    assert (await http.get("/account/security")).headers[
        "content-security-policy"
    ] == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    ("uri", "allowed"),
    [
        ("https://rp.example.com/callback", "https://rp.example.com"),
        ("https://rp.example.com:8443/cb?x=1", "https://rp.example.com:8443"),
        ("http://127.0.0.1:5000/callback", "http://127.0.0.1:5000"),
        ("http://[::1]:5000/callback", "http://[::1]:5000"),
        ("https://user@rp.example.com/cb", "https://rp.example.com"),
    ],
)
def test_the_consent_policy_names_the_redirect_uris_origin(uri, allowed):
    assert form_action(consent_policy(uri)) == f"form-action 'self' {allowed}"


@pytest.mark.parametrize("uri", ["", "javascript:alert(1)", "https://a;b.example/"])
def test_anything_else_keeps_roster_s_own_policy(uri):
    assert consent_policy(uri) == CONTENT_SECURITY_POLICY


async def test_an_htmx_request_for_the_endpoint_is_made_a_whole_page_navigation(
    http, asgi, manager
):
    _, owner = await make_client()
    made = await register(manager, first_party=True)
    await http.login(owner["email"])
    async with relying_party(asgi, made) as rp:
        authorize, _, _ = await start(rp)
    answered = await http.get(authorize, headers={"HX-Request": "true"})
    assert answered.status_code == 200 and answered.headers["hx-redirect"] == authorize
    assert "location" not in answered.headers
    # The navigation itself goes on to the app.
    assert (await http.get(authorize)).status_code == 302
