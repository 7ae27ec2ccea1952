"""What the protocol hands out and remembers, as async services the Authlib server
(app.domain.oauth.server) calls from its worker thread: consents, authorization codes, tokens
and the claims they carry. Every code and token is stored as its SHA-256 only; single use comes
from one conditional UPDATE each (claim a code, rotate a refresh token), so two requests racing
with the same one cannot both win."""

import secrets
from datetime import datetime, timedelta

from app.core import clock, db
from app.core.errors import NotFound
from app.core.i18n import _
from app.core.security import token_hash
from app.domain.access import services as access
from app.domain.activity.services import Actor
from app.domain.events.catalog import (
    OAuthConsentGiven,
    OAuthConsentRevoked,
    OAuthRefreshReused,
    OAuthSignedIn,
)
from app.domain.events.stream import emit
from app.domain.oauth.apps import find_app_by_id
from app.schema.oauth import OAuthApp, OAuthCode, OAuthConsent, OAuthToken
from app.schema.sessions import Session
from app.schema.users import User

CODE_LIFETIME = timedelta(seconds=60)
ACCESS_LIFETIME = timedelta(minutes=10)
REFRESH_IDLE = timedelta(days=30)
# A code's row outlives its minute: a code presented again later still revokes what it gave,
# and its nonce is still known (nonce_used).
SPENT_KEPT_FOR = timedelta(days=1)


# The scopes in the order a person reads what they allow.
SCOPE_ORDER = ("openid", "profile", "email", "roster.accounts")


def _scopes(scope: str | None) -> set[str]:
    return set((scope or "").split())


# Consent.


async def consent_covers(user_id: int, app_id: int, scope: str) -> bool:
    """Whether the user already allowed this app every scope asked for."""
    row = (
        await OAuthConsent.select(OAuthConsent.scope)
        .where((OAuthConsent.user == user_id) & (OAuthConsent.app == app_id))
        .first()
    )
    return row is not None and _scopes(scope) <= _scopes(row["scope"])


async def give_consent(user_id: int, app_id: int, scope: str, *, actor: Actor) -> None:
    """Remembers what the user allowed (adding to what they allowed before)."""
    async with db.transaction():
        row = await db.locked(
            OAuthConsent.select().where(
                (OAuthConsent.user == user_id) & (OAuthConsent.app == app_id)
            )
        )
        if row:
            merged = " ".join(sorted(_scopes(row[0]["scope"]) | _scopes(scope)))
            await OAuthConsent.update(
                {OAuthConsent.scope: merged, OAuthConsent.granted_at: clock.now()}
            ).where(OAuthConsent.id == row[0]["id"])
        else:
            await OAuthConsent.insert(
                OAuthConsent(user=user_id, app=app_id, scope=scope, granted_at=clock.now())
            )
        app = await OAuthApp.select(OAuthApp.name).where(OAuthApp.id == app_id).first()
        await emit(
            OAuthConsentGiven(user_id=user_id, app_id=app_id, scope=scope),
            actor=actor,
            description=f"Allowed {app['name'] if app else 'an app'} to see: {scope}",
        )


async def connected_apps(user_id: int) -> list[dict]:
    """The apps the user allowed (Security → Connected apps), by name: the consent's `id`, the
    app's `app_id` and `name`, the `scopes` allowed, `granted_at`, and `last_used_at`: when the
    app last got tokens for the user (signing in or refreshing), None if it never did."""
    rows = await OAuthConsent.select(
        OAuthConsent.id,
        OAuthConsent.app.id.as_alias("app_id"),
        OAuthConsent.app.name.as_alias("name"),
        OAuthConsent.scope,
        OAuthConsent.granted_at,
    ).where(OAuthConsent.user == user_id)
    for row in rows:
        last = (
            await OAuthToken.select(OAuthToken.issued_at)
            .where((OAuthToken.user == user_id) & (OAuthToken.app == row["app_id"]))
            .order_by(OAuthToken.issued_at, ascending=False)
            .first()
        )
        row["last_used_at"] = last["issued_at"] if last else None
        row["scopes"] = [s for s in SCOPE_ORDER if s in _scopes(row["scope"])] + sorted(
            _scopes(row["scope"]) - set(SCOPE_ORDER)
        )
    return sorted(rows, key=lambda row: (row["name"].lower(), row["id"]))


