"""Logins, server-side sessions, throttling and password resets."""

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

import msgspec

from app.core import clock, db, permissions
from app.core.config import get_settings
from app.core.errors import DomainError, NoCurrentAccount, NotSignedIn, Throttled
from app.core.i18n import N_, _
from app.core.security import (
    hash_password,
    in_hashing_pool,
    needs_rehash,
    new_token,
    token_hash,
    verify_password,
)
from app.core.validation import email_key
from app.domain.activity.services import Actor
from app.domain.clients.services import display_name
from app.domain.events.catalog import PasswordResetRequested
from app.domain.events.stream import emit
from app.domain.mail.services import enqueue
from app.domain.passkeys import services as passkeys
from app.domain.presets.services import VERSION_KEY as PRESETS_VERSION
from app.domain.sso import services as sso
from app.domain.staff.services import (
    DISABLE_CLIENT_USER_MANAGEMENT,
    REQUIRE_STAFF_TWO_FACTOR,
    REQUIRE_VERIFIED_EMAIL,
)
from app.domain.throttle import REGISTRATION_LIMIT, Limit
from app.domain.two_factor import services as two_factor
from app.domain.users import services as users
from app.domain.webhooks.sender import forget_settled
from app.schema.sessions import PasswordReset, PendingSignIn, Session
from app.schema.staff import Admin
from app.schema.users import User

log = logging.getLogger("roster.auth")

SESSION_TOUCH_EVERY = timedelta(minutes=5)
RESET_VALID_FOR = timedelta(hours=2)

# Marked for the catalog, translated where they are raised.
LOGIN_FAILED = N_("The email address or password is incorrect.")
LOGIN_THROTTLED = N_("Too many failed attempts. Wait 15 minutes, or reset your password.")

# Attempts, counted whether they succeed or not; a success clears the address's earlier ones.
LOGIN_LIMITS = {
    area: Limit(area, timedelta(minutes=15), per_key=5, per_ip=30, message=LOGIN_THROTTLED)
    for area in ("client", "admin")
}
# Reset emails: 3 an hour to one address, 20 an hour asked from one IP address.
RESET_LIMIT = Limit(
    "reset",
    timedelta(hours=1),
    per_key=3,
    per_ip=20,
    message=N_("Too many password reset emails were asked for. Try again in an hour."),
)


def session_idle() -> timedelta:
    return timedelta(hours=get_settings().session_idle_hours)


def session_max() -> timedelta:
    return timedelta(days=get_settings().session_max_days)


def session_expiry(created_at: datetime, now: datetime) -> datetime:
    """A session ends after `session_idle` without a request, and `session_max` after login
    whatever happens."""
    return min(now + session_idle(), created_at + session_max())


