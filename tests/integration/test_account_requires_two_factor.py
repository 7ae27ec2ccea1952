"""An account that requires two-factor authentication of everyone with access: the setting
through each way of changing it (the owner's Account Details, staff's Profile tab, /api/v1, the
WHMCS API), every route that acts on the account refusing a user without it (and not their
other accounts), the enrolment that comes back to the account, and who does not comply yet."""

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.core.policy import Permission
from app.domain.access import services as access
from app.domain.clients import services as clients
from app.domain.credentials.services import create_credential
from app.domain.events import stream
from app.domain.events.catalog import ClientUpdated
from app.domain.invitations import services as invitations
from app.domain.staff.services import create_admin
from app.domain.two_factor import services as two_factor
from app.schema.activity import ActivityEntry
from app.schema.invitations import Invitation
from app.schema.mail import OutboundEmail
from tests.factories import ADMIN, make_client, make_user, unique_email, user_actor
from tests.integration.conftest import app_for_tests, page, text_of

ACCOUNT_ROUTES = {Permission.ACCOUNT_MEMBER, Permission.ACCOUNT_OWNER, Permission.ACCOUNT_PROFILE}
HTMX = {"HX-Request": "true"}


def code(secret: str) -> str:
    return two_factor.code_at(secret, two_factor.time_step())


async def turn_on_two_factor(user: dict) -> str:
    person = two_factor.Person("user", user["id"])
    secret = await two_factor.begin_enrolment(person)
    await two_factor.confirm_enrolment(person, code(secret), actor=user_actor(user))
    return secret


async def requiring(company: str = "Strict Co") -> tuple[int, dict]:
    """An account that requires two-factor authentication (turned on by staff: its owner has
    none)."""
    client_id, owner = await make_client(company)
    await clients.update_client(client_id, require_two_factor=True, actor=ADMIN)
    return client_id, owner


def enrolment_target(response) -> str:
    """Where a refusal sends the browser: Location, or HX-Location for htmx."""
    return response.headers.get("location") or response.headers.get("hx-location") or ""


@pytest.fixture
def heard():
    events: list = []
    stop = stream.listen(lambda event, _actor: events.append(event))
    yield events
    stop()


# --- the setting, each way ------------------------------------------------------------------


async def test_the_owner_needs_two_factor_to_turn_it_on(http, heard):
    client_id, owner = await make_client("Owner Co")
    await http.login(owner["email"])
    shown = await http.get("/account/profile")
    box = page(shown).find(id="f-require_two_factor")
    assert box is not None and not box.has_attr("disabled") and not box.has_attr("checked")
    assert "Everyone with access must use two-factor authentication" in text_of(shown)
    form = {
        k: v or ""
        for k, v in (await clients.get_client(client_id)).items()
        if k in (clients.PROFILE_FIELDS)
    }
    opened = page(shown).find("input", attrs={"name": "opened"})["value"]
    data = {**form, "require_two_factor": "on", "opened": opened}
    heard.clear()
    refused = await http.post("/account/profile", data)
    assert refused.status_code == 400
    error = page(refused).find(id="f-require_two_factor-error")
    assert error is not None and "Turn on two-factor authentication for yourself first" in (
        error.get_text()
    )
    assert page(refused).find(id="f-require_two_factor").has_attr("checked")  # as ticked
    assert not (await clients.get_client(client_id))["require_two_factor"]
    assert heard == []

    await turn_on_two_factor(owner)
    heard.clear()
    saved = await http.post("/account/profile", data)
    assert saved.status_code == 303, text_of(saved)
    assert (await clients.get_client(client_id))["require_two_factor"] is True
    assert heard == [ClientUpdated(client_id=client_id, fields=("require_two_factor",))]
    entry = (
        await ActivityEntry.select()
        .where(ActivityEntry.client_id == client_id)
        .order_by(ActivityEntry.id, ascending=False)
        .first()
    )
    assert entry["action"] == "client.updated"
    assert "everyone must use two-factor authentication: off -> on" in entry["description"]
    # Shown ticked; and turned off again by an unticked box.
    again = await http.get("/account/profile")
    assert page(again).find(id="f-require_two_factor").has_attr("checked")
    opened = page(again).find("input", attrs={"name": "opened"})["value"]
    off = await http.post("/account/profile", {**form, "opened": opened})
    assert off.status_code == 303
    assert not (await clients.get_client(client_id))["require_two_factor"]


