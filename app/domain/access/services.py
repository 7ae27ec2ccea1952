"""Grants: a user's access to a client account, with its own permissions (rules 1, 2, 7, 8)."""

from datetime import UTC, datetime, timedelta

import msgspec

from app.core import clock, db, permissions, stale
from app.core.config import get_settings
from app.core.dberrors import is_unique_violation
from app.core.errors import DomainError, Forbidden, NotFound
from app.core.i18n import _
from app.core.validation import clean_access_until, clean_permissions, until_label
from app.domain.access.undo import read_removal_token
from app.domain.activity.services import Actor
from app.domain.clients.services import (  # access_for: asked of this module too
    Access,  # noqa: F401
    access_for,  # noqa: F401
    check_open,
    describe_until,  # noqa: F401 (asked of this module too)
    display_name,
    get_client,
    tell_end_changed,
    void_transfers,
)
from app.domain.events.catalog import (
    AccountEntered,
    GrantCreated,
    GrantDeleted,
    GrantExpired,
    GrantUpdated,
)
from app.domain.events.stream import emit
from app.domain.mail.services import enqueue
from app.domain.staff import services as admin_settings
from app.domain.users import search
from app.domain.users.services import close_invitations_of, full_name, get_user
from app.schema.clients import Client
from app.schema.grants import Grant


async def check_manager(actor: Actor, client: dict, *, turned_off: bool | None = None) -> None:
    """Rule 2: in the client area only the owner manages users, and only while staff allow it.
    Staff are checked by their role (app.http.plumbing.guards). `turned_off`: the setting, when the
    caller has already read it in this request."""
    if actor.kind != "user":
        return
    if client["owner"] != actor.id:
        raise Forbidden(_("Only the account owner can manage its users."))
    if turned_off is None:
        turned_off = await admin_settings.flag(admin_settings.DISABLE_CLIENT_USER_MANAGEMENT)
    if turned_off:
        raise Forbidden(
            _(
                "User management is turned off for client accounts. "
                "Contact support to change who has access."
            )
        )


def describe(keys) -> str:
    return ", ".join(keys) if keys else "none"


# Access until: when a grant ends by itself.

ENDING_SOON = timedelta(days=7)  # lists show an end this close with a warning


class Keep:
    """An argument not given: what the grant holds stays."""


KEEP = Keep()


def notices() -> list[int]:
    """The reminders' notices, in seconds before the end, longest first (settings)."""
    return [round(days * 86400) for days in get_settings().access_reminder_days]


def notice_already_sent(until: datetime | None, now: datetime) -> int | None:
    """What a grant given access until `until` at `now` starts with as its last reminder sent:
    the notices longer than the access are counted as sent, so none of them goes."""
    if until is None:
        return None
    lasting = (until - now).total_seconds()
    longer = [n for n in notices() if n > lasting]
    return min(longer) if longer else None


def until_version(when) -> str:
    """A grant's end as an edit's version holds it (app.core.stale): the exact instant in UTC,
    "" for none, whichever engine read it."""
    when = db.instant(when)
    return when.astimezone(UTC).isoformat() if when is not None else ""


def grant_version(keys, until) -> dict:
    """The values a Manage Permissions edit (the dialog, an API PUT) is prepared on: the keys and
    the end, as compared on save."""
    return {"permissions": keys, "access_until": until_version(until)}


def show_until(row: dict, now: datetime, key: str = "access_until") -> None:
    """What a list shows of a row's end, decided here: its label and whether it is near."""
    when = row[key] = db.instant(row.get(key))  # a raw SQLite read may give text
    row["until_label"] = until_label(when)
    row["until_soon"] = when is not None and when - now <= ENDING_SOON
    row["until_date"] = when.astimezone(UTC).date().isoformat() if when is not None else ""
    row["until_text"] = describe_until(when)