class Viewer(msgspec.Struct):
    """Who is asking, loaded once per request from the session cookie."""

    session_id: int | None = None
    user: dict | None = None
    admin: dict | None = None
    client: dict | None = None  # the current account, only while the user still has access
    permissions: tuple[str, ...] = ()
    is_owner: bool = False
    account_count: int = 0
    user_management_off: bool = False  # the admin setting
    verified_email_required: bool = False  # to accept invitations (the admin setting)
    ip: str = ""  # the client's address, recorded with every change as the actor's
    # Staff who must enrol in two-factor authentication (the setting is on, they have none):
    # the admin area shows them nothing but /admin/security until they do.
    must_enrol_two_factor: bool = False
    # The current account requires two-factor authentication of everyone with access and the
    # user has none: the account's routes send them to enrol (app.http.plumbing.guards); `client`
    # still names the account, so the enrolment page can say which one asks.
    must_enrol_for_account: bool = False
    # clients.version of the account the request's path names (/admin/clients/<id>/...), read
    # with the session: whether a kept rendering of its Users tab is current (None: no such
    # account, or the path names none).
    page_client_version: int | None = None
    # The permission presets' version (app.domain.presets), read with the session: the forms
    # offer the presets this process keeps while it is the same (None: only the shipped ones).
    presets_version: str | None = None

    @property
    def manages_users(self) -> bool:
        """Whether the client area offers User Management: to the owner, unless staff turned it
        off (the rule itself is access.services.check_manager)."""
        return self.is_owner and not self.user_management_off

    def allows(self, key: str) -> bool:
        return self.client is not None and (self.is_owner or key in self.permissions)

    # For routes whose permission (app.core.policy) guarantees what they read: the user, staff
    # member, current account or session, or NotSignedIn / NoCurrentAccount when it is missing.
    @property
    def signed_in_user(self) -> dict:
        if self.user is None:
            raise NotSignedIn("Log in to continue.")
        return self.user

    @property
    def signed_in_admin(self) -> dict:
        if self.admin is None:
            raise NotSignedIn("Log in as staff to continue.")
        return self.admin

    @property
    def current_client(self) -> dict:
        if self.client is None:
            raise NoCurrentAccount("Choose an account first.")
        return self.client

    @property
    def current_session_id(self) -> int:
        if self.session_id is None:
            raise NotSignedIn("Log in to continue.")
        return self.session_id

    @property
    def actor(self) -> Actor:
        if self.admin:
            return Actor("admin", self.admin["id"], self.admin["name"], self.ip)
        if self.user:
            return Actor("user", self.user["id"], users.full_name(self.user), self.ip)
        return Actor("system", ip=self.ip)


async def _check_password(area: str, table, email: str, password: str, ip: str) -> dict:
    """The row whose password this is, or DomainError; Throttled (429) past the limits. The
    attempt is counted before the password is checked (see app.domain.throttle)."""
    key = email_key(email)
    limit = LOGIN_LIMITS[area]
    attempt = await limit.take(key, ip)
    row = await table.select().where(table.email_key == key).first()
    ok = await in_hashing_pool(
        verify_password, row["password_hash"] if row else None, password or ""
    )
    if not ok or row["disabled"]:
        raise DomainError(_(LOGIN_FAILED))
    await limit.forget_earlier(key, attempt)
    if needs_rehash(row["password_hash"]):
        await _rehash(table, row, password)
    return row


async def _rehash(table, row: dict, password: str) -> None:
    """Stores the password hashed with the parameters now in use, unless it changed meanwhile."""
    new_hash = await in_hashing_pool(hash_password, password)
    await table.update({table.password_hash: new_hash}).where(
        (table.id == row["id"]) & (table.password_hash == row["password_hash"])
    )


async def authenticate_user(email: str, password: str, ip: str) -> dict:
    return await _check_password("client", User, email, password, ip)


async def authenticate_admin(email: str, password: str, ip: str) -> dict:
    admin = await _check_password("admin", Admin, email, password, ip)
    await Admin.update({Admin.last_login_at: clock.now()}).where(Admin.id == admin["id"])
    return admin


async def start_session(
    *,
    ip: str,
    user_agent: str,
    user_id: int | None = None,
    admin_id: int | None = None,
    client_id: int | None = None,
    replacing: str | None = None,
) -> str:
    """A new session id at every login; the one it replaces (if any) ends."""
    session_id = secrets.token_urlsafe(32)
    now = clock.now()
    async with db.transaction():
        if replacing:
            await Session.delete().where(Session.id_hash == token_hash(replacing))
        await Session.insert(
            Session(
                id_hash=token_hash(session_id),
                user=user_id,
                admin=admin_id,
                client=client_id,
                created_at=now,
                last_seen_at=now,
                expires_at=session_expiry(now, now),
                ip=ip[:45],
                user_agent=user_agent[:255],
            )
        )
    return session_id


async def end_session(session_cookie: str | None) -> None:
    if session_cookie:
        await Session.delete().where(Session.id_hash == token_hash(session_cookie))


async def select_client(session_id: int, client_id: int | None) -> None:
    await Session.update({Session.client: client_id}).where(Session.id == session_id)


