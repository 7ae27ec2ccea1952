"""Two-factor authentication with TOTP (RFC 6238 as authenticator apps use it: SHA-1, 6 digits,
30-second steps), for users and for staff, and its single-use recovery codes.

A code is accepted for the current step or the one either side (clocks drift), and only for a
step later than the last one accepted: a conditional UPDATE moves `last_step`, so of two
simultaneous uses of one code exactly one wins, on both engines.

Recovery codes are 60 random bits each (12 characters of a 32-letter alphabet), so a fast hash is
enough: unlike a password, nothing about them can be guessed faster than by trying all 2^60, and
SHA-256 lets a code be found by its hash in one indexed query."""

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import msgspec
import pyotp
import segno
from markupsafe import Markup

from app.core import clock, db
from app.core.dberrors import is_unique_violation
from app.core.errors import DomainError
from app.core.i18n import N_, _
from app.core.names import full_name
from app.core.security import in_hashing_pool, verify_password
from app.domain.activity.services import Actor
from app.domain.events.catalog import RecoveryCodesReplaced, TwoFactorDisabled, TwoFactorEnabled
from app.domain.events.stream import emit
from app.domain.mail.services import enqueue
from app.domain.throttle import Limit
from app.schema.passkeys import Passkey
from app.schema.staff import Admin
from app.schema.two_factor import RecoveryCode, TwoFactor
from app.schema.users import User

STEP_SECONDS = 30
WINDOW = 1  # steps accepted either side of the current one
ISSUER = "Roster"
RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud, typed back
RECOVERY_CODE_LENGTH = 12

# Marked for the catalog, translated where they are raised.
CODE_WRONG = N_(
    "That code is not right. Enter the 6-digit code your app shows now, or a recovery code."
)
CODE_ALREADY_USED = N_(
    "That recovery code was already used: each one works once. Enter the 6-digit code your app "
    "shows now, or another recovery code."
)
CODE_THROTTLED = N_("Too many codes were tried. Wait 15 minutes, then try again.")
NOT_CONFIRMED = N_("Enter your password or a current Authentication Code to confirm.")

# Code attempts, like logins: per person and per address, whether they succeed or not.
CODE_LIMIT = Limit(
    "two_factor", timedelta(minutes=15), per_key=5, per_ip=30, message=CODE_THROTTLED
)


class Person(msgspec.Struct, frozen=True):
    """Whose authenticator: a user's ("user") or a staff member's ("admin")."""

    kind: str
    id: int

    @property
    def limit_key(self) -> str:
        return f"{self.kind}:{self.id}"


def _of(person: Person):
    return (TwoFactor.user if person.kind == "user" else TwoFactor.admin) == person.id


# --- codes ------------------------------------------------------------------------------------


def time_step(now: datetime | None = None) -> int:
    return int((now or clock.now()).timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


def normalized(code: str) -> str:
    """What was typed, without the spaces and dashes people put in codes, in capitals."""
    return "".join(ch for ch in (code or "") if ch.isalnum()).upper()[:64]


def is_totp_code(code: str) -> bool:
    """Six ASCII digits: str.isdigit() alone says yes to other scripts' digits and to
    superscripts, which no authenticator shows (and hmac.compare_digest refuses non-ASCII)."""
    return len(code) == 6 and code.isascii() and code.isdigit()


def matching_step(secret: str, code: str, now: datetime | None = None) -> int | None:
    """The step within the window whose code this is, or None. Every step is compared (in
    constant time), so the answer's timing tells nothing."""
    code = normalized(code)
    if not is_totp_code(code):
        return None
    current, found = time_step(now), None
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(code_at(secret, step), code):
            found = step
    return found


def new_recovery_codes() -> list[str]:
    """Ten codes as shown: XXXX-XXXX-XXXX."""
    codes = []
    for _code in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _char in range(RECOVERY_CODE_LENGTH))
        codes.append("-".join(raw[i : i + 4] for i in range(0, RECOVERY_CODE_LENGTH, 4)))
    return codes


