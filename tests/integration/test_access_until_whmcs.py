"""Access until through /includes/api.php, Roster's extension to WHMCS's actions, driven by
whmcspy against a real server: WHMCS clients that do not know it are unaffected."""

from datetime import UTC, datetime

from app.domain.access import services as access
from app.domain.access.services import grant_access
from app.schema.invitations import Invitation
from tests.factories import ADMIN, make_client, make_user
from tests.integration.test_whmcs_api import (  # noqa: F401 (fixtures)
    api,
    error_of,
    mail,
    seen_secrets,
    server,
)

END_AT = datetime(2099, 12, 14, 18, tzinfo=UTC)


async def test_update_user_permissions_sets_keeps_and_clears_the_end(api):  # noqa: F811
    client_id, _owner = await make_client()
    member = await make_user()
    await grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    ids = {"user_id": member["id"], "client_id": client_id}
    assert api.call("GetUserPermissions", **ids)["access_until"] is None
    answer = api.call(
        "UpdateUserPermissions", **ids, permissions="tickets", access_until="2099-12-14T18:00:00Z"
    )
    assert answer == {"result": "success"}
    assert await access.access_until_of(client_id, member["id"]) == END_AT
    read = api.call("GetUserPermissions", **ids)
    assert datetime.fromisoformat(read["access_until"]) == END_AT
    assert read["permissions"] == {"permission": ["tickets"]}
    api.call("UpdateUserPermissions", **ids, permissions="invoices")  # no access_until: kept
    assert await access.access_until_of(client_id, member["id"]) == END_AT
    details = api.call("GetClientsDetails", clientid=client_id)
    people = {p["id"]: p for p in details["users"]["user"]}
    assert datetime.fromisoformat(people[member["id"]]["access_until"]) == END_AT
    api.call("UpdateUserPermissions", **ids, permissions="invoices", access_until="none")
    assert await access.access_until_of(client_id, member["id"]) is None
    for bad in ("2001-01-01", "later"):
        text = error_of(
            api, "UpdateUserPermissions", **ids, permissions="tickets", access_until=bad
        )
        assert text.startswith("Access until must")
    assert await access.access_until_of(client_id, member["id"]) is None


async def test_create_client_invite_carries_the_end(api):  # noqa: F811
    client_id, _owner = await make_client()
    answer = api.call(
        "CreateClientInvite",
        client_id=client_id,
        email="temp@example.com",
        permissions="tickets",
        access_until="2099-12-14T18:00:00Z",
    )
    assert answer == {"result": "success"}
    row = await Invitation.select().where(Invitation.email == "temp@example.com").first()
    assert row["access_until"] == END_AT
    text = error_of(
        api,
        "CreateClientInvite",
        client_id=client_id,
        email="late@example.com",
        permissions="tickets",
        access_until="1999-01-01",
    )
    assert text == "Access until must be in the future."
    assert await Invitation.count().where(Invitation.email == "late@example.com") == 0
