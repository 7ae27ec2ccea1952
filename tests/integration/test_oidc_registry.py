"""Sign in with Roster, its ground floor: the provider's discovery document, the JWKS and its
signing keys' rotation, and the registry of apps staff manage (validation, the secret shown
once and stored hashed, the permission, the activity log)."""

import base64
import json
from datetime import timedelta

import msgspec
import pytest

from app.core import clock
from app.core.config import get_settings
from app.core.errors import DomainError, Forbidden
from app.core.security import token_hash
from app.domain.activity.services import Actor, entries
from app.domain.oauth import apps, keys
from app.domain.staff.services import create_admin
from app.schema.oauth import OAuthApp, OAuthSigningKey
from tests.factories import ADMIN
from tests.integration.test_cli import roster

BASE = "http://testserver.local"


@pytest.fixture
async def manager() -> Actor:
    """A Full Administrator (who holds manage_apps)."""
    staff_id = await create_admin(
        email="ada@example.com",
        password="admin-passphrase-77",
        name="Ada",
        role="full",
        actor=Actor("system"),
    )
    return Actor("admin", staff_id, "Ada", "127.0.0.1")


async def test_the_discovery_document_names_every_endpoint_and_what_is_supported(http):
    response = await http.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    doc = response.json()
    assert doc["issuer"] == BASE
    assert doc["authorization_endpoint"] == f"{BASE}/oauth/authorize"
    assert doc["token_endpoint"] == f"{BASE}/oauth/token"
    assert doc["userinfo_endpoint"] == f"{BASE}/oauth/userinfo"
    assert doc["revocation_endpoint"] == f"{BASE}/oauth/revoke"
    assert doc["end_session_endpoint"] == f"{BASE}/oauth/logout"
    assert doc["jwks_uri"] == f"{BASE}/oauth/jwks"
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
    assert doc["subject_types_supported"] == ["public"]
    assert set(doc["grant_types_supported"]) == {"authorization_code", "refresh_token"}
    assert set(doc["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "none",
    }
    assert set(doc["scopes_supported"]) == {"openid", "profile", "email", "roster.accounts"}
    assert {"sub", "email", "email_verified", "name", "roster.accounts"} <= set(
        doc["claims_supported"]
    )


async def test_the_jwks_publishes_public_keys_only(http):
    response = await http.get("/oauth/jwks")
    assert response.status_code == 200
    published = response.json()["keys"]
    assert {key["alg"] for key in published} == {"RS256", "ES256"}
    for key in published:
        assert key["kid"] and key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), key
    # The private halves are in the database, marked secret.
    assert OAuthSigningKey.private_jwk._meta.secret
    assert await OAuthSigningKey.count() == 2


async def test_private_keys_are_stored_sealed_under_the_secret_key():
    await keys.jwks()
    for row in await OAuthSigningKey.select():
        stored = row["private_jwk"]
        assert not stored.startswith("{") and '"d"' not in stored
        assert keys.unseal(stored)["d"]  # the private half, once unsealed
        header = stored.split(".")[0]
        sealed_with = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
        assert sealed_with == {"alg": "dir", "enc": "A256GCM"}


async def test_a_key_stored_in_clear_before_sealing_is_sealed_when_it_next_signs():
    kid, private = await keys.signing_key("ES256")
    await OAuthSigningKey.update({OAuthSigningKey.private_jwk: json.dumps(private)}).where(
        OAuthSigningKey.kid == kid
    )
    assert await keys.signing_key("ES256") == (kid, private)
    row = await OAuthSigningKey.select().where(OAuthSigningKey.kid == kid).first()
    assert not row["private_jwk"].startswith("{") and keys.unseal(row["private_jwk"]) == private


