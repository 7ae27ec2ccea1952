"""Manage Users (admin): the list, one user's page, and the changes made from it."""

from app.core.permissions import ALL_KEYS
from app.domain.access import services as access
from app.domain.clients.services import get_client
from app.domain.users import services as users
from app.schema.activity import ActivityEntry
from app.schema.mail import OutboundEmail
from app.schema.sessions import Session
from app.schema.users import User
from tests.factories import ADMIN, PASSWORD, make_client, make_user
from tests.integration.conftest import app_for_tests, message_texts, page, text_of

HX = {"HX-Request": "true", "HX-Request-Type": "partial"}
NEW_PASSWORD = "violet-quartz-harbour-58"


def flash_of(response) -> str:
    (message,) = message_texts(response)
    return message


async def test_manage_users_lists_every_user_with_its_details(http, admin_session):
    client_id, owner = await make_client("Acme")
    member = await make_user("Jo", "Walker", email="jo@example.com")
    await access.grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    await users.record_login(member["id"], ip="203.0.113.9", hostname="jo.example.net")
    await User.update({User.totp_enabled: True}).where(User.id == member["id"])

    soup = page(await http.get("/admin/users"))
    assert soup.find("h1", string="Manage Users")
    assert [th.get_text() for th in soup.select("#user-results th")] == [
        "ID",
        "Name",
        "Email Address",
        "Accounts",
        "2FA",
        "Last Login",
    ]
    row = soup.select_one(f"#user-{member['id']}")
    cells = [td.get_text(" ", strip=True) for td in row.find_all("td")]
    assert cells[0] == f"#{member['id']}"
    assert cells[1] == "Jo Walker" and row.find("a")["href"] == f"/admin/users/{member['id']}"
    assert cells[2:5] == ["jo@example.com", "1", "Enabled"]
    assert "203.0.113.9" in cells[5]
    owner_cells = soup.select_one(f"#user-{owner['id']}").get_text(" ")
    assert "Off" in owner_cells and "Never" in owner_cells


async def test_search_as_you_type_by_name_email_or_id(http, admin_session):
    jo = await make_user("Jo", "Walker", email="jo@example.com")
    await make_user("Marco", "Rossi", email="marco@example.org")

    async def found(q):
        response = await http.get("/admin/users", params={"q": q}, headers=HX)
        assert response.status_code == 200
        soup = page(response)
        assert soup.find(id="user-results") and not soup.find("h1")  # the results alone
        return [tr["id"] for tr in soup.select("#user-results tbody tr")]

    assert await found("walk") == [f"user-{jo['id']}"]
    assert await found("JO WALKER") == [f"user-{jo['id']}"]
    assert await found("alker") == []  # words are prefixes, not substrings
    assert len(await found("example")) == 2  # the part after the '@'
    assert await found(f"#{jo['id']}") == [f"user-{jo['id']}"]
    assert await found("nobody") == []
    assert "No user matches “nobody”." in text_of(
        await http.get("/admin/users", params={"q": "nobody"}, headers=HX)
    )


async def test_manage_users_pages_through_many_users(http, admin_session):
    made = [await make_user(email=f"many{i:02}@example.com") for i in range(30)]
    first = page(await http.get("/admin/users"))
    assert len(first.select("#user-results tbody tr")) == 25
    nav = first.find("nav", class_="pagination")
    assert "First page" not in nav.get_text(" ")  # key-set pages: no numbers, no total
    assert "Page" not in nav.get_text(" ") and "30" not in nav.get_text(" ")
    following = nav.find("a", rel="next")["href"]
    assert following == f"/admin/users?q=&after={made[24]['id']}"
    second = page(await http.get(following))
    assert [tr["id"] for tr in second.select("#user-results tbody tr")] == [
        f"user-{u['id']}" for u in made[25:]
    ]
    nav = second.find("nav", class_="pagination")
    assert nav.find("a", rel="next") is None
    assert nav.find("a", rel="first")["href"] == "/admin/users?q="
    # Past the end (a stale link): nothing more, and the way back.
    past = page(await http.get(f"/admin/users?after={made[-1]['id']}"))
    assert "No more users." in past.get_text(" ")
    assert past.find("a", rel="first")["href"] == "/admin/users?q="
    # A one-page list says how many, as before.
    one = page(await http.get("/admin/users", params={"q": "many0"}))
    assert len(one.select("#user-results tbody tr")) == 10
    assert "10 users" in one.find(class_="pagination").get_text(" ")


