"""Single sign-on links through /api/v1 (POST /users/{id}/sso-tokens: its OpenAPI entry, 201,
404, 409, 422, the permission) and the link's page: HEAD uses nothing, a dead link (malformed,
unknown, its user disabled, its account closed or no longer reached since) is one 410 page that
changes nothing, and the sweeper forgets used links at once."""

from datetime import timedelta

import pytest

from app.core import clock
from app.domain.access.services import revoke_access
from app.domain.clients.services import set_status
from app.domain.sso import services as sso
from app.http.api.app import create_api_app
from app.http.plumbing.middleware import SESSION_COOKIE
from app.schema.activity import ActivityEntry
from app.schema.sessions import Session
from app.schema.sso import SsoToken
from app.schema.users import User
from tests.factories import ADMIN, make_client, make_user
from tests.integration import test_api_v1
from tests.integration.conftest import page, text_of
from tests.integration.test_api_v1 import assert_problem
from tests.integration.test_two_factor import second_browser

api, full, support = test_api_v1.api, test_api_v1.full, test_api_v1.support  # the fixtures

OPERATION = "/api/v1/users/{user_id}/sso-tokens"


def path_for(user_id: int) -> str:
    return OPERATION.format(user_id=user_id)


async def stored() -> list[dict]:
    return await SsoToken.select().order_by(SsoToken.id)


# ---- /api/v1 ---------------------------------------------------------------------------------


def test_the_operation_is_in_the_openapi_document():
    document = create_api_app(production=False).openapi_schema.to_schema()
    operation = document["paths"][OPERATION]["post"]
    assert operation["tags"] == ["Users"]
    assert {"201", "403", "404", "409", "422"} <= set(operation["responses"])
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    schemas = document["components"]["schemas"]
    request = schemas[body["$ref"].split("/")[-1]]
    assert set(request["properties"]) == {"client_id", "destination"}
    assert not request.get("required")
    answer = operation["responses"]["201"]["content"]["application/json"]["schema"]
    link = schemas[answer["$ref"].split("/")[-1]]
    assert (
        set(link["properties"])
        == set(link["required"])
        == {
            "access_token",
            "redirect_url",
            "expires_at",
        }
    )
    assert link["properties"]["expires_at"]["format"] == "date-time"