def recovery_code_hash(code: str) -> str:
    return hashlib.sha256(normalized(code).encode()).hexdigest()


def grouped(key: str, size: int = 4) -> str:
    """A manual key in groups of four, as authenticator apps accept it."""
    return " ".join(key[i : i + size] for i in range(0, len(key), size))


def provisioning_uri(secret: str, account_name: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=ISSUER)


def qr_svg(uri: str) -> Markup:
    """The QR code as inline SVG, drawn here: no script, no third party sees the secret."""
    svg = segno.make(uri, error="m").svg_inline(
        scale=4,
        border=2,
        dark="#111827",
        light="#ffffff",
        title="QR code for your authenticator app",
    )
    return Markup(svg)


# --- reading ----------------------------------------------------------------------------------


async def _row(person: Person) -> dict | None:
    return await TwoFactor.select().where(_of(person)).first()


async def status(person: Person) -> dict:
    """Whether it is on, and how many recovery codes are left."""
    row = await _row(person)
    if row is None or row["secret"] is None:
        return {"enabled": False, "enabled_at": None, "recovery_codes_left": 0}
    left = await _codes_left(row["id"])
    return {"enabled": True, "enabled_at": row["enabled_at"], "recovery_codes_left": left}


async def _codes_left(two_factor_id: int) -> int:
    return await RecoveryCode.count().where(
        (RecoveryCode.two_factor == two_factor_id) & RecoveryCode.used_at.is_null()
    )


async def is_enabled(person: Person) -> bool:
    """Whether the person's authenticator app (TOTP) is on."""
    return await TwoFactor.exists().where(_of(person) & TwoFactor.secret.is_not_null())


def _passkeys_of(person: Person):
    return (Passkey.user if person.kind == "user" else Passkey.admin) == person.id


async def has_passkey(person: Person) -> bool:
    return await Passkey.exists().where(_passkeys_of(person))


async def has_second_factor(person: Person) -> bool:
    """Two-factor authentication in the wide sense: the authenticator app, or a passkey. What
    the sign-in asks for after a password, and what the staff setting and the accounts that
    require two-factor authentication accept."""
    return await is_enabled(person) or await has_passkey(person)


async def profile_of(person: Person) -> dict:
    """The person's email, greeting name, full name and password hash."""
    if person.kind == "user":
        row = (
            await User.select(User.email, User.first_name, User.last_name, User.password_hash)
            .where(User.id == person.id)
            .first()
        )
        if row is None:
            raise DomainError(_("There is no such user."))
        return {**row, "name": full_name(row)}
    row = (
        await Admin.select(Admin.email, Admin.name, Admin.password_hash)
        .where(Admin.id == person.id)
        .first()
    )
    if row is None:
        raise DomainError(_("There is no such staff member."))
    return {**row, "first_name": row["name"].split(" ")[0]}


# --- using a code -----------------------------------------------------------------------------


class CodeUsed(msgspec.Struct, frozen=True):
    """A code accepted: from the authenticator app, or a recovery code (and how many are left)."""

    recovery: bool = False
    recovery_codes_left: int = 0


async def use_code(person: Person, code: str) -> CodeUsed | None:
    """The use of `code` if it is a current Authentication Code or an unused recovery code of
    this person's, used up by this call (the step, or the recovery code marked used); None if
    it is neither."""
    row = await _row(person)
    if row is None or row["secret"] is None:
        return None
    step = matching_step(row["secret"], code)
    if step is not None:
        won = (
            await TwoFactor.update({TwoFactor.last_step: step})
            .where((TwoFactor.id == row["id"]) & (TwoFactor.last_step < step))
            .returning(TwoFactor.id)
        )
        return CodeUsed() if won else None
    if len(normalized(code)) != RECOVERY_CODE_LENGTH:
        return None
    used = (
        await RecoveryCode.update({RecoveryCode.used_at: clock.now()})
        .where(_recovery_code(row["id"], code) & RecoveryCode.used_at.is_null())
        .returning(RecoveryCode.id)
    )
    if not used:
        return None
    return CodeUsed(recovery=True, recovery_codes_left=await _codes_left(row["id"]))


