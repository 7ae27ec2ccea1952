"""Where a person is signed in: their sessions described for people (browser, OS, IP), ending
them, and the browsers they sign in from, with an email when a sign-in comes from a new one.

A person is a user or a staff member: every function takes `user_id=` or `admin_id=`, exactly
one of them."""

from datetime import datetime
from functools import lru_cache

import ua_parser

from app.core import clock, db, i18n
from app.core.config import get_settings
from app.core.errors import NotFound
from app.core.i18n import N_, _, pgettext
from app.core.names import full_name
from app.core.security import new_token, token_hash
from app.domain.activity.services import Actor
from app.domain.events.catalog import NewBrowserSignIn, SessionsEnded, SignInAlertsChanged
from app.domain.events.stream import emit
from app.domain.mail.lazy import in_reader_language
from app.domain.mail.services import enqueue
from app.schema.browsers import KnownBrowser, SignInAlertOptOut
from app.schema.sessions import Session
from app.schema.staff import Admin
from app.schema.users import User

BROWSER_COOKIE = "roster_browser"
UNKNOWN_BROWSER = N_("Unknown browser")
# ua-parser's names where people know another one.
_OS_NAMES = {"Mac OS X": "macOS"}
_TOKEN_MAX = 64  # new_token() gives 43 characters; anything longer was not made here


@lru_cache(maxsize=512)
def _browser_and_system(user_agent: str, with_version: bool) -> tuple[str, str] | None:
    """The browser ("Chrome 120", "Chrome" without the version) and OS ("" when it names none)
    a User-Agent names; None when it names no browser."""
    parsed = ua_parser.parse(user_agent or "")
    agent, system = parsed.user_agent, parsed.os
    if agent is None or agent.family == "Other":
        return None
    browser = agent.family
    if with_version and agent.major:
        browser = f"{browser} {agent.major}"
    if system is None or system.family == "Other":
        return browser, ""
    return browser, _OS_NAMES.get(system.family, system.family)


def describe_browser(user_agent: str, *, with_version: bool = True) -> str:
    """The browser and OS a User-Agent names, in the current language: "Chrome 120 on Linux"
    ("Chrome on Linux" without the version); "Unknown browser" when it names none."""
    found = _browser_and_system(user_agent or "", with_version)
    if found is None:
        return _(UNKNOWN_BROWSER)
    browser, system = found
    if not system:
        return browser
    return _("%(browser)s on %(system)s") % {"browser": browser, "system": system}


def _logged_browser(user_agent: str, *, with_version: bool = True) -> str:
    """describe_browser in English: as the activity log (stored once, in English) says it."""
    with i18n.using(i18n.ENGLISH):
        return describe_browser(user_agent, with_version=with_version)


def _utc_time(at) -> str:
    """ "7 Dec 2026, 14:05 UTC" in the email's language (its reader's zone is not known)."""
    return f"{i18n.format_datetime(at, 'UTC')} UTC"


def _unknown_address() -> str:
    return pgettext("an IP address", "unknown")


def _person(table, user_id: int | None, admin_id: int | None):
    """The where-clause selecting the person's rows of `table` (one with `user` and `admin`)."""
    if (user_id is None) == (admin_id is None):
        raise ValueError("Give exactly one of user_id and admin_id.")
    return table.user == user_id if user_id is not None else table.admin == admin_id


def _active(now: datetime):
    return Session.expires_at > now


# -- Sessions ------------------------------------------------------------------------------


async def list_sessions(
    *, user_id: int | None = None, admin_id: int | None = None, current_id: int | None = None
) -> list[dict]:
    """The person's unexpired sessions, the most recently active first, each with `browser`
    ("Chrome 120 on Linux") and `current` (whether it is `current_id`, the viewer's)."""
    rows = (
        await Session.select(
            Session.id, Session.created_at, Session.last_seen_at, Session.ip, Session.user_agent
        )
        .where(_person(Session, user_id, admin_id) & _active(clock.now()))
        .order_by(Session.last_seen_at, ascending=False)
        .order_by(Session.id, ascending=False)
    )
    for row in rows:
        row["browser"] = describe_browser(row.pop("user_agent"))
        row["current"] = row["id"] == current_id
    # This device first, then the others by last activity.
    return sorted(rows, key=lambda row: not row["current"])


async def end_session(
    session_id: int,
    *,
    current_id: int | None,
    actor: Actor,
    user_id: int | None = None,
    admin_id: int | None = None,
) -> dict:
    """Ends one of the person's other sessions (its browser is logged out on its next request)
    and returns it. Someone else's session, the current one, or none at all: NotFound, and
    nothing ends."""
    async with db.transaction():
        query = Session.delete().where(
            (Session.id == session_id) & _person(Session, user_id, admin_id) & _active(clock.now())
        )
        if current_id is not None:
            query = query.where(Session.id != current_id)
        ended = await query.returning(Session.ip, Session.user_agent)
        if not ended:
            raise NotFound(_("No such session: it may have ended already."))
        where = f"{_logged_browser(ended[0]['user_agent'], with_version=False)}, {ended[0]['ip']}"
        await emit(
            SessionsEnded(which="one", count=1, user_id=user_id),
            actor=actor,
            description=f"Signed out a session ({where})",
        )
    return {"browser": describe_browser(ended[0]["user_agent"]), "ip": ended[0]["ip"]}


async def end_other_sessions(
    *, current_id: int, actor: Actor, user_id: int | None = None, admin_id: int | None = None
) -> int:
    """Ends every session of the person but the current one; returns how many ended."""
    async with db.transaction():
        ended = (
            await Session.delete()
            .where(_person(Session, user_id, admin_id) & (Session.id != current_id))
            .returning(Session.id)
        )
        if ended:
            await emit(
                SessionsEnded(which="others", count=len(ended), user_id=user_id),
                actor=actor,
                description=f"Signed out all other sessions ({len(ended)})",
            )
    return len(ended)