async def test_manage_users_runs_a_constant_number_of_queries(http, admin_session, count_queries):
    client_id, _ = await make_client()

    async def statements():
        with count_queries() as counted:
            assert (await http.get("/admin/users")).status_code == 200
        return counted.n

    one = await statements()  # the owner alone
    for i in range(49):
        user = await make_user(email=f"bulk{i}@example.com")
        await access.grant_access(client_id, user["id"], ["tickets"], actor=ADMIN)
    assert await User.count() == 50
    assert await statements() == one


async def test_markup_in_names_is_shown_as_text(http, admin_session):
    client_id, _ = await make_client("<script>alert(1)</script> Ltd")
    user = await make_user("<b>Bold</b>", "<i>It</i>", email="markup@example.com")
    await access.grant_access(client_id, user["id"], ["tickets"], actor=ADMIN)
    for url in ("/admin/users", f"/admin/users/{user['id']}"):
        response = await http.get(url)
        assert "<b>Bold</b>" not in response.text and "<script>alert" not in response.text
        assert "<b>Bold</b>" in text_of(response)
    assert "<script>alert(1)</script> Ltd" in text_of(await http.get(f"/admin/users/{user['id']}"))


async def test_the_user_page_shows_profile_accounts_and_actions(http, admin_session):
    client_id, owner = await make_client("Acme")
    other_id, _ = await make_client("Globex")
    await access.grant_access(other_id, owner["id"], ["tickets", "quotes"], actor=ADMIN)
    soup = page(await http.get(f"/admin/users/{owner['id']}"))
    assert soup.find("h1").get_text() == "Olivia Owner"
    assert soup.find("input", {"name": "email"})["value"] == owner["email"]
    assert (
        soup.find("select", {"name": "language"}).find("option", selected=True)["value"]
        == "english"
    )
    acme, globex = soup.select_one(f"#account-{client_id}"), soup.select_one(f"#account-{other_id}")
    assert acme.find(class_="badge-owner") and not acme.find("button", string="Make Owner")
    assert globex.find("button", string="Make Owner")
    assert "Quotes" in globex.get_text(" ")
    assert soup.find("button", string="Send Password Reset Email")
    assert soup.find("button", string="Change Password")
    delete = soup.select_one("#user-danger").find("button", string="Delete")
    assert delete.has_attr("disabled")
    assert "still has access to 2 accounts" in soup.select_one("#user-danger").get_text(" ")


async def test_edit_name_email_and_language(http, admin_session):
    user = await make_user("Jo", "Walker", email="jo@example.com")
    response = await http.post(
        f"/admin/users/{user['id']}",
        {
            "first_name": "Joanna",
            "last_name": "Walker",
            "email": "Joanna@Example.com",
            "language": "french",
        },
        headers=HX,
    )
    assert response.status_code == 200
    assert flash_of(response) == "User details saved."
    soup = page(response)
    assert soup.find(id="user-profile")
    assert soup.find(id="user-heading")["hx-swap-oob"] == "true"
    assert soup.find("h1").get_text() == "Joanna Walker"
    saved = await users.get_user(user["id"])
    assert (saved["first_name"], saved["email"], saved["email_key"], saved["language"]) == (
        "Joanna",
        "Joanna@example.com",
        "joanna@example.com",
        "french",
    )
    entry = await ActivityEntry.select().where(ActivityEntry.action == "user.updated").first()
    assert "first name: 'Jo' -> 'Joanna'" in entry["description"]
    assert "language: 'english' -> 'french'" in entry["description"]
    assert (entry["actor_name"], entry["ip"]) == ("Ada", "127.0.0.1")