async def test_a_key_sealed_under_another_secret_key_is_passed_over_for_a_new_one(monkeypatch):
    old_kid, _ = await keys.signing_key("RS256")
    changed = msgspec.structs.replace(get_settings(), secret_key="another-secret-key")
    monkeypatch.setattr(keys, "get_settings", lambda: changed)
    new_kid, private = await keys.signing_key("RS256")
    assert new_kid != old_kid and private["kty"] == "RSA"
    published = {key["kid"] for key in (await keys.jwks())["keys"]}
    assert new_kid in published and old_kid not in published


async def test_a_rotated_key_is_published_before_it_signs_and_kept_until_its_tokens_expire(
    monkeypatch,
):
    start = clock.now()
    now = {"at": start}
    monkeypatch.setattr(clock, "now", lambda: now["at"])
    old_kid, _ = await keys.signing_key("RS256")  # the first key signs at once
    [added] = await keys.rotate(("RS256",))
    assert added["activates_at"] == start + timedelta(hours=1)

    def published() -> set[str]:
        return {key["kid"] for key in jwks["keys"] if key["alg"] == "RS256"}

    jwks = await keys.jwks()
    assert published() == {old_kid, added["kid"]}  # the new key is known before it signs
    assert (await keys.signing_key("RS256"))[0] == old_kid

    now["at"] = start + timedelta(hours=1, seconds=1)  # the new key signs from here
    assert (await keys.signing_key("RS256"))[0] == added["kid"]
    now["at"] = start + timedelta(hours=1, minutes=9)  # an ID token the old key signed lives on
    jwks = await keys.jwks()
    assert published() == {old_kid, added["kid"]}

    now["at"] = start + timedelta(hours=1, minutes=10, seconds=1)  # ... no longer
    jwks = await keys.jwks()
    assert published() == {added["kid"]}
    assert await keys.retire_expired() == 1
    retired = await OAuthSigningKey.select().where(OAuthSigningKey.kid == old_kid).first()
    assert retired is not None and retired["retired_at"] is not None


async def test_roster_rotate_signing_key_adds_a_key_of_each_algorithm():
    first = roster("rotate-signing-key")  # the first keys sign at once
    assert first.returncode == 0, first.stderr
    assert [line.split()[0] for line in first.stdout.splitlines()] == ["RS256", "ES256"]
    second = roster("rotate-signing-key", "--alg", "ES256")
    assert second.returncode == 0, second.stderr
    assert await OAuthSigningKey.count() == 3
    newest = await OAuthSigningKey.select().order_by(OAuthSigningKey.id, ascending=False).first()
    assert newest is not None and newest["alg"] == "ES256"
    assert newest["activates_at"] - newest["created_at"] == timedelta(hours=1)


