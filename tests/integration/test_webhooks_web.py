"""The webhooks screen, /admin/webhooks: a Full Administrator adds an endpoint (its secret shown
once), sends it a test event, resends a delivery, rotates the secret, edits and deletes it; a
Support Operator reaches none of it."""

from app.schema.webhooks import WebhookDelivery, WebhookEndpoint
from tests.integration.conftest import page, text_of

HX = {"hx-request": "true"}
URL = "http://127.0.0.1:9/hooks"  # a private address: allowed only with the setting


def secret_in(response) -> str:
    field = page(response).find(id="webhook-secret-value")
    return field["value"] if field else ""


async def test_a_private_address_is_refused_in_the_form_and_nothing_is_added(http, admin_session):
    empty = await http.get("/admin/webhooks")
    assert empty.status_code == 200 and "No webhook endpoints yet" in text_of(empty)
    assert page(empty).select_one('nav a[href="/admin/webhooks"]')
    refused = await http.post(
        "/admin/webhooks", {"url": URL, "description": "Billing", "scope": "all"}, headers=HX
    )
    assert refused.status_code == 422 and "<html" not in refused.text
    form = page(refused).find("form", id="webhook-add-form")
    assert form.find("input", {"name": "url"})["value"] == URL  # kept as typed
    assert form.find(class_="error").get_text(strip=True)
    assert not await WebhookEndpoint.exists()


async def test_staff_add_test_resend_rotate_edit_and_delete(http, admin_session, allow_private):
    added = await http.post(
        "/admin/webhooks",
        {"url": URL, "description": "Billing", "scope": "choose", "event_types": ["grant.created"]},
        headers=HX,
    )
    assert added.status_code == 200
    secret = secret_in(added)
    assert secret.startswith("whsec_")
    endpoint = await WebhookEndpoint.select().first()
    assert endpoint["event_types"] == "grant.created"
    # Shown once: neither the list nor the endpoint's page shows it again.
    for url in ("/admin/webhooks", f"/admin/webhooks/{endpoint['id']}"):
        assert secret not in (await http.get(url)).text

    base = f"/admin/webhooks/{endpoint['id']}"
    tested = await http.post(f"{base}/test", headers=HX)
    assert "Test event queued" in tested.headers["hx-trigger"]
    assert "webhook.test" in text_of(tested) and "Queued" in text_of(tested)
    [delivery] = await WebhookDelivery.select().where(WebhookDelivery.endpoint == endpoint["id"])
    resent = await http.post(f"{base}/deliveries/{delivery['id']}/resend", headers=HX)
    assert resent.status_code == 200
    copies = await WebhookDelivery.select(WebhookDelivery.message_id)
    assert [row["message_id"] for row in copies] == [delivery["message_id"]] * 2
    # A delivery is resent only from its own endpoint's page.
    stranger = await http.post(
        f"/admin/webhooks/999/deliveries/{delivery['id']}/resend", headers=HX
    )
    assert stranger.status_code == 404

    rotated = await http.post(f"{base}/rotate", headers=HX)
    assert secret_in(rotated).startswith("whsec_") and secret_in(rotated) != secret

    no_types = await http.post(
        base, {"url": URL, "description": "Billing", "scope": "choose", "enabled": "on"}, headers=HX
    )
    assert no_types.status_code == 422 and "Choose at least one event type" in text_of(no_types)
    saved = await http.post(
        base, {"url": URL, "description": "Billing v2", "scope": "all"}, headers=HX
    )
    assert saved.status_code == 200 and "Disabled" in text_of(saved)
    stored = await WebhookEndpoint.select().first()
    assert (stored["description"], stored["event_types"], stored["enabled"]) == (
        "Billing v2",
        "*",
        False,
    )

    deleted = await http.post(f"{base}/delete", headers=HX)
    assert deleted.headers["hx-location"] == "/admin/webhooks?deleted=1"
    assert "Webhook endpoint deleted" in text_of(await http.get("/admin/webhooks?deleted=1"))
    assert not await WebhookEndpoint.exists() and not await WebhookDelivery.exists()


async def test_a_support_operator_reaches_no_webhook_page(http, support_session, allow_private):
    assert not page(await http.get("/admin/clients")).select_one('a[href="/admin/webhooks"]')
    for method, url in (
        ("get", "/admin/webhooks"),
        ("post", "/admin/webhooks"),
        ("get", "/admin/webhooks/1"),
        ("post", "/admin/webhooks/1/test"),
        ("post", "/admin/webhooks/1/rotate"),
        ("post", "/admin/webhooks/1/delete"),
        ("post", "/admin/webhooks/1/deliveries/1/resend"),
    ):
        response = await getattr(http, method)(url)
        assert response.status_code == 403, (method, url)
    assert not await WebhookEndpoint.exists()