async def revoke_consent(user_id: int, consent_id: int, *, actor: Actor) -> str:
    """Forgets the user's consent `consent_id` and, in the same transaction, ends every token
    the app holds for the user and every code not yet exchanged (so a sign-in under way cannot
    finish on the consent just taken back). Another user's consent, or one already gone, is
    NotFound. Returns the app's name."""
    async with db.transaction():
        found = await db.locked(
            OAuthConsent.select(OAuthConsent.app).where(
                (OAuthConsent.id == consent_id) & (OAuthConsent.user == user_id)
            )
        )
        if not found:
            raise NotFound(_("No such connected app."))
        app_id = found[0]["app"]
        app = await OAuthApp.select(OAuthApp.name).where(OAuthApp.id == app_id).first()
        name = app["name"] if app else "an app"
        now = clock.now()
        await OAuthConsent.delete().where(OAuthConsent.id == consent_id)
        await OAuthToken.update({OAuthToken.revoked_at: now}).where(
            (OAuthToken.user == user_id)
            & (OAuthToken.app == app_id)
            & OAuthToken.revoked_at.is_null()
        )
        await OAuthCode.update({OAuthCode.expires_at: now}).where(
            (OAuthCode.user == user_id)
            & (OAuthCode.app == app_id)
            & OAuthCode.used_at.is_null()
            & (OAuthCode.expires_at > now)
        )
        await emit(
            OAuthConsentRevoked(user_id=user_id, app_id=app_id),
            actor=actor,
            description=f"Disconnected {name}: it can no longer sign in as this user",
        )
    return name


# Authorization codes.


async def save_code(
    *,
    code: str,
    app_id: int,
    user_id: int,
    redirect_uri: str,
    scope: str,
    nonce: str | None,
    code_challenge: str | None,
    code_challenge_method: str | None,
    auth_time: datetime,
) -> None:
    now = clock.now()
    await OAuthCode.insert(
        OAuthCode(
            code_hash=token_hash(code),
            app=app_id,
            user=user_id,
            redirect_uri=redirect_uri,
            scope=scope,
            nonce=nonce,
            code_challenge=code_challenge,
            code_challenge_method=code_challenge_method,
            auth_time=auth_time,
            created_at=now,
            expires_at=now + CODE_LIFETIME,
        )
    )


async def claim_code(code: str, app_id: int) -> dict | None:
    """The code's row, marked used, if it is this app's, unused and unexpired; else None. A code
    of this app presented again revokes every token issued from it."""
    digest = token_hash(code)
    now = clock.now()
    rows = (
        await OAuthCode.update({OAuthCode.used_at: now})
        .where(
            (OAuthCode.code_hash == digest)
            & (OAuthCode.app == app_id)
            & OAuthCode.used_at.is_null()
            & (OAuthCode.expires_at > now)
        )
        .returning(*OAuthCode.all_columns())
    )
    if rows:
        return rows[0]
    used = (
        await OAuthCode.select(OAuthCode.user, OAuthCode.used_at)
        .where((OAuthCode.code_hash == digest) & (OAuthCode.app == app_id))
        .first()
    )
    if used is not None and used["used_at"] is not None:
        await revoke_family_of(from_code_hash=digest, user_id=used["user"], app_id=app_id)
    return None


async def nonce_used(app_id: int, nonce: str) -> bool:
    return await OAuthCode.exists().where((OAuthCode.app == app_id) & (OAuthCode.nonce == nonce))


# Tokens.


def new_family() -> str:
    return secrets.token_hex(16)


