"""Apps (Sign in with Roster) through /api/v1: the whole lifecycle with a Full Administrator's
credential (the Client Secret in one answer only), every operation refused to a Support
Operator's, bad input a 422 that changes nothing, and the operations in the OpenAPI document."""

import jsonschema
import pytest
from openapi_spec_validator import validate

from app.core.db import MAX_ID
from app.domain.activity.services import Actor
from app.domain.oauth import apps
from app.http.api.app import create_api_app
from app.schema.activity import ActivityEntry
from app.schema.oauth import OAuthApp
from tests.integration import test_api_v1
from tests.integration.test_api_v1 import assert_problem

api, full, support = test_api_v1.api, test_api_v1.full, test_api_v1.support  # the fixtures

PREFIX = "/api/v1/apps"
REDIRECT = "https://desk.example.com/callback"
SYSTEM = Actor("system")


def document() -> dict:
    return create_api_app(production=False).openapi_schema.to_schema()


def stored():
    return OAuthApp.select().order_by(OAuthApp.id)


async def test_an_apps_lifecycle_with_the_secret_shown_only_when_made(api, full):
    created = await api.post(
        PREFIX,
        json={
            "name": "Support desk",
            "redirect_uris": [REDIRECT],
            "post_logout_redirect_uris": ["https://desk.example.com/"],
            "allowed_scopes": ["profile"],
            "first_party": True,
            "id_token_alg": "ES256",
        },
        headers=full,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    first_secret, client_id, app_id = body["client_secret"], body["client_id"], body["id"]
    assert first_secret.startswith("appsec_") and client_id.startswith("app_")
    assert body["redirect_uris"] == [REDIRECT] and body["allowed_scopes"] == ["openid", "profile"]
    assert body["confidential"] and body["first_party"] and body["enabled"]
    assert body["id_token_alg"] == "ES256"

    one = await api.get(f"{PREFIX}/{app_id}", headers=full)
    assert one.status_code == 200 and one.json()["client_id"] == client_id
    assert first_secret not in one.text and "client_secret" not in one.json()
    listed = await api.get(PREFIX, headers=full)
    assert listed.json()["total"] == 1 and first_secret not in listed.text
    assert "client_secret" not in listed.json()["items"][0]

    changed = await api.patch(
        f"{PREFIX}/{app_id}",
        json={"name": "Desk", "redirect_uris": [REDIRECT, "https://desk.example.com/2"]},
        headers=full,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Desk" and changed.json()["client_secret"] is None
    assert len(changed.json()["redirect_uris"]) == 2

    rotated = await api.post(f"{PREFIX}/{app_id}/rotate-secret", headers=full)
    assert rotated.status_code == 200, rotated.text
    second_secret = rotated.json()["client_secret"]
    assert second_secret.startswith("appsec_") and second_secret != first_secret
    found = await apps.find_app(client_id)
    assert apps.secret_matches(found, second_secret)
    assert not apps.secret_matches(found, first_secret)

    disabled = await api.patch(f"{PREFIX}/{app_id}", json={"enabled": False}, headers=full)
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    public = await api.patch(f"{PREFIX}/{app_id}", json={"confidential": False}, headers=full)
    assert public.json()["confidential"] is False and public.json()["client_secret"] is None
    assert (await apps.find_app(client_id))["secret_hash"] is None
    refused = await api.post(f"{PREFIX}/{app_id}/rotate-secret", headers=full)
    assert "public app" in assert_problem(refused, 409)["detail"]
    secret_again = await api.patch(f"{PREFIX}/{app_id}", json={"confidential": True}, headers=full)
    third_secret = secret_again.json()["client_secret"]
    assert third_secret.startswith("appsec_")
    assert apps.secret_matches(await apps.find_app(client_id), third_secret)

    deleted = await api.delete(f"{PREFIX}/{app_id}", headers=full)
    assert deleted.status_code == 204
    for gone in (
        await api.get(f"{PREFIX}/{app_id}", headers=full),
        await api.patch(f"{PREFIX}/{app_id}", json={"name": "X"}, headers=full),
        await api.post(f"{PREFIX}/{app_id}/rotate-secret", headers=full),
        await api.delete(f"{PREFIX}/{app_id}", headers=full),
    ):
        assert_problem(gone, 404)
    assert not await OAuthApp.exists()

    entries = await ActivityEntry.select(ActivityEntry.description, ActivityEntry.actor_name)
    assert "API credential" in " ".join(e["actor_name"] for e in entries)
    said = " ".join(e["description"] for e in entries)
    for secret in (first_secret, second_secret, third_secret):
        assert secret not in said


async def test_a_public_app_is_made_without_a_secret(api, full):
    made = await api.post(
        PREFIX,
        json={"name": "Mobile", "redirect_uris": [REDIRECT], "confidential": False},
        headers=full,
    )
    assert made.status_code == 201, made.text
    assert made.json()["client_secret"] is None and made.json()["confidential"] is False
    assert made.json()["allowed_scopes"] == list(apps.SCOPES_SUPPORTED)
    [row] = await stored()
    assert row["secret_hash"] is None


async def test_apps_are_listed_a_page_at_a_time(api, full):
    for n in range(3):
        await apps.create_app(name=f"App {n}", redirect_uris=REDIRECT, actor=SYSTEM)
    page = (await api.get(f"{PREFIX}?offset=1&limit=1", headers=full)).json()
    assert page["total"] == 3 and [a["name"] for a in page["items"]] == ["App 1"]


def every_app_call(app_id: int) -> list[tuple[str, str, dict | None]]:
    """(method, path, json body) of every app operation the document lists, on a real app."""
    bodies = {
        ("post", ""): {"name": "X", "redirect_uris": [REDIRECT]},
        ("patch", "/{app_id}"): {"enabled": False},
    }
    calls = []
    for path, operations in document()["paths"].items():
        if path == PREFIX or path.startswith(PREFIX + "/"):
            for method in operations:
                short = path.removeprefix(PREFIX)
                calls.append((method, path.format(app_id=app_id), bodies.get((method, short))))
    return calls


async def test_a_support_operators_credential_is_refused_every_app_operation(api, support):
    created = await apps.create_app(name="Desk", redirect_uris=REDIRECT, actor=SYSTEM)
    before = await stored()
    calls = every_app_call(created.app_id)
    assert len(calls) == 6
    for method, path, body in calls:
        response = await api.request(method.upper(), path, json=body, headers=support)
        problem = assert_problem(response, 403)
        assert "manage_apps" in problem["detail"], (method, path)
        assert created.client_id not in response.text
    assert await stored() == before


def names(errors: dict, field: str) -> bool:
    """Whether the problem's errors name the field (or an item of it: `redirect_uris[0]`)."""
    return any(key == field or key.startswith(f"{field}[") for key in errors)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "n" * 101}, "name"),
        ({"name": "bad\x00byte"}, "name"),
        ({"redirect_uris": []}, "redirect_uris"),
        ({"redirect_uris": ["desk.example.com/cb"]}, "redirect_uris"),
        ({"redirect_uris": ["http://desk.example.com/cb"]}, "redirect_uris"),
        ({"redirect_uris": ["https://desk.example.com/cb#frag"]}, "redirect_uris"),
        ({"redirect_uris": ["https://desk.example.com/\x00"]}, "redirect_uris"),
        ({"redirect_uris": ["https://desk.example.com/" + "a" * 2000]}, "redirect_uris"),
        ({"redirect_uris": [f"https://d{n}.example.com/" for n in range(21)]}, "redirect_uris"),
        ({"redirect_uris": "https://desk.example.com/cb"}, "redirect_uris"),
        ({"post_logout_redirect_uris": ["ftp://x.example.com/"]}, "post_logout_redirect_uris"),
        ({"allowed_scopes": ["admin"]}, "allowed_scopes"),
        ({"id_token_alg": "HS256"}, "id_token_alg"),
        ({"confidential": "yes"}, "confidential"),
        ({"first_party": "on"}, "first_party"),
    ],
)
async def test_bad_input_is_a_422_problem_naming_the_field_and_changes_nothing(
    api, full, body, field
):
    created = await apps.create_app(name="Desk", redirect_uris=REDIRECT, actor=SYSTEM)
    before = await stored()
    made = await api.post(
        PREFIX, json={"name": "A", "redirect_uris": [REDIRECT], **body}, headers=full
    )
    assert names(assert_problem(made, 422)["errors"], field), made.text
    edited = await api.patch(f"{PREFIX}/{created.app_id}", json=body, headers=full)
    assert names(assert_problem(edited, 422)["errors"], field), edited.text
    assert await stored() == before