async def test_a_member_with_the_profile_permission_cannot_change_it(http):
    client_id, owner = await make_client("Member Co")
    member = await make_user("Mia", "Member")
    await access.grant_access(client_id, member["id"], ["profile"], actor=ADMIN)
    await http.login(member["email"])
    shown = await http.get("/account/profile")
    assert page(shown).find(id="f-require_two_factor").has_attr("disabled")
    assert "Only the account owner can change this." in text_of(shown)
    form = {
        k: v or ""
        for k, v in (await clients.get_client(client_id)).items()
        if k in (clients.PROFILE_FIELDS)
    }
    opened = page(shown).find("input", attrs={"name": "opened"})["value"]
    # A forged tick changes nothing: the form carries no such box for them.
    saved = await http.post(
        "/account/profile", {**form, "city": "Turin", "require_two_factor": "on", "opened": opened}
    )
    assert saved.status_code == 303
    after = await clients.get_client(client_id)
    assert after["city"] == "Turin" and after["require_two_factor"] is False
    # And the service refuses it outright.
    with pytest.raises(Exception, match="Only the account owner"):
        await clients.update_client(client_id, require_two_factor=True, actor=user_actor(member))
    assert owner is not None


async def test_staff_may_turn_it_on_whoever_has_two_factor(http, admin_session):
    client_id, _owner = await make_client("Staff Co")
    shown = await http.get(f"/admin/clients/{client_id}/profile")
    assert "The owner has not set it up either" in text_of(shown)
    form = {
        k: v or ""
        for k, v in (await clients.get_client(client_id)).items()
        if k in (clients.PROFILE_FIELDS)
    }
    opened = page(shown).find("input", attrs={"name": "opened"})["value"]
    saved = await http.post(
        f"/admin/clients/{client_id}/profile",
        {**form, "require_two_factor": "on", "opened": opened},
    )
    assert saved.status_code == 303, text_of(saved)
    assert (await clients.get_client(client_id))["require_two_factor"] is True
    again = await http.get(f"/admin/clients/{client_id}/profile")
    assert page(again).find(id="f-require_two_factor").has_attr("checked")
    # The owner, who did not choose it, is emailed (the outbox, in the change's transaction).
    [email] = await OutboundEmail.select().where(OutboundEmail.template == "two_factor_required")
    assert email["to_address"] == _owner["email"]
    assert "Staff Co now requires two-factor authentication" in email["subject"]
    assert "You have not set it up yet" in email["text_body"]


async def test_the_owner_is_not_emailed_when_they_turn_it_on_themselves():
    client_id, owner = await make_client("Self Co")
    await turn_on_two_factor(owner)
    await clients.update_client(client_id, require_two_factor=True, actor=user_actor(owner))
    assert not await OutboundEmail.select().where(OutboundEmail.template == "two_factor_required")
    # Staff turning it on again (already on) sends nothing either; off and on again does.
    await clients.update_client(client_id, require_two_factor=True, actor=ADMIN)
    await clients.update_client(client_id, require_two_factor=False, actor=ADMIN)
    assert not await OutboundEmail.select().where(OutboundEmail.template == "two_factor_required")
    await clients.update_client(client_id, require_two_factor=True, actor=ADMIN)
    [email] = await OutboundEmail.select().where(OutboundEmail.template == "two_factor_required")
    assert "You already use it" in email["text_body"]


