"""Passkeys (WebAuthn): registering them, and checking what an authenticator signed, for users
and for staff. The protocol and its cryptography are py_webauthn's; this module holds the rules.

- The relying party is Roster as ROSTER_BASE_URL names it: its host is the RP id, the URL
  (scheme, host, port) the one origin accepted.
- A challenge is 32 random bytes, single use (deleted by the one statement that takes it, so of
  two answers to one challenge at most one is checked), bound to what asked for it (the session
  for registering, the pending sign-in for a second factor, the login page's own token for a
  sign-in: `binding`), and valid CHALLENGE_VALID_FOR. At most MAX_OPEN_CHALLENGES are open for
  one binding or one person: older ones are dropped.
- A passkey's credential id is unique across Roster (a discoverable sign-in names its person
  by it). Up to MAX_PASSKEYS per person.
- Signature counters: an authenticator that counts must show a higher count at every use; one
  that does not go up (unless it is always 0) may be a copy: the sign-in is refused and
  `passkey.clone_suspected` logged (in a transaction of its own, kept though the sign-in fails).
"""

import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import msgspec
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from app.core import clock, db
from app.core.config import get_settings
from app.core.dberrors import is_unique_violation
from app.core.errors import DomainError
from app.core.i18n import N_, _, ngettext
from app.domain.activity.services import Actor
from app.domain.events.catalog import PasskeyAdded, PasskeyCloneSuspected, PasskeyRemoved
from app.domain.events.stream import emit
from app.domain.mail.services import enqueue
from app.domain.two_factor import services as two_factor
from app.domain.two_factor.services import Person
from app.schema.passkeys import Passkey, PasskeyChallenge
from app.schema.staff import Admin
from app.schema.users import User

log = logging.getLogger("roster.passkeys")

RP_NAME = "Roster"
CHALLENGE_VALID_FOR = timedelta(minutes=5)
MAX_PASSKEYS = 10
MAX_OPEN_CHALLENGES = 10
NAME_MAX = 60

REGISTER, SIGN_IN, SECOND_FACTOR = "register", "sign_in", "second_factor"

# Marked for the catalog, translated where they are raised.
NOT_VERIFIED = N_("Your passkey's answer could not be verified. Try again.")
CHALLENGE_GONE = N_("That passkey request has expired or was already used. Try again.")
SIGN_IN_REFUSED = N_("That passkey could not sign you in. Try again, or use your password.")
POSSIBLE_CLONE = N_(
    "That passkey was refused: its signature counter went backwards, so it may have been "
    "copied. Use another way to sign in, and remove this passkey from Security."
)
# As too_many() says it in English.
TOO_MANY = f"You have {MAX_PASSKEYS} passkeys, the most one login can have: remove one first."
NAME_NEEDED = N_("Give the passkey a name, such as the device or password manager that holds it.")


def too_many() -> str:
    return ngettext(
        "You have %(num)d passkey, the most one login can have: remove one first.",
        "You have %(num)d passkeys, the most one login can have: remove one first.",
        MAX_PASSKEYS,
    ) % {"num": MAX_PASSKEYS}


def relying_party() -> tuple[str, str]:
    """The RP id (ROSTER_BASE_URL's host) and the origin the browser must report."""
    parts = urlsplit(get_settings().base_url)
    return parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}"


def _digest(value: str | bytes) -> str:
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()


def _owned_by(person: Person):
    return (Passkey.user if person.kind == "user" else Passkey.admin) == person.id


def _person_of(row: dict) -> Person:
    return Person("user", row["user"]) if row["user"] is not None else Person("admin", row["admin"])


def _about(person: Person) -> dict:
    return {"user_id": person.id} if person.kind == "user" else {"staff_id": person.id}


# --- reading ----------------------------------------------------------------------------------


async def passkeys_of(person: Person) -> list[dict]:
    """The person's passkeys, oldest first: id, name, created, last used."""
    return (
        await Passkey.select(
            Passkey.id, Passkey.name, Passkey.created_at, Passkey.last_used_at, Passkey.transports
        )
        .where(_owned_by(person))
        .order_by(Passkey.created_at)
        .order_by(Passkey.id)
    )


