"""Webhooks through /api/v1: the endpoints' whole lifecycle with a Full Administrator's
credential (the secret in one answer only), every operation refused to a Support Operator's,
bad input refused with nothing changed, and the document's `webhooks` section, which describes
each message by its event's own fields and validates the bodies actually queued."""

import logging
from datetime import UTC, datetime, timedelta

import jsonschema
import msgspec
import pytest
from openapi_spec_validator import validate

from app.core.config import get_settings
from app.core.db import MAX_ID
from app.domain.activity.services import Actor
from app.domain.events.catalog import all_events
from app.domain.webhooks import services as webhooks
from app.http.api.app import create_api_app
from app.schema.activity import ActivityEntry
from app.schema.staff import Admin
from app.schema.webhooks import WebhookDelivery, WebhookEndpoint
from tests.factories import make_client
from tests.integration import test_api_v1
from tests.integration.test_api_v1 import assert_problem

api, full, support = test_api_v1.api, test_api_v1.full, test_api_v1.support  # the fixtures

PREFIX = "/api/v1/webhooks"
RECEIVER = "http://127.0.0.1:9/hooks"  # loopback: needs ROSTER_WEBHOOK_ALLOW_PRIVATE


@pytest.fixture
def public_only(monkeypatch):
    monkeypatch.delenv("ROSTER_WEBHOOK_ALLOW_PRIVATE", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def document() -> dict:
    return create_api_app(production=False).openapi_schema.to_schema()


async def stored() -> tuple[list[dict], list[dict]]:
    """Every endpoint and every delivery, as stored: what "nothing changed" compares."""
    endpoints = await WebhookEndpoint.select().order_by(WebhookEndpoint.id)
    deliveries = await WebhookDelivery.select().order_by(WebhookDelivery.id)
    return endpoints, deliveries


async def test_an_endpoints_lifecycle_with_the_secret_shown_only_when_made(
    api, full, allow_private, caplog
):
    caplog.set_level(logging.DEBUG, logger="roster")
    created = await api.post(
        f"{PREFIX}/endpoints",
        json={"url": RECEIVER, "description": "Billing", "event_types": ["client.created"]},
        headers=full,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    first_secret = body["secret"]
    assert first_secret.startswith("whsec_")
    endpoint_id = body["id"]
    assert body["url"] == RECEIVER and body["event_types"] == ["client.created"]
    assert body["enabled"] is True and body["previous_secret_valid_until"] is None

    one = await api.get(f"{PREFIX}/endpoints/{endpoint_id}", headers=full)
    assert one.status_code == 200 and 'secret"' not in one.text.replace("_secret_", "")
    assert first_secret not in one.text and "secret" not in one.json()
    listed = await api.get(f"{PREFIX}/endpoints", headers=full)
    assert listed.json()["total"] == 1 and first_secret not in listed.text
    assert "secret" not in listed.json()["items"][0]

    # An edit on the version read; then one on that old version is refused.
    etag = one.headers["etag"]
    changed = await api.patch(
        f"{PREFIX}/endpoints/{endpoint_id}",
        json={"description": "Billing and CRM", "event_types": ["client.created", "user.updated"]},
        headers={**full, "If-Match": etag},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["event_types"] == ["client.created", "user.updated"]
    assert changed.headers["etag"] != etag
    late = await api.patch(
        f"{PREFIX}/endpoints/{endpoint_id}",
        json={"enabled": False},
        headers={**full, "If-Match": etag},
    )
    assert_problem(late, 412)
    assert (await webhooks.get_endpoint(endpoint_id))["enabled"] is True

    rotated = await api.post(f"{PREFIX}/endpoints/{endpoint_id}/rotate-secret", headers=full)
    assert rotated.status_code == 200, rotated.text
    second_secret = rotated.json()["secret"]
    assert second_secret.startswith("whsec_") and second_secret != first_secret
    assert rotated.json()["previous_secret_valid_until"] is not None
    again = await api.get(f"{PREFIX}/endpoints/{endpoint_id}", headers=full)
    assert first_secret not in again.text and second_secret not in again.text

    tested = await api.post(f"{PREFIX}/endpoints/{endpoint_id}/test", headers=full)
    assert tested.status_code == 202, tested.text
    test_delivery = tested.json()["delivery_id"]
    deliveries = (
        await api.get(f"{PREFIX}/endpoints/{endpoint_id}/deliveries", headers=full)
    ).json()
    assert deliveries["total"] == 1
    (row,) = deliveries["items"]
    assert row["id"] == test_delivery and row["event_type"] == "webhook.test"
    assert row["status"] == "queued" and "body" not in row

    resent = await api.post(f"{PREFIX}/deliveries/{test_delivery}/resend", headers=full)
    assert resent.status_code == 202, resent.text
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    replayed = await api.post(
        f"{PREFIX}/endpoints/{endpoint_id}/replay", json={"since": since}, headers=full
    )
    assert replayed.status_code == 202 and replayed.json() == {"queued": 1}  # one message
    page = (
        await api.get(f"{PREFIX}/endpoints/{endpoint_id}/deliveries?limit=2", headers=full)
    ).json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["limit"] == 2
    ids = {d["message_id"] for d in page["items"]} | {row["message_id"]}
    assert len(ids) == 1  # a resend and a replay keep the webhook-id

    deleted = await api.delete(f"{PREFIX}/endpoints/{endpoint_id}", headers=full)
    assert deleted.status_code == 204
    for gone in (
        await api.get(f"{PREFIX}/endpoints/{endpoint_id}", headers=full),
        await api.get(f"{PREFIX}/endpoints/{endpoint_id}/deliveries", headers=full),
        await api.post(f"{PREFIX}/deliveries/{test_delivery}/resend", headers=full),
        await api.post(f"{PREFIX}/endpoints/{endpoint_id}/rotate-secret", headers=full),
    ):
        assert_problem(gone, 404)

    # The activity log names each change under the credential; no secret anywhere but above.
    entries = await ActivityEntry.select(ActivityEntry.description, ActivityEntry.actor_name)
    actions = " ".join(e["description"] for e in entries)
    assert "API credential" in " ".join(e["actor_name"] for e in entries)
    for secret in (first_secret, second_secret):
        assert secret not in actions and secret not in caplog.text


async def test_endpoints_are_listed_a_page_at_a_time(api, full, allow_private):
    for n in range(3):
        await api.post(f"{PREFIX}/endpoints", json={"url": f"{RECEIVER}/{n}"}, headers=full)
    page = (await api.get(f"{PREFIX}/endpoints?offset=1&limit=1", headers=full)).json()
    assert (page["total"], page["offset"], page["limit"]) == (3, 1, 1)
    assert [e["url"] for e in page["items"]] == [f"{RECEIVER}/1"]


async def test_the_event_types_offered_are_the_catalogs(api, full):
    body = (await api.get(f"{PREFIX}/event-types", headers=full)).json()
    names = [item["name"] for item in body["items"]]
    offered = sorted(kind.NAME for kind in all_events() if kind.WEBHOOK)
    assert names == offered and body["total"] == len(names)
    assert "webhook.test" not in names and "webhook_endpoint.created" not in names
    assert body["items"][names.index("client.status_changed")]["description"].startswith("Active")


async def every_webhook_call(endpoint_id: int, delivery_id: int) -> list[tuple[str, str, dict]]:
    """(method, path, json body) of every webhook operation, on a real endpoint and delivery."""
    at = datetime.now(UTC).isoformat()
    bodies = {
        ("post", "/endpoints"): {"url": RECEIVER},
        ("patch", "/endpoints/{endpoint_id}"): {"enabled": False},
        ("post", "/endpoints/{endpoint_id}/replay"): {"since": at},
    }
    calls = []
    for path, operations in document()["paths"].items():
        if not path.startswith(PREFIX):
            continue
        for method in operations:
            short = path.removeprefix(PREFIX)
            concrete = path.format(endpoint_id=endpoint_id, delivery_id=delivery_id)
            calls.append((method, concrete, bodies.get((method, short))))
    return calls


async def test_a_support_operators_credential_is_refused_every_webhook_operation(
    api, support, allow_private
):
    manager = Actor("system")
    created = await webhooks.create_endpoint(url=RECEIVER, actor=manager)
    delivery_id = await webhooks.send_test_event(created.endpoint_id, actor=manager)
    before = await stored()
    calls = await every_webhook_call(created.endpoint_id, delivery_id)
    assert len(calls) == 11
    for method, path, body in calls:
        response = await api.request(method.upper(), path, json=body, headers=support)
        problem = assert_problem(response, 403)
        assert "manage_webhooks" in problem["detail"], (method, path)
        assert created.secret not in response.text
    assert await stored() == before


async def test_a_credential_is_refused_once_its_staff_member_is_a_support_operator(
    api, full, allow_private
):
    """What a credential may do is its staff member's role now, not when it was made."""
    created = await api.post(f"{PREFIX}/endpoints", json={"url": RECEIVER}, headers=full)
    assert created.status_code == 201
    before = await stored()
    await Admin.update({Admin.role: "support"}).where(Admin.role == "full")
    refused = await api.patch(
        f"{PREFIX}/endpoints/{created.json()['id']}", json={"enabled": False}, headers=full
    )
    assert_problem(refused, 403)
    assert await stored() == before


def names(errors: dict, field: str) -> bool:
    """Whether the problem's errors name the field (or an item of it: `event_types[0]`)."""
    return any(key == field or key.startswith(f"{field}[") for key in errors)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://hooks.example.com/x"}, "url"),
        ({"url": "hooks.example.com/x"}, "url"),
        ({"url": "http://127.0.0.1:9/hooks"}, "url"),  # private, and not allowed here
        ({"url": "http://10.1.2.3/hooks"}, "url"),
        ({"url": "http://[::1]/hooks"}, "url"),
        ({"url": "https://hooks.example.com/\x00"}, "url"),
        ({"url": "https://" + "a" * 2000 + ".example.com/"}, "url"),
        ({"url": "https://203.0.113.9/", "event_types": ["client.exploded"]}, "event_types"),
        ({"url": "https://203.0.113.9/", "event_types": []}, "event_types"),
        ({"url": "https://203.0.113.9/", "event_types": ["*", "client.created"]}, "event_types"),
        ({"url": "https://203.0.113.9/", "description": "d" * 201}, "description"),
        ({"url": "https://203.0.113.9/", "description": "bad\x00byte"}, "description"),
        ({"url": "https://203.0.113.9/", "enabled": "yes"}, "enabled"),
    ],
)
async def test_bad_input_is_a_422_problem_naming_the_field_and_changes_nothing(
    api, full, public_only, body, field
):
    created = await webhooks.create_endpoint(
        url="https://93.184.215.14/hooks", actor=Actor("system")
    )
    before = await stored()
    made = await api.post(f"{PREFIX}/endpoints", json=body, headers=full)
    assert names(assert_problem(made, 422)["errors"], field), made.text
    edited = await api.patch(f"{PREFIX}/endpoints/{created.endpoint_id}", json=body, headers=full)
    assert names(assert_problem(edited, 422)["errors"], field), edited.text
    assert await stored() == before


async def test_impossible_ids_dates_and_bodies_are_4xx_problems_and_change_nothing(
    api, full, allow_private
):
    created = await webhooks.create_endpoint(url=RECEIVER, actor=Actor("system"))
    endpoint = f"{PREFIX}/endpoints/{created.endpoint_id}"
    before = await stored()
    for huge in (MAX_ID + 1, 10**30):
        assert (await api.get(f"{PREFIX}/endpoints/{huge}", headers=full)).status_code in (
            404,
            422,
        )
        response = await api.post(f"{PREFIX}/deliveries/{huge}/resend", headers=full)
        assert response.status_code in (404, 422) and response.headers["content-type"].endswith(
            "problem+json"
        )
    assert_problem(await api.get(f"{PREFIX}/endpoints/{MAX_ID}", headers=full), 404)
    assert_problem(await api.post(f"{PREFIX}/deliveries/{MAX_ID}/resend", headers=full), 404)
    assert_problem(await api.post(f"{PREFIX}/endpoints/0/test", headers=full), 422)
    for since in ("2025-01-01T00:00:00", "yesterday", "2025-13-01T00:00:00Z", None):
        replay = await api.post(f"{endpoint}/replay", json={"since": since}, headers=full)
        assert "since" in assert_problem(replay, 422)["errors"], since
    malformed = await api.post(
        f"{PREFIX}/endpoints",
        content=b'{"url": ',
        headers={**full, "Content-Type": "application/json"},
    )
    assert_problem(malformed, 400)
    assert await stored() == before


# ---- the document's webhooks section -----------------------------------------------------------


def envelope_of(section: dict, name: str) -> dict:
    return section[name]["post"]["requestBody"]["content"]["application/json"]["schema"]


def test_the_document_describes_every_message_by_its_events_own_fields():
    spec = document()
    validate(spec)
    section = spec["webhooks"]
    kinds = {kind.NAME: kind for kind in all_events() if kind.WEBHOOK} | {
        webhooks.TestMessage.NAME: webhooks.TestMessage
    }
    assert set(section) == set(kinds)
    for name, kind in kinds.items():
        envelope = envelope_of(section, name)
        assert envelope["required"] == ["type", "version", "timestamp", "data"]
        assert envelope["properties"]["type"]["const"] == name
        assert envelope["properties"]["version"]["const"] == kind.VERSION
        assert envelope["properties"]["timestamp"]["format"] == "date-time"
        data = envelope["properties"]["data"]
        fields = {field.encode_name for field in msgspec.structs.fields(kind)}
        assert set(data["properties"]) == fields == set(data["required"]), name
        assert "$ref" not in str(data)
        operation = section[name]["post"]
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
        assert all(p["required"] for p in operation["parameters"])
        assert any(status.startswith("2") for status in operation["responses"])
    # Typed as the payload is: a tuple is an array, a datetime a date-time, an optional a null.
    grant = envelope_of(section, "grant.updated")["properties"]["data"]["properties"]
    assert grant["permissions"]["type"] == "array"
    resent = envelope_of(section, "invite.resent")["properties"]["data"]
    assert resent["properties"]["expires_at"] == {"type": "string", "format": "date-time"}
    for name, kind in kinds.items():
        properties = envelope_of(section, name)["properties"]["data"]["properties"]
        for field in msgspec.structs.fields(kind):
            if "datetime" in str(field.type):
                shown = properties[field.encode_name]
                formats = [shown.get("format")] + [
                    one.get("format") for one in shown.get("anyOf", ()) if one != {"type": "null"}
                ]
                assert "date-time" in formats and None not in formats[1:], (name, field)
    ended = envelope_of(section, "grant.access_until_changed")["properties"]["data"]
    assert {"type": "null"} in ended["properties"]["access_until"]["anyOf"]
    user = envelope_of(section, "user.created")["properties"]["data"]["properties"]
    assert {"type": "null"} in user["client_id"]["anyOf"]


async def test_the_bodies_queued_validate_against_their_documented_schema(api, full, allow_private):
    section = document()["webhooks"]
    created = await api.post(f"{PREFIX}/endpoints", json={"url": RECEIVER}, headers=full)
    endpoint_id = created.json()["id"]
    client_id, owner = await make_client()
    for change in (
        await api.patch(
            f"/api/v1/users/{owner['id']}", json={"first_name": "Renamed"}, headers=full
        ),
        await api.patch(f"/api/v1/clients/{client_id}", json={"status": "Closed"}, headers=full),
        await api.post(f"{PREFIX}/endpoints/{endpoint_id}/rotate-secret", headers=full),
        await api.post(f"{PREFIX}/endpoints/{endpoint_id}/test", headers=full),
    ):
        assert change.status_code < 300, change.text
    rows = await WebhookDelivery.select(WebhookDelivery.event_type, WebhookDelivery.body)
    kinds = {row["event_type"] for row in rows}
    assert {
        "client.created",
        "user.created",
        "user.updated",
        "client.status_changed",
        "webhook.test",
    } <= kinds
    for row in rows:
        schema = envelope_of(section, row["event_type"])
        validator = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        validator.validate(msgspec.json.decode(row["body"]))
    # The schemas do refuse what is not such a body.
    one = msgspec.json.decode(rows[-1]["body"])
    wrong = {**one, "data": {**one["data"], "endpoint_id": "seven"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, envelope_of(section, "webhook.test"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**one, "type": "user.created"}, envelope_of(section, "webhook.test"))