async def test_impossible_ids_and_bodies_are_4xx_problems_and_change_nothing(api, full):
    created = await apps.create_app(name="Desk", redirect_uris=REDIRECT, actor=SYSTEM)
    before = await stored()
    for huge in (MAX_ID + 1, 10**30, 0, -1):
        for method in ("GET", "DELETE"):
            response = await api.request(method, f"{PREFIX}/{huge}", headers=full)
            assert response.status_code in (404, 422), (method, huge)
            assert response.headers["content-type"].endswith("problem+json")
        rotate = await api.post(f"{PREFIX}/{huge}/rotate-secret", headers=full)
        assert rotate.status_code in (404, 422)
    assert_problem(await api.get(f"{PREFIX}/{MAX_ID}", headers=full), 404)
    for path in ("abc", "1%00", "%D9%A1"):
        response = await api.get(f"{PREFIX}/{path}", headers=full)
        assert 400 <= response.status_code < 500, path
    malformed = await api.post(
        PREFIX, content=b'{"name": ', headers={**full, "Content-Type": "application/json"}
    )
    assert_problem(malformed, 400)
    missing = await api.post(PREFIX, json={"name": "Desk"}, headers=full)
    assert "redirect_uris" in str(assert_problem(missing, 422)["errors"])
    patched = await api.patch(
        f"{PREFIX}/{created.app_id}", json={"client_id": "app_mine"}, headers=full
    )
    assert patched.status_code in (200, 422)  # an unknown field changes nothing either way
    assert await stored() == before


