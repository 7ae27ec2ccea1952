"""Email verification: a one-time link, valid 24 hours, proves that a user reads the address they
gave. Sent on registration and after every change of address; accepting an invitation proves
nothing. Only the SHA-256 of a link's token is stored; a newer link replaces the
older ones."""

from datetime import timedelta
from enum import StrEnum

from app.core import clock, db
from app.core.config import get_settings
from app.core.errors import DomainError, NotFound
from app.core.i18n import N_, _
from app.core.names import full_name
from app.core.security import new_token, token_hash
from app.domain.activity.services import Actor
from app.domain.events.catalog import EmailChangeNotified, UserEmailVerified, VerificationSent
from app.domain.events.stream import emit
from app.domain.mail.services import enqueue
from app.domain.throttle import Limit
from app.schema.users import User
from app.schema.verification import EmailVerification

VALID_FOR = timedelta(hours=24)


class AlreadyVerified(DomainError):
    def __init__(self) -> None:
        super().__init__(_("This email address is already verified."))


# Verification emails asked for again (Resend, by the user or by staff): 3 an hour for one
# user, 10 an hour from one IP address.
RESEND_LIMIT = Limit(
    "verify",
    timedelta(hours=1),
    per_key=3,
    per_ip=10,
    message=N_("Too many verification emails were sent. Try again in an hour."),
)


class Outcome(StrEnum):
    PENDING = "pending"  # not followed yet: verify() would verify (link_state only)
    VERIFIED = "verified"
    EXPIRED = "expired"
    UNAVAILABLE = "unavailable"  # used, replaced by a newer link, or never issued: one answer


def verify_url(token: str) -> str:
    return f"{get_settings().base_url}/verify-email/{token}"


def masked(email: str) -> str:
    """An address with its local part hidden but its first character: j•••@example.com."""
    local, _at, domain = email.rpartition("@")
    return f"{local[:1]}•••@{domain}"


async def send_link(user: dict, *, actor: Actor) -> None:
    """Queues a verification email to the user's current address (`user` as it is now, after
    any change). Call it inside the change's transaction: the link, the email and the activity
    entry are kept together or not at all. The user's older links stop working."""
    token, digest = new_token()
    now = clock.now()
    await EmailVerification.delete().where(EmailVerification.user == user["id"])
    await EmailVerification.insert(
        EmailVerification(
            user=user["id"],
            email_key=user["email_key"],
            token_hash=digest,
            created_at=now,
            expires_at=now + VALID_FOR,
        )
    )
    await enqueue(
        to=user["email"],
        template="verify_email",
        context={
            "first_name": user["first_name"],
            "email": user["email"],
            "verify_url": verify_url(token),
            "valid_hours": int(VALID_FOR.total_seconds() // 3600),
        },
    )
    await emit(
        VerificationSent(user_id=user["id"]),
        actor=actor,
        description=f"Verification email sent to {user['email']} ({full_name(user)})",
    )


async def address_changed(before: dict, after: dict, *, actor: Actor) -> None:
    """After a change of address (inside its transaction, the row already changed): the new
    address is not verified until its own link is followed, and the old one is told."""
    await User.update({User.email_verified_at: None}).where(User.id == before["id"])
    await send_link(after, actor=actor)
    await enqueue(
        to=before["email"],
        template="email_changed",
        context={
            "first_name": before["first_name"],
            "old_email": before["email"],
            "new_email": masked(after["email"]),
            "security_url": f"{get_settings().base_url}/account/security",
            "reset_url": f"{get_settings().base_url}/password/reset",
        },
    )
    await emit(
        EmailChangeNotified(user_id=before["id"]),
        actor=actor,
        description=f"Told {before['email']} that the email address of {full_name(before)} "
        f"changed to {after['email']}",
    )


async def resend(user_id: int, *, actor: Actor, ip: str) -> dict:
    """Resend (by the user from the banner or the Security page, or by staff): a new link to the
    user's address, within RESEND_LIMIT. Returns the user."""
    user = await User.select().where(User.id == user_id).first() if db.valid_id(user_id) else None
    if user is None:
        raise NotFound(_("No such user."))
    if user["email_verified_at"] is not None:
        raise AlreadyVerified()
    await RESEND_LIMIT.take(f"user:{user_id}", ip)
    await RESEND_LIMIT.sweep()  # nothing else sweeps this limit's old attempts
    async with db.transaction():
        await send_link(user, actor=actor)
    return user


async def link_state(token: str) -> tuple[Outcome, str | None]:
    """What following the link would do, changing nothing: PENDING and the address it would
    verify, or why it would not. Opening the link only asks this (mail scanners fetch every link
    in a message, HEAD too); its page's button follows it."""
    row = (
        await EmailVerification.select(
            EmailVerification.email_key,
            EmailVerification.expires_at,
            EmailVerification.used_at,
            EmailVerification.user.email.as_alias("email"),
            EmailVerification.user.email_key.as_alias("user_email_key"),
        )
        .where(EmailVerification.token_hash == token_hash(token))
        .first()
    )
    if row is None or row["used_at"] is not None:
        return Outcome.UNAVAILABLE, None
    if row["expires_at"] <= clock.now():
        return Outcome.EXPIRED, None
    if row["user_email_key"] != row["email_key"]:  # the address changed since the link was sent
        return Outcome.UNAVAILABLE, None
    return Outcome.PENDING, row["email"]


async def verify(token: str, *, ip: str) -> tuple[Outcome, dict | None]:
    """Follows a link: the outcome, and the user when the address was verified. Single use: of
    two simultaneous follows one wins. A link verifies only the address it was sent to."""
    row = (
        await EmailVerification.select()
        .where(EmailVerification.token_hash == token_hash(token))
        .first()
    )
    if row is None or row["used_at"] is not None:
        return Outcome.UNAVAILABLE, None
    now = clock.now()
    if row["expires_at"] <= now:
        return Outcome.EXPIRED, None
    async with db.transaction():
        won = (
            await EmailVerification.update({EmailVerification.used_at: now})
            .where(
                (EmailVerification.id == row["id"])
                & EmailVerification.used_at.is_null()
                & (EmailVerification.expires_at > now)
            )
            .returning(EmailVerification.id)
        )
        if not won:
            return Outcome.UNAVAILABLE, None
        verified = (
            await User.update({User.email_verified_at: now})
            .where((User.id == row["user"]) & (User.email_key == row["email_key"]))
            .returning(*User.all_columns())
        )
        if not verified:  # the address changed since the link was sent
            return Outcome.UNAVAILABLE, None
        user = verified[0]
        await emit(
            UserEmailVerified(user_id=user["id"]),
            actor=Actor("user", user["id"], full_name(user), ip),
            description=f"{full_name(user)} verified the email address {user['email']}",
        )
    return Outcome.VERIFIED, user


async def is_verified(user_id: int) -> bool:
    row = await User.select(User.email_verified_at).where(User.id == user_id).first()
    return row is not None and row["email_verified_at"] is not None