async def _descriptors(person: Person) -> list[PublicKeyCredentialDescriptor]:
    rows = await Passkey.select(Passkey.credential_id, Passkey.transports).where(_owned_by(person))
    descriptors = []
    for row in rows:
        transports = []
        for name in filter(None, row["transports"].split(",")):
            try:
                transports.append(AuthenticatorTransport(name))
            except ValueError:
                continue  # a transport this version of the library does not know
        descriptors.append(
            PublicKeyCredentialDescriptor(
                id=base64url_to_bytes(row["credential_id"]), transports=transports or None
            )
        )
    return descriptors


# --- challenges -------------------------------------------------------------------------------


async def _new_challenge(purpose: str, binding: str, person: Person | None) -> bytes:
    challenge = secrets.token_bytes(32)
    now = clock.now()
    binding_hash = _digest(binding)
    user = person.id if person is not None and person.kind == "user" else None
    admin = person.id if person is not None and person.kind == "admin" else None
    async with db.transaction():
        await PasskeyChallenge.delete().where(PasskeyChallenge.expires_at <= now)
        scopes = [PasskeyChallenge.binding_hash == binding_hash]
        if person is not None:
            column = PasskeyChallenge.user if person.kind == "user" else PasskeyChallenge.admin
            scopes.append(column == person.id)
        for scope in scopes:  # the newest MAX_OPEN_CHALLENGES - 1 stay, with the new one
            older = (
                await PasskeyChallenge.select(PasskeyChallenge.id)
                .where(scope)
                .order_by(PasskeyChallenge.id, ascending=False)
                .offset(MAX_OPEN_CHALLENGES - 1)
                .limit(1000)
            )
            if older:
                ids = [row["id"] for row in older]
                await PasskeyChallenge.delete().where(PasskeyChallenge.id.is_in(ids))
        await PasskeyChallenge.insert(
            PasskeyChallenge(
                challenge_hash=_digest(challenge),
                binding_hash=binding_hash,
                purpose=purpose,
                created_at=now,
                expires_at=now + CHALLENGE_VALID_FOR,
                user=user,
                admin=admin,
            )
        )
    return challenge


async def _take_challenge(
    purpose: str, binding: str, client_data_json: bytes
) -> tuple[dict, bytes]:
    """The open challenge that the browser's answer names, used up by this call (deleted); its
    row and its bytes. DomainError when there is none: unknown, answered already, made for
    another binding or ceremony, or expired."""
    try:
        challenge = parse_client_data_json(client_data_json).challenge
    except (WebAuthnException, ValueError, TypeError, KeyError):
        raise DomainError(_(NOT_VERIFIED)) from None
    taken = (
        await PasskeyChallenge.delete()
        .where(
            (PasskeyChallenge.challenge_hash == _digest(challenge))
            & (PasskeyChallenge.binding_hash == _digest(binding))
            & (PasskeyChallenge.purpose == purpose)
        )
        .returning(PasskeyChallenge.user, PasskeyChallenge.admin, PasskeyChallenge.expires_at)
    )
    if not taken or taken[0]["expires_at"] <= clock.now():
        raise DomainError(_(CHALLENGE_GONE))
    return taken[0], challenge


async def forget_expired(now: datetime) -> int:
    """The sweeper's part: challenges past their expiry."""
    gone = (
        await PasskeyChallenge.delete()
        .where(PasskeyChallenge.expires_at <= now)
        .returning(PasskeyChallenge.id)
    )
    return len(gone)


# --- registering ------------------------------------------------------------------------------


def _user_handle(person: Person) -> bytes:
    return f"roster:{person.kind}:{person.id}".encode()