async def end_all_sessions(user_id: int, *, actor: Actor) -> int:
    """Staff's End All Sessions for one user: every browser of theirs is logged out on its next
    request. Returns how many ended."""
    async with db.transaction():
        user = await User.select(User.first_name, User.last_name).where(User.id == user_id).first()
        if user is None:
            raise NotFound(_("No such user."))
        ended = await Session.delete().where(Session.user == user_id).returning(Session.id)
        await emit(
            SessionsEnded(which="all", count=len(ended), user_id=user_id),
            actor=actor,
            description=f"{actor.name} ended all sessions of {full_name(user)} ({len(ended)})",
        )
    return len(ended)


# -- New-browser alerts --------------------------------------------------------------------


async def sign_in_alerts_on(*, user_id: int | None = None, admin_id: int | None = None) -> bool:
    """Whether the person is emailed about sign-ins from a new browser (on unless opted out)."""
    return not await SignInAlertOptOut.exists().where(_person(SignInAlertOptOut, user_id, admin_id))


async def set_sign_in_alerts(
    on: bool, *, actor: Actor, user_id: int | None = None, admin_id: int | None = None
) -> bool:
    """Turns the new-browser emails on or off; returns whether anything changed."""
    async with db.transaction():
        if await sign_in_alerts_on(user_id=user_id, admin_id=admin_id) == on:
            return False
        if on:
            await SignInAlertOptOut.delete().where(_person(SignInAlertOptOut, user_id, admin_id))
        else:
            await SignInAlertOptOut.insert(
                SignInAlertOptOut(user=user_id, admin=admin_id, created_at=clock.now())
            )
        await emit(
            SignInAlertsChanged(on=on, user_id=user_id),
            actor=actor,
            description=f"Emails about sign-ins from a new browser turned {'on' if on else 'off'}",
        )
    return True


async def _recipient(user_id: int | None, admin_id: int | None, ip: str) -> tuple[dict, Actor, str]:
    """(name and email, the person as the actor of their sign-in, their Security page path)."""
    if user_id is not None:
        user = (
            await User.select(User.first_name, User.last_name, User.email)
            .where(User.id == user_id)
            .first()
        )
        if user is None:
            raise NotFound(_("No such user."))
        person = {"name": full_name(user), "first_name": user["first_name"], "email": user["email"]}
        return person, Actor("user", user_id, person["name"], ip), "/account/security"
    admin = await Admin.select(Admin.name, Admin.email).where(Admin.id == admin_id).first()
    if admin is None:
        raise NotFound(_("No such staff member."))
    person = {"name": admin["name"], "first_name": admin["name"], "email": admin["email"]}
    return person, Actor("admin", admin_id, admin["name"], ip), "/admin/security"


async def note_sign_in(
    *,
    user_id: int | None = None,
    admin_id: int | None = None,
    ip: str,
    user_agent: str,
    browser_token: str | None,
) -> str:
    """Called once a sign-in is complete. Returns the browser token to (re)set in the
    BROWSER_COOKIE cookie: the browser's own when this server made it, else a new one.

    A browser new to this person, who has signed in before from another one and has not opted
    out, gets them the "New sign-in to your Roster login" email; every sign-in from a new
    browser but the first is in the activity log."""
    person_filter = _person(KnownBrowser, user_id, admin_id)
    token = browser_token if browser_token and len(browser_token) <= _TOKEN_MAX else None
    now = clock.now()
    async with db.transaction():
        if token is None or not await KnownBrowser.exists().where(
            KnownBrowser.token_hash == token_hash(token)
        ):
            token = new_token()[0]  # unknown here: not trusted as this browser's name
        digest = token_hash(token)
        known_before = await KnownBrowser.exists().where(person_filter)
        added = await (
            KnownBrowser.insert(
                KnownBrowser(
                    token_hash=digest,
                    user=user_id,
                    admin=admin_id,
                    first_seen_at=now,
                    last_seen_at=now,
                )
            )
            .on_conflict(action="DO NOTHING")
            .returning(KnownBrowser.id)
        )
        if not added:
            await KnownBrowser.update({KnownBrowser.last_seen_at: now}).where(
                person_filter & (KnownBrowser.token_hash == digest)
            )
        elif known_before:
            await _alert_new_browser(user_id, admin_id, ip=ip, user_agent=user_agent, at=now)
    return token


async def _alert_new_browser(
    user_id: int | None, admin_id: int | None, *, ip: str, user_agent: str, at: datetime
) -> None:
    person, actor, security_path = await _recipient(user_id, admin_id, ip)
    browser = _logged_browser(user_agent)
    emailed = await sign_in_alerts_on(user_id=user_id, admin_id=admin_id)
    if emailed:
        await enqueue(
            to=person["email"],
            template="new_sign_in",
            context={
                "first_name": person["first_name"],
                "browser": in_reader_language(describe_browser, user_agent),
                "ip": ip or in_reader_language(_unknown_address),
                "signed_in_at": in_reader_language(_utc_time, at),
                "security_url": f"{get_settings().base_url}{security_path}",
                "staff": admin_id is not None,
            },
        )
    await emit(
        NewBrowserSignIn(emailed=emailed, user_id=user_id),
        actor=actor,
        description=f"Signed in from a new browser ({browser}, {ip or 'unknown address'})"
        + ("; emailed" if emailed else "; not emailed (turned off)"),
    )
