"""The apps that sign people in with Roster, for the staff who manage them (the permission
`manage_apps`, which Full Administrators hold): register, change, rotate the secret, enable or
disable, delete, list.

A confidential app's secret is shown once, when it is made or rotated, and kept only as its
SHA-256 (like API tokens: it is high-entropy, so a slow hash adds nothing). A public app (a
browser or native app that cannot keep a secret) has none and must use PKCE. Disabling or
deleting an app ends every token it holds: disabled, its tokens are refused where they are
checked; deleted, they go with it (ON DELETE CASCADE)."""

import secrets
from urllib.parse import parse_qs, urlsplit

import msgspec

from app.core import clock, db, stale
from app.core.config import get_settings
from app.core.errors import DomainError, NotFound
from app.core.i18n import _, ngettext
from app.core.policy import Permission
from app.core.security import token_hash
from app.core.validation import has_control_characters
from app.domain.activity.services import Actor
from app.domain.events.catalog import (
    OAuthAppCreated,
    OAuthAppDeleted,
    OAuthAppSecretRotated,
    OAuthAppUpdated,
)
from app.domain.events.stream import emit
from app.domain.staff.services import require_staff_permission
from app.schema.oauth import DEFAULT_SCOPES, OAuthApp

SCOPES_SUPPORTED = ("openid", "profile", "email", "roster.accounts")
ALGORITHMS = ("RS256", "ES256")
NAME_MAX = 100
URI_MAX = 2000
URIS_MAX = 20
LOOPBACK = ("localhost", "127.0.0.1", "[::1]", "::1")
EDITABLE = (
    "name",
    "redirect_uris",
    "post_logout_redirect_uris",
    "confidential",
    "first_party",
    "allowed_scopes",
    "id_token_alg",
    "enabled",
)

# What a listing shows of an app: everything but the secret's digest.
_SHOWN = (
    OAuthApp.id,
    OAuthApp.client_id,
    OAuthApp.name,
    OAuthApp.redirect_uris,
    OAuthApp.post_logout_redirect_uris,
    OAuthApp.confidential,
    OAuthApp.first_party,
    OAuthApp.allowed_scopes,
    OAuthApp.id_token_alg,
    OAuthApp.enabled,
    OAuthApp.created_at,
)


class NewApp(msgspec.Struct, frozen=True):
    app_id: int
    client_id: str
    client_secret: str | None  # shown once; None for a public app


async def require_permission(actor: Actor) -> None:
    await require_staff_permission(
        actor, Permission.MANAGE_APPS, _("Only a Full Administrator can manage apps.")
    )


def new_client_id() -> str:
    return "app_" + secrets.token_urlsafe(18)


def new_client_secret() -> str:
    return "appsec_" + secrets.token_urlsafe(32)


def clean_app_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise DomainError(_("Enter the app's name."), "name")
    if has_control_characters(name):
        raise DomainError(_("Enter a name without control characters."), "name")
    if len(name) > NAME_MAX:
        raise DomainError(
            ngettext("At most %(num)d character.", "At most %(num)d characters.", NAME_MAX)
            % {"num": NAME_MAX},
            "name",
        )
    return name


def clean_uri(uri: str, field: str) -> str:
    """An absolute http(s) URI without a fragment; https in production, where plain http is
    allowed only to this machine (a loopback address) in development."""
    uri = uri.strip()
    if not uri or len(uri) > URI_MAX or has_control_characters(uri) or " " in uri:
        raise DomainError(_("Enter absolute URIs, one a line, without spaces."), field)
    shown = {"uri": uri[:100]}
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        raise DomainError(_("Not a valid URI: %(uri)s") % shown, field) from None
    if parts.scheme not in ("https", "http") or not host:
        raise DomainError(_("Use an absolute https:// URI: %(uri)s") % shown, field)
    if "#" in uri:
        raise DomainError(_("A redirect URI has no fragment (#…): %(uri)s") % shown, field)
    if parts.scheme == "http" and (get_settings().production or host not in LOOPBACK):
        raise DomainError(
            _("Use https (plain http only for localhost in development): %(uri)s") % shown, field
        )
    return uri


def clean_uris(uris: list[str] | tuple[str, ...] | str, field: str, *, required: bool) -> str:
    """One a line, each once, in the order given."""
    lines = uris.splitlines() if isinstance(uris, str) else list(uris)
    cleaned: list[str] = []
    for line in lines:
        if line.strip():
            uri = clean_uri(line, field)
            if uri not in cleaned:
                cleaned.append(uri)
    if required and not cleaned:
        raise DomainError(_("Enter at least one redirect URI."), field)
    if len(cleaned) > URIS_MAX:
        raise DomainError(
            ngettext("At most %(num)d URI.", "At most %(num)d URIs.", URIS_MAX) % {"num": URIS_MAX},
            field,
        )
    return "\n".join(cleaned)