async def save_tokens(
    *,
    access_token: str,
    refresh_token: str | None,
    app_id: int,
    user_id: int,
    scope: str,
    auth_time: datetime,
    family: str,
    from_code_hash: str | None,
    new_family: bool = False,
    actor: Actor | None = None,
) -> None:
    """Records tokens just issued; `actor` given: the sign-in to the app is logged;
    `new_family`: the family begins with these tokens (a code exchange). Tokens whose code or
    family was meanwhile found presented again are saved revoked: the exchange or refresh that
    issued them raced the one that presented it again (see revoke_family_of)."""
    now = clock.now()
    async with db.transaction():
        withdrawn = await _withdrawn(family, from_code_hash, new_family=new_family)
        await OAuthToken.insert(
            OAuthToken(
                access_token_hash=token_hash(access_token),
                refresh_token_hash=token_hash(refresh_token) if refresh_token else None,
                family=family,
                app=app_id,
                user=user_id,
                scope=scope,
                auth_time=auth_time,
                issued_at=now,
                access_expires_at=now + ACCESS_LIFETIME,
                refresh_expires_at=now + REFRESH_IDLE if refresh_token else None,
                from_code_hash=from_code_hash,
                revoked_at=now if withdrawn else None,
            )
        )
        if actor is not None:
            app = await OAuthApp.select(OAuthApp.name).where(OAuthApp.id == app_id).first()
            await emit(
                OAuthSignedIn(user_id=user_id, app_id=app_id, scope=scope),
                actor=actor,
                description=f"Signed in to {app['name'] if app else 'an app'}",
            )


async def _withdrawn(family: str, from_code_hash: str | None, *, new_family: bool) -> bool:
    """Inside save_tokens' transaction: whether the code was presented again or the family
    revoked (a new family has no rows yet: nothing to read). The rows read stay locked until the
    tokens are saved, and revoke_family_of takes the same locks before it revokes, so one of the
    two always sees the other."""
    if from_code_hash is not None:
        code = await db.locked(
            OAuthCode.select(OAuthCode.reused_at).where(OAuthCode.code_hash == from_code_hash)
        )
        if code and code[0]["reused_at"] is not None:
            return True
    if new_family:
        return False
    rows = await db.locked(
        OAuthToken.select(OAuthToken.revoked_at).where(OAuthToken.family == family)
    )
    return any(row["revoked_at"] is not None for row in rows)


async def revoke_family_of(
    *, user_id: int, app_id: int, from_code_hash: str | None = None, family: str | None = None
) -> None:
    """A code or refresh token was presented again: every token of its family is revoked. The
    code (or the family's tokens) is locked first, in a statement of its own, so that tokens a
    racing exchange or refresh saves are either revoked here or saved revoked (_withdrawn)."""
    if from_code_hash is not None:
        where = OAuthToken.from_code_hash == from_code_hash
    else:
        where = OAuthToken.family == family
    async with db.transaction():
        if from_code_hash is not None:
            await OAuthCode.update({OAuthCode.reused_at: clock.now()}).where(
                OAuthCode.code_hash == from_code_hash
            )
        else:
            await db.locked(OAuthToken.select(OAuthToken.id).where(where))
        await OAuthToken.update({OAuthToken.revoked_at: clock.now()}).where(
            where & OAuthToken.revoked_at.is_null()
        )
        await emit(
            OAuthRefreshReused(
                user_id=user_id,
                app_id=app_id,
                what="code" if from_code_hash is not None else "refresh_token",
            ),
            description="A used code or refresh token was presented again: "
            "the app's tokens from it were revoked",
        )


async def token_for_access(access_token: str) -> dict | None:
    """The live token row (unexpired, unrevoked, of an enabled app and user), or None."""
    if not access_token:
        return None
    return (
        await OAuthToken.select(*OAuthToken.all_columns())
        .where(
            (OAuthToken.access_token_hash == token_hash(access_token))
            & OAuthToken.revoked_at.is_null()
            & (OAuthToken.access_expires_at > clock.now())
            & (OAuthToken.app.enabled == True)  # noqa: E712
            & (OAuthToken.user.disabled == False)  # noqa: E712
        )
        .first()
    )