def _recovery_code(two_factor_id: int, code: str):
    return (RecoveryCode.two_factor == two_factor_id) & (
        RecoveryCode.code_hash == recovery_code_hash(code)
    )


async def _was_used_before(person: Person, code: str) -> bool:
    """Whether `code` is one of this person's recovery codes, used already."""
    if len(normalized(code)) != RECOVERY_CODE_LENGTH:
        return False
    row = await _row(person)
    return row is not None and await RecoveryCode.exists().where(
        _recovery_code(row["id"], code) & RecoveryCode.used_at.is_not_null()
    )


async def check_code(person: Person, code: str, ip: str) -> CodeUsed:
    """use_code within CODE_LIMIT; DomainError on the field "code" when it is not right."""
    attempt = await CODE_LIMIT.take(person.limit_key, ip)
    used = await use_code(person, code)
    if used is None:
        if await _was_used_before(person, code):
            raise DomainError(_(CODE_ALREADY_USED), "code")
        raise DomainError(_(CODE_WRONG), "code")
    await CODE_LIMIT.forget_earlier(person.limit_key, attempt)
    return used


async def confirm_identity(person: Person, proof: str, ip: str) -> None:
    """The person's password, or one of their codes (within CODE_LIMIT either way): what turning
    it off or replacing the recovery codes needs, beyond the session."""
    if not proof:
        raise DomainError(_(NOT_CONFIRMED), "proof")
    attempt = await CODE_LIMIT.take(person.limit_key, ip)
    profile = await profile_of(person)
    ok = await in_hashing_pool(verify_password, profile["password_hash"], proof)
    if not ok and await use_code(person, proof) is None:
        raise DomainError(_("That is neither your password nor a current code."), "proof")
    await CODE_LIMIT.forget_earlier(person.limit_key, attempt)


# --- changes ----------------------------------------------------------------------------------


async def begin_enrolment(person: Person) -> str:
    """A new pending secret (any earlier pending one is replaced); it enables nothing until a
    code from it is confirmed."""
    if await is_enabled(person):
        raise DomainError(_("Two-factor authentication is already on."))
    secret = pyotp.random_base32()  # 160 bits
    for attempt in (1, 2):
        try:
            async with db.transaction():
                row = await db.locked(TwoFactor.select(TwoFactor.id).where(_of(person))).first()
                if row is None:
                    if person.kind == "user":
                        new = TwoFactor(user=person.id, pending_secret=secret)
                    else:
                        new = TwoFactor(admin=person.id, pending_secret=secret)
                    await TwoFactor.insert(new)
                else:
                    await TwoFactor.update({TwoFactor.pending_secret: secret}).where(
                        TwoFactor.id == row["id"]
                    )
            return secret
        except Exception as exc:
            # Two first Enables at once (two tabs): the other inserted the row; update it.
            if attempt == 2 or not is_unique_violation(exc):
                raise
    raise AssertionError("unreachable: the second attempt returns or raises")


async def pending_secret(person: Person) -> str | None:
    row = await _row(person)
    return row["pending_secret"] if row and row["secret"] is None else None


async def _replace_recovery_codes(two_factor_id: int) -> list[str]:
    codes = new_recovery_codes()
    await RecoveryCode.delete().where(RecoveryCode.two_factor == two_factor_id)
    await RecoveryCode.insert(
        *[RecoveryCode(two_factor=two_factor_id, code_hash=recovery_code_hash(c)) for c in codes]
    )
    return codes


async def sync_user_flag(person: Person) -> None:
    """users.totp_enabled says whether the user has a second factor (the app or a passkey):
    Manage Users' 2FA column, the account's Users tab and the accounts that require two-factor
    authentication read it. Called in the transaction of every change to either."""
    if person.kind == "user":
        enabled = await has_second_factor(person)
        await User.update({User.totp_enabled: enabled}).where(
            (User.id == person.id) & (User.totp_enabled != enabled)
        )


