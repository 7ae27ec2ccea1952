"""Sign in with Roster in a real browser, with an independent relying party: a small web app of
its own (http.server on 127.0.0.1, Authlib's OAuth 2 client, joserfc) registered through
/api/v1/apps. In Chromium the person clicks Sign in on the app, logs in on the real `roster
serve` (password; then with the two-factor code step), reads the consent page naming the app
and what it will see, clicks Allow and lands on the app's callback, which exchanged the code with
PKCE (S256), verified the ID token against the published JWKS and read userinfo with
roster.accounts. Then the app refreshes (new tokens; the replaced refresh token refused) and logs
out through end_session_endpoint, which ends the Roster session too. The two-factor case also
revokes the app under Security → Connected apps, which ends its tokens."""

import html
import json
import os
import secrets
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from conftest import ADMIN_EMAIL, OWNER_PASSWORD, confirm, free_port
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import Page, expect
from test_apps import assert_accessible
from test_two_factor import enrol

# The relying party talks plain http to Roster on this machine, as development allows.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

SCOPE = "openid profile email roster.accounts"
APP_NAME = "Helpdesk (e2e relying party)"
TIMEOUT = 15_000  # ms, for each expectation


class RelyingParty:
    """The app that signs people in with Roster: / (a Sign in link), /login (to Roster's
    authorization endpoint), /callback (code exchange, ID token checked, userinfo), /refresh,
    /logout (to Roster's end_session_endpoint) and /logged-out. What it received is kept on the
    object for the test to check."""

    def __init__(self, roster_url: str) -> None:
        self.roster_url = roster_url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.client_id = self.client_secret = ""
        self.config: dict = {}
        self.pending: dict[str, tuple[str, str]] = {}  # state -> (code_verifier, nonce)
        self.token: dict = {}
        self.claims: dict = {}
        self.userinfo: dict = {}
        self.replaced_refresh_token = ""
        self.logged_out_state = ""
        self.errors: list[str] = []
        rp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                route = {
                    "/": rp.home,
                    "/login": rp.login,
                    "/callback": rp.callback,
                    "/refresh": rp.refresh,
                    "/logout": rp.logout,
                    "/logged-out": rp.logged_out,
                }.get(parts.path)
                try:
                    status, headers, body = route(query) if route else (404, {}, "Not found")
                except Exception:  # shown to the test, which fails on it
                    rp.errors.append(traceback.format_exc())
                    status, headers, body = 500, {}, f"<pre>{html.escape(rp.errors[-1])}</pre>"
                data = body.encode()
                self.send_response(status)
                for name, value in {"Content-Type": "text/html; charset=utf-8", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> None:
        self.config = httpx.get(f"{self.roster_url}/.well-known/openid-configuration").json()
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def oauth(self, **options) -> OAuth2Client:
        return OAuth2Client(
            client_id=self.client_id,
            client_secret=self.client_secret,
            scope=SCOPE,
            redirect_uri=f"{self.base}/callback",
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",
            timeout=10,
            **options,
        )

    @staticmethod
    def page(title: str, body: str = "") -> tuple[int, dict, str]:
        return (
            200,
            {},
            f"<!doctype html><html lang=en><title>{html.escape(title)}</title>"
            f"<h1>{html.escape(title)}</h1>{body}",
        )

    @staticmethod
    def to(url: str) -> tuple[int, dict, str]:
        return 302, {"Location": url}, ""

    # Routes.

    def home(self, _query: dict):
        return self.page("Helpdesk", '<a href="/login">Sign in with Roster</a>')

    def login(self, _query: dict):
        verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
        with self.oauth() as client:
            url, state = client.create_authorization_url(
                self.config["authorization_endpoint"], code_verifier=verifier, nonce=nonce
            )
        self.pending[state] = (verifier, nonce)
        return self.to(url)

    def callback(self, query: dict):
        if "error" in query:
            return self.page(f"Refused: {query['error']}")
        verifier, nonce = self.pending.pop(query["state"])
        with self.oauth(state=query["state"]) as client:
            self.token = client.fetch_token(
                self.config["token_endpoint"],
                authorization_response=f"{self.base}/callback?{urlencode(query)}",
                code_verifier=verifier,
            )
            self.claims = self.verified(self.token["id_token"], nonce)
            self.userinfo = client.get(self.config["userinfo_endpoint"]).json()
        assert self.userinfo["sub"] == self.claims["sub"]
        return self.signed_in_page("Signed in")

    def refresh(self, _query: dict):
        old, id_token = self.token["refresh_token"], self.id_token
        with self.oauth(token=self.token) as client:
            self.token = client.refresh_token(self.config["token_endpoint"], refresh_token=old)
            self.userinfo = client.get(self.config["userinfo_endpoint"]).json()
        self.token.setdefault("id_token", id_token)  # a refresh need not bring a new one
        self.replaced_refresh_token = old
        return self.signed_in_page("Tokens refreshed")

    def logout(self, _query: dict):
        params = {
            "id_token_hint": self.id_token,
            "post_logout_redirect_uri": f"{self.base}/logged-out",
            "state": "bye-" + secrets.token_hex(4),
        }
        return self.to(f"{self.config['end_session_endpoint']}?{urlencode(params)}")

    def logged_out(self, query: dict):
        self.logged_out_state = query.get("state", "")
        return self.page("Signed out", '<a href="/login">Sign in with Roster</a>')

    # What the callback checks and shows.

    @property
    def id_token(self) -> str:
        return self.token["id_token"]

    def verified(self, id_token: str, nonce: str) -> dict:
        """The ID token's claims, once its signature (a key of the JWKS), issuer, audience,
        nonce and expiry check out."""
        published = KeySet.import_key_set(httpx.get(self.config["jwks_uri"], timeout=10).json())
        token = jwt.decode(id_token, published, algorithms=["RS256", "ES256"])
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.config["issuer"]},
            aud={"essential": True, "value": self.client_id},
            nonce={"essential": True, "value": nonce},
            sub={"essential": True},
            exp={"essential": True},
        ).validate(token.claims)
        return token.claims

    def signed_in_page(self, title: str):
        accounts = "".join(
            f"<li>{html.escape(a['name'])}{' (owner)' if a['owner'] else ''}</li>"
            for a in self.userinfo.get("roster.accounts", [])
        )
        return self.page(
            title,
            f"<p id=who>{html.escape(self.userinfo.get('name', ''))}</p>"
            f"<h2>Your accounts</h2><ul id=accounts>{accounts}</ul>"
            '<p><a href="/refresh">Refresh tokens</a> <a href="/logout">Log out</a></p>',
        )