async def grant_access(
    client_id: int, user_id: int, keys, *, actor: Actor, access_until=None
) -> dict:
    """Gives the user access with these keys (until `access_until`, if given: a date or an
    instant, see clean_access_until); returns the user."""
    keys = clean_permissions(keys)
    now = clock.now()
    until = clean_access_until(access_until, now)
    try:
        async with db.transaction():
            client = await get_client(client_id, lock=True)
            await check_manager(actor, client)
            check_open(client)
            user = await get_user(user_id, keep=True)
            if await Grant.exists().where((Grant.user == user_id) & (Grant.client == client_id)):
                raise DomainError(
                    _("%(name)s already has access to this account.") % {"name": full_name(user)},
                    "user",
                )
            await Grant.insert(
                Grant(
                    user=user_id,
                    client=client_id,
                    permissions=permissions.serialize(keys),
                    created_at=now,
                    updated_at=now,
                    access_until=until,
                    access_notice_sent=notice_already_sent(until, now),
                )
            )
            await close_invitations_of(user, [client_id])
            await emit(
                GrantCreated(client_id=client_id, user_id=user_id, permissions=keys),
                actor=actor,
                description=f"Gave {full_name(user)} access to {display_name(client)}: "
                f"none -> {describe(keys)}",
            )
            if until is not None:
                await tell_end_changed(client, user, None, until, actor=actor)
    except Exception as exc:
        if is_unique_violation(exc):
            raise DomainError(_("This user already has access to this account."), "user") from exc
        raise
    return user


async def update_permissions(
    client_id: int,
    user_id: int,
    keys,
    *,
    actor: Actor,
    opened: stale.Opened | None = None,
    access_until=KEEP,
) -> dict:
    """Sets the user's keys on the account; returns the user and the account. `opened`: the
    keys and end the change was prepared on (grant_version, or its app.core.stale.version);
    when the grant's keys or end are others now, nothing is saved (app.core.stale.Stale).
    `access_until`: when given, the access's new end (None or "": none), in the same change."""
    keys = clean_permissions(keys)
    now = clock.now()
    until = (
        access_until if isinstance(access_until, Keep) else clean_access_until(access_until, now)
    )
    async with db.transaction():
        client = await get_client(client_id, lock=True)
        await check_manager(actor, client)
        if client["owner"] == user_id:
            raise DomainError(_("The owner always has every permission; they cannot be changed."))
        grant = (
            await Grant.select()
            .where((Grant.user == user_id) & (Grant.client == client_id))
            .first()
        )
        if grant is None:
            raise NotFound(_("This user no longer has access to this account."))
        user = await get_user(user_id)
        before = permissions.deserialize(grant["permissions"])
        current = grant_version(before, grant["access_until"])
        wanted = grant_version(keys, grant["access_until"] if isinstance(until, Keep) else until)
        if isinstance(opened, dict) and "access_until" not in opened:  # prepared on keys only
            del current["access_until"], wanted["access_until"]
        stale.check(opened, current, wanted)
        if not isinstance(until, Keep):
            await _change_until(grant, until, now, client=client, user=user, actor=actor)
        if before == keys:
            return {"user": user, "client": client}
        await Grant.update(
            {Grant.permissions: permissions.serialize(keys), Grant.updated_at: now}
        ).where(Grant.id == grant["id"])
        await emit(
            GrantUpdated(
                client_id=client_id, user_id=user_id, permissions_before=before, permissions=keys
            ),
            actor=actor,
            description=f"Permissions of {full_name(user)} on {display_name(client)}: "
            f"{describe(before)} -> {describe(keys)}",
        )
    return {"user": user, "client": client}


async def _change_until(
    grant: dict, until: datetime | None, now: datetime, *, client: dict, user: dict, actor: Actor
) -> None:
    """In the caller's transaction, with the account locked: the grant's new end, its reminders
    starting again; nothing when it is the same."""
    before = grant["access_until"]
    if before == until:
        return
    await Grant.update(
        {
            Grant.access_until: until,
            Grant.access_notice_sent: notice_already_sent(until, now),
            Grant.updated_at: now,
        }
    ).where(Grant.id == grant["id"])
    await tell_end_changed(client, user, before, until, actor=actor)


async def set_access_until(client_id: int, user_id: int, access_until, *, actor: Actor) -> dict:
    """Sets, changes or clears (None, "") when the user's access to the account ends; returns
    the user and the account. The owner's access never ends by itself."""
    now = clock.now()
    until = clean_access_until(access_until, now)
    async with db.transaction():
        client = await get_client(client_id, lock=True)
        await check_manager(actor, client)
        if client["owner"] == user_id:
            raise DomainError(_("The owner's access cannot end by itself."), "access_until")
        grant = (
            await Grant.select()
            .where((Grant.user == user_id) & (Grant.client == client_id))
            .first()
        )
        if grant is None:
            raise NotFound(_("This user no longer has access to this account."))
        user = await get_user(user_id)
        await _change_until(grant, until, now, client=client, user=user, actor=actor)
    return {"user": user, "client": client}


async def access_until_of(client_id: int, user_id: int) -> datetime | None:
    """When the user's access to the account ends (None: never, or no access)."""
    row = (
        await Grant.select(Grant.access_until)
        .where((Grant.user == user_id) & (Grant.client == client_id))
        .first()
    )
    return row["access_until"] if row else None