async def test_bad_profile_input_changes_nothing_and_keeps_what_was_typed(http, admin_session):
    user = await make_user("Jo", "Walker", email="jo@example.com")
    await make_user(email="taken@example.com")
    for values, message in (
        ({"email": "not-an-email"}, "email"),
        ({"email": "TAKEN@example.com"}, "Another user already has this email address."),
        ({"first_name": ""}, "Enter a first name."),
        ({"language": "klingon"}, "Choose a language from the list."),
    ):
        form = {
            "first_name": "Joanna",
            "last_name": "Walker",
            "email": "jo@example.com",
            "language": "english",
            **values,
        }
        response = await http.post(f"/admin/users/{user['id']}", form, headers=HX)
        assert response.status_code == 422, values
        soup = page(response)
        assert (
            message
            in soup.select_one("#user-profile .error, #user-profile .form-errors").get_text()
        ), values
        assert soup.find("input", {"name": "last_name"})["value"] == "Walker"
        assert soup.find("input", {"name": "email"})["value"] == form["email"]
    assert (await users.get_user(user["id"]))["first_name"] == "Jo"


async def test_make_owner_transfers_the_account(http, admin_session):
    client_id, owner = await make_client("Acme")
    member = await make_user("Jo", "Walker")
    await access.grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    response = await http.post(
        f"/admin/users/{member['id']}/make-owner", {"client_id": str(client_id)}, headers=HX
    )
    assert response.status_code == 200
    assert flash_of(response) == "Now the owner of Acme."
    row = page(response).select_one(f"#account-{client_id}")
    assert row.find(class_="badge-owner") and not row.find("button", string="Make Owner")
    assert (await get_client(client_id))["owner"] == member["id"]
    old = await access.access_for(owner["id"], client_id)
    assert old is not None and not old.is_owner and set(old.permissions) == set(ALL_KEYS)
    assert await ActivityEntry.exists().where(ActivityEntry.action == "client.owner_changed")


async def test_make_owner_of_an_account_the_user_is_not_in_is_refused(http, admin_session):
    client_id, owner = await make_client("Acme")
    stranger = await make_user()
    response = await http.post(
        f"/admin/users/{stranger['id']}/make-owner", {"client_id": str(client_id)}, headers=HX
    )
    assert response.status_code == 422
    assert "Only a user already associated" in text_of(response)
    assert (await get_client(client_id))["owner"] == owner["id"]


async def test_send_password_reset_email_from_the_user_page(http, admin_session):
    user = await make_user(email="jo@example.com")
    response = await http.post(f"/admin/users/{user['id']}/password-reset", headers=HX)
    assert flash_of(response) == "Password reset email sent to jo@example.com."
    email = await OutboundEmail.select().first()
    assert (email["to_address"], email["template"]) == ("jo@example.com", "password_reset")
    entry = (
        await ActivityEntry.select()
        .where(ActivityEntry.action == "user.password_reset_requested")
        .first()
    )
    assert (entry["actor_type"], entry["actor_name"]) == ("admin", "Ada")


async def test_change_password_ends_the_users_sessions(http, admin_session):
    import httpx

    from tests.integration.conftest import Browser

    user = await make_user(email="jo@example.com")
    app = app_for_tests()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver.local"
    ) as other:
        await Browser(other).login("jo@example.com")
    assert await Session.exists().where(Session.user == user["id"])

    weak = await http.post(f"/admin/users/{user['id']}/password", {"password": "short"}, headers=HX)
    assert weak.status_code == 422
    assert page(weak).select_one("#change-password-error")
    response = await http.post(
        f"/admin/users/{user['id']}/password", {"password": NEW_PASSWORD}, headers=HX
    )
    assert response.status_code == 200
    assert flash_of(response) == "Password changed; the user's sessions were ended."
    assert not await Session.exists().where(Session.user == user["id"])
    from app.core.security import verify_password

    stored = (await users.get_user(user["id"]))["password_hash"]
    assert verify_password(stored, NEW_PASSWORD) and not verify_password(stored, PASSWORD)


