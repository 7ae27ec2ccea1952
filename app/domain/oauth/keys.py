"""The keys ID tokens are signed with, one family per algorithm (RS256, ES256).

A key is published in the JWKS from the moment it is made, and signs only from `activates_at`:
relying parties that cache the JWKS learn it before they meet a token it signed. The first key
of an algorithm is made when first needed and signs at once; `roster rotate-signing-key` adds
one that signs an hour later. A key that a newer one has replaced stays published until every
ID token it signed has expired (ID_TOKEN_LIFETIME after it stopped signing), then is retired.

The private keys are stored sealed (JWE, direct AES-256-GCM) under a key derived from
ROSTER_SECRET_KEY, so a copy of the database alone cannot sign ID tokens. A key sealed under
another secret key (it was changed) is passed over: a new one is made and signs at once."""

import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta

from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from app.core import clock, db
from app.core.config import get_settings
from app.domain.activity.services import SYSTEM, Actor
from app.domain.events.catalog import OAuthSigningKeyAdded
from app.domain.events.stream import emit
from app.schema.oauth import OAuthSigningKey

ALGORITHMS = ("RS256", "ES256")
ID_TOKEN_LIFETIME = timedelta(minutes=10)  # as long as an access token
PUBLISHED_BEFORE_USE = timedelta(hours=1)
_SEALED = {"alg": "dir", "enc": "A256GCM"}

log = logging.getLogger("roster.oauth")


def _sealing_key() -> OctKey:
    secret = get_settings().secret_key.encode()
    return OctKey.import_key(hmac.digest(secret, b"roster: ID token signing keys", hashlib.sha256))


def seal(private_jwk: dict) -> str:
    return jwe.encrypt_compact(_SEALED, json.dumps(private_jwk).encode(), _sealing_key())


def unseal(stored: str) -> dict | None:
    """The private JWK as stored by `seal` (or, made before keys were sealed, as plain JSON);
    None when it was sealed under another ROSTER_SECRET_KEY."""
    if stored.startswith("{"):
        return json.loads(stored)
    try:
        plaintext = jwe.decrypt_compact(stored, _sealing_key()).plaintext
    except (JoseError, ValueError):
        return None
    return json.loads(plaintext or b"null")


def _generate(alg: str) -> RSAKey | ECKey:
    if alg == "RS256":
        return RSAKey.generate_key(2048, private=True)
    return ECKey.generate_key("P-256", private=True)


def _superseded_at(key: dict, keys: list[dict], now: datetime) -> datetime | None:
    """When a newer key of the same algorithm took over signing from `key` (None: not yet)."""
    later = [
        other["activates_at"]
        for other in keys
        if other["alg"] == key["alg"]
        and other["activates_at"] > key["activates_at"]
        and other["activates_at"] <= now
    ]
    return min(later) if later else None


async def _live_keys() -> list[dict]:
    return await OAuthSigningKey.select().where(OAuthSigningKey.retired_at.is_null())


def _published(keys: list[dict], now: datetime) -> list[dict]:
    shown = []
    for key in keys:
        superseded = _superseded_at(key, keys, now)
        if superseded is None or superseded + ID_TOKEN_LIFETIME > now:
            shown.append(key)
    return shown


async def add_key(alg: str, *, at_once: bool = False, actor: Actor = SYSTEM) -> dict:
    """A new key of `alg`, published now, signing from now (`at_once`) or in an hour."""
    if alg not in ALGORITHMS:
        raise ValueError(f"Unknown algorithm {alg!r}")
    key = _generate(alg)
    now = clock.now()
    activates_at = now if at_once else now + PUBLISHED_BEFORE_USE
    kid = key.thumbprint()
    async with db.transaction():
        await OAuthSigningKey.insert(
            OAuthSigningKey(
                kid=kid,
                alg=alg,
                private_jwk=seal(key.as_dict(private=True)),
                created_at=now,
                activates_at=activates_at,
            )
        )
        await emit(
            OAuthSigningKeyAdded(kid=kid, alg=alg, activates_at=activates_at),
            actor=actor,
            description=f"Added an ID token signing key ({alg}, {kid}), signing from "
            f"{activates_at:%d %b %Y %H:%M} UTC",
        )
    return {"kid": kid, "alg": alg, "activates_at": activates_at}


async def retire_expired() -> int:
    """Marks retired the keys whose ID tokens have all expired; how many."""
    now = clock.now()
    keys = await _live_keys()
    shown = {key["id"] for key in _published(keys, now)}
    gone = [key["id"] for key in keys if key["id"] not in shown]
    if gone:
        await OAuthSigningKey.update({OAuthSigningKey.retired_at: now}).where(
            OAuthSigningKey.id.is_in(gone)
        )
    return len(gone)


async def rotate(algs: tuple[str, ...] = ALGORITHMS, *, actor: Actor = SYSTEM) -> list[dict]:
    """`roster rotate-signing-key`: a new key of each algorithm, published now, signing in an
    hour (a first key signs at once); retires the keys no unexpired token needs."""
    await retire_expired()
    live = {key["alg"] for key in await _live_keys()}
    return [await add_key(alg, at_once=alg not in live, actor=actor) for alg in algs]


async def signing_key(alg: str) -> tuple[str, dict]:
    """(kid, private JWK) of the key that signs `alg` now: the newest active one, made at once
    when there is none or it was sealed under another ROSTER_SECRET_KEY. One stored before keys
    were sealed is sealed now."""
    for attempt in range(2):
        now = clock.now()
        rows = (
            await OAuthSigningKey.select()
            .where(
                (OAuthSigningKey.alg == alg)
                & OAuthSigningKey.retired_at.is_null()
                & (OAuthSigningKey.activates_at <= now)
            )
            .order_by(OAuthSigningKey.activates_at, ascending=False)
            .limit(1)
        )
        private = unseal(rows[0]["private_jwk"]) if rows else None
        if private is not None:
            if rows[0]["private_jwk"].startswith("{"):
                await OAuthSigningKey.update({OAuthSigningKey.private_jwk: seal(private)}).where(
                    OAuthSigningKey.id == rows[0]["id"]
                )
            return rows[0]["kid"], private
        if rows:
            log.warning(
                "The %s signing key %s was sealed under another ROSTER_SECRET_KEY: "
                "a new one signs from now",
                alg,
                rows[0]["kid"],
            )
        if attempt == 0:
            await add_key(alg, at_once=True)
    raise RuntimeError(f"No {alg} signing key")  # pragma: no cover


async def jwks() -> dict:
    """The public keys relying parties may meet: every key made, not yet retired, that signs,
    will sign, or signed an ID token that has not expired. Makes the first keys if none."""
    if not await OAuthSigningKey.exists().where(OAuthSigningKey.retired_at.is_null()):
        for alg in ALGORITHMS:
            await signing_key(alg)
    now = clock.now()
    keys = _published(await _live_keys(), now)
    public = []
    for row in sorted(keys, key=lambda k: (k["alg"], k["activates_at"])):
        private = unseal(row["private_jwk"])
        if private is None:
            continue  # sealed under another secret key: it signs nothing more
        key = KeySet.import_key_set({"keys": [private]}).keys[0]
        public.append(
            key.as_dict(private=False) | {"kid": row["kid"], "alg": row["alg"], "use": "sig"}
        )
    return {"keys": public}