# Grants whose end has come, and those due a reminder: the partial index grants_access_until
# holds only grants with an end, so the look every process makes every few seconds is cheap.
_ANY_ENDED = """SELECT g.id, g.client FROM grants g JOIN clients c ON c.id = g.client
WHERE g.access_until IS NOT NULL AND g.access_until <= {} AND g."user" <> c.owner
ORDER BY g.access_until LIMIT 200"""
_CLAIM_ENDED = """DELETE FROM grants
WHERE id = {} AND access_until IS NOT NULL AND access_until <= {} AND "user" <> {}
RETURNING id, "user", permissions, access_until"""


async def end_expired_access(now: datetime | None = None) -> int:
    """Removes every grant whose Access until has come (not the owner's): each is claimed by
    one conditional DELETE ... RETURNING under its account's lock, so of every process sweeping
    at once exactly one removes it, logs "access expired", tells the change (grant.expired) and
    emails the person. Returns how many this call removed. Only reads when none is due."""
    now = now or clock.now()
    due = await db.fetch_quick(_ANY_ENDED, now)
    ended = 0
    for row in due:
        async with db.transaction():
            client = await get_client(row["client"], lock=True)
            claimed = await Grant.raw(_CLAIM_ENDED, row["id"], now, client["owner"])
            if not claimed:
                continue  # another process took it, or its end moved meanwhile
            grant = claimed[0]
            user = await get_user(grant["user"], keep=True)
            held = permissions.deserialize(grant["permissions"])
            until = db.instant(grant["access_until"])
            await emit(
                GrantExpired(
                    client_id=client["id"],
                    user_id=user["id"],
                    permissions_before=held,
                    access_until=until,
                ),
                description=f"Access expired: {full_name(user)} on {display_name(client)} "
                f"(until {describe_until(until)}): {describe(held)} -> none",
            )
            await enqueue(
                to=user["email"],
                template="access_expired",
                context={
                    "first_name": user["first_name"],
                    "account_name": display_name(client),
                    "until": describe_until(until),
                },
            )
            ended += 1
    return ended


_ANY_DUE_REMINDER = """SELECT g.id, g.client FROM grants g
WHERE g.access_until IS NOT NULL AND g.access_until > {} AND g.access_until <= {}
  AND (g.access_notice_sent IS NULL OR g.access_notice_sent > {})
ORDER BY g.access_until LIMIT 200"""
_CLAIM_REMINDER = """UPDATE grants SET access_notice_sent = {}
WHERE id = {} AND access_until IS NOT NULL AND access_until > {} AND access_until <= {}
  AND (access_notice_sent IS NULL OR access_notice_sent > {})
RETURNING id, "user", access_until"""


async def send_access_reminders(now: datetime | None = None) -> int:
    """Emails the person and the owner when a grant's end is one notice away (7 and 1 days by
    default): for each notice, the grants whose end falls between it and the next shorter one,
    that were not reminded at this notice or a shorter one. Each reminder is claimed by one
    conditional UPDATE, so it goes once whichever processes look. Returns how many grants were
    reminded."""
    now = now or clock.now()
    steps = notices()
    reminded = 0
    for i, notice in enumerate(steps):
        shorter = steps[i + 1] if i + 1 < len(steps) else 0
        after, until = now + timedelta(seconds=shorter), now + timedelta(seconds=notice)
        for row in await db.fetch_quick(_ANY_DUE_REMINDER, after, until, notice):
            async with db.transaction():
                client = await get_client(row["client"], lock=True)
                claimed = await Grant.raw(_CLAIM_REMINDER, notice, row["id"], after, until, notice)
                if not claimed:
                    continue
                grant = claimed[0]
                user = await get_user(grant["user"], keep=True)
                owner = await get_user(client["owner"], keep=True)
                ends = describe_until(db.instant(grant["access_until"]))
                context = {
                    "person_name": full_name(user),
                    "account_name": display_name(client),
                    "until": ends,
                }
                await enqueue(
                    to=user["email"],
                    template="access_ending",
                    context={**context, "first_name": user["first_name"], "to_owner": False},
                )
                if owner["id"] != user["id"]:
                    await enqueue(
                        to=owner["email"],
                        template="access_ending",
                        context={**context, "first_name": owner["first_name"], "to_owner": True},
                    )
                reminded += 1
    return reminded


