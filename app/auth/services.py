"""Logins, server-side sessions, throttling and password resets."""

import secrets
from datetime import timedelta

import msgspec

from app import clock, db
from app.access import permissions
from app.activity.services import Actor, record
from app.admin.services import DISABLE_CLIENT_USER_MANAGEMENT
from app.admin.tables import Admin
from app.auth.tables import LoginFailure, PasswordReset, Session
from app.clients.services import display_name
from app.errors import DomainError
from app.mail.services import enqueue
from app.security import new_token, token_hash, verify_password
from app.users import services as users
from app.users.tables import User

SESSION_LIFETIME = timedelta(days=14)
SESSION_TOUCH_EVERY = timedelta(minutes=5)
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_IP = 30
RESET_VALID_FOR = timedelta(hours=2)

LOGIN_FAILED = "The email address or password is incorrect."
LOGIN_THROTTLED = "Too many failed attempts. Wait 15 minutes, or reset your password."


class Viewer(msgspec.Struct):
    """Who is asking, loaded once per request from the session cookie."""

    session_id: int | None = None
    user: dict | None = None
    admin: dict | None = None
    client: dict | None = None  # the current account, only while the user still has access
    permissions: tuple[str, ...] = ()
    is_owner: bool = False
    account_count: int = 0
    user_management_off: bool = False  # the admin setting (SPEC §5.7)
    ip: str = ""  # the client's address, recorded with every change as the actor's

    @property
    def manages_users(self) -> bool:
        """Whether the client area offers User Management: to the owner, unless staff turned it
        off (the rule itself is access.services.check_manager)."""
        return self.is_owner and not self.user_management_off

    def allows(self, key: str) -> bool:
        return self.client is not None and (self.is_owner or key in self.permissions)

    @property
    def actor(self) -> Actor:
        if self.admin:
            return Actor("admin", self.admin["id"], self.admin["name"], self.ip)
        if self.user:
            return Actor("user", self.user["id"], users.full_name(self.user), self.ip)
        return Actor("system", ip=self.ip)


async def _throttled(area: str, email_key: str, ip: str) -> bool:
    since = clock.now() - THROTTLE_WINDOW

    def recent(condition):  # Piccolo queries are mutable: a fresh one per count
        return LoginFailure.count().where(
            (LoginFailure.area == area) & (LoginFailure.created_at > since) & condition
        )

    if await recent(LoginFailure.email_key == email_key) >= MAX_FAILURES_PER_ACCOUNT:
        return True
    return await recent(LoginFailure.ip == ip) >= MAX_FAILURES_PER_IP


async def _check_password(area: str, table, email: str, password: str, ip: str) -> dict:
    email_key = (email or "").strip().lower()
    if await _throttled(area, email_key, ip):
        raise DomainError(LOGIN_THROTTLED)
    row = await table.select().where(table.email_key == email_key).first()
    ok = verify_password(row["password_hash"] if row else None, password or "")
    if not ok or row["disabled"]:
        await LoginFailure.insert(
            LoginFailure(area=area, email_key=email_key[:254], ip=ip, created_at=clock.now())
        )
        raise DomainError(LOGIN_FAILED)
    await LoginFailure.delete().where(
        (LoginFailure.area == area) & (LoginFailure.email_key == email_key)
    )
    return row


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
                expires_at=now + SESSION_LIFETIME,
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
       s.expires_at, s.last_seen_at,
       u.first_name, u.last_name, u.email, u.disabled AS user_disabled,
       a.name AS admin_name, a.email AS admin_email, a.role AS admin_role,
       a.disabled AS admin_disabled,
       c.company_name, c.first_name AS client_first_name, c.last_name AS client_last_name,
       c.status AS client_status, c.owner AS client_owner, g.permissions,
       (SELECT COUNT(*) FROM grants g2 WHERE g2."user" = s."user") AS account_count,
       (SELECT value FROM settings WHERE key = {})
           AS user_management_off
FROM sessions s
LEFT JOIN users u ON u.id = s."user"
LEFT JOIN admins a ON a.id = s.admin
LEFT JOIN grants g ON g."user" = s."user" AND g.client = s.client
LEFT JOIN clients c ON c.id = g.client
WHERE s.id_hash = {}
"""


async def load_viewer(session_cookie: str | None) -> Viewer:
    """One query: the session, its user or admin, and the current account only if the user's
    grant still exists (rule 8: removed access is gone on the very next request)."""
    if not session_cookie:
        return Viewer()
    rows = await Session.raw(
        _VIEWER_SQL, DISABLE_CLIENT_USER_MANAGEMENT, token_hash(session_cookie)
    )
    if not rows:
        return Viewer()
    row = rows[0]
    now = clock.now()
    if row["expires_at"] <= now or row["user_disabled"] or row["admin_disabled"]:
        await Session.delete().where(Session.id == row["id"])
        return Viewer()
    if now - row["last_seen_at"] > SESSION_TOUCH_EVERY:
        await Session.update(
            {Session.last_seen_at: now, Session.expires_at: now + SESSION_LIFETIME}
        ).where(Session.id == row["id"])
    viewer = Viewer(
        session_id=row["id"],
        account_count=row["account_count"] or 0,
        user_management_off=row["user_management_off"] == "true",
    )
    if row["user_id"] is not None:
        viewer.user = {
            "id": row["user_id"],
            "first_name": row["first_name"],
            "last_name": row["last_name"],
            "email": row["email"],
        }
    if row["admin_id"] is not None:
        viewer.admin = {
            "id": row["admin_id"],
            "name": row["admin_name"],
            "email": row["admin_email"],
            "role": row["admin_role"],
        }
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
        viewer.permissions = permissions.granted(row["permissions"], is_owner=viewer.is_owner)
    return viewer


async def request_password_reset(email: str, *, base_url: str, ip: str) -> None:
    """Forgotten password: queues a reset email when the address belongs to a user; silent
    otherwise, so the answer says nothing of who has an account."""
    user = await users.find_by_email(email or "")
    if user is None or user["disabled"]:
        return
    await _queue_reset_email(user, base_url=base_url, actor=Actor("system", ip=ip))


async def send_password_reset(user_id: int, *, base_url: str, actor: Actor) -> dict:
    """Staff's Send Password Reset Email for one user; returns the user."""
    user = await users.get_user(user_id)
    if user["disabled"]:
        raise DomainError("This user's login is disabled: no reset email was sent.")
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
        await record(
            actor,
            "user.password_reset_requested",
            f"Password reset email queued for {users.full_name(user)}",
            user_id=user["id"],
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
        raise DomainError("This password reset link is no longer valid. Request a new one.")
    user = await users.get_user(row["user"])
    async with db.transaction():
        won = (
            await PasswordReset.update({PasswordReset.used_at: clock.now()})
            .where((PasswordReset.id == row["id"]) & PasswordReset.used_at.is_null())
            .returning(PasswordReset.id)
        )
        if not won:
            raise DomainError("This password reset link is no longer valid. Request a new one.")
        await users.set_password(
            user["id"], password, actor=Actor("user", user["id"], users.full_name(user), ip)
        )
    return user["id"]
