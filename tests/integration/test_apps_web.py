"""The apps screen, /admin/apps: a Full Administrator registers a confidential and a public app
(the Client Secret shown once), changes one, rotates its secret, disables, enables and deletes
it; invalid settings are refused in the form, as typed; a Support Operator reaches none of it;
odd ids and bytes are a clear 4xx."""

import pytest

from app.core.security import token_hash
from app.domain.activity.services import Actor
from app.domain.oauth import apps
from app.schema.activity import ActivityEntry
from app.schema.oauth import OAuthApp
from tests.integration.conftest import page, seen, text_of
from tests.integration.test_webhooks_web import end_session

HX = {"hx-request": "true"}
SYSTEM = Actor("system")
REDIRECT = "https://desk.example.com/callback"
FORM = {
    "name": "Support desk",
    "redirect_uris": f"{REDIRECT}\r\nhttps://desk.example.com/other",
    "post_logout_redirect_uris": "https://desk.example.com/",
    "client_type": "confidential",
    "allowed_scopes": ["profile", "email"],
    "id_token_alg": "ES256",
}


def value_of(response, field_id: str) -> str:
    field = page(response).find(id=field_id)
    return field["value"] if field else ""


def stored() -> object:
    return OAuthApp.select().order_by(OAuthApp.id)


async def test_staff_register_a_confidential_and_a_public_app_the_secret_shown_once(
    http, admin_session
):
    empty = await http.get("/admin/apps")
    assert empty.status_code == 200 and "No apps yet" in text_of(empty)
    assert page(empty).select_one('nav a[href="/admin/apps"]').get_text() == "Apps"

    made = await http.post("/admin/apps", {**FORM, "first_party": "on"}, headers=HX)
    assert made.status_code == 200 and "<html" not in made.text
    client_id, secret = value_of(made, "app-client-id"), value_of(made, "app-client-secret")
    assert client_id.startswith("app_") and secret.startswith("appsec_")
    labels = [label.get_text() for label in page(made).select("#app-credentials label")]
    assert labels == ["Client ID", "Client Secret"]
    assert "App registered. Copy the Client Secret now" in seen(made)
    [row] = await stored()
    assert row["client_id"] == client_id and row["secret_hash"] == token_hash(secret)
    assert row["name"] == "Support desk" and row["confidential"] and row["first_party"]
    assert row["redirect_uris"] == f"{REDIRECT}\nhttps://desk.example.com/other"
    assert row["post_logout_redirect_uris"] == "https://desk.example.com/"
    assert (row["allowed_scopes"], row["id_token_alg"]) == ("openid profile email", "ES256")
    # Shown once: neither the list nor the app's page shows the secret again.
    for url in ("/admin/apps", f"/admin/apps/{row['id']}"):
        again = await http.get(url)
        assert again.status_code == 200 and client_id in again.text
        assert secret not in again.text and not page(again).find(id="app-client-secret")

    public = await http.post(
        "/admin/apps", {**FORM, "name": "Mobile", "client_type": "public"}, headers=HX
    )
    assert public.status_code == 200
    assert value_of(public, "app-client-id").startswith("app_")
    assert not page(public).find(id="app-client-secret") and "appsec_" not in public.text
    mobile = (await stored())[1]
    assert mobile["secret_hash"] is None and not mobile["confidential"]
    listed = await http.get("/admin/apps")
    rows = page(listed).select("#app-list tbody tr")
    assert [r.find("td", attrs={"data-label": "Type"}).get_text() for r in rows] == [
        "Confidential",
        "Public",
    ]
    assert [r.find("td", attrs={"data-label": "First-party"}).get_text() for r in rows] == [
        "Yes",
        "No",
    ]


async def test_a_plain_post_registers_and_answers_with_the_whole_page(http, admin_session):
    made = await http.post("/admin/apps", FORM)
    assert made.status_code == 200 and "<html" in made.text
    assert value_of(made, "app-client-secret").startswith("appsec_")
    assert "App registered" in seen(made)