async def revoke_access(client_id: int, user_id: int, *, actor: Actor) -> dict:
    """Deletes the grant, never the user. The owner's access cannot be removed. Returns the user,
    the account, the keys they held and its end (what Undo gives back)."""
    async with db.transaction():
        client = await get_client(client_id, lock=True)
        await check_manager(actor, client)
        if client["owner"] == user_id:
            raise DomainError(_("The owner's access cannot be removed. Transfer ownership first."))
        grant = (
            await Grant.select()
            .where((Grant.user == user_id) & (Grant.client == client_id))
            .first()
        )
        if grant is None:
            raise NotFound(_("This user no longer has access to this account."))
        user = await get_user(user_id)
        await Grant.delete().where(Grant.id == grant["id"])
        held = permissions.deserialize(grant["permissions"])
        await emit(
            GrantDeleted(client_id=client_id, user_id=user_id, permissions_before=held),
            actor=actor,
            description=f"Removed the access of {full_name(user)} to {display_name(client)}: "
            f"{describe(held)} -> none",
        )
        await void_transfers(client, "removed", actor=actor, user_id=user_id)
    return {"user": user, "client": client, "keys": held, "access_until": grant["access_until"]}


async def restore_access(client_id: int, token: str, *, actor: Actor) -> dict:
    """Undo of Remove: the same grant again, for whoever removed it, within UNDO_SECONDS.
    Returns the user."""
    removal = read_removal_token(token, client_id=client_id, actor=actor)
    ends = None
    if removal.access_until is not None:
        ends = datetime.fromtimestamp(removal.access_until, UTC)
        if ends <= clock.now():  # it ended meanwhile: nothing to give back
            raise DomainError(_("This access has reached its Access until: give it again instead."))
    return await grant_access(
        client_id, removal.user_id, removal.keys, actor=actor, access_until=ends
    )


# The account and (a page of) its people, in one statement. The LEFT JOIN keeps the account's row
# when no grant matches; the owner comes first, then grants in the order they were given, which
# is also the key-set order of the pages after the first.
# The account's id is given inside the parenthesised join as well: without it SQLite builds that
# join for every grant of every account before picking this account's (a scan of grants, most of
# a Users tab's SQL time); with it, it reads this account's grants by grants_client_idx.
_ACCOUNT_PEOPLE_SQL = """
SELECT c.id AS client_id, c.company_name AS company_name, c.first_name AS client_first_name,
  c.last_name AS client_last_name, c.email AS client_email, c.status AS status, c.owner AS owner,
  c.created_at AS created_at, c.require_two_factor AS require_two_factor,
  (SELECT COUNT(*) FROM grants WHERE grants.client = c.id) AS user_count,
  CASE WHEN c.require_two_factor THEN (SELECT COUNT(*) FROM grants g2 JOIN users u2
    ON u2.id = g2."user" WHERE g2.client = c.id AND NOT u2.totp_enabled) ELSE 0 END
    AS without_two_factor,
  g.id AS grant_id, g.permissions AS permissions, g.last_login_at AS account_last_login_at,
  g.access_until AS access_until,
  u.id AS user_id, u.first_name AS first_name, u.last_name AS last_name, u.email AS email,
  u.last_login_at AS last_login_at, u.last_login_ip AS last_login_ip,
  u.last_login_hostname AS last_login_hostname,
  CASE WHEN u.email_verified_at IS NULL THEN 0 ELSE 1 END AS email_verified,
  u.totp_enabled AS two_factor
FROM clients c
LEFT JOIN (grants g JOIN users u ON u.id = g."user" AND g.client = {}) ON g.client = c.id"""

PEOPLE_PAGE = 25


class AccountPeople(msgspec.Struct):
    """An account, a page of its users (owner first), and what the pager needs."""

    client: dict
    users: list[dict]
    user_count: int  # everyone in the account, whatever the search
    # Those without two-factor authentication, when the account requires it (else 0).
    without_two_factor: int = 0
    more_after: int | None = None  # the grant id the next page starts after, if there is one


def _person(row: dict) -> dict:
    person = db.Record({k: row[k] for k in _PERSON_KEYS})
    person["is_owner"] = row["owner"] == row["user_id"]
    person["two_factor"] = bool(row["two_factor"])  # 0/1 on SQLite
    person["permission_keys"] = permissions.granted(row["permissions"], is_owner=person["is_owner"])
    show_until(person, clock.now())
    return person


_PERSON_KEYS = (
    "grant_id", "permissions", "account_last_login_at", "user_id", "first_name", "last_name",
    "email", "last_login_at", "last_login_ip", "last_login_hostname", "email_verified",
    "two_factor", "access_until",
)  # fmt: skip