_VIEWER_SQL = """
SELECT s.id, s."user" AS user_id, s.admin AS admin_id, s.client AS client_id,
       s.created_at, s.expires_at, s.last_seen_at,
       u.first_name, u.last_name, u.email, u.disabled AS user_disabled, u.email_verified_at,
       u.language AS user_language, a.language AS admin_language,
       u.time_zone AS user_time_zone, a.time_zone AS admin_time_zone,
       a.name AS admin_name, a.email AS admin_email, a.role AS admin_role,
       a.disabled AS admin_disabled,
       c.company_name, c.first_name AS client_first_name, c.last_name AS client_last_name,
       c.status AS client_status, c.owner AS client_owner, g.permissions,
       c.require_two_factor AS client_requires_two_factor, u.totp_enabled AS user_two_factor,
       (SELECT COUNT(*) FROM grants g2 WHERE g2."user" = s."user") AS account_count,
       (SELECT value FROM settings WHERE key = {})
           AS user_management_off,
       (SELECT value FROM settings WHERE key = {}) AS staff_two_factor_required,
       (SELECT value FROM settings WHERE key = {}) AS verified_email_required,
       (SELECT value FROM settings WHERE key = {}) AS presets_version,
       (SELECT COUNT(*) FROM two_factor t WHERE t.admin = s.admin AND t.secret IS NOT NULL)
         + (SELECT COUNT(*) FROM passkeys p WHERE p.admin = s.admin) AS admin_two_factor,
       {page_client_version} AS page_client_version
FROM sessions s
LEFT JOIN users u ON u.id = s."user"
LEFT JOIN admins a ON a.id = s.admin
LEFT JOIN grants g ON g."user" = s."user" AND g.client = s.client
LEFT JOIN clients c ON c.id = g.client
WHERE s.id_hash = {}
"""


# The account's version (app/migrations/roster_2026_12_08…): a column of clients on SQLite, a
# table of its own on PostgreSQL, where an account never changed since has no row: 0.
_PAGE_CLIENT_VERSION = {
    True: "(SELECT version FROM clients pc WHERE pc.id = {})",
    False: "COALESCE((SELECT version FROM client_versions pc WHERE pc.client = {}), 0)",
}


def _viewer_sql() -> str:
    return _VIEWER_SQL.replace("{page_client_version}", _PAGE_CLIENT_VERSION[db.is_sqlite()])


async def load_viewer(session_cookie: str | None, page_client: int | None = None) -> Viewer:
    """One query: the session, its user or admin, and the current account only if the user's
    grant still exists (rule 8: removed access is gone on the very next request); and the
    version of `page_client`, the account the page is about, if any."""
    if not session_cookie:
        return Viewer()
    rows = await db.fetch_quick(
        _viewer_sql(),
        DISABLE_CLIENT_USER_MANAGEMENT,
        REQUIRE_STAFF_TWO_FACTOR,
        REQUIRE_VERIFIED_EMAIL,
        PRESETS_VERSION,
        page_client,
        token_hash(session_cookie),
    )
    if not rows:
        return Viewer()
    row = rows[0]
    now = clock.now()
    expired = row["expires_at"] <= now or row["created_at"] + session_max() <= now
    if expired or row["user_disabled"] or row["admin_disabled"]:
        await Session.delete().where(Session.id == row["id"])
        return Viewer()
    if now - row["last_seen_at"] > SESSION_TOUCH_EVERY:
        await Session.update(
            {Session.last_seen_at: now, Session.expires_at: session_expiry(row["created_at"], now)}
        ).where(Session.id == row["id"])
    viewer = Viewer(
        session_id=row["id"],
        account_count=row["account_count"] or 0,
        user_management_off=row["user_management_off"] == "true",
        verified_email_required=row["verified_email_required"] == "true",
        page_client_version=row["page_client_version"],
        presets_version=row["presets_version"],
    )
    if row["user_id"] is not None:
        viewer.user = {
            "id": row["user_id"],
            "first_name": row["first_name"],
            "last_name": row["last_name"],
            "email": row["email"],
            "email_verified": row["email_verified_at"] is not None,
            "language": row["user_language"],
            "time_zone": row["user_time_zone"],
        }
    if row["admin_id"] is not None:
        viewer.admin = {
            "id": row["admin_id"],
            "name": row["admin_name"],
            "email": row["admin_email"],
            "role": row["admin_role"],
            "language": row["admin_language"],
            "time_zone": row["admin_time_zone"],
        }
        viewer.must_enrol_two_factor = (
            row["staff_two_factor_required"] == "true" and not row["admin_two_factor"]
        )
    if row["permissions"] is not None and row["client_status"] != "Closed":
        viewer.client = {
            "id": row["client_id"],
            "status": row["client_status"],
            "display_name": display_name(
                {
                    "company_name": row["company_name"],
                    "first_name": row["client_first_name"],
                    "last_name": row["client_last_name"],
                }
            ),
        }
        viewer.is_owner = row["client_owner"] == row["user_id"]
        viewer.must_enrol_for_account = bool(row["client_requires_two_factor"]) and not bool(
            row["user_two_factor"]
        )
        viewer.permissions = permissions.granted(row["permissions"], is_owner=viewer.is_owner)
    return viewer