async def test_staff_rotate_disable_enable_edit_and_delete(http, admin_session):
    created = await apps.create_app(name="Billing", redirect_uris=REDIRECT, actor=SYSTEM)
    base = f"/admin/apps/{created.app_id}"
    shown = await http.get(base)
    assert "Rotate secret" in text_of(shown) and "Disable" in text_of(shown)

    rotated = await http.post(f"{base}/rotate", headers=HX)
    assert rotated.status_code == 200 and "<html" not in rotated.text
    secret = value_of(rotated, "app-client-secret")
    assert secret.startswith("appsec_") and secret != created.client_secret
    found = await apps.find_app(created.client_id)
    assert apps.secret_matches(found, secret)
    assert not apps.secret_matches(found, created.client_secret)
    assert secret not in (await http.get(base)).text

    disabled = await http.post(f"{base}/disable", headers=HX)
    assert disabled.status_code == 200 and "Disabled" in text_of(disabled)
    assert not (await apps.get_app(created.app_id, actor=SYSTEM))["enabled"]
    assert "Disabled" in text_of(await http.get("/admin/apps"))
    enabled = await http.post(f"{base}/enable", headers=HX)
    assert enabled.status_code == 200 and "Enabled" in text_of(enabled)
    assert (await apps.get_app(created.app_id, actor=SYSTEM))["enabled"]

    # Made public, it loses its secret; then no Rotate secret, and a rotation is refused.
    saved = await http.post(
        base, {**FORM, "name": "Billing v2", "client_type": "public"}, headers=HX
    )
    assert saved.status_code == 200 and "App saved." in seen(saved)
    row = await OAuthApp.select().where(OAuthApp.id == created.app_id).first()
    assert (row["name"], row["confidential"], row["secret_hash"]) == ("Billing v2", False, None)
    assert row["redirect_uris"] == f"{REDIRECT}\nhttps://desk.example.com/other"
    assert "Rotate secret" not in text_of(saved)
    refused = await http.post(f"{base}/rotate", headers=HX)
    assert refused.status_code == 409 and "A public app has no secret" in text_of(refused)
    # Made confidential again, it gets a new secret, shown once.
    again = await http.post(base, {**FORM, "name": "Billing v2"}, headers=HX)
    new_secret = value_of(again, "app-client-secret")
    assert new_secret.startswith("appsec_")
    found = await apps.find_app(created.client_id)
    assert apps.secret_matches(found, new_secret)

    deleted = await http.post(f"{base}/delete", headers=HX)
    assert deleted.headers["hx-location"] == "/admin/apps?deleted=1"
    assert "App deleted" in seen(await http.get("/admin/apps?deleted=1"))
    assert not await OAuthApp.exists()
    assert (await http.get(base)).status_code == 404
    plain = await http.post(f"{base}/delete")
    assert plain.status_code == 404
    actions = {e["action"] for e in await ActivityEntry.select(ActivityEntry.action)}
    assert {"oauth.app_secret_rotated", "oauth.app_updated", "oauth.app_deleted"} <= actions


@pytest.mark.parametrize(
    ("changes", "field", "kept"),
    [
        ({"name": ""}, "name", ""),
        ({"name": "x" * 101}, "name", "x" * 101),
        ({"name": "Desk\x00"}, "name", "Desk"),
        ({"redirect_uris": ""}, "redirect_uris", ""),
        ({"redirect_uris": "desk.example.com/cb"}, "redirect_uris", "desk.example.com/cb"),
        ({"redirect_uris": "http://desk.example.com/cb"}, "redirect_uris", None),
        ({"redirect_uris": "https://desk.example.com/cb#x"}, "redirect_uris", None),
        ({"redirect_uris": "https://desk.example.com/\x00"}, "redirect_uris", None),
        ({"post_logout_redirect_uris": "ftp://x.example/"}, "post_logout_redirect_uris", None),
        ({"allowed_scopes": ["admin"]}, "allowed_scopes", None),
        ({"id_token_alg": "HS256"}, "id_token_alg", None),
    ],
)
async def test_invalid_settings_are_refused_in_the_form_as_typed(
    http, admin_session, changes, field, kept
):
    asked = {**FORM, **changes}
    refused = await http.post("/admin/apps", asked, headers=HX)
    assert refused.status_code == 422 and "<html" not in refused.text
    form = page(refused).find("form", id="app-register-form")
    assert form.find(class_="error").get_text(strip=True)
    if field in ("name", "redirect_uris", "post_logout_redirect_uris"):
        box = form.find(attrs={"name": field})
        assert box["aria-invalid"] == "true"
        assert f"app-new-{field}-error" in box["aria-describedby"]
        shown = box["value"] if box.name == "input" else box.get_text()
        expected = asked[field].replace("\r\n", "\n").replace("\x00", "")
        assert shown == (expected if kept is None else kept)
    assert form.find("input", {"name": "name"})["value"] == asked["name"].replace("\x00", "")
    assert not await OAuthApp.exists()
    plain = await http.post("/admin/apps", asked)
    assert plain.status_code == 422 and "<html" in plain.text
    assert not await OAuthApp.exists()

    created = await apps.create_app(name="Desk", redirect_uris=REDIRECT, actor=SYSTEM)
    before = await stored()
    edited = await http.post(f"/admin/apps/{created.app_id}", asked, headers=HX)
    assert edited.status_code == 422 and "<html" not in edited.text
    assert page(edited).find("form", id="app-edit-form").find(class_="error")
    assert await stored() == before