async def bearer() -> dict:
    admin_id = await create_admin(
        email=unique_email("staff"),
        password="staff-passphrase-77",
        name="Stan Staff",
        role="full",
        actor=ADMIN,
    )
    credential = await create_credential(admin_id, description="tests", actor=ADMIN)
    return {"Authorization": f"Bearer {credential.identifier}:{credential.secret}"}


@pytest.fixture
async def client():

    app = app_for_tests()
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:
        yield c


async def test_the_json_api_reads_and_writes_it(client, heard):
    client_id, _ = await make_client("Api Co")
    auth = await bearer()
    url = f"/api/v1/clients/{client_id}"
    read = await client.get(url, headers=auth)
    assert read.status_code == 200 and read.json()["require_two_factor"] is False
    heard.clear()
    changed = await client.patch(
        url, json={"require_two_factor": True}, headers={**auth, "If-Match": read.headers["etag"]}
    )
    assert changed.status_code == 200 and changed.json()["require_two_factor"] is True
    assert changed.headers["etag"] != read.headers["etag"]  # part of its version
    assert heard[0] == ClientUpdated(client_id=client_id, fields=("require_two_factor",))
    # Staff (an API credential) turned it on: the owner is emailed (email.queued follows).
    assert [type(e).__name__ for e in heard[1:]] == ["EmailQueued"]
    assert heard[1].template == "two_factor_required"
    bad = await client.patch(url, json={"require_two_factor": "maybe"}, headers=auth)
    assert bad.status_code == 422
    assert (await clients.get_client(client_id))["require_two_factor"] is True
    schema = (await client.get("/api/v1/schema/openapi.json")).json()
    schemas = schema["components"]["schemas"]
    assert "require_two_factor" in schemas["ClientOut"]["properties"]
    assert "require_two_factor" in schemas["ClientUpdate"]["properties"]


async def test_the_whmcs_api_reads_and_writes_it(client):
    client_id, _ = await make_client("Whmcs Co")
    auth = (await bearer())["Authorization"].removeprefix("Bearer ")
    identifier, secret = auth.split(":")

    async def call(action: str, **params) -> dict:
        data = {"action": action, "identifier": identifier, "secret": secret, **params}
        response = await client.post("/includes/api.php", data={**data, "responsetype": "json"})
        return response.json()

    details = await call("GetClientsDetails", clientid=str(client_id))
    assert details["result"] == "success" and details["require_two_factor"] is False
    assert details["client"]["require_two_factor"] is False
    updated = await call("UpdateClient", clientid=str(client_id), require_two_factor="1")
    assert updated["result"] == "success"
    assert (await call("GetClientsDetails", clientid=str(client_id)))["require_two_factor"] is True
    # Absent or empty: unchanged; a value that is no flag: refused, nothing changed.
    await call(
        "UpdateClient", clientid=str(client_id), companyname="Whmcs Two", require_two_factor=""
    )
    assert (await clients.get_client(client_id))["require_two_factor"] is True
    refused = await call("UpdateClient", clientid=str(client_id), require_two_factor="maybe")
    assert refused["result"] == "error" and "require_two_factor" in refused["message"]
    off = await call("UpdateClient", clientid=str(client_id), require_two_factor="false")
    assert off["result"] == "success"
    assert (await clients.get_client(client_id))["require_two_factor"] is False


# --- every route of the account refuses; other accounts do not --------------------------------


def account_routes() -> list[tuple[str, str]]:
    """(method, path) of every client-area route that acts on the current account: those whose
    permission needs one (read from the built app, as the permission map's test does)."""

    app = app_for_tests()
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if handler.opt.get("permission") in ACCOUNT_ROUTES:
                for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                    found.append((method, route.path))
    return found


def filled(path: str, ids: dict) -> str:
    for name, value in ids.items():
        path = path.replace(f"{{{name}:int}}", str(value))
    assert "{" not in path, path
    return path


