"""The activity log: one entry for every change, written by the stream of changes
(app.domain.events.stream) inside the change's transaction; read here."""

from datetime import UTC, date, datetime, time, timedelta

import msgspec
from piccolo.columns.combination import WhereRaw
from piccolo.custom_types import Combinable

from app.core import clock
from app.core.names import display_name, full_name
from app.core.paging import page_of
from app.core.validation import clean_page, email_key, escape_like
from app.domain.activity import present
from app.schema.activity import ActivityEntry
from app.schema.clients import Client
from app.schema.users import User


class Actor(msgspec.Struct, frozen=True):
    """Who makes a change: an admin, a client user, or the system (CLI, worker)."""

    kind: str  # admin | user | system
    id: int | None = None
    name: str = "System"
    ip: str = ""


SYSTEM = Actor("system")


async def write_entry(
    actor: Actor,
    action: str,
    description: str,
    *,
    client_id: int | None = None,
    user_id: int | None = None,
) -> None:
    """One entry. Services do not call this: they emit an event (app.domain.events.stream),
    whose consumer does."""
    await ActivityEntry.insert(
        ActivityEntry(
            created_at=clock.now(),
            actor_type=actor.kind,
            actor_id=actor.id,
            actor_name=actor.name,
            client_id=client_id,
            user_id=user_id,
            action=action,
            description=description,
            ip=actor.ip,
        )
    )


async def write_entries(
    actor: Actor, entries: list[tuple[str, str, int | None, int | None]]
) -> None:
    """Several entries by one actor, each (action, description, client id, user id), in as few
    statements as the engines' parameter limits allow (for a change of many rows at once)."""
    now = clock.now()
    rows = [
        ActivityEntry(
            created_at=now,
            actor_type=actor.kind,
            actor_id=actor.id,
            actor_name=actor.name,
            client_id=client_id,
            user_id=user_id,
            action=action,
            description=description,
            ip=actor.ip,
        )
        for action, description, client_id, user_id in entries
    ]
    for start in range(0, len(rows), CHUNK):
        await ActivityEntry.insert(*rows[start : start + CHUNK])


CHUNK = 200  # rows per INSERT: 200 x 9 parameters, far under SQLite's and PostgreSQL's limits


def _filtered(query, client_id: int | None, user_id: int | None):
    if client_id is not None:
        query = query.where(ActivityEntry.client_id == client_id)
    if user_id is not None:
        query = query.where(ActivityEntry.user_id == user_id)
    return query


async def log_page(
    *, client_id: int | None = None, user_id: int | None = None, page: int = 1, per_page: int = 50
) -> dict:
    """One page of the log, newest first, each entry with the names of its account and user and
    its description as shown (`what`: permission labels, not keys; see present.py), the page's
    entries grouped by day (`days`); and the names of the filtered account and user. At most
    four queries whatever the page length: the count, the page, then the accounts and the users
    named on it, each in one go."""
    total = await _filtered(ActivityEntry.count(), client_id, user_id)
    shown = page_of(page, size=per_page, total=total)
    rows = (
        await _filtered(ActivityEntry.select(), client_id, user_id)
        .order_by(ActivityEntry.id, ascending=False)
        .limit(shown.size)
        .offset(shown.offset)
    )

    client_ids = {r["client_id"] for r in rows if r["client_id"] is not None}
    user_ids = {r["user_id"] for r in rows if r["user_id"] is not None}
    if client_id is not None:
        client_ids.add(client_id)
    if user_id is not None:
        user_ids.add(user_id)
    account_names = {}
    if client_ids:
        account_names = {
            c["id"]: display_name(c)
            for c in await Client.select(
                Client.id,
                Client.company_name,
                Client.first_name,
                Client.last_name,
            ).where(Client.id.is_in(sorted(client_ids)))
        }
    people = {}
    if user_ids:
        people = {
            u["id"]: u
            for u in await User.select(
                User.id,
                User.first_name,
                User.last_name,
                User.email,
            ).where(User.id.is_in(sorted(user_ids)))
        }
    for row in rows:
        row["what"], row["what_full"] = present.describe(row["description"])
        row["client_name"] = account_names.get(row["client_id"])
        person = people.get(row["user_id"])
        row["user_name"] = full_name(person) if person else None
        row["user_email"] = person["email"] if person else None
    person = people.get(user_id)
    return {
        "entries": rows,
        "days": present.by_day(rows, clock.now()),
        "shown": shown,
        "client_name": account_names.get(client_id),
        "user_name": full_name(person) if person else None,
    }


async def entries(
    *,
    client_id: int | None = None,
    user: str | None = None,
    description: str | None = None,
    ip: str | None = None,
    day: date | None = None,
    offset: int = 0,
    limit: int = 25,
) -> tuple[int, list[dict]]:
    """The log's entries matching every filter given, newest first, as (how many match in all,
    the page asked for; limit clamped, see clean_page). Rows are the entries' columns.

    - `client_id`: the entries about that account;
    - `user`: those whose actor has that name (an admin's, a user's: case-insensitive, whole),
      and, when it holds an '@', also those about the user with that email address;
    - `description`: those whose description contains it, case-insensitive (ASCII case only on
      SQLite);
    - `ip`: those made from that address;
    - `day`: those made that day (UTC).

    Text holding a NUL matches nothing: no entry holds one (PostgreSQL refuses it in a query)."""
    offset, limit = clean_page(offset, limit)
    if any("\x00" in text for text in (user, description, ip) if text):
        return 0, []
    conditions: list[Combinable] = []
    if client_id is not None:
        conditions.append(ActivityEntry.client_id == client_id)
    if user is not None:
        user = user.strip()
        by_actor: Combinable = WhereRaw("lower(actor_name) = lower({})", user)
        if "@" in user:
            about = ActivityEntry.user_id.is_in(
                User.select(User.id).where(User.email_key == email_key(user))
            )
            by_actor = by_actor | about
        conditions.append(by_actor)
    if description:
        conditions.append(
            WhereRaw(
                "lower(description) LIKE lower({}) ESCAPE '\\'",
                f"%{escape_like(description)}%",
            )
        )
    if ip is not None:
        conditions.append(ActivityEntry.ip == ip.strip())
    if day is not None:
        start = datetime.combine(day, time.min, tzinfo=UTC)
        conditions.append(ActivityEntry.created_at >= start)
        if day < date.max:  # the calendar's last day has no next one
            conditions.append(ActivityEntry.created_at < start + timedelta(days=1))
    count = ActivityEntry.count()
    select = ActivityEntry.select()
    if conditions:
        count = count.where(*conditions)
        select = select.where(*conditions)
    rows = await select.order_by(ActivityEntry.id, ascending=False).limit(limit).offset(offset)
    return await count, rows