async def claim_refresh(refresh_token: str, app_id: int) -> dict | None:
    """The token row of this app's refresh token, marked refreshed, if it was not yet, is not
    revoked and has not been idle 30 days; else None. One already refreshed, presented again,
    revokes its whole family (it was stolen, or the app was: either way the grant is over)."""
    digest = token_hash(refresh_token)
    now = clock.now()
    rows = (
        await OAuthToken.update({OAuthToken.refreshed_at: now})
        .where(
            (OAuthToken.refresh_token_hash == digest)
            & (OAuthToken.app == app_id)
            & OAuthToken.refreshed_at.is_null()
            & OAuthToken.revoked_at.is_null()
            & (OAuthToken.refresh_expires_at > now)
        )
        .returning(*OAuthToken.all_columns())
    )
    if rows:
        return rows[0]
    used = (
        await OAuthToken.select(OAuthToken.user, OAuthToken.family, OAuthToken.refreshed_at)
        .where((OAuthToken.refresh_token_hash == digest) & (OAuthToken.app == app_id))
        .first()
    )
    if used is not None and used["refreshed_at"] is not None:
        await revoke_family_of(family=used["family"], user_id=used["user"], app_id=app_id)
    return None


async def app_of(app_id: int) -> dict | None:
    return await find_app_by_id(app_id)


async def session_started(session_id: int) -> datetime | None:
    """When the session's sign-in happened (an ID token's auth_time)."""
    row = await Session.select(Session.created_at).where(Session.id == session_id).first()
    return row["created_at"] if row else None


async def find_token(token: str, hint: str | None) -> dict | None:
    """The token row an access or refresh token names (any state), for revocation."""
    digest = token_hash(token)
    columns = (
        [OAuthToken.refresh_token_hash, OAuthToken.access_token_hash]
        if hint == "refresh_token"
        else [OAuthToken.access_token_hash, OAuthToken.refresh_token_hash]
    )
    for column in columns:
        row = await OAuthToken.select().where(column == digest).first()
        if row is not None:
            return row
    return None


async def revoke_token_row(token_id: int, *, whole_family: bool) -> None:
    row = await OAuthToken.select(OAuthToken.family).where(OAuthToken.id == token_id).first()
    if row is None:
        return
    where = OAuthToken.family == row["family"] if whole_family else OAuthToken.id == token_id
    await OAuthToken.update({OAuthToken.revoked_at: clock.now()}).where(
        where & OAuthToken.revoked_at.is_null()
    )


# Claims.


async def live_user(user_id: int) -> dict | None:
    """The user, if they may still sign in to apps (not disabled)."""
    row = await User.select().where(User.id == user_id).first()
    return row if row is not None and not row["disabled"] else None


async def claims(user_id: int, scope: str) -> dict:
    """What the token's scopes let the app see of the user, read now."""
    user = await User.select().where(User.id == user_id).first()
    if user is None:
        return {"sub": str(user_id)}
    scopes = _scopes(scope)
    found: dict = {"sub": str(user_id)}
    if "profile" in scopes:
        found["name"] = f"{user['first_name']} {user['last_name']}".strip()
        found["given_name"] = user["first_name"]
        found["family_name"] = user["last_name"]
    if "email" in scopes:
        found["email"] = user["email"]
        found["email_verified"] = user["email_verified_at"] is not None
    if "roster.accounts" in scopes:
        found["roster.accounts"] = await reachable_accounts(user_id)
    return found


async def reachable_accounts(user_id: int) -> list[dict]:
    """The accounts the user can enter now (closed ones are not), with their permissions there:
    what /accounts and /account show."""
    return [
        {
            "id": row["client_id"],
            "name": row["name"],
            "owner": row["is_owner"],
            "permissions": list(row["permission_keys"]),
        }
        for row in await access.user_accounts(user_id)
        if not row["closed"]
    ]


async def forget_spent(now: datetime) -> int:
    """The sweeper's: deletes the codes older than SPENT_KEPT_FOR and the tokens that ended
    (expired, or revoked) longer ago than that; returns how many rows."""
    before = now - SPENT_KEPT_FOR
    codes = await OAuthCode.delete().where(OAuthCode.created_at < before).returning(OAuthCode.id)
    tokens = (
        await OAuthToken.delete()
        .where(
            (OAuthToken.revoked_at < before)
            | (OAuthToken.refresh_expires_at.is_null() & (OAuthToken.access_expires_at < before))
            | (OAuthToken.refresh_expires_at < before)
        )
        .returning(OAuthToken.id)
    )
    return len(codes) + len(tokens)