def clean_scopes(scopes: list[str] | tuple[str, ...] | str | None) -> str:
    """The supported scopes chosen, in their usual order; `openid` always among them."""
    if scopes is None:
        return DEFAULT_SCOPES
    chosen = set(scopes.split() if isinstance(scopes, str) else scopes)
    unknown = sorted(chosen - set(SCOPES_SUPPORTED))
    if unknown:
        raise DomainError(
            _("Unknown scope: %(scopes)s.") % {"scopes": ", ".join(unknown)[:200]},
            "allowed_scopes",
        )
    return " ".join(scope for scope in SCOPES_SUPPORTED if scope in chosen or scope == "openid")


def clean_alg(alg: str) -> str:
    if alg not in ALGORITHMS:
        raise DomainError(_("Sign ID tokens with RS256 or ES256."), "id_token_alg")
    return alg


def _presented(row: dict) -> dict:
    row = dict(row)
    row["redirect_uris"] = tuple(row["redirect_uris"].split())
    row["post_logout_redirect_uris"] = tuple(row["post_logout_redirect_uris"].split())
    row["allowed_scopes"] = tuple(row["allowed_scopes"].split())
    return row


async def _get(app_id: int, *, lock: bool = False) -> dict:
    query = OAuthApp.select(*_SHOWN).where(OAuthApp.id == app_id)
    rows = await (db.locked(query) if lock else query)
    if not rows:
        raise NotFound(_("No such app."))
    return _presented(rows[0])


async def get_app(app_id: int, *, actor: Actor) -> dict:
    """The app, without its secret."""
    await require_permission(actor)
    return await _get(app_id)


async def list_apps(*, actor: Actor) -> list[dict]:
    """Every app, oldest first, without their secrets."""
    await require_permission(actor)
    return [_presented(row) for row in await OAuthApp.select(*_SHOWN).order_by(OAuthApp.id)]


async def find_app(client_id: str) -> dict | None:
    """The app with this client_id, with its secret's digest (for the protocol), or None."""
    if not client_id or len(client_id) > 60:
        return None
    row = await OAuthApp.select().where(OAuthApp.client_id == client_id).first()
    return _presented(row) | {"secret_hash": row["secret_hash"]} if row else None


async def app_asking(next_url: str | None) -> str | None:
    """The name of the enabled app a login is for, when its `next` is this site's
    authorization endpoint naming one (the login page says where it leads); else None."""
    parts = urlsplit(next_url or "")
    if parts.scheme or parts.netloc or parts.path != "/oauth/authorize":
        return None
    client_id = parse_qs(parts.query).get("client_id", [""])[0]
    app = await find_app(client_id)
    return app["name"] if app and app["enabled"] else None


async def find_app_by_id(app_id: int) -> dict | None:
    row = await OAuthApp.select().where(OAuthApp.id == app_id).first()
    return _presented(row) | {"secret_hash": row["secret_hash"]} if row else None


def secret_matches(app: dict, secret: str) -> bool:
    stored = app.get("secret_hash") or ""
    return bool(stored and secret) and secrets.compare_digest(stored, token_hash(secret))


async def create_app(
    *,
    name: str,
    redirect_uris: list[str] | tuple[str, ...] | str,
    post_logout_redirect_uris: list[str] | tuple[str, ...] | str = (),
    confidential: bool = True,
    first_party: bool = False,
    allowed_scopes: list[str] | tuple[str, ...] | str | None = None,
    id_token_alg: str = "RS256",
    actor: Actor,
) -> NewApp:
    """A new app; its secret (confidential apps only) is in the answer and nowhere else."""
    await require_permission(actor)
    values: dict = {
        "name": clean_app_name(name),
        "redirect_uris": clean_uris(redirect_uris, "redirect_uris", required=True),
        "post_logout_redirect_uris": clean_uris(
            post_logout_redirect_uris, "post_logout_redirect_uris", required=False
        ),
        "allowed_scopes": clean_scopes(allowed_scopes),
        "id_token_alg": clean_alg(id_token_alg),
    }
    secret = new_client_secret() if confidential else None
    client_id = new_client_id()
    async with db.transaction():
        row = OAuthApp(
            client_id=client_id,
            secret_hash=token_hash(secret) if secret else None,
            confidential=bool(confidential),
            first_party=bool(first_party),
            enabled=True,
            created_at=clock.now(),
        )
        for name_, value in values.items():
            setattr(row, name_, value)
        rows = await OAuthApp.insert(row).returning(OAuthApp.id)
        app_id = rows[0]["id"]
        await emit(
            OAuthAppCreated(
                app_id=app_id,
                app_client_id=client_id,
                confidential=bool(confidential),
                first_party=bool(first_party),
            ),
            actor=actor,
            description=f"Registered the app {values['name']} ({client_id})",
        )
    return NewApp(app_id=app_id, client_id=client_id, client_secret=secret)


_LISTS = ("redirect_uris", "post_logout_redirect_uris", "allowed_scopes")


def edited_values(app: dict) -> dict:
    """The EDITABLE values of an app as read (lists as tuples): what a change is prepared on,
    and (as app.core.stale.version) the API's ETag."""
    return {name: app[name] for name in EDITABLE}