async def test_every_account_route_refuses_a_user_without_two_factor(http):
    routes = account_routes()
    paths = {path for _, path in routes}
    assert len(routes) > 12, routes
    assert {"/account", "/account/profile", "/account/users", "/live/account/users"} <= paths

    client_id, owner = await requiring("Strict Co")  # its owner has no two-factor either
    other_id, _ = await make_client("Relaxed Co")
    await access.grant_access(other_id, owner["id"], ["profile"], actor=ADMIN)
    member = await make_user("Mia", "Member")
    await access.grant_access(client_id, member["id"], ["profile", "invoices"], actor=ADMIN)
    invite = await invitations.invite(client_id, unique_email("invitee"), ["invoices"], actor=ADMIN)
    # An id of no transfer: the route is refused before its handler would look.
    ids = {"user_id": member["id"], "invitation_id": invite[0], "transfer_id": 999_999}
    invites_before = await Invitation.count()
    profile_before = await clients.get_client(client_id)

    for who in (owner, member):
        await http.login(who["email"])
        if who is owner:  # two accounts: chosen
            await http.post(f"/accounts/{client_id}/select")
        for method, template in routes:
            path = filled(template, ids)
            plain = await http.client.request(
                method,
                path,
                headers={"x-csrftoken": http.cookies.get("roster_csrf") or ""},
                data={"email": unique_email("x"), "permissions": "invoices", "city": "X"}
                if method == "POST"
                else None,
            )
            fragment = await http.client.request(
                method,
                path,
                headers={**HTMX, "x-csrftoken": http.cookies.get("roster_csrf") or ""},
                data={"email": unique_email("y"), "permissions": "invoices"}
                if method == "POST"
                else None,
            )
            where = f"{who['first_name']}: {method} {path}"
            if path.startswith("/live/"):
                assert plain.status_code == 204 and fragment.status_code == 204, where
                continue
            # A page (or a form posted without script) goes to the enrolment...
            assert plain.status_code == 303, (where, plain.status_code, plain.text[:200])
            target = urlsplit(enrolment_target(plain))
            assert target.path == "/account/security", where
            if method == "GET":
                assert parse_qs(target.query)["next"] == [path], where
            # ... a fragment is told, in a 403 that swaps nothing (never a whole page).
            assert fragment.status_code == 403, (where, fragment.status_code)
            assert fragment.headers.get("hx-reswap") == "none", where
            assert "<html" not in fragment.text.lower(), where
            assert "Strict Co requires everyone with access" in fragment.text, where
        await http.post("/logout")

    # Nothing was done on their behalf.
    assert await Invitation.count() == invites_before
    assert await clients.get_client(client_id) == profile_before

    # The owner's other account is reachable as ever, and a boosted click is sent by HX-Location.
    await http.login(owner["email"])
    await http.post(f"/accounts/{other_id}/select")
    assert (await http.get("/account")).status_code == 200
    assert (await http.get("/account/profile")).status_code == 200
    await http.post(f"/accounts/{client_id}/select")
    boosted = await http.get("/account/profile", headers={**HTMX, "HX-Boosted": "true"})
    assert boosted.status_code == 200
    assert urlsplit(boosted.headers["hx-location"]).path == "/account/security"
    # Followed by htmx (HX-Location: a full-page request made from the page it was on): back to
    # the page asked for, not the one it was asked from.
    followed = await http.get(
        "/account/users?q=x",
        headers={**HTMX, "HX-Request-Type": "full", "HX-Current-URL": "http://t/accounts"},
    )
    target = urlsplit(followed.headers["hx-location"])
    assert parse_qs(target.query)["next"] == ["/account/users?q=x"]


async def test_staff_pages_of_the_account_are_not_refused(http, admin_session):
    client_id, _ = await requiring("Staff Sees Co")
    assert (await http.get(f"/admin/clients/{client_id}/users")).status_code == 200
    assert (await http.get(f"/admin/clients/{client_id}/profile")).status_code == 200


# --- enrolment, and back -------------------------------------------------------------------