@pytest.fixture(scope="module")
def rp(server, roster):
    party = RelyingParty(server)
    made = json.loads(
        roster("create-api-credential", "--email", ADMIN_EMAIL, "--description", "e2e oidc")
    )
    created = httpx.post(
        f"{server}/api/v1/apps",
        json={
            "name": APP_NAME,
            "redirect_uris": [f"{party.base}/callback"],
            "post_logout_redirect_uris": [f"{party.base}/logged-out"],
        },
        headers={"Authorization": f"Bearer {made['identifier']}:{made['secret']}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    party.client_id = created.json()["client_id"]
    party.client_secret = created.json()["client_secret"]
    party.start()
    yield party
    party.stop()


def token_call(rp: RelyingParty, **data) -> httpx.Response:
    return httpx.post(
        rp.config["token_endpoint"], data=data, auth=(rp.client_id, rp.client_secret), timeout=10
    )


def userinfo_status(rp: RelyingParty, access_token: str) -> int:
    return httpx.get(
        rp.config["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    ).status_code


def sign_in_on_roster(page: Page, rp: RelyingParty, email: str) -> None:
    """From the app's Sign in link to Roster's login page, and the password typed there."""
    page.goto(rp.base)
    page.get_by_role("link", name="Sign in with Roster").click()
    expect(page.get_by_role("heading", name="Login")).to_be_visible(timeout=TIMEOUT)
    page.get_by_label("Email Address").fill(email)
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Login").click()


def allow_on_consent_page(page: Page, rp: RelyingParty, company: str, name: str, email: str):
    expect(page.get_by_role("heading", name=f"Sign in to {APP_NAME}")).to_be_visible(
        timeout=TIMEOUT
    )
    seen = page.locator(".consent-list")
    expect(seen).to_contain_text(f"your name: {name}")
    expect(seen).to_contain_text(f"your email address: {email}")
    expect(seen).to_contain_text("the accounts you can reach")
    expect(seen).to_contain_text(company)
    page.get_by_role("button", name="Allow", exact=True).click()
    expect(page.get_by_role("heading", name="Signed in")).to_be_visible(timeout=TIMEOUT)
    assert page.url.startswith(f"{rp.base}/callback?")
    assert not rp.errors, rp.errors
    expect(page.locator("#who")).to_have_text(name)
    expect(page.locator("#accounts")).to_contain_text(f"{company} (owner)")


def refresh_and_log_out(page: Page, rp: RelyingParty, base_url: str) -> None:
    first = dict(rp.token)
    page.get_by_role("link", name="Refresh tokens").click()
    expect(page.get_by_role("heading", name="Tokens refreshed")).to_be_visible(timeout=TIMEOUT)
    assert not rp.errors, rp.errors
    assert rp.token["refresh_token"] != first["refresh_token"]
    assert rp.token["access_token"] != first["access_token"]
    assert userinfo_status(rp, rp.token["access_token"]) == 200
    assert userinfo_status(rp, first["access_token"]) == 401  # replaced

    page.get_by_role("link", name="Log out").click()
    expect(page.get_by_role("heading", name="Signed out")).to_be_visible(timeout=TIMEOUT)
    assert page.url.startswith(f"{rp.base}/logged-out?") and rp.logged_out_state.startswith("bye-")
    page.goto(f"{base_url}/account")
    expect(page.get_by_role("heading", name="Login")).to_be_visible(timeout=TIMEOUT)

    replaced = token_call(rp, grant_type="refresh_token", refresh_token=rp.replaced_refresh_token)
    assert replaced.status_code == 400 and replaced.json()["error"] == "invalid_grant"


def test_a_relying_party_signs_a_person_in_refreshes_and_logs_out(page: Page, base_url, roster, rp):
    email = "rita.oidc@e2e.example"
    client_id = roster.create_client("Party Supplies Ltd", email, "Rita", "Party")
    sign_in_on_roster(page, rp, email)
    allow_on_consent_page(page, rp, "Party Supplies Ltd", "Rita Party", email)
    assert rp.claims["email"] == email and rp.claims["name"] == "Rita Party"
    [account] = rp.userinfo["roster.accounts"]
    assert account["id"] == client_id and account["owner"] is True

    # Roster, in another tab: the app is listed under Security → Connected apps.
    roster_tab = page.context.new_page()
    roster_tab.goto(f"{base_url}/account/security")
    listed = roster_tab.locator("#security-apps").get_by_role("row", name=APP_NAME)
    expect(listed).to_contain_text("the accounts you can reach", timeout=TIMEOUT)
    roster_tab.close()

    refresh_and_log_out(page, rp, base_url)


def test_with_two_factor_the_code_step_comes_before_consent_and_revoke_ends_the_tokens(
    page: Page, base_url, roster, rp
):
    email = "tom.oidc@e2e.example"
    roster.create_client("Two Step Co", email, "Tom", "Steps")
    # Two-factor enabled first, from the Security page; then signed out.
    page.goto(f"{base_url}/login")
    page.get_by_label("Email Address").fill(email)
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Login").click()
    page.wait_for_url(lambda url: not url.endswith("/login"))
    page.goto(f"{base_url}/account/security")
    totp, _codes = enrol(page, set())
    page.context.clear_cookies()

    sign_in_on_roster(page, rp, email)
    expect(page.get_by_role("heading", name="Two-Factor Authentication")).to_be_visible(
        timeout=TIMEOUT
    )
    # The next step's code: later than the one enrolment used, within the accepted window.
    page.get_by_label("Authentication Code").fill(totp.at(time.time() + totp.interval))
    page.get_by_role("button", name="Continue").click()
    allow_on_consent_page(page, rp, "Two Step Co", "Tom Steps", email)

    # Security → Connected apps: Revoke (confirmed) ends the app's tokens for Tom.
    page.goto(f"{base_url}/account/security")
    row = page.locator("#security-apps").get_by_role("row", name=APP_NAME)
    expect(row).to_contain_text("Who you are at Roster, your name, your email address")
    assert_accessible(page)
    row.get_by_role("button", name=f"Revoke {APP_NAME}").click()
    confirm(page, "Revoke")
    expect(page.locator("#security-apps")).to_contain_text(
        "No apps can sign you in yet.", timeout=TIMEOUT
    )
    expect(page.locator("#flash")).to_contain_text(f"{APP_NAME} can no longer sign you in")
    assert userinfo_status(rp, rp.token["access_token"]) == 401
    refused = token_call(rp, grant_type="refresh_token", refresh_token=rp.token["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"

    # The next sign-in asks again; allowed, the app refreshes and logs out.
    page.goto(rp.base)
    page.get_by_role("link", name="Sign in with Roster").click()
    allow_on_consent_page(page, rp, "Two Step Co", "Tom Steps", email)
    refresh_and_log_out(page, rp, base_url)