def _as_shown(name: str, value):
    """A cleaned value as edited_values shows it (the lists are stored one string)."""
    return tuple(value.split()) if name in _LISTS else value


async def update_app(
    app_id: int,
    *,
    name=stale.UNCHANGED,
    redirect_uris=stale.UNCHANGED,
    post_logout_redirect_uris=stale.UNCHANGED,
    confidential=stale.UNCHANGED,
    first_party=stale.UNCHANGED,
    allowed_scopes=stale.UNCHANGED,
    id_token_alg=stale.UNCHANGED,
    enabled=stale.UNCHANGED,
    actor: Actor,
    opened: stale.Opened | None = None,
) -> tuple[dict, str | None]:
    """Changes what is given; the app as it is then, and a new secret when a public app was
    made confidential (shown once). Made public, it loses its secret.

    `opened`: what the change was prepared on, Stale if it has changed since: the edited values
    as `edited_values` gives them (a form: the fields it edits, and any field it changes) or
    their app.core.stale.version (an ETag: every EDITABLE field)."""
    await require_permission(actor)
    wanted: dict = {}
    if name is not stale.UNCHANGED:
        wanted["name"] = clean_app_name(name)
    if redirect_uris is not stale.UNCHANGED:
        wanted["redirect_uris"] = clean_uris(redirect_uris, "redirect_uris", required=True)
    if post_logout_redirect_uris is not stale.UNCHANGED:
        wanted["post_logout_redirect_uris"] = clean_uris(
            post_logout_redirect_uris, "post_logout_redirect_uris", required=False
        )
    if allowed_scopes is not stale.UNCHANGED:
        wanted["allowed_scopes"] = clean_scopes(allowed_scopes)
    if id_token_alg is not stale.UNCHANGED:
        wanted["id_token_alg"] = clean_alg(id_token_alg)
    for flag, value in (
        ("confidential", confidential),
        ("first_party", first_party),
        ("enabled", enabled),
    ):
        if value is not stale.UNCHANGED:
            wanted[flag] = bool(value)
    secret = None
    async with db.transaction():
        before = await _get(app_id, lock=True)
        named = opened if isinstance(opened, dict) else EDITABLE
        compared = [name for name in EDITABLE if name in named or name in wanted]
        stale.check(
            opened,
            {name: edited_values(before)[name] for name in compared},
            {name: _as_shown(name, value) for name, value in wanted.items()},
        )
        stored = {
            name: " ".join(before[name]) if isinstance(before[name], tuple) else before[name]
            for name in EDITABLE
        }
        stored["redirect_uris"] = "\n".join(before["redirect_uris"])
        stored["post_logout_redirect_uris"] = "\n".join(before["post_logout_redirect_uris"])
        changed = {name: value for name, value in wanted.items() if stored[name] != value}
        if not changed:
            return before, None
        values = {getattr(OAuthApp, name): value for name, value in changed.items()}
        if changed.get("confidential") is True:
            secret = new_client_secret()
            values[OAuthApp.secret_hash] = token_hash(secret)
        elif changed.get("confidential") is False:
            values[OAuthApp.secret_hash] = None
        await OAuthApp.update(values).where(OAuthApp.id == app_id)
        await emit(
            OAuthAppUpdated(app_id=app_id, fields=tuple(changed)),
            actor=actor,
            description=f"Changed the app {changed.get('name', before['name'])} "
            f"({before['client_id']}): {', '.join(changed)}",
        )
    return await _get(app_id), secret


async def set_enabled(app_id: int, enabled: bool, *, actor: Actor) -> dict:
    """Disabled, the app can sign nobody in and every token it holds is refused."""
    app, _secret = await update_app(app_id, enabled=enabled, actor=actor)
    return app


async def rotate_secret(app_id: int, *, actor: Actor) -> NewApp:
    """A new secret for a confidential app (in the answer only); the old one stops at once."""
    await require_permission(actor)
    secret = new_client_secret()
    async with db.transaction():
        app = await _get(app_id, lock=True)
        if not app["confidential"]:
            raise DomainError(_("A public app has no secret."), "confidential")
        await OAuthApp.update({OAuthApp.secret_hash: token_hash(secret)}).where(
            OAuthApp.id == app_id
        )
        await emit(
            OAuthAppSecretRotated(app_id=app_id),
            actor=actor,
            description=f"Rotated the secret of the app {app['name']} ({app['client_id']})",
        )
    return NewApp(app_id=app_id, client_id=app["client_id"], client_secret=secret)


async def delete_app(app_id: int, *, actor: Actor) -> None:
    """Deletes the app with its codes, tokens and consents."""
    await require_permission(actor)
    async with db.transaction():
        app = await _get(app_id, lock=True)
        await OAuthApp.delete().where(OAuthApp.id == app_id)
        await emit(
            OAuthAppDeleted(app_id=app_id),
            actor=actor,
            description=f"Deleted the app {app['name']} ({app['client_id']})",
        )
