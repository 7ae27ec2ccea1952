"""Sign in with Roster, after the sign-in: refresh tokens rotate (the one replaced is refused,
and presenting it again revokes the whole family), the claims are read afresh at refresh and at
userinfo (a removed grant no longer listed), tokens stop working when the user is disabled or
the app disabled or deleted, the revocation endpoint, and RP-initiated logout."""

import httpx
import pytest

from app.domain.access import services as access
from app.domain.activity.services import Actor, entries
from app.domain.oauth import apps
from app.domain.users import services as users
from app.http.plumbing.middleware import SESSION_COOKIE
from app.schema.oauth import OAuthToken
from app.schema.users import User
from tests.factories import ADMIN, make_client
from tests.integration.test_oidc_flow import (
    BASE,
    CALLBACK,
    _code_for,
    _exchange,
    app_transport,
    full_administrator,
    register,
    relying_party,
)


@pytest.fixture
async def manager() -> Actor:
    return await full_administrator()


@pytest.fixture
def asgi() -> httpx.ASGITransport:
    return app_transport()


async def _signed_in(http, asgi, made, owner) -> dict:
    await http.login(owner["email"])
    async with relying_party(asgi, made) as rp:
        code, verifier, _ = await _code_for(http, rp)
    answer = await _exchange(asgi, made, code, verifier)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def _refresh(asgi, made, refresh_token: str, *, secret=None) -> httpx.Response:
    async with httpx.AsyncClient(transport=asgi, base_url=BASE) as plain:
        return await plain.post(
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=(made.client_id, secret or made.client_secret),
        )


async def _userinfo(asgi, access_token: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=asgi, base_url=BASE) as plain:
        return await plain.get(
            "/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"}
        )