async def registration_options(person: Person, binding: str) -> str:
    """What navigator.credentials.create() needs, as JSON: a discoverable credential, user
    verification preferred, none of the person's passkeys again."""
    if await Passkey.count().where(_owned_by(person)) >= MAX_PASSKEYS:
        raise DomainError(too_many())
    profile = await two_factor.profile_of(person)
    rp_id, _origin = relying_party()
    challenge = await _new_challenge(REGISTER, binding, person)
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=RP_NAME,
        user_id=_user_handle(person),
        user_name=profile["email"],
        user_display_name=profile["name"],
        challenge=challenge,
        timeout=int(CHALLENGE_VALID_FOR.total_seconds() * 1000),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=await _descriptors(person),
    )
    return options_to_json(options)


def clean_name(name: str | None) -> str:
    return " ".join((name or "").split())[:NAME_MAX]


async def register(
    person: Person, binding: str, credential_json: str, name: str, *, actor: Actor
) -> dict:
    """Keeps the passkey the browser made for the challenge of `binding`; returns its row."""
    name = clean_name(name)
    if not name:
        raise DomainError(_(NAME_NEEDED), "name")
    try:
        credential = parse_registration_credential_json(credential_json or "")
    except (WebAuthnException, ValueError, TypeError, KeyError):
        raise DomainError(_(NOT_VERIFIED)) from None
    challenge_row, challenge = await _take_challenge(
        REGISTER, binding, credential.response.client_data_json
    )
    if _person_of(challenge_row) != person:
        raise DomainError(_(CHALLENGE_GONE))
    rp_id, origin = relying_party()
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
        )
    except WebAuthnException as exc:
        log.info("Passkey registration refused: %s", exc)
        raise DomainError(_(NOT_VERIFIED)) from None
    transports = ",".join(t.value for t in credential.response.transports or [])[:200]
    profile = await two_factor.profile_of(person)
    try:
        async with db.transaction():
            table = User if person.kind == "user" else Admin
            await db.locked(table.select(table.id).where(table.id == person.id)).first()
            if await Passkey.count().where(_owned_by(person)) >= MAX_PASSKEYS:
                raise DomainError(too_many())
            row = (
                await Passkey.insert(
                    Passkey(
                        credential_id=bytes_to_base64url(verified.credential_id),
                        public_key=bytes_to_base64url(verified.credential_public_key),
                        sign_count=verified.sign_count,
                        name=name,
                        transports=transports,
                        created_at=clock.now(),
                        user=person.id if person.kind == "user" else None,
                        admin=person.id if person.kind == "admin" else None,
                    )
                ).returning(Passkey.id, Passkey.name, Passkey.created_at)
            )[0]
            await two_factor.sync_user_flag(person)
            await emit(
                PasskeyAdded(**_about(person), passkey_id=row["id"], name=name),
                actor=actor,
                description=f"Passkey “{name}” added for {profile['name']}",
            )
            await enqueue(
                to=profile["email"],
                template="passkey_added",
                context={"first_name": profile["first_name"], "name": name},
            )
    except Exception as exc:
        if is_unique_violation(exc):
            raise DomainError(_("This passkey is already registered.")) from None
        raise
    return row


# --- signing in -------------------------------------------------------------------------------


class Assertion(msgspec.Struct, frozen=True):
    """A passkey's answer, checked: whose it is, which one, and whether the authenticator
    verified the person (PIN, fingerprint, face): then it is two factors by itself."""

    person: Person
    passkey_id: int
    user_verified: bool


async def sign_in_options(binding: str, *, person: Person | None = None) -> str:
    """What navigator.credentials.get() needs, as JSON: for a sign-in (any passkey: the browser
    offers the ones it has), or for the second factor of `person` (only theirs)."""
    purpose = SIGN_IN if person is None else SECOND_FACTOR
    allow = await _descriptors(person) if person is not None else []
    if person is not None and not allow:
        raise DomainError(_("You have no passkey: use your Authentication Code."))
    rp_id, _origin = relying_party()
    challenge = await _new_challenge(purpose, binding, person)
    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=challenge,
        timeout=int(CHALLENGE_VALID_FOR.total_seconds() * 1000),
        allow_credentials=allow,
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return options_to_json(options)