PENDING_SIGN_IN_VALID_FOR = timedelta(minutes=5)


async def begin_pending_sign_in(
    *,
    user_id: int | None = None,
    admin_id: int | None = None,
    client_id: int | None = None,
    next_url: str = "",
) -> str:
    """The password was right and an Authentication Code is still to come: a token for the code
    step (only its hash is stored), valid PENDING_SIGN_IN_VALID_FOR. It is no session: every
    other page sees the browser as logged out."""
    token, digest = new_token()
    now = clock.now()
    await PendingSignIn.insert(
        PendingSignIn(
            token_hash=digest,
            user=user_id,
            admin=admin_id,
            client=client_id,
            next_url=next_url[:500],
            created_at=now,
            expires_at=now + PENDING_SIGN_IN_VALID_FOR,
        )
    )
    return token


async def pending_sign_in(token: str | None, kind: str) -> dict | None:
    """The half-done login of this token for a "user" or an "admin", if it has not expired."""
    if not token:
        return None
    row = await PendingSignIn.select().where(PendingSignIn.token_hash == token_hash(token)).first()
    if row is None or row["expires_at"] <= clock.now() or row[kind] is None:
        return None
    return row


# Marked for the catalog, translated where it is raised (a page that tells it apart compares the
# message with _(SIGN_IN_EXPIRED)).
SIGN_IN_EXPIRED = N_("Your sign-in took too long. Log in again.")


async def complete_pending_sign_in(token: str | None, kind: str, code: str, ip: str) -> dict:
    """The second factor: `code` (an Authentication Code or a recovery code) for the pending
    login of `token`, within the code limit. Returns the pending row, used up, with the user's
    or admin's row as "person" and the code's use (two_factor.CodeUsed) as "code_used";
    DomainError otherwise (the field "code" when only the code was wrong)."""
    row = await pending_sign_in(token, kind)
    if row is None:
        raise DomainError(_(SIGN_IN_EXPIRED))
    if not two_factor.normalized(code):
        raise DomainError(_("Enter the Authentication Code from your app."), "code")
    used = await two_factor.check_code(two_factor.Person(kind, row[kind]), code, ip)
    return {**await _use_up(row, kind), "code_used": used}


async def _use_up(row: dict, kind: str) -> dict:
    """The pending sign-in `row`, its second factor given: deleted (of two requests completing
    it, one wins), with the user's or admin's row as "person"."""
    won = (
        await PendingSignIn.delete()
        .where(PendingSignIn.id == row["id"])
        .returning(PendingSignIn.id)
    )
    if not won:  # completed meanwhile by another request with another code
        raise DomainError(_(SIGN_IN_EXPIRED))
    person = await _person_row(kind, row[kind])
    if person is None or person["disabled"]:
        raise DomainError(_(SIGN_IN_EXPIRED))
    return {**row, "person": person}


