"""Access until through the JSON API (/api/v1): read and written on grants and invitations."""

from datetime import UTC, datetime

from app.domain.access import services as access
from app.schema.grants import Grant
from app.schema.invitations import Invitation
from tests.factories import ADMIN, make_client, make_user
from tests.integration.test_api_v1 import api, assert_problem, full  # noqa: F401 (fixtures)

END = "2099-12-14T18:00:00Z"
END_AT = datetime(2099, 12, 14, 18, tzinfo=UTC)


async def test_a_grants_end_is_set_read_changed_kept_and_cleared(api, full):  # noqa: F811
    client_id, _owner = await make_client()
    member = await make_user()
    base = f"/api/v1/clients/{client_id}/users"
    granted = await api.post(
        base,
        json={"user_id": member["id"], "permissions": ["tickets"], "access_until": END},
        headers=full,
    )
    assert granted.status_code == 201, granted.text
    assert datetime.fromisoformat(granted.json()["access_until"]) == END_AT
    listed = (await api.get(base, headers=full)).json()["items"]
    assert [g["access_until"] for g in listed][0] is None  # the owner's
    assert datetime.fromisoformat(listed[1]["access_until"]) == END_AT

    kept = await api.put(f"{base}/{member['id']}", json={"permissions": ["domains"]}, headers=full)
    assert datetime.fromisoformat(kept.json()["access_until"]) == END_AT
    dated = await api.put(
        f"{base}/{member['id']}",
        json={"permissions": ["domains"], "access_until": "2099-12-20"},
        headers=full,
    )
    assert dated.json()["access_until"].startswith("2099-12-20T23:59:59")
    cleared = await api.put(
        f"{base}/{member['id']}", json={"permissions": ["domains"], "access_until": None},
        headers=full,
    )  # fmt: skip
    assert cleared.json()["access_until"] is None
    assert await access.access_until_of(client_id, member["id"]) is None


async def test_a_past_or_unparsable_end_is_a_422_naming_the_field_and_changes_nothing(
    api,  # noqa: F811
    full,  # noqa: F811
):
    client_id, _owner = await make_client()
    member = await make_user()
    base = f"/api/v1/clients/{client_id}/users"
    for bad in ("2001-01-01T00:00:00Z", "soon", "2099-02-30"):
        refused = await api.post(
            base,
            json={"user_id": member["id"], "permissions": ["tickets"], "access_until": bad},
            headers=full,
        )
        problem = assert_problem(refused, 422)
        assert "access_until" in problem["errors"], problem
        invited = await api.post(
            f"/api/v1/clients/{client_id}/invitations",
            json={"email": "x@example.com", "permissions": ["tickets"], "access_until": bad},
            headers=full,
        )
        assert_problem(invited, 422)
    assert await Grant.count().where(Grant.user == member["id"]) == 0
    assert await Invitation.count() == 0


async def test_an_end_set_meanwhile_makes_an_if_match_put_412(api, full):  # noqa: F811
    """A grant's ETag covers its Access until: a PUT prepared before someone changed the end
    does not overwrite it."""
    client_id, _owner = await make_client()
    member = await make_user()
    await access.grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    url = f"/api/v1/clients/{client_id}/users/{member['id']}"
    etag = (await api.get(url, headers=full)).headers["etag"]
    await access.set_access_until(client_id, member["id"], END_AT, actor=ADMIN)
    refused = await api.put(
        url,
        json={"permissions": ["tickets"], "access_until": "2099-12-20"},
        headers={**full, "If-Match": etag},
    )
    assert_problem(refused, 412)
    assert await access.access_until_of(client_id, member["id"]) == END_AT
    now = (await api.get(url, headers=full)).headers["etag"]
    assert now != etag
    done = await api.put(
        url,
        json={"permissions": ["tickets"], "access_until": "2099-12-20"},
        headers={**full, "If-Match": now},
    )
    assert done.status_code == 200, done.text


async def test_an_invitation_carries_its_end(api, full):  # noqa: F811
    client_id, _owner = await make_client()
    base = f"/api/v1/clients/{client_id}/invitations"
    invited = await api.post(
        base,
        json={"email": "temp@example.com", "permissions": ["tickets"], "access_until": END},
        headers=full,
    )
    assert invited.status_code == 201, invited.text
    assert datetime.fromisoformat(invited.json()["access_until"]) == END_AT
    listed = (await api.get(base, headers=full)).json()["items"]
    assert datetime.fromisoformat(listed[0]["access_until"]) == END_AT
    plain = await api.post(
        base, json={"email": "plain@example.com", "permissions": ["tickets"]}, headers=full
    )
    assert plain.json()["access_until"] is None


async def test_the_openapi_schema_documents_the_field(api, full):  # noqa: F811
    schema = (await api.get("/api/v1/schema/openapi.json")).json()
    parts = schema["components"]["schemas"]
    assert "access_until" in parts["Grant"]["properties"]
    assert "access_until" in parts["Invitation"]["properties"]
    assert "access_until" in parts["GrantCreate"]["properties"]
    assert "access_until" in parts["InvitationCreate"]["properties"]
