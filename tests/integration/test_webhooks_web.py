"""The webhooks screen, /admin/webhooks: a Full Administrator adds an endpoint (its secret shown
once), sends it a test event, resends a delivery, rotates the secret, edits and deletes it; a
Support Operator reaches none of it."""

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.core import i18n
from app.domain.activity.services import Actor
from app.domain.auth import services as auth
from app.domain.webhooks import services as webhooks
from app.http.plumbing.middleware import SESSION_COOKIE
from app.schema.activity import ActivityEntry
from app.schema.sessions import Session
from app.schema.staff import Admin
from app.schema.webhooks import WebhookDelivery, WebhookEndpoint
from tests.integration.conftest import Browser, app_for_tests, log_in_as_staff, page, seen, text_of

HX = {"hx-request": "true"}
URL = "http://127.0.0.1:9/hooks"  # a private address: allowed only with the setting
SYSTEM = Actor("system")


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


# Two staff editing one endpoint's settings: a compare-and-set on the values the form opened on.


@pytest.fixture
async def other_staff():
    """A second Full Administrator, Bea, in a browser of her own."""
    app = app_for_tests()
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver.local", follow_redirects=False
    ) as client:
        bea = Browser(client)
        await log_in_as_staff(bea, "bea@example.com", "admin-passphrase-88", "Bea", "full")
        yield bea


def settings_of(response) -> dict:
    """What the settings form in a response would post, as it shows it."""
    form = page(response).find("form", id="webhook-edit-form")
    values: dict = {
        "opened": form.find("input", {"name": "opened"})["value"],
        "url": form.find("input", {"name": "url"})["value"],
        "description": form.find("input", {"name": "description"})["value"],
        "scope": form.find("input", {"name": "scope", "checked": True})["value"],
        "event_types": [i["value"] for i in form.select("input[name=event_types][checked]")],
    }
    if form.find("input", {"name": "enabled", "checked": True}):
        values["enabled"] = "on"
    return values


async def test_two_staff_saving_one_endpoint_the_second_is_refused_and_shown_both(
    http, admin_session, other_staff, allow_private
):
    created = await webhooks.create_endpoint(url=URL, description="Billing", actor=SYSTEM)
    base = f"/admin/webhooks/{created.endpoint_id}"
    ada = settings_of(await http.get(base))
    assert json.loads(ada["opened"]) == {
        "url": URL,
        "description": "Billing",
        "event_types": ["*"],
        "enabled": True,
    }
    bea = settings_of(await other_staff.get(base))

    # Bea turns it off (its receiver is down); Ada, on the form she opened before, narrows the
    # event types. Without the check, Ada's save would quietly turn it on again.
    bea_saved = await other_staff.post(base, {k: v for k, v in bea.items() if k != "enabled"})
    assert bea_saved.status_code == 200
    updates = await ActivityEntry.count().where(ActivityEntry.action == "webhook_endpoint.updated")
    asked = {**ada, "scope": "choose", "event_types": ["grant.created", "user.updated"]}
    refused = await http.post(base, asked, headers=HX)
    assert refused.status_code == 409 and "<html" not in refused.text
    said = text_of(refused)
    assert (
        "Someone changed this endpoint's settings while you were editing: Enabled was turned off."
        in said
    )
    assert "Your change: Event types changed to “grant.created, user.updated”." in said
    assert "Nothing was saved." in said
    stored = await webhooks.get_endpoint(created.endpoint_id)
    assert (stored["enabled"], stored["event_types"]) == (False, ("*",))
    assert (
        await ActivityEntry.count().where(ActivityEntry.action == "webhook_endpoint.updated")
        == updates
    )
    # The form keeps Ada's choice, on top of Bea's change, and now carries the values as they are.
    shown = settings_of(refused)
    assert shown["scope"] == "choose"
    assert shown["event_types"] == ["grant.created", "user.updated"]
    assert "enabled" not in shown
    assert json.loads(shown["opened"])["enabled"] is False
    form = page(refused).find("form", id="webhook-edit-form")
    assert form.find(id="webhook-edit-stale")["role"] == "alert"
    assert form.find("a", string="Discard my change")["href"] == base

    applied = await http.post(base, shown, headers=HX)
    assert applied.status_code == 200
    stored = await webhooks.get_endpoint(created.endpoint_id)
    assert (stored["enabled"], stored["event_types"]) == (False, ("grant.created", "user.updated"))

    # Both change the description: the refused form shows Ada's, and says both changed it.
    ada, bea = settings_of(applied), settings_of(await other_staff.get(base))
    assert (await other_staff.post(base, {**bea, "description": "Bea's"})).status_code == 200
    refused = await http.post(base, {**ada, "description": "Ada's"}, headers=HX)
    assert refused.status_code == 409
    assert "Description changed from “Billing” to “Bea's”" in text_of(refused)
    assert settings_of(refused)["description"] == "Ada's"
    assert (await webhooks.get_endpoint(created.endpoint_id))["description"] == "Bea's"


async def test_a_settings_form_without_a_version_saves_as_before_and_a_bad_one_is_refused(
    http, admin_session, allow_private
):
    created = await webhooks.create_endpoint(url=URL, description="Billing", actor=SYSTEM)
    base = f"/admin/webhooks/{created.endpoint_id}"
    form = settings_of(await http.get(base))
    bad = await http.post(base, {**form, "description": "X", "opened": "[1, 2"}, headers=HX)
    assert bad.status_code == 422 and "out of date" in text_of(bad)
    assert settings_of(bad)["opened"] == "[1, 2"  # still the version it was opened on
    assert (await webhooks.get_endpoint(created.endpoint_id))["description"] == "Billing"
    del form["opened"]
    saved = await http.post(base, {**form, "description": "Billed"}, headers=HX)
    assert saved.status_code == 200
    assert (await webhooks.get_endpoint(created.endpoint_id))["description"] == "Billed"