def test_the_document_describes_the_app_operations_and_is_valid():
    spec = document()
    validate(spec)
    paths = spec["paths"]
    assert set(paths[PREFIX]) == {"get", "post"}
    assert set(paths[f"{PREFIX}/{{app_id}}"]) == {"get", "patch", "delete"}
    assert set(paths[f"{PREFIX}/{{app_id}}/rotate-secret"]) == {"post"}
    for operations in (paths[PREFIX], paths[f"{PREFIX}/{{app_id}}"]):
        for operation in operations.values():
            assert operation["tags"] == ["Apps"]
            assert {"401", "403", "422"} <= set(operation["responses"])
    schemas = spec["components"]["schemas"]
    assert "client_secret" not in schemas["App"]["properties"]
    assert "client_secret" in schemas["AppWithSecret"]["properties"]


async def test_the_answers_validate_against_their_documented_schemas(api, full):
    spec = document()
    made = await api.post(PREFIX, json={"name": "Desk", "redirect_uris": [REDIRECT]}, headers=full)
    one = await api.get(f"{PREFIX}/{made.json()['id']}", headers=full)
    listed = await api.get(PREFIX, headers=full)
    resolver = {"components": spec["components"]}
    for response, path, method, status in (
        (made, PREFIX, "post", "201"),
        (one, f"{PREFIX}/{{app_id}}", "get", "200"),
        (listed, PREFIX, "get", "200"),
    ):
        schema = spec["paths"][path][method]["responses"][status]["content"]["application/json"][
            "schema"
        ]
        jsonschema.validate(response.json(), {**schema, **resolver})