async def test_enrolment_names_the_account_and_comes_back_to_it(http):
    client_id, owner = await requiring("Return Co")
    await http.login(owner["email"])
    sent = await http.get("/account/users")
    assert sent.status_code == 303
    target = enrolment_target(sent)
    shown = await http.get(target)
    assert shown.status_code == 200
    notice = page(shown).find(id="two-factor-asked-by")
    assert notice is not None and "Return Co requires everyone with access" in notice.get_text()
    enable_form = page(shown).find("form", attrs={"action": "/account/security/two-factor/enable"})
    assert enable_form.find("input", attrs={"name": "next"})["value"] == "/account/users"

    started = await http.post(
        "/account/security/two-factor/enable", {"next": "/account/users"}, headers=HTMX
    )
    secret = page(started).find(id="two-factor-key").get_text().replace(" ", "")
    confirm = page(started).find("form", attrs={"action": "/account/security/two-factor/confirm"})
    assert confirm.find("input", attrs={"name": "next"})["value"] == "/account/users"
    done = await http.post(
        "/account/security/two-factor/confirm",
        {"code": code(secret), "next": "/account/users"},
        headers=HTMX,
    )
    assert done.status_code == 200
    onward = page(done).find("a", string=lambda s: s and "continue to Return Co" in s)
    assert onward is not None and onward["href"] == "/account/users"
    assert (await http.get("/account/users")).status_code == 200
    assert client_id


async def test_the_enrolment_goes_back_only_to_this_site(http):
    _, owner = await requiring("Safe Co")
    await http.login(owner["email"])
    shown = await http.get("/account/security?next=//evil.example/x")
    assert "Safe Co requires" in text_of(shown)
    field = page(shown).find("input", attrs={"name": "next"})
    assert field is None
    done = await http.post(
        "/account/security/two-factor/enable", {"next": "https://evil.example/"}, headers=HTMX
    )
    assert page(done).find("input", attrs={"name": "next"}) is None


async def test_removing_the_last_factor_sends_them_to_enrol_again(http):
    client_id, owner = await make_client("Again Co")
    await turn_on_two_factor(owner)
    await clients.update_client(client_id, require_two_factor=True, actor=user_actor(owner))
    await sign_in_with_code(http, owner)
    assert (await http.get("/account")).status_code == 200
    # The Security page says what turning it off means here.
    security = await http.get("/account/security")
    warning = page(security).find(id="tf-required-by")
    assert warning is not None and "Again Co requires two-factor authentication" in (
        warning.get_text()
    )
    # Staff turn it off (a lost phone): the very next request of the same session is sent to
    # enrol again.
    await two_factor.staff_disable(owner["id"], actor=ADMIN)
    refused = await http.get("/account")
    assert refused.status_code == 303
    assert urlsplit(enrolment_target(refused)).path == "/account/security"


async def test_a_member_with_two_factor_reaches_the_account(http):
    client_id, _owner = await make_client("Fine Co")
    member = await make_user("Fia", "Fine")
    await access.grant_access(client_id, member["id"], ["invoices"], actor=ADMIN)
    await clients.update_client(client_id, require_two_factor=True, actor=ADMIN)
    await turn_on_two_factor(member)
    await sign_in_with_code(http, member)
    shown = await http.get("/account")
    assert shown.status_code == 200 and "Fine Co" in text_of(shown)


# --- who does not comply yet ----------------------------------------------------------------


async def test_the_users_tab_and_user_management_show_who_does_not_comply(http, admin_session):
    client_id, owner = await make_client("Badge Co")
    member = await make_user("Nia", "Nofactor")
    await access.grant_access(client_id, member["id"], ["invoices"], actor=ADMIN)
    tab = await http.get(f"/admin/clients/{client_id}/users")
    assert "No two-factor" not in text_of(tab)  # not required: nobody is out of line

    await turn_on_two_factor(owner)
    await clients.update_client(client_id, require_two_factor=True, actor=ADMIN)
    tab = await http.get(f"/admin/clients/{client_id}/users")
    member_row = page(tab).find(id=f"user-{member['id']}")
    owner_row = page(tab).find(id=f"user-{owner['id']}")
    assert member_row.find(class_="badge-no-two-factor") is not None
    assert owner_row.find(class_="badge-no-two-factor") is None
    assert "1 user has not set it up yet" in text_of(tab)

    # The member enrols: the tab (kept per account version) says so at once.
    await turn_on_two_factor(member)
    tab = await http.get(f"/admin/clients/{client_id}/users")
    assert page(tab).find(class_="badge-no-two-factor") is None
    assert "Everyone has set it up." in text_of(tab)