# A session that ends while the page is open: the next click does nothing and goes to log in.


async def stored_state() -> tuple:
    """Every endpoint (its secrets too), every delivery and the activity log, as stored."""
    endpoints = await WebhookEndpoint.select().order_by(WebhookEndpoint.id)
    deliveries = await WebhookDelivery.select().order_by(WebhookDelivery.id)
    return endpoints, deliveries, await ActivityEntry.count()


async def end_session(http, how: str) -> None:
    if how == "logged out elsewhere":
        await auth.end_session(http.cookies.get(SESSION_COOKIE))
    elif how == "every session ended":
        await Session.delete(force=True)
    else:  # the staff member was disabled
        await Admin.update({Admin.disabled: True}).where(Admin.email == "ada@example.com")


@pytest.mark.parametrize(
    "how", ["logged out elsewhere", "every session ended", "staff member disabled"]
)
async def test_a_click_after_the_session_ended_does_nothing_and_goes_to_log_in(
    http, admin_session, allow_private, how
):
    created = await webhooks.create_endpoint(url=URL, description="Billing", actor=SYSTEM)
    delivery_id = await webhooks.send_test_event(created.endpoint_id, actor=SYSTEM)
    base = f"/admin/webhooks/{created.endpoint_id}"
    form = settings_of(await http.get(base))
    clicks = {
        "/admin/webhooks": {"url": URL, "scope": "all"},
        base: {**form, "description": "Changed", "enabled": ""},
        f"{base}/test": {},
        f"{base}/rotate": {},
        f"{base}/replay": {"since": "2000-01-01T00:00"},
        f"{base}/deliveries/{delivery_id}/resend": {},
        f"{base}/delete": {},
    }
    await end_session(http, how)
    before = await stored_state()
    shown = {**HX, "HX-Current-URL": f"http://testserver.local{base}"}
    for url, data in clicks.items():
        swapped = await http.post(url, data, headers=shown)
        # htmx is told to go to the login page: nothing to swap into the page's section.
        assert (swapped.status_code, swapped.text) == (200, ""), url
        assert swapped.headers["hx-location"] == "/admin/login?ended=1", url
        plain = await http.post(url, data)
        assert plain.status_code == 303 and plain.headers["location"] == "/admin/login?ended=1"
    assert await stored_state() == before
    login = await http.get("/admin/login?ended=1")
    assert "Your session ended. Log in again to continue." in text_of(login)


# Replay through the screen's form: a time a person typed.


@pytest.mark.parametrize(
    "typed",
    [
        "9999-12-31T23:59",  # year 9999: nothing would be sent
        "3000-01-01T00:00",
        "0001-01-01T00:00",  # year 0001: everything would be sent again
        "0001-01-01T00:00+05:00",  # before year 1 in UTC
        "9999-12-31T23:59-05:00",  # after year 9999 in UTC
        "garbage",
        "2026-01-01T00:00\x00",
        "\x00",
        "",
        "tomorrow",
    ],
)
async def test_a_replay_time_that_is_no_time_of_this_endpoint_is_refused_in_the_form(
    http, admin_session, allow_private, typed
):
    created = await webhooks.create_endpoint(url=URL, actor=SYSTEM)
    await webhooks.send_test_event(created.endpoint_id, actor=SYSTEM)
    base = f"/admin/webhooks/{created.endpoint_id}"
    if typed == "tomorrow":
        typed = f"{datetime.now(UTC) + timedelta(days=1):%Y-%m-%dT%H:%M}"
    before = await stored_state()
    refused = await http.post(f"{base}/replay", {"since": typed}, headers=HX)
    assert refused.status_code == 422 and "<html" not in refused.text
    field = page(refused).find("input", {"name": "since"})
    assert field["aria-invalid"] == "true"
    assert "hook-since-error" in field["aria-describedby"]
    error = page(refused).find(id="hook-since-error").get_text(strip=True)
    assert error in (
        "Enter a date and time (UTC), e.g. 2026-12-07 09:00.",
        f"Enter a time from {created_minute(await webhooks.get_endpoint(created.endpoint_id))} "
        "UTC, when this endpoint was added, to now.",
    )
    assert field["value"] == typed.replace("\x00", "")  # as typed, without the NUL
    assert await stored_state() == before  # nothing queued, nothing logged
    plain = await http.post(f"{base}/replay", {"since": typed})
    assert plain.status_code == 422 and page(plain).find(id="hook-since-error")
    assert await stored_state() == before


def created_minute(endpoint: dict) -> str:
    return i18n.format_datetime(endpoint["created_at"], "UTC")  # "8 Dec 2026, 06:02"


async def test_a_replay_from_the_minute_the_endpoint_was_added_sends_everything_again(
    http, admin_session, allow_private
):
    created = await webhooks.create_endpoint(url=URL, actor=SYSTEM)
    await webhooks.send_test_event(created.endpoint_id, actor=SYSTEM)
    endpoint = await webhooks.get_endpoint(created.endpoint_id)
    base = f"/admin/webhooks/{created.endpoint_id}"
    hint = page(await http.get(base)).find(id="hook-since-hint").get_text(strip=True)
    assert hint == f"From {created_minute(endpoint)} UTC, when this endpoint was added, to now."
    typed = f"{endpoint['created_at']:%Y-%m-%dT%H:%M}"  # as the datetime-local field sends it
    replayed = await http.post(f"{base}/replay", {"since": typed}, headers=HX)
    assert replayed.status_code == 200
    assert f"1 message since {created_minute(endpoint)} UTC queued again" in seen(replayed)
    assert await WebhookDelivery.count() == 2