async def check_assertion(
    binding: str, credential_json: str, *, ip: str, person: Person | None = None
) -> Assertion:
    """The passkey answer to the challenge of `binding` (a sign-in's, or `person`'s second
    factor's), checked and its counter moved on; DomainError when it is refused."""
    purpose = SIGN_IN if person is None else SECOND_FACTOR
    try:
        credential = parse_authentication_credential_json(credential_json or "")
    except (WebAuthnException, ValueError, TypeError, KeyError):
        raise DomainError(_(SIGN_IN_REFUSED)) from None
    challenge_row, challenge = await _take_challenge(
        purpose, binding, credential.response.client_data_json
    )
    row = (
        await Passkey.select()
        .where(Passkey.credential_id == bytes_to_base64url(credential.raw_id))
        .first()
    )
    if row is None:
        raise DomainError(_(SIGN_IN_REFUSED))
    owner = _person_of(row)
    if person is not None and (owner != person or _person_of(challenge_row) != person):
        raise DomainError(_(SIGN_IN_REFUSED))
    rp_id, origin = relying_party()
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=base64url_to_bytes(row["public_key"]),
            credential_current_sign_count=0,  # compared below, to log a possible copy
        )
    except WebAuthnException as exc:
        log.info("Passkey assertion refused: %s", exc)
        raise DomainError(_(SIGN_IN_REFUSED)) from None
    before, count = row["sign_count"], verified.new_sign_count
    if (count > 0 or before > 0) and count <= before:
        await _suspect_clone(owner, row, count, ip)
        raise DomainError(_(POSSIBLE_CLONE))
    moved = (
        await Passkey.update({Passkey.sign_count: count, Passkey.last_used_at: clock.now()})
        .where((Passkey.id == row["id"]) & (Passkey.sign_count == before))
        .returning(Passkey.id)
    )
    if not moved and count > 0:  # another use of it, meanwhile, took this count or a later one
        await _suspect_clone(owner, row, count, ip)
        raise DomainError(_(POSSIBLE_CLONE))
    return Assertion(person=owner, passkey_id=row["id"], user_verified=verified.user_verified)


async def _suspect_clone(person: Person, row: dict, count: int, ip: str) -> None:
    profile = await two_factor.profile_of(person)
    async with db.transaction():
        await emit(
            PasskeyCloneSuspected(
                **_about(person),
                passkey_id=row["id"],
                sign_count_before=row["sign_count"],
                sign_count=count,
            ),
            actor=Actor("system", ip=ip),
            description=(
                f"Passkey “{row['name']}” of {profile['name']} refused: its signature counter "
                f"went from {row['sign_count']} to {count} (it may have been copied)"
            ),
        )


# --- removing ---------------------------------------------------------------------------------


async def remove(person: Person, passkey_id: int, proof: str, *, actor: Actor) -> str:
    """The person's own Remove, given their password or a current code; returns its name."""
    await two_factor.confirm_identity(person, proof, actor.ip)
    return await _remove(person, passkey_id, actor=actor, by_staff=False)


async def staff_remove(user_id: int, passkey_id: int, *, actor: Actor) -> str:
    """Staff removing one of a user's passkeys (the user is emailed)."""
    return await _remove(Person("user", user_id), passkey_id, actor=actor, by_staff=True)


async def _remove(person: Person, passkey_id: int, *, actor: Actor, by_staff: bool) -> str:
    profile = await two_factor.profile_of(person)
    async with db.transaction():
        gone = (
            await Passkey.delete()
            .where((Passkey.id == passkey_id) & _owned_by(person))
            .returning(Passkey.name)
        )
        if not gone:
            raise DomainError(_("There is no such passkey: it may have been removed already."))
        name = gone[0]["name"]
        await two_factor.sync_user_flag(person)
        await emit(
            PasskeyRemoved(**_about(person), passkey_id=passkey_id, name=name, by_staff=by_staff),
            actor=actor,
            description=f"Passkey “{name}” removed for {profile['name']}",
        )
        await enqueue(
            to=profile["email"],
            template="passkey_removed",
            context={"first_name": profile["first_name"], "name": name, "by_staff": by_staff},
        )
    return name