async def test_a_refresh_rotates_and_the_replaced_token_presented_again_revokes_the_family(
    http, asgi, manager
):
    _, owner = await make_client()
    made = await register(manager, first_party=True)
    first = await _signed_in(http, asgi, made, owner)
    refreshed = await _refresh(asgi, made, first["refresh_token"])
    assert refreshed.status_code == 200 and refreshed.headers["cache-control"] == "no-store"
    second = refreshed.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await _userinfo(asgi, second["access_token"])).status_code == 200
    assert (await _userinfo(asgi, first["access_token"])).status_code == 401  # replaced

    reused = await _refresh(asgi, made, first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # The whole family is over: the newest tokens too.
    assert (await _userinfo(asgi, second["access_token"])).status_code == 401
    assert (await _refresh(asgi, made, second["refresh_token"])).status_code == 400
    assert await OAuthToken.count().where(OAuthToken.revoked_at.is_null()) == 0
    _, logged = await entries()
    assert "oauth.token_reuse_detected" in {entry["action"] for entry in logged}


async def test_a_refresh_token_presented_by_another_client_is_refused_and_not_spent(
    http, asgi, manager
):
    _, owner = await make_client()
    made = await register(manager, first_party=True)
    other = await register(manager, name="Other", first_party=True)
    tokens = await _signed_in(http, asgi, made, owner)
    stolen = await _refresh(asgi, other, tokens["refresh_token"])
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    assert (await _refresh(asgi, made, tokens["refresh_token"])).status_code == 200


async def test_the_accounts_claim_drops_an_account_once_the_grant_is_removed(http, asgi, manager):
    _, owner = await make_client("Home")
    other_id, _ = await make_client("Elsewhere")
    await access.grant_access(other_id, owner["id"], ["tickets"], actor=ADMIN)
    made = await register(manager, first_party=True)
    tokens = await _signed_in(http, asgi, made, owner)
    listed = (await _userinfo(asgi, tokens["access_token"])).json()["roster.accounts"]
    assert other_id in {account["id"] for account in listed}
    await access.revoke_access(other_id, owner["id"], actor=ADMIN)
    refreshed = (await _refresh(asgi, made, tokens["refresh_token"])).json()
    listed = (await _userinfo(asgi, refreshed["access_token"])).json()["roster.accounts"]
    assert other_id not in {account["id"] for account in listed}
    assert [account["name"] for account in listed] == ["Home"]


@pytest.mark.parametrize("how", ["user disabled", "app disabled", "app deleted"])
async def test_tokens_stop_working_when_the_user_is_disabled_or_the_app_disabled_or_deleted(
    http, asgi, manager, how
):
    _, owner = await make_client()
    made = await register(manager, first_party=True)
    tokens = await _signed_in(http, asgi, made, owner)
    assert (await _userinfo(asgi, tokens["access_token"])).status_code == 200
    if how == "user disabled":
        await User.update({User.disabled: True}).where(User.id == owner["id"])
    elif how == "app disabled":
        await apps.set_enabled(made.app_id, False, actor=manager)
    else:
        await apps.delete_app(made.app_id, actor=manager)
    assert (await _userinfo(asgi, tokens["access_token"])).status_code == 401
    refused = await _refresh(asgi, made, tokens["refresh_token"])
    assert refused.status_code in (400, 401)
    if how == "app deleted":
        assert await OAuthToken.count() == 0
    assert users  # the user's own record is untouched by the app's


async def test_the_revocation_endpoint_ends_an_access_token_or_a_refresh_tokens_family(
    http, asgi, manager
):
    _, owner = await make_client()
    made = await register(manager, first_party=True)
    tokens = await _signed_in(http, asgi, made, owner)
    async with httpx.AsyncClient(transport=asgi, base_url=BASE) as plain:
        auth = (made.client_id, made.client_secret)
        done = await plain.post("/oauth/revoke", data={"token": tokens["access_token"]}, auth=auth)
        assert done.status_code == 200
        assert (await _userinfo(asgi, tokens["access_token"])).status_code == 401
        again = await _signed_in(http, asgi, made, owner)
        done = await plain.post(
            "/oauth/revoke",
            data={"token": again["refresh_token"], "token_type_hint": "refresh_token"},
            auth=auth,
        )
        assert done.status_code == 200
        assert (await _refresh(asgi, made, again["refresh_token"])).status_code == 400
        assert (await _userinfo(asgi, again["access_token"])).status_code == 401
        # An unknown token is answered the same (RFC 7009); a wrong secret is not.
        unknown = await plain.post("/oauth/revoke", data={"token": "nothing"}, auth=auth)
        assert unknown.status_code == 200
        wrong = await plain.post(
            "/oauth/revoke", data={"token": "x"}, auth=(made.client_id, "appsec_wrong")
        )
        assert wrong.status_code == 401


async def test_end_session_ends_the_roster_session_and_redirects_only_where_registered(
    http, asgi, manager
):
    _, owner = await make_client()
    made = await register(
        manager, first_party=True, post_logout_redirect_uris=["https://rp.example.com/bye"]
    )
    tokens = await _signed_in(http, asgi, made, owner)
    hint = tokens["id_token"]

    unregistered = await http.get(
        "/oauth/logout",
        params={"id_token_hint": hint, "post_logout_redirect_uri": "https://evil.example.com/"},
    )
    assert unregistered.status_code == 200 and "location" not in unregistered.headers
    assert (await http.get("/account")).status_code != 200  # the session ended anyway

    await http.login(owner["email"])
    assert (await http.get("/account")).status_code == 200
    without_hint = await http.get(
        "/oauth/logout", params={"post_logout_redirect_uri": "https://rp.example.com/bye"}
    )
    assert without_hint.status_code == 200 and "location" not in without_hint.headers
    assert (await http.get("/account")).status_code == 200  # asked, not done

    done = await http.get(
        "/oauth/logout",
        params={
            "id_token_hint": hint,
            "post_logout_redirect_uri": "https://rp.example.com/bye",
            "state": "st",
        },
    )
    assert done.status_code == 302
    assert done.headers["location"] == "https://rp.example.com/bye?state=st"
    assert SESSION_COOKIE not in http.cookies or not http.cookies.get(SESSION_COOKIE)
    assert (await http.get("/account")).status_code != 200
    assert CALLBACK  # the sign-in's callback was another URI


async def test_the_sweeper_forgets_codes_after_a_day_and_tokens_a_day_after_they_end(
    http, asgi, manager, monkeypatch
):
    from datetime import timedelta

    from app.asgi import SWEEPS
    from app.core import clock
    from app.domain.auth import services as auth
    from app.schema.oauth import OAuthCode

    _, owner = await make_client()
    made = await register(manager, first_party=True)
    tokens = await _signed_in(http, asgi, made, owner)
    revoked = await _signed_in(http, asgi, made, owner)
    async with httpx.AsyncClient(transport=asgi, base_url=BASE) as plain:
        await plain.post(
            "/oauth/revoke",
            data={"token": revoked["refresh_token"]},
            auth=(made.client_id, made.client_secret),
        )
    start = clock.now()
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(days=2))
    swept = await auth.sweep(also=SWEEPS)
    assert swept["oauth_codes_and_tokens"] == 3  # both codes, the revoked family's token
    assert await OAuthCode.count() == 0
    assert await OAuthToken.count() == 1
    assert (await _refresh(asgi, made, tokens["refresh_token"])).status_code == 200
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(days=40))
    assert (await auth.sweep(also=SWEEPS))["oauth_codes_and_tokens"] == 2
    assert await OAuthToken.count() == 0