async def test_user_management_shows_the_badge_to_the_owner(http):
    client_id, owner = await make_client("Owner Badge Co")
    member = await make_user("Ned", "Nofactor")
    await access.grant_access(client_id, member["id"], ["invoices"], actor=ADMIN)
    await turn_on_two_factor(owner)
    await clients.update_client(client_id, require_two_factor=True, actor=user_actor(owner))
    await sign_in_with_code(http, owner)
    shown = await http.get("/account/users")
    assert shown.status_code == 200, text_of(shown)
    row = page(shown).find(id=f"user-{member['id']}")
    assert row.find(class_="badge-no-two-factor") is not None


async def sign_in_with_code(http, user: dict) -> None:
    """Password, then the Authentication Code (read from the stored secret)."""
    from app.schema.two_factor import TwoFactor

    await http.login(user["email"])
    row = await TwoFactor.select().where(TwoFactor.user == user["id"]).first()
    # The code for the next step: the one just used at enrolment is not accepted again.
    step = two_factor.time_step() + 1
    done = await http.post("/login/code", {"code": two_factor.code_at(row["secret"], step)})
    assert done.status_code in (200, 303), text_of(done)


# --- entering is recorded only when they enter ------------------------------------------------


async def entry_of(client_id: int, user_id: int):
    from app.schema.grants import Grant

    row = (
        await Grant.select(Grant.last_login_at)
        .where((Grant.client == client_id) & (Grant.user == user_id))
        .first()
    )
    return row["last_login_at"]


async def test_an_account_that_sends_them_to_enrol_records_no_entry_until_they_enrol(http, heard):
    """A login straight into an account that requires two-factor authentication, and Choose
    Account, record "last login to this account" (account.entered) only once the user, sent to
    enrol, has enrolled: not when they are sent."""
    from app.domain.events.catalog import AccountEntered

    client_id, owner = await requiring("Entry Co")
    heard.clear()
    straight = await http.login(owner["email"])  # their only account: straight into it
    assert urlsplit(straight.headers["location"]).path == "/account"
    assert enrolment_target(await http.get("/account")).startswith("/account/security")
    assert await entry_of(client_id, owner["id"]) is None
    # Choose Account, with a second account that does not require it.
    other_id, _ = await make_client("Open Co")
    await access.grant_access(other_id, owner["id"], ["invoices"], actor=ADMIN)
    chosen = await http.post(f"/accounts/{client_id}/select", {})
    assert chosen.status_code == 303
    assert await entry_of(client_id, owner["id"]) is None
    assert not [e for e in heard if isinstance(e, AccountEntered)]
    # The other account is entered (and recorded) as before.
    await http.post(f"/accounts/{other_id}/select", {})
    assert await entry_of(other_id, owner["id"]) is not None
    # Back to Entry Co, enrol: now they enter, and it is recorded.
    await http.post(f"/accounts/{client_id}/select", {})
    heard.clear()
    started = await http.post("/account/security/two-factor/enable", {}, headers=HTMX)
    secret = page(started).find(id="two-factor-key").get_text().replace(" ", "")
    done = await http.post(
        "/account/security/two-factor/confirm", {"code": code(secret)}, headers=HTMX
    )
    assert done.status_code == 200
    assert await entry_of(client_id, owner["id"]) is not None
    assert [e.client_id for e in heard if isinstance(e, AccountEntered)] == [client_id]