async def _person_row(kind: str, person_id: int) -> dict | None:
    if kind == "user":
        return await User.select().where(User.id == person_id).first()
    return await Admin.select().where(Admin.id == person_id).first()


def passkey_binding(kind: str, token: str) -> str:
    """What a passkey challenge is bound to: the login page's token (a sign-in) or the pending
    sign-in's token (a second factor), for a "user" or an "admin"."""
    return f"{kind}:{token}"


async def passkey_sign_in_options(kind: str, token: str) -> str:
    return await passkeys.sign_in_options(passkey_binding(kind, token))


async def authenticate_with_passkey(
    kind: str, token: str, credential_json: str, ip: str
) -> tuple[dict, bool]:
    """A sign-in with a passkey on the login page of "user" or "admin" (`token`: that page's,
    which its challenge is bound to), within the same limits as a password. Returns the
    person's row and whether the authenticator verified them (then the passkey is both
    factors); DomainError (Throttled past the limits) otherwise."""
    limit = LOGIN_LIMITS["client" if kind == "user" else "admin"]
    key = f"passkey:{token_hash(token)[:32]}"
    attempt = await limit.take(key, ip)
    assertion = await passkeys.check_assertion(passkey_binding(kind, token), credential_json, ip=ip)
    if assertion.person.kind != kind:
        raise DomainError(_(passkeys.SIGN_IN_REFUSED))
    row = await _person_row(kind, assertion.person.id)
    if row is None or row["disabled"]:
        raise DomainError(_(passkeys.SIGN_IN_REFUSED))
    if kind == "admin":
        await Admin.update({Admin.last_login_at: clock.now()}).where(Admin.id == row["id"])
    await limit.forget_earlier(key, attempt)
    return row, assertion.user_verified


async def passkey_second_factor_options(token: str | None, kind: str) -> str:
    row = await pending_sign_in(token, kind)
    if row is None or token is None:
        raise DomainError(_(SIGN_IN_EXPIRED))
    person = two_factor.Person(kind, row[kind])
    return await passkeys.sign_in_options(passkey_binding("pending", token), person=person)


async def complete_pending_sign_in_with_passkey(
    token: str | None, kind: str, credential_json: str, ip: str
) -> dict:
    """The second factor as a passkey of the person's (user verification not needed: the
    password was the other factor), within the code limit; as complete_pending_sign_in."""
    row = await pending_sign_in(token, kind)
    if row is None or token is None:
        raise DomainError(_(SIGN_IN_EXPIRED))
    person = two_factor.Person(kind, row[kind])
    attempt = await two_factor.CODE_LIMIT.take(person.limit_key, ip)
    await passkeys.check_assertion(
        passkey_binding("pending", token), credential_json, ip=ip, person=person
    )
    await two_factor.CODE_LIMIT.forget_earlier(person.limit_key, attempt)
    return {**await _use_up(row, kind), "code_used": two_factor.CodeUsed()}


async def request_password_reset(email: str, *, base_url: str, ip: str) -> None:
    """Forgotten password: queues a reset email when the address belongs to a user, within the
    limits; silent otherwise. Run it after the answer was sent (see the controller), so neither
    the answer nor its timing says who has an account."""
    key = email_key(email)
    try:
        await RESET_LIMIT.take(key, ip)
    except Throttled:
        log.info("Password reset not sent: the limit for this address or IP was reached")
        return
    user = await users.find_by_email(key)
    if user is None or user["disabled"]:
        return
    await _queue_reset_email(user, base_url=base_url, actor=Actor("system", ip=ip))


async def send_password_reset(user_id: int, *, base_url: str, actor: Actor) -> dict:
    """Staff's Send Password Reset Email for one user; returns the user."""
    user = await users.get_user(user_id)
    if user["disabled"]:
        raise DomainError(_("This user's login is disabled: no reset email was sent."))
    await _queue_reset_email(user, base_url=base_url, actor=actor)
    return user