async def account_people(
    client_id: int,
    *,
    query: str = "",
    after: int = 0,
    size: int = PEOPLE_PAGE,
    user_id: int | None = None,
) -> AccountPeople:
    """The account with a page of its users: `size` of them (owner first) whose names or email
    start with the words of `query`, after grant `after`; or only `user_id`. One statement."""
    if not db.valid_id(client_id):
        raise NotFound(_("No such client account."))
    db.check_page_cursor(after)
    sql = search.Sql().add(_ACCOUNT_PEOPLE_SQL, client_id)
    if user_id is not None:
        sql.add(' AND g."user" = {}', user_id)
    wanted = search.parse(query)  # the same reading of a query as Manage Users
    if wanted.email_key is not None:
        sql.add(" AND u.email_key = {}", wanted.email_key)
    elif wanted.user_id is not None and not wanted.words:
        sql.add(" AND u.id = {}", wanted.user_id)
    for word in wanted.words:
        sql.add(" AND ").word(word)
    if after:
        sql.add(' AND g.id > {} AND g."user" <> c.owner', after)
    sql.add(" WHERE c.id = {}", client_id)
    sql.add(' ORDER BY CASE WHEN g."user" = c.owner THEN 0 ELSE 1 END, g.id LIMIT {}', size + 1)
    rows = await sql.fetch()
    if not rows:
        raise NotFound(_("No such client account."))
    first = rows[0]
    client = {
        "id": first["client_id"],
        "company_name": first["company_name"],
        "first_name": first["client_first_name"],
        "last_name": first["client_last_name"],
        "email": first["client_email"],
        "status": first["status"],
        "owner": first["owner"],
        "created_at": first["created_at"],
        "require_two_factor": bool(first["require_two_factor"]),
    }
    people = [_person(r) for r in rows[:size] if r["user_id"] is not None]
    more = len(rows) > size
    return AccountPeople(
        client,
        people,
        first["user_count"],
        more_after=people[-1]["grant_id"] if more else None,
        without_two_factor=first["without_two_factor"] or 0,
    )


async def user_accounts(user_id: int) -> list[dict]:
    """The user's accounts, owned first, then by name: one query."""
    rows = await Grant.select(
        Grant.client.id.as_alias("client_id"),
        Grant.client.company_name.as_alias("company_name"),
        Grant.client.first_name.as_alias("first_name"),
        Grant.client.last_name.as_alias("last_name"),
        Grant.client.status.as_alias("status"),
        Grant.client.owner.as_alias("owner_id"),
        Grant.client.require_two_factor.as_alias("require_two_factor"),
        # `._.`: the joined table, as the checker can follow it two joins deep.
        Grant.client._.owner._.first_name.as_alias("owner_first_name"),
        Grant.client._.owner._.last_name.as_alias("owner_last_name"),
        Grant.permissions,
        Grant.last_login_at,
    ).where(Grant.user == user_id)
    for row in rows:
        row["is_owner"] = row["owner_id"] == user_id
        row["name"] = display_name(row)
        row["closed"] = row["status"] == "Closed"
        row["require_two_factor"] = bool(row["require_two_factor"])  # 0/1 on SQLite
        row["permission_keys"] = permissions.granted(row["permissions"], is_owner=row["is_owner"])
    rows.sort(key=lambda r: (not r["is_owner"], r["name"].lower(), r["client_id"]))
    return rows


# The entry is recorded only when the user can enter: not while the account requires
# two-factor authentication they have not set up (they are sent to enrol first).
_NOTE_ENTRY = """UPDATE grants SET last_login_at = {}
WHERE "user" = {} AND client = {}
  AND (NOT (SELECT require_two_factor FROM clients WHERE id = {})
       OR (SELECT totp_enabled FROM users WHERE id = {}))
RETURNING id"""


async def note_account_login(user_id: int, client_id: int) -> bool:
    """The user enters the account: its "last login" and account.entered. Nothing when they
    cannot enter yet (the account requires two-factor authentication they do not have: the
    enrolment that lets them in records it then). Returns whether it was recorded."""
    async with db.transaction():
        entered = await Grant.raw(_NOTE_ENTRY, clock.now(), user_id, client_id, client_id, user_id)
        if entered:
            await emit(AccountEntered(client_id=client_id, user_id=user_id))
    return bool(entered)


async def is_owner(user_id: int, client_id: int) -> bool:
    return await Client.exists().where((Client.id == client_id) & (Client.owner == user_id))
