"""Two staff changing one app (Sign in with Roster): a compare-and-set on what the change was
prepared on. On /admin/apps/{id} the settings form carries the values it was opened on and a
save made on values someone changed meanwhile is refused (409) with both changes said and the
other person's change kept under this one; a Disable meanwhile is no reason to refuse (the form
does not edit it). /api/v1/apps/{id} gives an ETag, and a PATCH with an older If-Match is a 412
that changes nothing."""

import json

from app.core import stale
from app.domain.activity.services import Actor
from app.domain.oauth import apps
from app.schema.activity import ActivityEntry
from tests.integration import test_api_v1
from tests.integration.conftest import page, text_of
from tests.integration.test_api_v1 import assert_problem
from tests.integration.test_webhooks_web import other_staff  # noqa: F401 (a fixture)

api, full = test_api_v1.api, test_api_v1.full  # the fixtures
HX = {"hx-request": "true"}
SYSTEM = Actor("system")
REDIRECT = "https://desk.example.com/callback"
OTHER = "https://desk.example.com/other"


def settings_of(response) -> dict:
    """What the settings form in a response would post, as it shows it."""
    form = page(response).find("form", id="app-edit-form")
    values: dict = {
        "opened": form.find("input", {"name": "opened"})["value"],
        "name": form.find("input", {"name": "name"})["value"],
        "redirect_uris": form.find("textarea", {"name": "redirect_uris"}).get_text(),
        "post_logout_redirect_uris": form.find(
            "textarea", {"name": "post_logout_redirect_uris"}
        ).get_text(),
        "client_type": form.find("input", {"name": "client_type", "checked": True})["value"],
        "allowed_scopes": [
            i["value"]
            for i in form.select("input[name=allowed_scopes][checked]")
            if not i.has_attr("disabled")
        ],
        "id_token_alg": form.find("input", {"name": "id_token_alg", "checked": True})["value"],
    }
    if form.find("input", {"name": "first_party", "checked": True}):
        values["first_party"] = "on"
    return values


async def updates() -> int:
    return await ActivityEntry.count().where(ActivityEntry.action == "oauth.app_updated")


async def test_two_staff_saving_one_app_the_second_is_refused_and_shown_both(
    http,
    admin_session,
    other_staff,  # noqa: F811
):
    created = await apps.create_app(name="Billing", redirect_uris=[REDIRECT], actor=SYSTEM)
    base = f"/admin/apps/{created.app_id}"
    ada = settings_of(await http.get(base))
    assert json.loads(ada["opened"]) == {
        "name": "Billing",
        "redirect_uris": [REDIRECT],
        "post_logout_redirect_uris": [],
        "confidential": True,
        "first_party": False,
        "allowed_scopes": ["openid", "profile", "email", "roster.accounts"],
        "id_token_alg": "RS256",
    }
    bea = settings_of(await other_staff.get(base))

    # Bea adds a redirect URI and marks the app first-party; Ada, on the form she opened before,
    # renames it. Without the check, Ada's save would quietly take Bea's changes back.
    bea_saved = await other_staff.post(
        base, {**bea, "redirect_uris": f"{REDIRECT}\r\n{OTHER}", "first_party": "on"}, headers=HX
    )
    assert bea_saved.status_code == 200, bea_saved.text
    before = await updates()
    refused = await http.post(base, {**ada, "name": "Billing v2"}, headers=HX)
    assert refused.status_code == 409 and "<html" not in refused.text
    said = text_of(refused)
    assert (
        "Someone changed this app's settings while you were editing: Redirect URIs changed "
        f"from “{REDIRECT}” to “{REDIRECT}, {OTHER}” and First-party was turned on." in said
    )
    assert "Your change: Name changed to “Billing v2”." in said and "Nothing was saved." in said
    stored = await apps.get_app(created.app_id, actor=SYSTEM)
    assert (stored["name"], stored["redirect_uris"]) == ("Billing", (REDIRECT, OTHER))
    assert await updates() == before
    # The form keeps Ada's change on top of Bea's, and now carries the values as they are.
    shown = settings_of(refused)
    assert shown["name"] == "Billing v2" and shown["redirect_uris"] == f"{REDIRECT}\n{OTHER}"
    assert shown["first_party"] == "on"
    assert json.loads(shown["opened"])["first_party"] is True
    form = page(refused).find("form", id="app-edit-form")
    assert form.find(id="app-edit-stale")["role"] == "alert"
    assert form.find("a", string="Discard my change")["href"] == base

    applied = await http.post(base, shown, headers=HX)
    assert applied.status_code == 200, applied.text
    stored = await apps.get_app(created.app_id, actor=SYSTEM)
    assert (stored["name"], stored["redirect_uris"], stored["first_party"]) == (
        "Billing v2",
        (REDIRECT, OTHER),
        True,
    )

    # Bea disables it meanwhile: the settings form does not edit that, so Ada's save goes
    # through, and leaves it disabled.
    ada = settings_of(applied)
    assert (await other_staff.post(f"{base}/disable", headers=HX)).status_code == 200
    saved = await http.post(base, {**ada, "id_token_alg": "ES256"}, headers=HX)
    assert saved.status_code == 200, saved.text
    stored = await apps.get_app(created.app_id, actor=SYSTEM)
    assert (stored["id_token_alg"], stored["enabled"]) == ("ES256", False)

    # Both rename it: the refused form shows Ada's name, and says Bea's.
    ada, bea = settings_of(saved), settings_of(await other_staff.get(base))
    assert (await other_staff.post(base, {**bea, "name": "Bea's"}, headers=HX)).status_code == 200
    refused = await http.post(base, {**ada, "name": "Ada's"}, headers=HX)
    assert refused.status_code == 409
    assert "Name changed from “Billing v2” to “Bea's”" in text_of(refused)
    assert settings_of(refused)["name"] == "Ada's"
    assert (await apps.get_app(created.app_id, actor=SYSTEM))["name"] == "Bea's"