async def _queue_reset_email(user: dict, *, base_url: str, actor: Actor) -> None:
    token, digest = new_token()
    now = clock.now()
    async with db.transaction():
        await PasswordReset.insert(
            PasswordReset(
                user=user["id"], token_hash=digest, created_at=now, expires_at=now + RESET_VALID_FOR
            )
        )
        await enqueue(
            to=user["email"],
            template="password_reset",
            context={
                "first_name": user["first_name"],
                "reset_url": f"{base_url}/password/reset/{token}",
                "valid_hours": int(RESET_VALID_FOR.total_seconds() // 3600),
            },
        )
        await emit(
            PasswordResetRequested(user_id=user["id"]),
            actor=actor,
            description=f"Password reset email queued for {users.full_name(user)}",
        )


async def reset_target(token: str) -> dict | None:
    row = await PasswordReset.select().where(PasswordReset.token_hash == token_hash(token)).first()
    if row is None or row["used_at"] is not None or row["expires_at"] <= clock.now():
        return None
    return row


async def complete_password_reset(token: str, password: str, *, ip: str) -> int:
    """Single use: the conditional update has one winner. Ends all the user's sessions."""
    row = await reset_target(token)
    if row is None:
        raise DomainError(_("This password reset link is no longer valid. Request a new one."))
    user = await users.get_user(row["user"])
    async with db.transaction():
        # Of two submits of one link, one wins; set_password then ends every other link.
        won = (
            await PasswordReset.update({PasswordReset.used_at: clock.now()})
            .where((PasswordReset.id == row["id"]) & PasswordReset.used_at.is_null())
            .returning(PasswordReset.id)
        )
        if not won:
            raise DomainError(_("This password reset link is no longer valid. Request a new one."))
        await users.set_password(
            user["id"], password, actor=Actor("user", user["id"], users.full_name(user), ip)
        )
    return user["id"]


SWEEP_EVERY = timedelta(minutes=10)


# What a domain above this one adds to the sweep (app/asgi.py names them): name -> a function
# of now that deletes what ended and says how many rows.
Sweeps = Mapping[str, Callable[[datetime], Awaitable[int]]]


async def sweep(also: Sweeps | None = None) -> dict[str, int]:
    """Deletes what can no longer be used: expired sessions and pending sign-ins, attempts outside
    every limit's window, reset links that expired or were used, single sign-on links that
    expired or were used, and webhook deliveries settled more than 30 days ago. Returns how many
    of each."""
    now = clock.now()
    sessions = (
        await Session.delete()
        .where((Session.expires_at <= now) | (Session.created_at <= now - session_max()))
        .returning(Session.id)
    )
    resets = (
        await PasswordReset.delete()
        .where((PasswordReset.expires_at <= now) | PasswordReset.used_at.is_not_null())
        .returning(PasswordReset.id)
    )
    pending = (
        await PendingSignIn.delete()
        .where(PendingSignIn.expires_at <= now)
        .returning(PendingSignIn.id)
    )
    attempts = 0
    limits = (*LOGIN_LIMITS.values(), RESET_LIMIT, REGISTRATION_LIMIT, two_factor.CODE_LIMIT)
    for limit in limits:
        attempts += await limit.sweep()
    # A login waiting for its Authentication Code counts as a session (one not begun yet).
    return {
        "sessions": len(sessions) + len(pending),
        "reset_links": len(resets),
        "sso_links": await sso.forget_spent(now),
        "attempts": attempts,
        "webhook_deliveries": await forget_settled(now),
        "passkey_challenges": await passkeys.forget_expired(now),
        **{name: await forget(now) for name, forget in (also or {}).items()},
    }


async def run_sweeper(stop, also: Sweeps | None = None) -> None:
    """Sweeps at start and every SWEEP_EVERY until `stop` is set; any process may run it."""
    while not stop.is_set():
        try:
            swept = await sweep(also)
            if any(swept.values()):
                log.info("Swept %s", swept)
        except Exception as exc:
            log.warning("Sweep failed, will retry: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SWEEP_EVERY.total_seconds())
