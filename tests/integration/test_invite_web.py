"""The invitation page over HTTP: each dead link's own page (unknown ones one page), private
headers, accepting. The states themselves: test_invite_link_states.py."""

from app.domain.access import services as access
from app.domain.invitations import services as invitations
from tests.factories import ADMIN, make_client, make_user, user_actor
from tests.integration.conftest import app_for_tests, page, text_of

NO_PENDING = "No pending invite matches this link. Ask the account owner for a new one."


async def test_an_unknown_token_gets_the_single_no_pending_invite_page(http):
    response = await http.get("/invite/not-a-real-token")
    assert response.status_code == 404
    assert NO_PENDING in text_of(response)
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


async def test_each_dead_link_says_what_it_is_and_unknown_ones_stay_one_page(http):
    client_id, _ = await make_client()
    invitation_id, cancelled = await invitations.invite(
        client_id, "a@example.com", ["tickets"], actor=ADMIN
    )
    await invitations.cancel(client_id, invitation_id, actor=ADMIN)
    _, accepted = await invitations.invite(client_id, "b@example.com", ["tickets"], actor=ADMIN)
    user = await make_user()
    await invitations.accept(accepted, user["id"], actor=user_actor(user))
    cancelled_page = await http.get(f"/invite/{cancelled}")
    assert cancelled_page.status_code == 410
    assert "This invitation is no longer valid" in text_of(cancelled_page)
    accepted_page = await http.get(f"/invite/{accepted}")
    assert accepted_page.status_code == 410
    assert "This invitation was accepted" in text_of(accepted_page)
    bodies = set()
    for token in ("unknown-token", "another-unknown-token"):
        response = await http.get(f"/invite/{token}")
        assert response.status_code == 404
        bodies.add(page(response).find("main").get_text(" ", strip=True))
    assert len(bodies) == 1 and NO_PENDING in bodies.pop()


async def test_a_pending_invite_shows_the_seed_texts_and_private_headers(http):
    client_id, owner = await make_client("Client Test")
    _, token = await invitations.invite(
        client_id, "guest@example.com", ["invoices"], actor=user_actor(owner)
    )
    response = await http.get(f"/invite/{token}")
    assert response.status_code == 200
    body = text_of(response)
    assert "You have been invited to Client Test" in body
    assert "Olivia Owner has given you access to the Client Test account." in body
    assert "To accept the invite, please login or register below." in body
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


async def test_markup_in_names_is_escaped(http):
    client_id, owner = await make_client("<script>alert(1)</script> Ltd")
    _, token = await invitations.invite(
        client_id, "guest@example.com", ["invoices"], actor=user_actor(owner)
    )
    response = await http.get(f"/invite/{token}")
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Ltd" in response.text


async def test_logging_in_on_the_invite_page_accepts_and_lands_in_the_account(http):
    client_id, owner = await make_client("Client Test")
    _, token = await invitations.invite(
        client_id, "guest@example.com", ["invoices", "quotes"], actor=user_actor(owner)
    )
    user = await make_user("Gina", "Guest", email="gina@example.com")
    response = await http.post(
        f"/invite/{token}/login", {"email": "gina@example.com", "password": "wrong-wrong-1"}
    )
    assert response.status_code == 400
    assert await access.access_for(user["id"], client_id) is None
    await http.login("gina@example.com", path=f"/invite/{token}/login")
    home = await http.get("/account?welcome=1")
    assert "Invite accepted" in text_of(home) and "Client Test" in text_of(home)
    assert (await access.access_for(user["id"], client_id)).permissions == ("invoices", "quotes")
    assert (await http.get(f"/invite/{token}")).status_code == 410  # accepted


async def test_a_logged_in_user_accepts_with_one_button(http):
    client_id, _ = await make_client("Client Test")
    _, mine = await make_client("Mine", owner_email="me@example.com")
    _, token = await invitations.invite(client_id, "someone@example.com", ["tickets"], actor=ADMIN)
    await http.login("me@example.com")
    soup = page(await http.get(f"/invite/{token}"))
    assert soup.find("button", string="Accept Invite")
    response = await http.post(f"/invite/{token}/accept")
    assert response.status_code == 303
    assert "Client Test" in text_of(await http.get("/account"))
    assert (await access.access_for(mine["id"], client_id)).permissions == ("tickets",)


async def test_an_already_associated_user_is_told_and_nothing_is_created(http):
    client_id, owner = await make_client("Client Test", owner_email="boss@example.com")
    _, token = await invitations.invite(client_id, "x@example.com", ["tickets"], actor=ADMIN)
    await http.login("boss@example.com")
    response = await http.post(f"/invite/{token}/accept")
    assert response.status_code == 409
    assert "You already have access to this account." in text_of(response)
    assert (await access.access_for(owner["id"], client_id)).is_owner


async def test_simultaneous_accepts_from_different_browsers_give_one_grant(http):
    """Ten users, each in their own browser session, press Accept Invite at the same moment."""
    import asyncio

    import httpx

    from app.schema.grants import Grant
    from tests.integration.conftest import Browser

    client_id, _ = await make_client("Client Test")
    _, token = await invitations.invite(client_id, "shared@example.com", ["tickets"], actor=ADMIN)
    app = app_for_tests()
    browsers = []
    for i in range(10):
        await make_user(email=f"racer{i}@example.com")
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver.local"
        )
        browsers.append(Browser(client))
        await browsers[-1].login(f"racer{i}@example.com")
    try:
        responses = await asyncio.gather(*(b.post(f"/invite/{token}/accept") for b in browsers))
    finally:
        for b in browsers:
            await b.client.aclose()
    assert sorted(r.status_code for r in responses) == [303] + [410] * 9  # "was accepted"
    assert await Grant.count().where(Grant.client == client_id) == 2  # the owner + one winner