async def test_a_support_operator_reaches_no_app_page(http, support_session):
    created = await apps.create_app(name="Desk", redirect_uris=REDIRECT, actor=SYSTEM)
    assert not page(await http.get("/admin/clients")).select_one('a[href="/admin/apps"]')
    before = await stored()
    base = f"/admin/apps/{created.app_id}"
    for method, url in (
        ("get", "/admin/apps"),
        ("post", "/admin/apps"),
        ("get", base),
        ("post", base),
        ("post", f"{base}/rotate"),
        ("post", f"{base}/disable"),
        ("post", f"{base}/enable"),
        ("post", f"{base}/delete"),
    ):
        data = FORM if url in ("/admin/apps", base) and method == "post" else None
        response = (
            await getattr(http, method)(url, data) if data else await getattr(http, method)(url)
        )
        assert response.status_code == 403, (method, url)
        assert created.client_id not in response.text
    assert await stored() == before


async def test_every_post_needs_the_csrf_token(http, admin_session):
    created = await apps.create_app(name="Desk", redirect_uris=REDIRECT, actor=SYSTEM)
    base = f"/admin/apps/{created.app_id}"
    before = await stored()
    for url in ("/admin/apps", base, f"{base}/rotate", f"{base}/disable", f"{base}/delete"):
        for headers in ({}, HX):
            response = await http.post(url, FORM, csrf=False, headers=dict(headers))
            assert response.status_code == 403, url
    assert await stored() == before


@pytest.mark.parametrize(
    "path",
    [
        "0",
        "-1",
        "2147483648",
        "9223372036854775808",
        "99999999999999999999999999",
        "1" * 5000,
        "abc",
        "1.5",
        "%00",
        "1%00",
        "%D9%A1",  # an Arabic-Indic 1
        "+1",
    ],
)
async def test_an_odd_app_id_is_a_clear_4xx(http, admin_session, path):
    await apps.create_app(name="Desk", redirect_uris=REDIRECT, actor=SYSTEM)
    before = await stored()
    for method, suffix in (("get", ""), ("post", ""), ("post", "/rotate"), ("post", "/delete")):
        url = f"/admin/apps/{path}{suffix}"
        for headers in ({}, HX):
            response = await getattr(http, method)(url, headers=dict(headers))
            assert 400 <= response.status_code < 500, (url, response.status_code)
            if headers:
                assert "<html" not in response.text, url
    assert await stored() == before


# A session that ends while the page is open: the next click does nothing and goes to log in.


@pytest.mark.parametrize(
    "how", ["logged out elsewhere", "every session ended", "staff member disabled"]
)
async def test_a_click_after_the_session_ended_does_nothing_and_goes_to_log_in(
    http, admin_session, how
):
    created = await apps.create_app(name="Billing", redirect_uris=REDIRECT, actor=SYSTEM)
    base = f"/admin/apps/{created.app_id}"
    opened = page(await http.get(base)).find("input", attrs={"name": "opened"})["value"]
    clicks = {
        "/admin/apps": FORM,
        base: {**FORM, "name": "Changed", "opened": opened},
        f"{base}/rotate": {},
        f"{base}/disable": {},
        f"{base}/enable": {},
        f"{base}/delete": {},
    }
    await end_session(http, how)
    before = (await stored(), await ActivityEntry.count())
    shown = {**HX, "HX-Current-URL": f"http://testserver.local{base}"}
    for url, data in clicks.items():
        swapped = await http.post(url, data, headers=shown)
        # htmx is told to go to the login page: nothing to swap into the page's section.
        assert (swapped.status_code, swapped.text) == (200, ""), url
        assert swapped.headers["hx-location"] == "/admin/login?ended=1", url
        plain = await http.post(url, data)
        assert plain.status_code == 303 and plain.headers["location"] == "/admin/login?ended=1"
    assert (await stored(), await ActivityEntry.count()) == before