async def test_201_gives_a_link_that_signs_the_user_in(api, full):
    client_id, owner = await make_client("Api Sso Co")
    made = await api.post(
        path_for(owner["id"]),
        json={"client_id": client_id, "destination": "/account/profile"},
        headers=full,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert set(body) == {"access_token", "redirect_url", "expires_at"}
    token = body["access_token"]
    assert body["redirect_url"] == (
        f"http://testserver.local/oauth/singlesignon.php?access_token={token}"
    )
    [row] = await stored()
    assert row["token_hash"] == sso.token_hash(token) and token not in str(row)
    assert row["expires_at"].isoformat().replace("+00:00", "Z") == body["expires_at"]
    assert "Stan Staff (API credential" in row["created_by"]
    entry = await ActivityEntry.select().where(ActivityEntry.action == "sso.token_created").first()
    assert "Stan Staff" in entry["actor_name"] and entry["client_id"] == client_id

    async with second_browser() as browser:
        landed = await browser.get(body["redirect_url"])
        assert landed.status_code == 303 and landed.headers["location"] == "/account/profile"
        assert "Api Sso Co" in text_of(await browser.get("/account/profile"))

    # No account nor destination: the client area's home, as a login chooses it.
    home = await api.post(path_for(owner["id"]), json={}, headers=full)
    assert home.status_code == 201, home.text
    async with second_browser() as browser:
        assert (await browser.get(home.json()["redirect_url"])).headers["location"] == "/account"


async def test_404_for_an_unknown_user_or_account(api, full):
    client_id, owner = await make_client()
    assert_problem(await api.post(path_for(999999), json={}, headers=full), 404)
    unknown_account = {"client_id": 999999}
    assert_problem(await api.post(path_for(owner["id"]), json=unknown_account, headers=full), 404)
    assert await stored() == []


@pytest.mark.parametrize(
    "destination",
    [
        "//evil.example",
        "https://evil.example",
        "/\\evil",
        "/\t/evil.example",
        "account/profile",
        "/ünï",
        "",
        "/" + "a" * 600,
    ],
)
async def test_422_for_a_destination_that_is_not_a_path_on_this_site(api, full, destination):
    _, owner = await make_client()
    refused = await api.post(path_for(owner["id"]), json={"destination": destination}, headers=full)
    assert "destination" in assert_problem(refused, 422)["errors"]
    assert await stored() == []


async def test_422_for_an_account_the_user_does_not_reach(api, full):
    client_id, _ = await make_client()
    stranger = await make_user()
    for body, field in (
        ({"client_id": client_id}, "client_id"),
        ({"client_id": "one"}, "client_id"),
        ({"client_id": 0}, "client_id"),
    ):
        refused = await api.post(path_for(stranger["id"]), json=body, headers=full)
        assert field in assert_problem(refused, 422)["errors"], body
    assert await stored() == []


async def test_409_for_a_closed_account_or_a_disabled_user(api, full):
    client_id, owner = await make_client()
    await set_status(client_id, "Closed", actor=ADMIN)
    closed = await api.post(path_for(owner["id"]), json={"client_id": client_id}, headers=full)
    assert assert_problem(closed, 409)["detail"] == sso.ACCOUNT_CLOSED
    disabled = await make_user()
    await User.update({User.disabled: True}).where(User.id == disabled["id"])
    refused = await api.post(path_for(disabled["id"]), json={}, headers=full)
    assert assert_problem(refused, 409)["detail"] == sso.LOGIN_DISABLED
    assert await stored() == []


async def test_a_support_operators_credential_may_not_make_links(api, support):
    _, owner = await make_client()
    assert_problem(await api.post(path_for(owner["id"]), json={}, headers=support), 403)
    assert_problem(await api.post(path_for(owner["id"]), json={}), 401)
    assert await stored() == []


# ---- the link's page ---------------------------------------------------------------------------


async def link(user: dict, **options) -> sso.NewLink:
    return await sso.create_link(user["id"], base_url="", actor=ADMIN, **options)


def assert_dead(response) -> None:
    assert response.status_code == 410, response.text
    assert "This sign-in link is no longer valid" in text_of(response)
    assert page(response).find("a", string="Login")["href"] == "/login"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "set-cookie" not in response.headers or SESSION_COOKIE not in response.cookies


async def test_a_head_uses_nothing(http):
    _, owner = await make_client()
    made = await link(owner)
    previewed = await http.client.head(made.url)
    assert previewed.status_code == 200 and previewed.content == b""
    assert previewed.headers["cache-control"] == "no-store"
    assert SESSION_COOKIE not in http.cookies
    assert (await stored())[0]["used_at"] is None
    assert (await http.get(made.url)).status_code == 303
    assert SESSION_COOKIE in http.cookies


@pytest.mark.parametrize(
    "token", ["", "short", "x" * 200, "a%00b", "../../etc", sso.new_token()[0], "Ä" * 43]
)
async def test_a_malformed_or_unknown_token_is_the_dead_link_page(http, token):
    _, owner = await make_client()
    await link(owner)
    before = await stored()
    assert_dead(await http.get(f"/oauth/singlesignon.php?access_token={token}"))
    assert await stored() == before and not await Session.exists()
    assert not await ActivityEntry.exists().where(ActivityEntry.action == "sso.token_used")


async def test_no_token_at_all_is_the_dead_link_page(http):
    assert_dead(await http.get("/oauth/singlesignon.php"))


async def test_refused_when_the_user_or_account_may_no_longer_sign_in(http):
    client_id, owner = await make_client()
    member = await make_user()
    from app.domain.access.services import grant_access

    await grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    removed = await link(member, client_id=client_id)
    await revoke_access(client_id, member["id"], actor=ADMIN)
    disabled = await link(owner)
    closed = await link(owner, client_id=client_id)

    await User.update({User.disabled: True}).where(User.id == owner["id"])
    assert_dead(await http.get(disabled.url))
    await User.update({User.disabled: False}).where(User.id == owner["id"])
    await set_status(client_id, "Closed", actor=ADMIN)
    assert_dead(await http.get(closed.url))
    assert_dead(await http.get(removed.url))
    # Nothing changed: no session, no link used.
    assert not await Session.exists()
    assert [row["used_at"] for row in await stored()] == [None, None, None]
    assert not await ActivityEntry.exists().where(ActivityEntry.action == "sso.token_used")


async def test_a_dead_link_leaves_the_visitors_own_session_alone(http):
    _, owner = await make_client()
    await http.login(owner["email"])
    session = http.cookies[SESSION_COOKIE]
    dead = await http.get("/oauth/singlesignon.php?access_token=" + "a" * 43)
    assert dead.status_code == 410
    assert page(dead).find("a", string="Go to your accounts") is not None
    assert http.cookies[SESSION_COOKIE] == session
    assert (await http.get("/account")).status_code == 200


async def test_a_link_replaces_the_browsers_session_with_its_users(http):
    client_id, owner = await make_client()
    other_id, other = await make_client("Other Co")
    await http.login(other["email"])
    before = http.cookies[SESSION_COOKIE]
    made = await link(owner, client_id=client_id)
    assert (await http.get(made.url)).status_code == 303
    assert http.cookies[SESSION_COOKIE] != before
    assert [row["user"] for row in await Session.select()] == [owner["id"]]


async def test_the_sweeper_forgets_a_used_link_at_once_and_others_once_expired(monkeypatch):
    _, owner = await make_client()
    used, waiting = await link(owner), await link(owner)
    await sso.redeem(used.token, ip="127.0.0.1")
    assert await sso.forget_spent(clock.now()) == 1
    assert [row["expires_at"] for row in await stored()] == [waiting.expires_at]
    assert await sso.forget_spent(waiting.expires_at - timedelta(seconds=1)) == 0
    assert await sso.forget_spent(waiting.expires_at) == 1
    assert await stored() == []