def _about(person: Person) -> dict:
    return {"user_id": person.id} if person.kind == "user" else {"staff_id": person.id}


async def confirm_enrolment(person: Person, code: str, *, actor: Actor) -> list[str]:
    """Turns it on with the pending secret, given a current code from it; returns the recovery
    codes, shown this once."""
    attempt = await CODE_LIMIT.take(person.limit_key, actor.ip)
    row = await _row(person)
    if row is None or row["secret"] is not None or row["pending_secret"] is None:
        raise DomainError(_("Choose Enable Two-Factor Authentication to start again."))
    step = matching_step(row["pending_secret"], code)
    if step is None:
        raise DomainError(
            _("That code is not right. Enter the 6-digit code your app shows for Roster now."),
            "code",
        )
    profile = await profile_of(person)
    async with db.transaction():
        won = (
            await TwoFactor.update(
                {
                    TwoFactor.secret: row["pending_secret"],
                    TwoFactor.pending_secret: None,
                    TwoFactor.last_step: step,
                    TwoFactor.enabled_at: clock.now(),
                }
            )
            .where(
                (TwoFactor.id == row["id"])
                & TwoFactor.secret.is_null()
                & (TwoFactor.pending_secret == row["pending_secret"])
            )
            .returning(TwoFactor.id)
        )
        if not won:
            raise DomainError(_("Choose Enable Two-Factor Authentication to start again."))
        codes = await _replace_recovery_codes(row["id"])
        await sync_user_flag(person)
        await emit(
            TwoFactorEnabled(**_about(person)),
            actor=actor,
            description=f"Two-factor authentication enabled for {profile['name']}",
        )
        await enqueue(
            to=profile["email"],
            template="two_factor_enabled",
            context={"first_name": profile["first_name"]},
        )
    await CODE_LIMIT.forget_earlier(person.limit_key, attempt)
    return codes


async def regenerate_recovery_codes(person: Person, proof: str, *, actor: Actor) -> list[str]:
    """A new set (the old one stops working), given the password or a code."""
    await confirm_identity(person, proof, actor.ip)
    profile = await profile_of(person)
    async with db.transaction():
        row = await db.locked(
            TwoFactor.select(TwoFactor.id).where(_of(person) & TwoFactor.secret.is_not_null())
        ).first()
        if row is None:
            raise DomainError(_("Two-factor authentication is off."))
        codes = await _replace_recovery_codes(row["id"])
        await emit(
            RecoveryCodesReplaced(**_about(person)),
            actor=actor,
            description=f"New two-factor recovery codes generated for {profile['name']}",
        )
    return codes


async def disable(person: Person, proof: str, *, actor: Actor) -> None:
    """The person's own Disable, given their password or a code."""
    await confirm_identity(person, proof, actor.ip)
    await _turn_off(person, actor=actor, by_staff=False)


async def staff_disable(user_id: int, *, actor: Actor) -> None:
    """Staff turning a user's two-factor authentication off (the user lost their device)."""
    await _turn_off(Person("user", user_id), actor=actor, by_staff=True)


async def _turn_off(person: Person, *, actor: Actor, by_staff: bool) -> None:
    profile = await profile_of(person)
    async with db.transaction():
        gone = (
            await TwoFactor.delete()
            .where(_of(person) & TwoFactor.secret.is_not_null())
            .returning(TwoFactor.id)
        )
        if not gone:
            raise DomainError(_("Two-factor authentication is already off."))
        await sync_user_flag(person)
        await emit(
            TwoFactorDisabled(**_about(person)),
            actor=actor,
            description=f"Two-factor authentication disabled for {profile['name']}",
        )
        await enqueue(
            to=profile["email"],
            template="two_factor_disabled",
            context={"first_name": profile["first_name"], "by_staff": by_staff},
        )