async def test_delete_only_once_no_access_remains(http, admin_session):
    client_id, _ = await make_client()
    user = await make_user("Jo", "Walker")
    await access.grant_access(client_id, user["id"], ["tickets"], actor=ADMIN)
    refused = await http.post(f"/admin/users/{user['id']}/delete", headers=HX)
    assert refused.status_code == 422
    assert "Remove that access first" in text_of(refused)
    assert await User.exists().where(User.id == user["id"])

    await access.revoke_access(client_id, user["id"], actor=ADMIN)
    soup = page(await http.get(f"/admin/users/{user['id']}"))
    assert not soup.select_one("#user-danger").find("button", string="Delete").has_attr("disabled")
    deleted = await http.post(f"/admin/users/{user['id']}/delete", headers=HX)
    assert deleted.headers["hx-location"] == f"/admin/users?deleted={user['id']}"
    assert not await User.exists().where(User.id == user["id"])
    assert f"User #{user['id']} deleted." in text_of(await http.get(deleted.headers["hx-location"]))
    assert (await http.get(f"/admin/users/{user['id']}")).status_code == 404


async def test_a_support_operator_can_look_but_not_change_users(http, support_session):
    client_id, owner = await make_client()
    user = await make_user()
    await access.grant_access(client_id, user["id"], ["tickets"], actor=ADMIN)
    assert (await http.get("/admin/users")).status_code == 200
    soup = page(await http.get(f"/admin/users/{user['id']}"))
    assert soup.select_one("#user-profile fieldset").has_attr("disabled")
    assert not soup.find("button", string="Make Owner")
    assert not soup.find("button", string="Change Password")
    assert not soup.find("button", string="Delete")
    base = f"/admin/users/{user['id']}"
    for url, form in (
        (
            base,
            {"first_name": "X", "last_name": "Y", "email": "x@example.com", "language": "english"},
        ),
        (f"{base}/make-owner", {"client_id": str(client_id)}),
        (f"{base}/password-reset", {}),
        (f"{base}/password", {"password": NEW_PASSWORD}),
        (f"{base}/delete", {}),
    ):
        assert (await http.post(url, form, headers=HX)).status_code == 403, url
    assert (await get_client(client_id))["owner"] == owner["id"]
    assert (await users.get_user(user["id"]))["first_name"] == "Una"
    assert not await OutboundEmail.exists()


async def test_manage_users_needs_an_admin_session(http):
    await make_client(owner_email="fiona@example.com")
    assert (await http.get("/admin/users")).headers["location"] == "/admin/login"
    await http.login("fiona@example.com")
    response = await http.get("/admin/users")
    assert response.status_code == 303 and response.headers["location"] == "/admin/login"


async def test_the_client_list_searches_and_pages(http, admin_session):
    for i in range(27):
        await make_client(f"Company {i:02}", owner_email=f"co{i:02}@example.com")
    first = page(await http.get("/admin/clients"))
    assert len(first.select("#client-results tbody tr")) == 25
    pages = first.find("nav", class_="pagination")
    assert "Page 1 of 2 · 27 accounts" in pages.get_text(" ")
    assert pages.find("a", string="Next")["href"] == "/admin/clients?q=&page=2"
    second = page(await http.get("/admin/clients?page=2"))
    assert len(second.select("#client-results tbody tr")) == 2
    found = page(await http.get("/admin/clients", params={"q": "company 1"}, headers=HX))
    assert len(found.select("#client-results tbody tr")) == 10 and not found.find("h1")