async def test_an_app_is_registered_with_its_secret_shown_once_and_stored_hashed(manager):
    made = await apps.create_app(
        name="Billing",
        redirect_uris="https://billing.example.com/callback\nhttp://localhost:8080/cb",
        post_logout_redirect_uris=["https://billing.example.com/"],
        actor=manager,
    )
    assert made.client_id.startswith("app_") and made.client_secret
    row = await OAuthApp.select().where(OAuthApp.id == made.app_id).first()
    assert row is not None and row["secret_hash"] == token_hash(made.client_secret)
    assert made.client_secret not in str(row)
    shown = await apps.get_app(made.app_id, actor=manager)
    assert "secret_hash" not in shown
    assert shown["redirect_uris"] == (
        "https://billing.example.com/callback",
        "http://localhost:8080/cb",
    )
    assert shown["allowed_scopes"] == ("openid", "profile", "email", "roster.accounts")
    assert [a["client_id"] for a in await apps.list_apps(actor=manager)] == [made.client_id]
    found = await apps.find_app(made.client_id)
    assert found is not None and apps.secret_matches(found, made.client_secret)
    assert not apps.secret_matches(found, made.client_secret + "x")

    rotated = await apps.rotate_secret(made.app_id, actor=manager)
    assert rotated.client_secret and rotated.client_secret != made.client_secret
    found = await apps.find_app(made.client_id)
    assert found is not None and apps.secret_matches(found, rotated.client_secret)
    assert not apps.secret_matches(found, made.client_secret)

    public = await apps.create_app(
        name="Mobile", redirect_uris=["https://m.example.com/cb"], confidential=False, actor=manager
    )
    assert public.client_secret is None
    with pytest.raises(DomainError):
        await apps.rotate_secret(public.app_id, actor=manager)

    _, logged = await entries()
    actions = [entry["action"] for entry in logged]
    assert {"oauth.app_created", "oauth.app_secret_rotated"} <= set(actions)
    assert all(made.client_secret not in entry["description"] for entry in logged)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "Bad\x00name"}, "name"),
        ({"redirect_uris": ""}, "redirect_uris"),
        ({"redirect_uris": "/relative/cb"}, "redirect_uris"),
        ({"redirect_uris": "https://a.example.com/cb#frag"}, "redirect_uris"),
        ({"redirect_uris": "http://a.example.com/cb"}, "redirect_uris"),
        ({"redirect_uris": "javascript:alert(1)"}, "redirect_uris"),
        ({"post_logout_redirect_uris": "ftp://a.example.com/"}, "post_logout_redirect_uris"),
        ({"allowed_scopes": "openid admin"}, "allowed_scopes"),
        ({"id_token_alg": "HS256"}, "id_token_alg"),
    ],
)
async def test_an_app_is_refused_what_it_cannot_be_given(fields, field, manager):
    values = {"name": "App", "redirect_uris": "https://a.example.com/cb"} | fields
    with pytest.raises(DomainError) as refused:
        await apps.create_app(**values, actor=manager)
    assert refused.value.field == field
    assert await OAuthApp.count() == 0


async def test_plain_http_redirects_are_refused_in_production_even_to_localhost(
    monkeypatch, manager
):
    from app.core.config import get_settings

    monkeypatch.setenv("ROSTER_ENV", "production")
    get_settings.cache_clear()
    try:
        with pytest.raises(DomainError):
            await apps.create_app(
                name="Dev", redirect_uris="http://localhost:8080/cb", actor=manager
            )
    finally:
        monkeypatch.setenv("ROSTER_ENV", "development")
        get_settings.cache_clear()


async def test_only_staff_who_manage_apps_may_change_them():
    support = await create_admin(
        email="sue@example.com",
        password="support-pass-99",
        name="Sue",
        role="support",
        actor=ADMIN,
    )
    actor = Actor("admin", support, "Sue")
    with pytest.raises(Forbidden):
        await apps.create_app(name="X", redirect_uris="https://x.example.com/cb", actor=actor)
    with pytest.raises(Forbidden):
        await apps.list_apps(actor=Actor("user", 1, "Someone"))


async def test_an_app_is_updated_disabled_and_deleted_with_its_log(manager):
    made = await apps.create_app(
        name="Desk", redirect_uris="https://d.example.com/cb", actor=manager
    )
    app, secret = await apps.update_app(
        made.app_id, name="Help Desk", allowed_scopes=["openid", "email"], actor=manager
    )
    assert app["name"] == "Help Desk" and app["allowed_scopes"] == ("openid", "email")
    assert secret is None
    app, secret = await apps.update_app(made.app_id, confidential=False, actor=manager)
    assert not app["confidential"] and secret is None
    found = await apps.find_app(made.client_id)
    assert found is not None and found["secret_hash"] is None
    app, secret = await apps.update_app(made.app_id, confidential=True, actor=manager)
    assert secret and apps.secret_matches(await apps.find_app(made.client_id) or {}, secret)
    assert not (await apps.set_enabled(made.app_id, False, actor=manager))["enabled"]
    await apps.delete_app(made.app_id, actor=manager)
    assert await OAuthApp.count() == 0
    _, logged = await entries()
    assert {"oauth.app_updated", "oauth.app_deleted"} <= {entry["action"] for entry in logged}