async def test_a_settings_form_without_a_version_saves_as_before_and_a_bad_one_is_refused(
    http, admin_session
):
    created = await apps.create_app(name="Billing", redirect_uris=[REDIRECT], actor=SYSTEM)
    base = f"/admin/apps/{created.app_id}"
    form = settings_of(await http.get(base))
    bad = await http.post(base, {**form, "name": "X", "opened": "[1, 2"}, headers=HX)
    assert bad.status_code == 422 and "out of date" in text_of(bad)
    assert settings_of(bad)["opened"] == "[1, 2"  # still the version it was opened on
    assert (await apps.get_app(created.app_id, actor=SYSTEM))["name"] == "Billing"
    del form["opened"]
    saved = await http.post(base, {**form, "name": "Billed"}, headers=HX)
    assert saved.status_code == 200
    assert (await apps.get_app(created.app_id, actor=SYSTEM))["name"] == "Billed"


async def test_the_api_patches_only_the_version_read(api, full):
    created = await apps.create_app(name="Billing", redirect_uris=[REDIRECT], actor=SYSTEM)
    url = f"/api/v1/apps/{created.app_id}"
    one = await api.get(url, headers=full)
    etag = one.headers["etag"]
    app = await apps.get_app(created.app_id, actor=SYSTEM)
    assert etag == f'"{stale.version(apps.edited_values(app))}"'

    changed = await api.patch(url, json={"name": "Billing v2"}, headers={**full, "If-Match": etag})
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Billing v2" and changed.headers["etag"] != etag
    before = await updates()
    late = await api.patch(url, json={"enabled": False}, headers={**full, "If-Match": etag})
    assert_problem(late, 412)
    stored = await apps.get_app(created.app_id, actor=SYSTEM)
    assert stored["enabled"] is True and stored["name"] == "Billing v2"
    assert await updates() == before
    # A weak tag matches nothing; any of several tags will do; `*` and none: no condition.
    weak = await api.patch(
        url, json={"enabled": False}, headers={**full, "If-Match": f"W/{changed.headers['etag']}"}
    )
    assert_problem(weak, 412)
    listed = f"{etag}, {changed.headers['etag']}"
    ok = await api.patch(url, json={"first_party": True}, headers={**full, "If-Match": listed})
    assert ok.status_code == 200 and ok.json()["first_party"] is True
    star = await api.patch(url, json={"enabled": False}, headers={**full, "If-Match": "*"})
    assert star.status_code == 200 and star.json()["enabled"] is False
    bare = await api.patch(url, json={"enabled": True}, headers=full)
    assert bare.status_code == 200 and bare.json()["enabled"] is True
    # A change made elsewhere (the admin screen's Disable) is a new version too.
    etag = bare.headers["etag"]
    await apps.set_enabled(created.app_id, False, actor=SYSTEM)
    refused = await api.patch(url, json={"name": "X"}, headers={**full, "If-Match": etag})
    assert_problem(refused, 412)


async def test_the_service_refuses_only_a_change_prepared_on_older_values():
    created = await apps.create_app(name="Billing", redirect_uris=[REDIRECT], actor=SYSTEM)
    opened = apps.edited_values(await apps.get_app(created.app_id, actor=SYSTEM))
    await apps.update_app(created.app_id, redirect_uris=[OTHER, REDIRECT], actor=SYSTEM)
    try:
        await apps.update_app(created.app_id, name="Billing v2", actor=SYSTEM, opened=opened)
    except stale.Stale as exc:
        assert exc.current["redirect_uris"] == (OTHER, REDIRECT)
        assert exc.current["name"] == "Billing"
    else:
        raise AssertionError("a change on older values was saved")
    # Asking for what is there already loses nobody's change: not refused.
    same, _ = await apps.update_app(
        created.app_id, redirect_uris=[REDIRECT, OTHER], actor=SYSTEM, opened=opened
    )
    assert same["name"] == "Billing"
    # The opened values as a dict name only the fields the change is prepared on.
    partial = {"name": "Billing"}
    renamed, _ = await apps.update_app(
        created.app_id, name="Billing v3", actor=SYSTEM, opened=partial
    )
    assert renamed["name"] == "Billing v3"
